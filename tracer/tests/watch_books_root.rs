#![cfg(feature = "root-tests")]
//! `watch`'s kernel-side books against the kernel's own: three busy
//! threads pinned to one CPU start after `watch` has attached, run, read
//! their own /proc/thread-self/schedstat and exit. Their run-queue seconds
//! in `watch`'s metrics (books kept in the threads' state entries, moved to
//! `AGG` when each thread died) must match the sum of their `run_delay`.
//!
//! Run: `cargo test -p tracer --features root-tests --test watch_books_root`

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

#[path = "common/ground_truth.rs"]
mod ground_truth;
#[path = "common/http.rs"]
mod http;

use http::{free_port, get_with};

const CHILD_ENV: &str = "STARVETRACE_TEST_WATCH_CHILD";

/// Files the child and the test pass each other.
struct Handshake {
    go: PathBuf,
    truth: PathBuf,
    done: PathBuf,
}

impl Handshake {
    fn in_dir(dir: &Path) -> Self {
        Self {
            go: dir.join("go"),
            truth: dir.join("truth"),
            done: dir.join("done"),
        }
    }
}

fn wait_for(path: &Path, limit: Duration) -> bool {
    let t0 = Instant::now();
    while !path.exists() {
        if t0.elapsed() > limit {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    true
}

/// Only does something when re-executed by the test below: waits for `go`,
/// runs the busy threads for 3 s, writes their ground truth, and stays
/// alive until `done` (a target that exits has its series removed).
#[test]
fn watch_child() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    let h = Handshake::in_dir(Path::new(&dir));
    assert!(wait_for(&h.go, Duration::from_secs(60)), "no go");
    let deadline = Instant::now() + Duration::from_secs(3);
    let truth: String = ground_truth::busy_threads(deadline)
        .into_iter()
        .map(|t| t.join().unwrap())
        .collect();
    let partial = h.truth.with_extension("partial");
    std::fs::write(&partial, truth).unwrap();
    std::fs::rename(&partial, &h.truth).unwrap();
    wait_for(&h.done, Duration::from_secs(60));
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Sum of `starvetrace_off_cpu_seconds_total` for `cause` (over every
/// role; one target is watched, whatever its key).
fn off_cpu_seconds(exposition: &str, cause: &str) -> f64 {
    let cause = format!("cause=\"{cause}\"");
    exposition
        .lines()
        .filter(|l| l.starts_with("starvetrace_off_cpu_seconds_total{"))
        .filter(|l| l.contains(&cause))
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum()
}

#[test]
fn watch_run_queue_books_match_schedstat() {
    // SAFETY: geteuid has no preconditions.
    assert_eq!(unsafe { libc::geteuid() }, 0, "cannot run: needs root");
    // SAFETY: sysconf has no preconditions.
    let cpus = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    assert!(
        cpus >= 2,
        "cannot run: the workload pins to CPU 1 ({cpus} CPU(s) online)"
    );
    let dir = tempfile::tempdir().unwrap();
    let h = Handshake::in_dir(dir.path());
    let child = Killed(
        Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "watch_child", "--test-threads=1"])
            .env(CHILD_ENV, dir.path())
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let pid = child.0.id();
    let addr: std::net::SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let _watch = Killed(
        Command::new(env!("CARGO_BIN_EXE_starvetrace"))
            .args(["watch", "--pid", &pid.to_string(), "--interval", "0.5"])
            .args(["--listen", &addr.to_string(), "--evidence-dir"])
            .arg(dir.path().join("evidence"))
            // Only the books are under test: no bundle captures.
            .args(["--trigger-blackout", "0", "--trigger-stall", "0"])
            .args(["--trigger-memory-events", "0", "--trigger-psi", "0"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("watch starts"),
    );
    // Attached, and the child in the kernel's filter: it counts one target.
    let t0 = Instant::now();
    let metrics = || get_with(addr, "/metrics", "text/plain;version=0.0.4");
    while !metrics().is_some_and(|m| m.contains("starvetrace_watched_targets 1")) {
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "watch never watched the child"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    std::fs::write(&h.go, "").unwrap();
    assert!(
        wait_for(&h.truth, Duration::from_secs(60)),
        "the child wrote no ground truth"
    );
    // Three reads of the books after the threads died.
    std::thread::sleep(Duration::from_millis(1600));
    let text = metrics().expect("watch serves /metrics");
    std::fs::write(&h.done, "").unwrap();

    let truth = std::fs::read_to_string(&h.truth).unwrap();
    // `tid kind on_cpu_ns run_delay_ns minflt wall_ns` per thread.
    let kernel_ns: u64 = truth
        .lines()
        .map(|l| l.split_whitespace().nth(3).unwrap().parse::<u64>().unwrap())
        .sum();
    let ours_ns = off_cpu_seconds(&text, "runqueue") * 1e9;
    let kernel = kernel_ns as f64;
    eprintln!(
        "MEASURED watch run queue: ours {ours_ns:.0} ns, kernel {kernel:.0} ns ({:+.3}%)",
        (ours_ns - kernel) / kernel * 100.0
    );
    assert_eq!(truth.lines().count(), 3, "{truth}");
    assert!(
        kernel > 1e9,
        "the workload must wait on the run queue (got {kernel} ns)"
    );
    // Beyond the threads' own reads: their last waits before exiting and
    // the child's main thread (a few ms at most).
    assert!(
        (ours_ns - kernel).abs() <= 0.02 * kernel + 50e6,
        "watch books {ours_ns:.0} ns of run-queue wait, the kernel {kernel:.0} ns\n{text}"
    );
}
