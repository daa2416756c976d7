//! The starvation lab: a tokio program shaped like the field report's bridge
//! (`worker_threads(2)`, default thread names, a `block_on` event loop on a
//! thread named like the process, a reconnect storm), driven into each way a
//! runtime can go silent, measuring its own ground truth: how late a tokio
//! heartbeat and an OS-thread heartbeat fire.
//!
//! `starvetrace record -- starvetrace lab SCENARIO` traces it; the lab's
//! `LabResult` says what really happened, so the tracer's verdict can be checked.

mod cgroup;
mod cold;
mod cpu;
mod error;
pub mod heartbeat;
mod lock;
mod memory;
mod plan;
mod pool;
mod runtime;
mod scenario;
mod setup;
mod sidecar;
mod signal;
pub mod stats;
mod workload;

use std::{
    io::Write,
    path::PathBuf,
    sync::{Arc, atomic::AtomicBool},
    thread,
    time::{Duration, Instant},
};

use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

pub use error::LabError;
pub use heartbeat::{LateBeat, Lateness};
pub use scenario::Scenario;
pub use stats::{Evidence, PsiShare};
pub use workload::Workload;

use cgroup::{Hierarchy, LabCgroups, Layout};
use heartbeat::Schedule;

/// What to run.
#[derive(Clone, Debug)]
pub struct LabOptions {
    pub scenario: Scenario,
    pub duration: Duration,
    /// Also write the result JSON here.
    pub result_path: Option<PathBuf>,
}

/// The lab's ground truth for one run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LabResult {
    pub scenario: Scenario,
    pub pid: u32,
    /// Wall time of the measured run (set-up and teardown excluded).
    pub duration_ns: u64,
    pub requested_duration_ns: u64,
    /// When the measured run started: Unix ms, and CLOCK_MONOTONIC ns (the
    /// clock bpf_ktime_get_ns reads, to line `late_beats` up with a trace).
    pub started_unix_ms: u64,
    pub started_monotonic_ns: u64,
    /// "SIGINT"/"SIGTERM" if the run was cut short by a signal.
    pub interrupted: Option<String>,
    /// The lab cgroup carrying the scenario's limit (memory or cpu), else the
    /// plain lab cgroup (cgroup2), if any.
    pub cgroup: Option<String>,
    /// Every cgroup the lab created (all removed again before returning).
    pub cgroups: Vec<String>,
    /// Limits applied, as `path=value`.
    pub limits: Vec<String>,
    /// What the tracer should find.
    pub expected_cause: String,
    /// The comm of the `block_on` event-loop thread (the process's own name).
    pub event_loop_thread: String,
    pub tokio_heartbeat: Lateness,
    pub os_heartbeat: Lateness,
    /// The event loop's own tick (on the `block_on` thread).
    pub event_loop_heartbeat: Lateness,
    pub heartbeat_period_ns: u64,
    pub tokio_beats_expected: u64,
    pub tokio_beats_seen: u64,
    pub os_beats_seen: u64,
    pub evidence: Evidence,
    pub workload: Workload,
    pub notes: Vec<String>,
}

/// The memory scenario this host supports, and why.
pub fn host_memory_scenario() -> (Scenario, String) {
    match Layout::read() {
        Ok(l) => match l.v2_child_can_have("memory") {
            Ok(()) => (
                Scenario::MemoryHigh,
                "cgroup v2 with a memory controller: memory.high throttling can be reproduced"
                    .into(),
            ),
            Err(why) => (
                Scenario::MemoryMax,
                format!(
                    "{why}; so memory.high is unavailable and the hard limit (reclaim and refaults{}) is used",
                    if l.current(Hierarchy::V1("memory")).is_some() {
                        ", v1 memory.limit_in_bytes"
                    } else {
                        ""
                    }
                ),
            ),
        },
        Err(e) => (
            Scenario::MemoryMax,
            format!("cannot read this process's cgroups ({e})"),
        ),
    }
}

/// Runs a scenario for `opts.duration` (blocking; builds its own runtime),
/// prints the result as one JSON line on stdout and a summary on stderr, and
/// writes it to `opts.result_path`. Ctrl-C/SIGTERM end the run early (the
/// result says so); the lab cgroups are removed on every path.
pub fn run(opts: &LabOptions) -> Result<LabResult, LabError> {
    let result = run_quietly(opts)?;
    let json = serde_json::to_string(&result)
        .map_err(|e| LabError::io("serializing the result", e.into()))?;
    // A closed stdout (a pipe reader gone) must not turn a finished run into a panic.
    let _ = writeln!(std::io::stdout().lock(), "{json}");
    let _ = std::io::stderr()
        .lock()
        .write_all(result.summary().as_bytes());
    if let Some(path) = &opts.result_path {
        std::fs::write(path, format!("{json}\n")).map_err(|source| LabError::Result {
            path: path.clone(),
            source,
        })?;
    }
    Ok(result)
}

