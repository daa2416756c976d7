//! In: the target's PIDs (before tracing starts, or for `starvetrace snapshot`).
//! Out: a `Snapshot` of every thread: state, age, syscall, stack, cause guess.
//!
//! Read from /proc before tracing starts, this is what catches threads that
//! were wedged long before starvetrace attached.
//!
//! Time since a thread last ran: `/proc/<pid>/task/<tid>/sched` shows
//! `se.exec_start`, the scheduler's rq clock (ms, 6 decimals) when the
//! thread's runtime was last accounted — for a thread that is off-CPU, the
//! moment it left the CPU. The rq clock is not CLOCK_MONOTONIC (it ran
//! ~450 ms behind it on the development VM) and, on VMs without a stable
//! TSC, it is per CPU: CPU 0 and CPU 1 differed by 75–83 ms there. So "now"
//! is read in the same clock of the same CPU: a helper thread pinned to the
//! CPU the thread last ran on (`processor` in its stat) calls
//! `sched_yield()` (which accounts its runtime) and reads its own
//! `/proc/thread-self/sched` `se.exec_start`. Age = that now − the thread's
//! exec_start; the CLOCK_MONOTONIC moment it went off-CPU = the monotonic
//! time read beside that "now" − age.

pub mod guess;
pub mod proc;

use std::{
    collections::{BTreeMap, BTreeSet},
    fs,
    path::PathBuf,
};

use guess::futex_groups;
use proc::{clock_skew, clocks_on, local_clock, memory_pressure, read_thread, read_trim};

pub use crate::model::snapshot::{AGE_SOURCE, RUNQUEUE_OR_RUNNING, Snapshot};
use crate::{model::snapshot::ThreadSnapshot, report::fmt::human_ns};

/// Where to read, and how to name worker threads.
#[derive(Clone, Debug)]
pub struct Options {
    pub proc_root: PathBuf,
    /// The user's `--threads` regex for runtime workers.
    pub workers: Option<regex::Regex>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            proc_root: PathBuf::from("/proc"),
            workers: None,
        }
    }
}

/// Snapshot every thread of `pids`.
pub fn take(pids: &[u32]) -> Snapshot {
    take_with(pids, &Options::default())
}

pub fn take_with(pids: &[u32], opts: &Options) -> Snapshot {
    let mut snap = Snapshot {
        taken_at_unix_ms: crate::sys::unix_ms(),
        ..Default::default()
    };
    let mut raw: Vec<(ThreadSnapshot, Option<u64>, Option<u32>)> = Vec::new();
    let mut stack_errors: BTreeMap<String, usize> = BTreeMap::new();
    for &pid in pids {
        let task_dir = opts.proc_root.join(pid.to_string()).join("task");
        let Ok(rd) = fs::read_dir(&task_dir) else {
            snap.notes
                .push(format!("process {pid} is gone (no {})", task_dir.display()));
            continue;
        };
        let process_comm =
            read_trim(&opts.proc_root.join(pid.to_string()).join("comm")).unwrap_or_default();
        let mut tids: Vec<u32> = rd
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse().ok())
            .collect();
        tids.sort_unstable();
        for tid in tids {
            // A thread that exits mid-read is simply left out.
            let dir = task_dir.join(tid.to_string());
            let Some(r) = read_thread(&dir, pid, tid, &process_comm, opts) else {
                continue;
            };
            if r.0.kernel_stack_status.starts_with("unreadable") {
                *stack_errors
                    .entry(r.0.kernel_stack_status.clone())
                    .or_default() += 1;
            }
            raw.push(r);
        }
    }
    for (why, n) in stack_errors {
        snap.notes.push(format!(
            "kernel stacks of {n} threads {why}; causes come from syscall and wchan"
        ));
    }
    // Blocked threads' exec_start does not move, so reading the clocks after
    // the threads is fine; all ages are then moved to one instant.
    let cpus: BTreeSet<u32> = raw.iter().filter_map(|r| r.2).collect();
    let clocks = clocks_on(&cpus);
    let fallback = local_clock();
    snap.taken_at_monotonic_ns = crate::sys::monotonic_ns();
    snap.source = if clocks.is_empty() && fallback.is_none() {
        "no age: /proc/thread-self/sched is unreadable (kernel without CONFIG_SCHED_DEBUG?)".into()
    } else {
        AGE_SOURCE.into()
    };
    let mut unpinned = 0;
    for (mut t, exec_start, cpu) in raw {
        let clock = match cpu.and_then(|c| clocks.get(&c)) {
            Some(c) => Some(*c),
            None => {
                unpinned += 1;
                fallback
            }
        };
        if let (Some(c), Some(start)) = (clock, exec_start) {
            let age_then = c.rq_ns.saturating_sub(start);
            let off = c.mono_ns.saturating_sub(age_then);
            t.off_since_monotonic_ns = Some(off);
            t.since_last_ran_ns = Some(snap.taken_at_monotonic_ns.saturating_sub(off));
        }
        snap.threads.push(t);
    }
    if unpinned > 0 && !snap.threads.is_empty() {
        snap.notes.push(format!(
            "{unpinned} threads last ran on a CPU starvetrace could not run on; their ages use another CPU's clock and may be off by the per-CPU clock skew ({})",
            clock_skew(&clocks).map(human_ns).unwrap_or_else(|| "unknown".into())
        ));
    }
    snap.futex_groups = futex_groups(&snap.threads);
    snap.memory_pressure = pids
        .first()
        .and_then(|&p| memory_pressure(&opts.proc_root, p));
    snap
}

#[cfg(test)]
mod tests {
    use std::{
        sync::{Arc, Mutex},
        time::{Duration, Instant},
    };

    use super::*;
    use crate::model::role::Role;

    /// Our own process, no root needed: a thread blocked on a held std
    /// Mutex shows as a futex wait with an age of at least the time it has
    /// been blocked.
    #[test]
    fn live_snapshot_of_a_blocked_thread() {
        let lock = Arc::new(Mutex::new(()));
        let guard = lock.lock().unwrap();
        let l2 = lock.clone();
        let blocked_at = Arc::new(Mutex::new(None));
        let b2 = blocked_at.clone();
        let h = std::thread::Builder::new()
            .name("st-blocked".into())
            .spawn(move || {
                *b2.lock().unwrap() = Some(Instant::now());
                let _g = l2.lock();
            })
            .unwrap();
        std::thread::sleep(Duration::from_millis(1200));
        let snap = take(&[std::process::id()]);
        let elapsed = blocked_at.lock().unwrap().unwrap().elapsed();
        drop(guard);
        h.join().unwrap();
        let t = snap
            .threads
            .iter()
            .find(|t| t.comm == "st-blocked")
            .expect("thread listed");
        assert_eq!(t.state, "S");
        assert_eq!(t.cause, "futex", "{t:?}");
        assert_eq!(t.role, Role::Named);
        if snap.source == AGE_SOURCE {
            let age = t.since_last_ran_ns.unwrap();
            let el = elapsed.as_nanos() as u64;
            // The snapshot ran after `blocked_at` was stamped and before
            // `elapsed` was read: age within [elapsed - snapshot time,
            // elapsed], with a few ms for the clock reads.
            assert!(
                age <= el + 5_000_000 && age + 300_000_000 >= el,
                "age {age} vs elapsed {el}"
            );
            let off = t.off_since_monotonic_ns.unwrap();
            assert!(off <= snap.taken_at_monotonic_ns);
        }
        assert!(snap.threads.iter().any(|t| t.tid == std::process::id()));
    }
}
