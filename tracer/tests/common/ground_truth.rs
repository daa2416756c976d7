//! What a thread's kernel books say, read by the thread itself: shared by
//! the root tests that compare ours with them.

use std::time::{Duration, Instant};

/// CLOCK_MONOTONIC in ns, as the tracer reads it.
pub use tracer::sys::monotonic_ns;

/// Pin the calling thread to `cpu`. A case that cannot pin cannot measure
/// what it is meant to: it panics with the reason.
pub fn pin_to_cpu(cpu: usize) {
    // SAFETY: a zeroed cpu_set_t is valid; we pass its exact size.
    let rc = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set)
    };
    assert_eq!(
        rc,
        0,
        "cannot run: pinning to CPU {cpu} failed: {}",
        std::io::Error::last_os_error()
    );
}

/// One line per thread: `tid kind on_cpu_ns run_delay_ns minflt wall_ns`,
/// read by the thread itself just before it ends; `wall_ns` is from
/// `started_ns` (its first instruction) to now.
pub fn own_ground_truth(kind: &str, started_ns: u64) -> String {
    let schedstat = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap();
    let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap();
    let wall = monotonic_ns() - started_ns;
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .collect();
    // After the comm: state is field 3, minflt is field 10.
    let minflt = fields[7];
    let mut s = schedstat.split_whitespace();
    // SAFETY: gettid has no preconditions.
    let tid = unsafe { libc::gettid() };
    format!(
        "{tid} {kind} {} {} {minflt} {wall}\n",
        s.next().unwrap(),
        s.next().unwrap()
    )
}

/// The threads of a workload, each returning its `own_ground_truth` line.
pub type Truths = Vec<std::thread::JoinHandle<String>>;

/// Three busy threads pinned to CPU 1 until `deadline` (so each waits on
/// the run queue about two thirds of the time), touching fresh pages and
/// sleeping 200 µs between bursts.
pub fn busy_threads(deadline: Instant) -> Truths {
    (0..3)
        .map(|_| {
            std::thread::spawn(move || {
                let started = monotonic_ns();
                pin_to_cpu(1);
                let mut pages: Vec<Vec<u8>> = Vec::new();
                let mut x = 0u64;
                while Instant::now() < deadline {
                    for i in 0..200_000u64 {
                        x = x.wrapping_mul(31).wrapping_add(i);
                    }
                    // Fresh anonymous pages: minor faults the kernel counts.
                    let mut page = vec![0u8; 64 * 4096];
                    for p in page.iter_mut().step_by(4096) {
                        *p = x as u8;
                    }
                    pages.push(page);
                    if pages.len() > 64 {
                        pages.clear();
                    }
                    std::thread::sleep(Duration::from_micros(200));
                }
                std::hint::black_box(x);
                own_ground_truth("busy", started)
            })
        })
        .collect()
}