/// `run` without printing or writing anything.
pub fn run_quietly(opts: &LabOptions) -> Result<LabResult, LabError> {
    if opts.duration.is_zero() || opts.duration > Duration::from_secs(30 * 86_400) {
        return Err(LabError::BadDuration);
    }
    let sc = opts.scenario;
    let _signals = signal::SignalGuard::install()
        .map_err(|e| LabError::io("installing signal handlers", e))?;
    let interrupted = || signal::SignalGuard::received().is_some();
    let layout = Layout::read()?;
    let mut notes = Vec::new();
    // Declared before everything it must outlive: dropped last, after the
    // burners are reaped and the runtime has stopped.
    let mut cgroups = LabCgroups::new();
    let prepared = setup::prepare(sc, &layout, &mut cgroups, &mut notes, &interrupted)?;

    let origin = Instant::now();
    let started_unix_ms = unix_ms();
    let started_monotonic_ns = monotonic_ns();
    let schedule = Schedule {
        origin,
        period: heartbeat::PERIOD,
    };
    let ctx = Arc::new(runtime::Ctx {
        scenario: sc,
        schedule,
        run_for: opts.duration,
        stop: Arc::new(AtomicBool::new(false)),
        never: Arc::new(Notify::new()),
        stall_after: (sc == Scenario::LostWakeup).then_some(plan::LOST_WAKEUP_AFTER),
        data: prepared.data.clone(),
        lock: (sc == Scenario::Lock).then(|| Arc::new(lock::Shared::default())),
        mem: Arc::default(),
        sidecar: Arc::default(),
        cold: Arc::default(),
        pool: Arc::default(),
        storm: Default::default(),
        tokio_hb: heartbeat::shared(schedule),
        loop_hb: heartbeat::shared(schedule),
        os_hb: heartbeat::shared(schedule),
    });
    let mut sampler = stats::Sampler::start(prepared.sources.clone());
    let bridge = runtime::start(ctx.clone())?;

    let deadline = origin + opts.duration;
    let mut signal_name = None;
    loop {
        if let Some(sig) = signal::SignalGuard::received() {
            signal_name = Some(signal::name(sig));
            break;
        }
        if !bridge.alive() {
            notes.push("the event-loop thread ended early".into());
            break;
        }
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        thread::sleep((deadline - now).min(Duration::from_millis(200)));
        sampler.sample();
    }
    let end = Instant::now();
    let run = end - origin;
    // Measure before teardown so stopping the runtime is not counted.
    let tokio_hb = heartbeat::summarize(&ctx.tokio_hb, end);
    let os_hb = heartbeat::summarize(&ctx.os_hb, end);
    let loop_hb = heartbeat::summarize(&ctx.loop_hb, end);
    let evidence = sampler.finish(run);
    // Before the runtime stops (its idle blocking threads go with it).
    let parked = ctx.pool.parked();
    let event_loop_thread = bridge.event_loop_name.clone();
    notes.extend(bridge.stop());
    let mut workload = workload::collect(&ctx, prepared.burners.as_ref().map_or(0, |b| b.count()));
    workload.blocking_threads_alive_at_end = parked.alive;
    workload.blocking_threads_in_futex = parked.in_futex;
    workload.blocking_futex_addresses = parked.futex_addresses;
    let cgroup = prepared.primary.as_ref().map(|p| p.display().to_string());
    let all_cgroups = cgroups.all();
    let limits = cgroups.limits().to_vec();
    drop(prepared);
    drop(ctx);
    notes.extend(cgroups.cleanup());
    if let Some(sig) = &signal_name {
        notes.push(format!(
            "interrupted by {sig} after {:.1} s",
            run.as_secs_f64()
        ));
    }
    if evidence.oom_kills.unwrap_or(0) > 0 {
        notes.push(format!(
            "{} OOM kill(s) in the lab cgroup",
            evidence.oom_kills.unwrap_or(0)
        ));
    }

    Ok(LabResult {
        scenario: sc,
        pid: std::process::id(),
        duration_ns: nanos(run),
        requested_duration_ns: nanos(opts.duration),
        started_unix_ms,
        started_monotonic_ns,
        interrupted: signal_name,
        cgroup,
        cgroups: all_cgroups,
        limits,
        expected_cause: sc.expected_cause().into(),
        event_loop_thread,
        // A beat due in the last few ms had no fair chance to fire: not expected.
        tokio_beats_expected: schedule
            .expected_by(end.checked_sub(Duration::from_millis(5)).unwrap_or(end)),
        tokio_beats_seen: tokio_hb.count,
        os_beats_seen: os_hb.count,
        tokio_heartbeat: tokio_hb,
        os_heartbeat: os_hb,
        event_loop_heartbeat: loop_hb,
        heartbeat_period_ns: nanos(heartbeat::PERIOD),
        evidence,
        workload,
        notes,
    })
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid timespec out-pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    (ts.tv_sec as u64).saturating_mul(1_000_000_000) + ts.tv_nsec as u64
}

