//! Tokio ping-pong: a coordinator task sends a message to each of N tasks
//! over bounded channels and waits for all N replies, round after round, on
//! a two-worker runtime. Each round fans work out to both workers and drains
//! it again, so workers keep parking and waking each other (futex wakeups,
//! the context switches a tracer pays for). Independent ping-pong pairs
//! would not do: with more than one pair both workers stay busy and the
//! process barely switches at all (measured: ~40 switches/s).

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result};
use tokio::sync::mpsc;

use crate::{Outcome, ctl::Ctl, sys};

pub fn run(ctl: &mut Ctl, tasks: usize, duration: Duration) -> Result<Outcome> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .context("tokio runtime")?;
    // Start the workers before `ready` so thread creation is not measured.
    rt.block_on(async { tokio::task::yield_now().await });
    ctl.ready()?;
    ctl.wait_go()?;
    let before = sys::Usage::now();
    let t0 = Instant::now();
    let ops = rt.block_on(fan_out(tasks, duration));
    let secs = t0.elapsed().as_secs_f64();
    let used = sys::Usage::now().since(before);
    Ok(Outcome::new(ops, secs, used))
}

/// Rounds of send-to-all / receive-from-all until `duration` has passed;
/// returns the number of replies received.
async fn fan_out(tasks: usize, duration: Duration) -> u64 {
    let (reply_tx, mut reply_rx) = mpsc::channel::<u64>(tasks);
    let mut to_tasks = Vec::with_capacity(tasks);
    for _ in 0..tasks {
        let (tx, mut rx) = mpsc::channel::<u64>(1);
        let reply_tx = reply_tx.clone();
        tokio::spawn(async move {
            while let Some(v) = rx.recv().await {
                if reply_tx.send(v).await.is_err() {
                    break;
                }
            }
        });
        to_tasks.push(tx);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let coordinator = {
        let stop = Arc::clone(&stop);
        tokio::spawn(async move {
            let mut replies = 0u64;
            while !stop.load(Ordering::Relaxed) {
                for tx in &to_tasks {
                    // A closed channel cannot happen before we drop `to_tasks`.
                    let _ = tx.send(replies).await;
                }
                for _ in 0..to_tasks.len() {
                    if reply_rx.recv().await.is_some() {
                        replies += 1;
                    }
                }
            }
            replies
        })
    };
    tokio::time::sleep(duration).await;
    stop.store(true, Ordering::Relaxed);
    coordinator.await.unwrap_or(0)
}
