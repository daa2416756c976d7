//! Thread pairs bouncing one byte over two pipes: each op is a write that
//! wakes the partner and a read that sleeps until it answers, so every op
//! costs exactly two context switches (what `perf bench sched pipe` does).

use std::{
    io::{PipeReader, PipeWriter, Read as _, Write as _},
    sync::{Arc, Barrier},
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, anyhow};

use crate::{Outcome, ctl::Ctl, sys};

/// The byte that tells the answering thread to stop.
const STOP: u8 = 0;

/// Run one pair per entry of `pairs` (each entry: the CPUs of its two
/// threads, `None` = unpinned). `pace`: ops per second per pair, or flat out.
pub fn run(
    ctl: &mut Ctl,
    pairs: &[[Option<usize>; 2]],
    pace: Option<f64>,
    duration: Duration,
) -> Result<Outcome> {
    // Everything is set up and parked on the barrier before `ready`, so the
    // measured part is only the ping-pong.
    let start = Arc::new(Barrier::new(pairs.len() + 1));
    let mut pingers = Vec::new();
    let mut answerers = Vec::new();
    for &[cpu_ping, cpu_pong] in pairs {
        let (to_pong_r, to_pong_w) = std::io::pipe().context("pipe")?;
        let (to_ping_r, to_ping_w) = std::io::pipe().context("pipe")?;
        answerers.push(thread::spawn(move || {
            answer(cpu_pong, to_pong_r, to_ping_w)
        }));
        let start = Arc::clone(&start);
        pingers.push(thread::spawn(move || {
            ping(cpu_ping, to_pong_w, to_ping_r, &start, pace, duration)
        }));
    }
    ctl.ready()?;
    ctl.wait_go()?;
    let before = sys::Usage::now();
    start.wait();
    let mut ops = 0;
    let mut secs: f64 = 0.0;
    for p in pingers {
        let (n, s) = p.join().map_err(|_| anyhow!("a ping thread panicked"))??;
        ops += n;
        secs = secs.max(s);
    }
    let used = sys::Usage::now().since(before);
    for a in answerers {
        a.join()
            .map_err(|_| anyhow!("an answering thread panicked"))??;
    }
    Ok(Outcome::new(ops, secs, used))
}

fn answer(cpu: Option<usize>, mut from: PipeReader, mut to: PipeWriter) -> Result<()> {
    if let Some(c) = cpu {
        sys::pin_current_thread(c)?;
    }
    let mut byte = [0u8];
    loop {
        from.read_exact(&mut byte).context("answer: read")?;
        if byte[0] == STOP {
            return Ok(());
        }
        to.write_all(&byte).context("answer: write")?;
    }
}

fn ping(
    cpu: Option<usize>,
    mut to: PipeWriter,
    mut from: PipeReader,
    start: &Barrier,
    pace: Option<f64>,
    duration: Duration,
) -> Result<(u64, f64)> {
    if let Some(c) = cpu {
        sys::pin_current_thread(c)?;
    }
    // Paced runs do their ops in ~1 ms bursts and sleep in between, so the
    // sleeps add about two switches per millisecond, not two per op.
    let batch = pace.map_or(u64::MAX, |r| (r / 1000.0).max(1.0) as u64);
    start.wait();
    let t0 = Instant::now();
    let mut ops: u64 = 0;
    let mut byte = [1u8];
    loop {
        if let Some(rate) = pace {
            let due_at = Duration::from_secs_f64(ops as f64 / rate);
            let now = t0.elapsed();
            if due_at > now {
                thread::sleep(due_at - now);
            }
        }
        let burst_end = ops.saturating_add(batch);
        while ops < burst_end {
            to.write_all(&byte).context("ping: write")?;
            from.read_exact(&mut byte).context("ping: read")?;
            ops += 1;
            // Checking the clock every op would add a visible cost.
            if ops.is_multiple_of(64) && t0.elapsed() >= duration {
                break;
            }
        }
        if t0.elapsed() >= duration {
            break;
        }
    }
    let secs = crate::elapsed_since(t0);
    to.write_all(&[STOP]).context("ping: stop")?;
    Ok((ops, secs))
}
