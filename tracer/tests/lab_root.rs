#![cfg(feature = "root-tests")]
//! The lab's ground truth, as root: every scenario this host supports runs for
//! a few seconds and must move the heartbeats the way its name says; its
//! cgroups and burner processes must be gone afterwards.
//!
//! Each run happens in a child process (this test binary re-executed with
//! `STARVETRACE_LAB_CHILD=scenario:secs:result-file`): the lab moves its whole
//! process into a memory-limited cgroup, forks burners and installs signal
//! handlers, none of which belong in the test harness. Scenarios run one at a
//! time (a CPU burner next door would make any heartbeat late).
//!
//! `LAB_ROOT_RUNS=3` repeats each scenario and prints the spread.
//!
//! A scenario this host cannot produce (the lab refuses it as "not supported
//! on this host", e.g. memory-high without a cgroup v2 memory controller) is
//! recorded as a skip `lab_root/<scenario>` in `$STARVETRACE_SKIP_LOG`, or
//! fails the test when that is unset: a case that did not run never passes.
//!
//! cargo test -p tracer --features root-tests --release --test lab_root -- --nocapture

use std::{
    path::Path,
    process::{Command, Stdio},
    sync::Mutex,
    time::{Duration, Instant},
};

use tracer::lab::{self, LabOptions, LabResult, Scenario};

mod skip_log;

const FILE_STEM: &str = "lab_root";
/// `assert!` with the condition and the lab's whole summary on failure.
macro_rules! check {
    ($r:expr, $cond:expr) => {
        assert!($cond, "{}\n{}", stringify!($cond), $r.summary())
    };
}

const CHILD_ENV: &str = "STARVETRACE_LAB_CHILD";
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Not a test of its own: the entry point of the re-executed child, which
/// runs it with `--ignored`.
#[test]
#[ignore = "the entry point of the re-executed lab child, not a test"]
fn lab_child_entry() {
    let spec = std::env::var(CHILD_ENV).unwrap_or_else(|_| {
        panic!("lab_child_entry only runs in a child that the lab_root tests start with {CHILD_ENV} set")
    });
    let mut it = spec.splitn(3, ':');
    let (sc, secs, out) = (it.next().unwrap(), it.next().unwrap(), it.next().unwrap());
    let opts = LabOptions {
        scenario: sc.parse().unwrap(),
        duration: Duration::from_secs_f64(secs.parse().unwrap()),
        result_path: Some(out.into()),
    };
    if let Err(e) = lab::run(&opts) {
        eprintln!("LAB ERROR: {e}");
        std::process::exit(3);
    }
}

struct Child {
    status: std::process::ExitStatus,
    stderr: String,
    result: Option<LabResult>,
}

fn spawn_child(sc: Scenario, secs: f64) -> (std::process::Child, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("result.json");
    let child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "lab_child_entry",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, format!("{sc}:{secs}:{}", out.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    (child, dir)
}

fn finish(child: std::process::Child, dir: &tempfile::TempDir) -> Child {
    let out = child.wait_with_output().unwrap();
    let path = dir.path().join("result.json");
    let result = std::fs::read_to_string(&path)
        .ok()
        .map(|s| serde_json::from_str(&s).expect("result JSON parses"));
    Child {
        status: out.status,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        result,
    }
}

fn run_child(sc: Scenario, secs: f64) -> Child {
    let (child, dir) = spawn_child(sc, secs);
    finish(child, &dir)
}

fn ms(ns: u64) -> f64 {
    ns as f64 / 1e6
}

/// Everything the lab created is gone.
fn assert_cleaned_up(r: &LabResult) {
    for cg in &r.cgroups {
        assert!(!Path::new(cg).exists(), "lab cgroup {cg} was left behind");
    }
    let comm_of = |p: &Path| std::fs::read_to_string(p.join("comm")).unwrap_or_default();
    let burners = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|e| comm_of(&e.path()).trim() == "lab-cpu-burner")
        .filter(|e| {
            // Only burners of this run: their parent was the lab process.
            std::fs::read_to_string(e.path().join("stat"))
                .ok()
                .and_then(|s| {
                    s.rsplit(')')
                        .next()?
                        .split_whitespace()
                        .nth(1)?
                        .parse::<u32>()
                        .ok()
                })
                == Some(r.pid)
        })
        .count();
    assert_eq!(burners, 0, "CPU burners of pid {} survived", r.pid);
}

