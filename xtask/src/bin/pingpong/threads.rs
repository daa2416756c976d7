//! Many threads: N OS threads each loop over a sleep (nanosleep), a timed
//! condition-variable wait (futex) and a short spin, with lengths spread
//! over four decades. Not a speed test: it fills a tracer's per-thread books
//! (several interval kinds and causes per thread, wide value ranges) so the
//! bench can show starvetrace's memory stays bounded with many threads.

use std::{
    sync::{Arc, Barrier, Condvar, Mutex},
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result};

use crate::{Outcome, ctl::Ctl, sys};

pub fn run(ctl: &mut Ctl, threads: usize, duration: Duration) -> Result<Outcome> {
    let start = Arc::new(Barrier::new(threads + 1));
    let handles = (0..threads)
        .map(|i| {
            let start = start.clone();
            thread::Builder::new()
                .name(format!("busy-{i}"))
                .stack_size(64 << 10)
                .spawn(move || {
                    start.wait();
                    worker(i as u64, duration)
                })
                .context("spawning a thread")
        })
        .collect::<Result<Vec<_>>>()?;
    ctl.ready()?;
    ctl.wait_go()?;
    let before = sys::Usage::now();
    let t0 = Instant::now();
    start.wait();
    let mut ops = 0;
    for h in handles {
        ops += h.join().unwrap_or(0);
    }
    let secs = t0.elapsed().as_secs_f64();
    let used = sys::Usage::now().since(before);
    Ok(Outcome::new(ops, secs, used))
}

/// Loops until `duration` has passed; returns its iterations.
fn worker(seed: u64, duration: Duration) -> u64 {
    let mut rng = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    // 10 µs .. 100 ms, log-uniform.
    let mut spread = move || Duration::from_nanos(10_000 * 10u64.pow((next() % 5) as u32));
    let pair = (Mutex::new(()), Condvar::new());
    let end = Instant::now() + duration;
    let mut ops = 0;
    while Instant::now() < end {
        thread::sleep(spread() / 4);
        let guard = pair.0.lock().unwrap_or_else(|e| e.into_inner());
        let _ = pair.1.wait_timeout(guard, spread() / 4);
        let spin_until = Instant::now() + spread() / 100;
        while Instant::now() < spin_until {
            std::hint::spin_loop();
        }
        ops += 1;
    }
    ops
}