fn ms(ns: u64) -> f64 {
    ns as f64 / 1e6
}

impl LabResult {
    /// Whether the tokio heartbeat was starved: stopped, or beats late by more
    /// than `threshold` at the worst.
    pub fn tokio_starved(&self, threshold: Duration) -> bool {
        self.tokio_heartbeat.stopped || self.tokio_heartbeat.max_late() > threshold
    }

    /// The human summary (several lines, ends with a newline).
    pub fn summary(&self) -> String {
        let line = |name: &str, l: &Lateness| {
            format!(
                "  {name:<18} {:>4} beats  max {:>8.1} ms  p99 {:>8.1} ms  mean {:>7.1} ms  >100ms {:>3}{}\n",
                l.count,
                ms(l.max_late_ns),
                ms(l.p99_late_ns),
                ms(l.mean_late_ns),
                l.late_over_100ms,
                if l.stopped { "  STOPPED" } else { "" }
            )
        };
        let mut s = format!(
            "starvetrace lab {}: {:.1} s, pid {}, event loop thread `{}`{}\n",
            self.scenario,
            self.duration_ns as f64 / 1e9,
            self.pid,
            self.event_loop_thread,
            self.interrupted
                .as_ref()
                .map(|i| format!(" (interrupted by {i})"))
                .unwrap_or_default()
        );
        s += &format!("  cgroup: {}\n", self.cgroup.as_deref().unwrap_or("(none)"));
        for l in &self.limits {
            s += &format!("  limit: {l}\n");
        }
        s += &format!(
            "  heartbeat lateness (period {} ms; tokio {} of {} expected beats):\n",
            self.heartbeat_period_ns / 1_000_000,
            self.tokio_beats_seen,
            self.tokio_beats_expected
        );
        s += &line("tokio interval", &self.tokio_heartbeat);
        s += &line("OS thread sleep", &self.os_heartbeat);
        s += &line("event loop tick", &self.event_loop_heartbeat);
        let e = &self.evidence;
        s += &format!(
            "  major faults {} ({:.0}/s), minor faults {}",
            e.major_faults, e.major_faults_per_sec, e.minor_faults
        );
        if let (Some(f), Some(r)) = (e.memcg_failcnt, e.memcg_failcnt_per_sec) {
            s += &format!(", memory.failcnt +{f} ({r:.0}/s)");
        }
        if let Some(ev) = &e.memory_events {
            let nonzero: Vec<String> = ev
                .iter()
                .filter(|(_, v)| **v > 0)
                .map(|(k, v)| format!("{k}+{v}"))
                .collect();
            s += &format!(", memory.events [{}]", nonzero.join(" "));
        }
        if let Some(r) = e.workingset_refaults {
            s += &format!(", refaults {r}");
        }
        if let Some(p) = e.memory_peak_bytes {
            s += &format!(", peak {:.0} MiB", p as f64 / 1048576.0);
        }
        s += "\n";
        if let (Some(n), Some(t)) = (e.cpu_nr_throttled, e.cpu_throttled_ns) {
            s += &format!("  cpu throttled {n} times, {:.0} ms\n", ms(t));
        }
        for (name, p) in [
            ("PSI memory (cgroup)", &e.psi_memory_cgroup),
            ("PSI memory (host)", &e.psi_memory_host),
            ("PSI cpu (cgroup)", &e.psi_cpu_cgroup),
            ("PSI cpu (host)", &e.psi_cpu_host),
            ("PSI io (cgroup)", &e.psi_io_cgroup),
            ("PSI io (host)", &e.psi_io_host),
        ] {
            if let Some(p) = p {
                s += &format!(
                    "  {name:<20} some {:5.1}%  full {:5.1}% of the run; max avg10 some {:.1} full {:.1}\n",
                    p.some_pct, p.full_pct, p.max_some_avg10, p.max_full_avg10
                );
            }
        }
        s += &format!("  workload: {}\n", self.workload.nonzero().join(", "));
        s += &format!("  expected cause: {}\n", self.expected_cause);
        for n in &self.notes {
            s += &format!("  note: {n}\n");
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_duration_is_refused_before_anything_happens() {
        let opts = LabOptions {
            scenario: Scenario::Healthy,
            duration: Duration::ZERO,
            result_path: None,
        };
        assert!(matches!(run_quietly(&opts), Err(LabError::BadDuration)));
    }

    #[test]
    fn host_memory_scenario_says_why() {
        let (sc, why) = host_memory_scenario();
        assert!(matches!(sc, Scenario::MemoryHigh | Scenario::MemoryMax));
        assert!(!why.is_empty());
    }
}