/// Runs a scenario `LAB_ROOT_RUNS` times (default 1), checks each run, prints the spread.
fn scenario(sc: Scenario, secs: f64, check: impl Fn(&LabResult)) {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let runs: usize = std::env::var("LAB_ROOT_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let mut rows = Vec::new();
    for i in 0..runs {
        let c = run_child(sc, secs);
        eprintln!("--- {sc} run {} ---\n{}", i + 1, c.stderr);
        if !c.status.success()
            && let Some(why) = skip_log::unsupported_reason(&c.stderr)
        {
            skip_log::skip(FILE_STEM, sc.name(), &why);
            return;
        }
        assert!(
            c.status.success(),
            "lab {sc} failed: {}\n{}",
            c.status,
            c.stderr
        );
        let r = c.result.expect("the lab wrote its result");
        assert_eq!(r.scenario, sc);
        assert_eq!(r.evidence.oom_kills.unwrap_or(0), 0, "OOM kill in {sc}");
        assert!(r.tokio_beats_expected >= (secs * 9.0) as u64);
        assert_cleaned_up(&r);
        check(&r);
        rows.push(r);
    }
    let spread = |f: &dyn Fn(&LabResult) -> f64| {
        let v: Vec<f64> = rows.iter().map(f).collect();
        let (lo, hi) = v
            .iter()
            .fold((f64::MAX, f64::MIN), |(a, b), x| (a.min(*x), b.max(*x)));
        format!("{lo:.1}..{hi:.1}")
    };
    eprintln!(
        "SPREAD {sc} over {runs} run(s): tokio max {} ms, p99 {} ms, mean {} ms, beats seen {}; OS max {} ms; major faults/s {}; failcnt/s {}; PSI mem some% {}, io some% {}, cpu some% {}",
        spread(&|r| ms(r.tokio_heartbeat.max_late_ns)),
        spread(&|r| ms(r.tokio_heartbeat.p99_late_ns)),
        spread(&|r| ms(r.tokio_heartbeat.mean_late_ns)),
        spread(&|r| r.tokio_beats_seen as f64),
        spread(&|r| ms(r.os_heartbeat.max_late_ns)),
        spread(&|r| r.evidence.major_faults_per_sec),
        spread(&|r| r.evidence.memcg_failcnt_per_sec.unwrap_or(0.0)),
        spread(&|r| r
            .evidence
            .psi_memory_cgroup
            .as_ref()
            .map_or(-1.0, |p| p.some_pct)),
        spread(&|r| r
            .evidence
            .psi_io_cgroup
            .as_ref()
            .map_or(-1.0, |p| p.some_pct)),
        spread(&|r| r
            .evidence
            .psi_cpu_cgroup
            .as_ref()
            .map_or(-1.0, |p| p.some_pct)),
    );
}

const SECS: f64 = 4.0;

#[test]
fn healthy_is_on_time() {
    scenario(Scenario::Healthy, SECS, |r| {
        check!(r, r.tokio_heartbeat.max_late() < Duration::from_millis(100));
        check!(r, r.os_heartbeat.max_late() < Duration::from_millis(100));
        assert!(!r.tokio_heartbeat.stopped);
        assert!(r.workload.reconnect_attempts > 0, "the storm ran");
        assert_eq!(
            r.event_loop_thread,
            comm_of_self(),
            "event loop named like the process"
        );
    });
}

/// The comm the child will have: this test binary's file name, cut to 15 bytes.
fn comm_of_self() -> String {
    let exe = std::env::current_exe().unwrap();
    let name = exe.file_name().unwrap().to_string_lossy().into_owned();
    name.chars().take(15).collect()
}

#[test]
fn cpu_makes_the_runtime_wait_for_a_cpu() {
    scenario(Scenario::Cpu, SECS, |r| {
        check!(r, r.tokio_heartbeat.max_late() > Duration::from_millis(100));
        check!(r, r.tokio_heartbeat.late_over_100ms >= 5);
        check!(r, r.evidence.cpu_nr_throttled.unwrap_or(0) > 0);
        assert_eq!(
            r.workload.burners,
            2 * std::thread::available_parallelism().map_or(1, |n| n.get())
        );
        // No memory pressure in this one.
        check!(r, r.evidence.major_faults < 100);
    });
}

#[test]
fn lock_blocks_the_workers_not_the_os_thread() {
    scenario(Scenario::Lock, SECS, |r| {
        check!(r, r.tokio_heartbeat.max_late() > Duration::from_millis(200));
        check!(r, r.os_heartbeat.max_late() < Duration::from_millis(50));
        assert!(r.workload.lock_holds > 0 && r.workload.lock_acquisitions > 0);
        check!(r, r.evidence.major_faults < 100);
    });
}

#[test]
fn lost_wakeup_stops_the_tokio_heartbeat_only() {
    scenario(Scenario::LostWakeup, SECS, |r| {
        check!(r, r.tokio_heartbeat.stopped);
        assert!(
            r.tokio_beats_seen <= 12,
            "beats only during the first second: {}",
            r.summary()
        );
        check!(r, r.tokio_heartbeat.max_late() > Duration::from_secs(2));
        check!(r, r.os_heartbeat.max_late() < Duration::from_millis(50));
        check!(r, r.os_beats_seen + 1 >= r.tokio_beats_expected);
    });
}

#[test]
fn memory_max_stalls_the_workers_in_reclaim_and_refaults() {
    if lab::host_memory_scenario().0 == Scenario::MemoryHigh {
        // Pure cgroup v2: memory-max needs a disk-backed TMPDIR; still run it.
        eprintln!("cgroup v2 host: memory-max uses memory.max");
    }
    scenario(Scenario::MemoryMax, 6.0, |r| {
        let e = &r.evidence;
        check!(r, r.tokio_heartbeat.max_late() > Duration::from_millis(200));
        // The OS thread touches no memory but shares 2 CPUs with workers busy
        // in fault handling (and with whatever else the host runs): 150 ms.
        check!(r, r.os_heartbeat.max_late() < Duration::from_millis(150));
        check!(r, e.major_faults_per_sec > 1000.0);
        let limit_hits = e
            .memcg_failcnt
            .or_else(|| e.memory_events.as_ref()?.get("max").copied());
        check!(r, limit_hits.unwrap_or(0) > 1000);
        assert!(
            r.limits.iter().any(|l| l.contains("memory.")),
            "{:?}",
            r.limits
        );
    });
}

#[test]
fn memory_high_runs_where_supported_and_refuses_clearly_elsewhere() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let (sc, why) = lab::host_memory_scenario();
    if sc == Scenario::MemoryHigh {
        drop(_one);
        scenario(Scenario::MemoryHigh, 6.0, |r| {
            check!(r, r.tokio_heartbeat.max_late() > Duration::from_millis(200));
            let high = r
                .evidence
                .memory_events
                .as_ref()
                .and_then(|m| m.get("high").copied());
            check!(r, high.unwrap_or(0) > 0);
        });
        return;
    }
    eprintln!("memory-high unsupported here: {why}");
    // The refusal itself is checked (clear, before any cgroup is made), but
    // the scenario did not run: a skip, not a pass.
    let c = run_child(Scenario::MemoryHigh, 2.0);
    assert_eq!(c.status.code(), Some(3), "must fail: {}", c.stderr);
    assert!(
        c.stderr.contains("memory-high") && c.stderr.contains("not supported"),
        "{}",
        c.stderr
    );
    assert!(c.result.is_none());
    let reason = skip_log::unsupported_reason(&c.stderr).unwrap_or(why);
    skip_log::skip(FILE_STEM, Scenario::MemoryHigh.name(), &reason);
}

