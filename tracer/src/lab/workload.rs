//! What each scenario actually did, and by which thread: the counters a
//! reader checks a scenario against its description with.

use serde::{Deserialize, Serialize};

use super::runtime::Ctx;

/// How much work the bridge did (shows the lab was alive and loaded), and
/// who did it: a reader can check that each scenario did what it says.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Workload {
    pub storm_waves: u64,
    pub storm_tasks: u64,
    pub reconnect_attempts: u64,
    pub events_handled: u64,
    /// Pages the runtime's tasks read from the data file (memory-max: the
    /// workers' readers and the reconnect attempts).
    pub pages_read: u64,
    pub bytes_churned: u64,
    /// Anon ballast held by a runtime thread (a worker task; in
    /// blockon-memory the `block_on` thread).
    pub ballast_bytes: u64,
    pub alloc_failures: u64,
    pub lock_acquisitions: u64,
    pub lock_holds: u64,
    pub burners: usize,
    /// blockon-memory: pages the `block_on` thread read itself.
    pub block_on_pages_read: u64,
    /// The `mem-sidecar` thread (sidecar-memory, cpu-and-memory): its anon
    /// ballast, pages it read (random page touches, or 4 KiB hold reads),
    /// bytes it read sequentially into the page cache and how long that took.
    pub sidecar_ballast_bytes: u64,
    pub sidecar_pages_read: u64,
    pub sidecar_bytes_filled: u64,
    pub sidecar_fill_ms: u64,
    pub sidecar_read_errors: u64,
    /// cold-reads: read passes (each after evicting the whole file), bytes
    /// read through the mapping (one page per read), and the time the worker
    /// tasks spent inside passes (summed over both readers).
    pub cold_passes: u64,
    pub cold_bytes_read: u64,
    pub cold_read_ns: u64,
    /// blocking-pool-idle: threads that ran the spawn_blocking burst (the
    /// pool size reached), the most burst tasks running at once, and how many
    /// of those threads were still alive (idle in the pool) when the run ended.
    pub blocking_pool_threads: usize,
    pub blocking_pool_peak: usize,
    pub blocking_threads_alive_at_end: usize,
    /// Of those, how many were in a futex wait, and on how many addresses
    /// (idle threads of one pool share one condvar: 1).
    pub blocking_threads_in_futex: usize,
    pub blocking_futex_addresses: usize,
}

/// The counters of a finished run (`blocking_threads_*` are filled in by the
/// caller, who looks before the runtime stops).
pub(super) fn collect(ctx: &Ctx, burners: usize) -> Workload {
    use std::sync::atomic::Ordering::Relaxed;
    Workload {
        storm_waves: ctx.storm.waves.load(Relaxed),
        storm_tasks: ctx.storm.tasks.load(Relaxed),
        reconnect_attempts: ctx.storm.attempts.load(Relaxed),
        events_handled: ctx.storm.events.load(Relaxed),
        pages_read: ctx.mem.pages_read.load(Relaxed),
        bytes_churned: ctx.mem.bytes_churned.load(Relaxed),
        ballast_bytes: ctx.mem.ballast_bytes.load(Relaxed),
        alloc_failures: ctx.mem.alloc_failures.load(Relaxed),
        lock_acquisitions: ctx
            .lock
            .as_ref()
            .map_or(0, |l| l.acquisitions.load(Relaxed)),
        lock_holds: ctx.lock.as_ref().map_or(0, |l| l.holds.load(Relaxed)),
        burners,
        block_on_pages_read: ctx.mem.block_on_pages_read.load(Relaxed),
        sidecar_ballast_bytes: ctx.sidecar.ballast_bytes.load(Relaxed),
        sidecar_pages_read: ctx.sidecar.pages_read.load(Relaxed),
        sidecar_bytes_filled: ctx.sidecar.bytes_filled.load(Relaxed),
        sidecar_fill_ms: ctx.sidecar.fill_ms.load(Relaxed),
        sidecar_read_errors: ctx.sidecar.read_errors.load(Relaxed),
        cold_passes: ctx.cold.passes.load(Relaxed),
        cold_bytes_read: ctx.cold.pages_read.load(Relaxed) * 4096,
        cold_read_ns: ctx.cold.pass_ns.load(Relaxed),
        blocking_pool_threads: ctx.pool.threads(),
        blocking_pool_peak: ctx.pool.peak_concurrent(),
        ..Workload::default()
    }
}

impl Workload {
    /// `name=value` for every counter that moved (by name).
    pub fn nonzero(&self) -> Vec<String> {
        match serde_json::to_value(self) {
            Ok(serde_json::Value::Object(m)) => m
                .into_iter()
                .filter(|(_, v)| v.as_u64().is_some_and(|n| n > 0))
                .map(|(k, v)| format!("{k}={v}"))
                .collect(),
            _ => Vec::new(),
        }
    }
}