#[test]
fn sigterm_ends_the_run_early_and_cleans_up() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let (child, dir) = spawn_child(Scenario::Cpu, 60.0);
    std::thread::sleep(Duration::from_secs(2));
    let t = Instant::now();
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let c = finish(child, &dir);
    eprintln!("{}", c.stderr);
    assert!(
        t.elapsed() < Duration::from_secs(10),
        "took {:?}",
        t.elapsed()
    );
    assert!(c.status.success(), "{}", c.stderr);
    let r = c.result.expect("a result even when interrupted");
    assert_eq!(r.interrupted.as_deref(), Some("SIGTERM"));
    assert!(r.duration_ns < 10_000_000_000);
    assert_cleaned_up(&r);
}

/// Limit hits over the run: v1 failcnt, else v2 memory.events `max`.
fn limit_hits(r: &LabResult) -> u64 {
    let e = &r.evidence;
    e.memcg_failcnt
        .or_else(|| e.memory_events.as_ref()?.get("max").copied())
        .unwrap_or(0)
}

/// The hard memory limit the lab set, in bytes.
fn memory_limit(r: &LabResult) -> Option<u64> {
    r.limits.iter().find_map(|l| {
        let (file, v) = l.rsplit_once('=')?;
        (file.ends_with("memory.max") || file.ends_with("memory.limit_in_bytes"))
            .then(|| v.parse().ok())?
    })
}

const MIB: u64 = 1 << 20;

#[test]
fn sidecar_memory_stalls_the_sidecar_not_the_runtime() {
    scenario(Scenario::SidecarMemory, 6.0, |r| {
        let (w, e) = (&r.workload, &r.evidence);
        // The pressure is real: the sidecar holds its ballast and refaults.
        check!(r, w.sidecar_ballast_bytes >= 100 * MIB);
        check!(r, w.sidecar_pages_read > 10_000);
        check!(r, e.major_faults_per_sec > 1000.0);
        check!(r, limit_hits(r) > 1000);
        // The runtime reads and holds nothing of it ...
        assert_eq!(
            (w.pages_read, w.block_on_pages_read, w.ballast_bytes),
            (0, 0, 0)
        );
        // ... and its heartbeat stays mostly on time.
        check!(r, r.tokio_heartbeat.p99_late_ns < 100_000_000);
        check!(r, !r.tokio_heartbeat.stopped);
    });
}

#[test]
fn cold_reads_keep_the_workers_waiting_for_the_disk_without_memory_pressure() {
    scenario(Scenario::ColdReads, 6.0, |r| {
        let (w, e) = (&r.workload, &r.evidence);
        check!(r, w.cold_passes > 0 && w.cold_bytes_read > 0);
        // No limit, and nothing hit one.
        assert_eq!(memory_limit(r), None, "{:?}", r.limits);
        assert_eq!(limit_hits(r), 0, "{}", r.summary());
        check!(r, e.major_faults_per_sec > 1000.0);
        // Two readers spent most of the run inside read passes.
        let busy = w.cold_read_ns as f64 / (2.0 * r.duration_ns as f64);
        assert!(
            busy > 0.5,
            "readers busy {:.0}%: {}",
            busy * 100.0,
            r.summary()
        );
        check!(r, r.tokio_heartbeat.max_late() > Duration::from_millis(100));
        check!(r, r.os_heartbeat.max_late() < Duration::from_millis(100));
        if let Some(p) = &e.psi_memory_cgroup {
            assert!(p.some_pct < 2.0, "no memory stall: {}", r.summary());
        }
    });
}

#[test]
fn blockon_memory_stalls_the_event_loop_not_the_workers() {
    scenario(Scenario::BlockonMemory, 6.0, |r| {
        let (w, e) = (&r.workload, &r.evidence);
        check!(r, w.block_on_pages_read > 10_000);
        check!(r, w.ballast_bytes >= 100 * MIB);
        assert_eq!(w.pages_read, 0, "the workers read nothing");
        check!(r, e.major_faults_per_sec > 1000.0);
        check!(r, limit_hits(r) > 1000);
        // The block_on thread's own tick is late; the workers' heartbeat is not.
        check!(
            r,
            r.event_loop_heartbeat.max_late() > Duration::from_millis(200)
        );
        check!(r, r.tokio_heartbeat.p99_late_ns < 100_000_000);
        assert_eq!(r.event_loop_thread, comm_of_self());
    });
}

#[test]
fn blocking_pool_idle_parks_eight_threads_on_one_futex() {
    scenario(Scenario::BlockingPoolIdle, SECS, |r| {
        let w = &r.workload;
        assert_eq!(w.blocking_pool_threads, 8, "{}", r.summary());
        assert_eq!(w.blocking_threads_alive_at_end, 8, "{}", r.summary());
        assert_eq!(w.blocking_threads_in_futex, 8, "{}", r.summary());
        assert_eq!(w.blocking_futex_addresses, 1, "{}", r.summary());
        check!(r, r.tokio_heartbeat.max_late() < Duration::from_millis(100));
    });
}

#[test]
fn cpu_and_memory_starves_on_cpu_with_the_cgroup_at_its_limit() {
    scenario(Scenario::CpuAndMemory, 6.0, |r| {
        let (w, e) = (&r.workload, &r.evidence);
        // The cpu scenario's starvation ...
        check!(r, r.tokio_heartbeat.max_late() > Duration::from_millis(100));
        check!(r, r.tokio_heartbeat.late_over_100ms >= 5);
        check!(r, e.cpu_nr_throttled.unwrap_or(0) > 0);
        assert_eq!(
            w.burners,
            2 * std::thread::available_parallelism().map_or(1, |n| n.get())
        );
        // ... with the cgroup filled to its memory limit by the sidecar ...
        let limit = memory_limit(r).expect("a memory limit");
        check!(r, w.sidecar_bytes_filled > limit);
        assert!(w.sidecar_fill_ms > 0, "the fill finished: {}", r.summary());
        check!(r, limit_hits(r) > 0);
        let peak = e.memory_peak_bytes.unwrap_or(0);
        assert!(peak * 10 >= limit * 9, "peak {peak} of {limit}");
        // ... and nobody refaulting.
        check!(r, e.major_faults < 100);
    });
}
