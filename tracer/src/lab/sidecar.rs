//! A memory sidecar: a plain std thread named `mem-sidecar`, in the lab's
//! process and so in its cgroup, that is NOT a runtime thread. It makes the
//! memory pressure while the runtime only runs its light load, the way a
//! co-located helper (a log shipper, a cache warmer, the Zig side of zeam)
//! would: whatever the cgroup's counters say, the stalls are the sidecar's.
//!
//! - `Thrash` (sidecar-memory): memory-max's load on one thread: anon ballast
//!   holding most of the limit, then random reads of a mapped data file larger
//!   than what is left, so its pages keep being reclaimed and read back.
//! - `FillAndHold` (cpu-and-memory): one sequential `pread` of a file larger
//!   than the limit (the cache fills up to the limit; further charges hit it
//!   and reclaim), then a trickle of reads on through the file that keeps it
//!   at the limit (a few limit hits a second) while the runtime refaults nothing.

use std::{
    io,
    os::unix::fs::FileExt,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering::Relaxed},
    },
    thread,
    time::{Duration, Instant},
};

use super::{
    memory::{Ballast, Mapping, Rng},
    plan::{FillPlan, MaxPlan},
};

/// The sidecar's thread name (its comm).
pub const NAME: &str = "mem-sidecar";
const PAGE: u64 = 4096;

#[derive(Clone, Copy, Debug)]
pub enum Mode {
    Thrash(MaxPlan),
    FillAndHold(FillPlan),
}

/// What the sidecar did (reported in the lab's `Workload`).
#[derive(Debug, Default)]
pub struct Counters {
    pub ballast_bytes: AtomicU64,
    /// Pages read at random through the mapping (Thrash), or read while
    /// holding the cache at the limit (FillAndHold).
    pub pages_read: AtomicU64,
    /// Bytes read sequentially into the page cache (FillAndHold).
    pub bytes_filled: AtomicU64,
    /// How long the fill took, in ms (0 until it is done).
    pub fill_ms: AtomicU64,
    pub read_errors: AtomicU64,
}

pub fn spawn(
    mode: Mode,
    map: Arc<Mapping>,
    counters: Arc<Counters>,
    stop: Arc<AtomicBool>,
) -> io::Result<thread::JoinHandle<()>> {
    thread::Builder::new()
        .name(NAME.into())
        .spawn(move || match mode {
            Mode::Thrash(p) => thrash(p, &map, &counters, &stop),
            Mode::FillAndHold(p) => fill_and_hold(p, &map, &counters, &stop),
        })
}

fn thrash(p: MaxPlan, map: &Mapping, c: &Counters, stop: &AtomicBool) {
    // The ballast first (the page cache is empty now, so no charge waits),
    // held until the thread ends.
    let mut ballast = Ballast::default();
    while ballast.bytes() + p.ballast_step <= p.ballast && !stop.load(Relaxed) {
        if ballast.grow(p.ballast_step).is_err() {
            c.read_errors.fetch_add(1, Relaxed);
            break;
        }
        c.ballast_bytes.store(ballast.bytes() as u64, Relaxed);
    }
    let mut rng = Rng::new(0x51de_ca12);
    while !stop.load(Relaxed) {
        let t = Instant::now();
        std::hint::black_box(map.read_random_pages(&mut rng, p.reader_pages));
        c.pages_read.fetch_add(p.reader_pages as u64, Relaxed);
        // A pass every `reader_every` at most, as memory-max's readers.
        sleep_unless_stopped(p.reader_every.saturating_sub(t.elapsed()), stop);
    }
}

fn fill_and_hold(p: FillPlan, map: &Mapping, c: &Counters, stop: &AtomicBool) {
    let Some(file) = map.file() else {
        c.read_errors.fetch_add(1, Relaxed);
        return;
    };
    let len = map.len() as u64;
    let mut buf = vec![0u8; p.chunk.max(PAGE as usize)];
    let t = Instant::now();
    let mut off = 0u64;
    while off < len && !stop.load(Relaxed) {
        match file.read_at(&mut buf, off) {
            Ok(0) => break,
            Ok(n) => {
                off += n as u64;
                c.bytes_filled.fetch_add(n as u64, Relaxed);
            }
            Err(_) => {
                c.read_errors.fetch_add(1, Relaxed);
                break;
            }
        }
    }
    c.fill_ms
        .store(t.elapsed().as_millis().max(1) as u64, Relaxed);
    // Hold: keep reading on through the file, a little at a time and
    // wrapping at its end. The file is larger than the limit, so these pages
    // were the oldest and are gone: each read is charged at the limit (a
    // trickle of limit hits and reclaim for the whole run), and the sidecar,
    // not the runtime, is the one reading them back.
    let hold = &mut buf[..p
        .hold_bytes
        .clamp(PAGE as usize, p.chunk.max(PAGE as usize))];
    while !stop.load(Relaxed) {
        sleep_unless_stopped(p.hold_every, stop);
        if off >= len {
            off = 0;
        }
        match file.read_at(hold, off) {
            Ok(n) => {
                off += n.max(1) as u64;
                c.pages_read.fetch_add(n as u64 / PAGE, Relaxed);
            }
            Err(_) => {
                c.read_errors.fetch_add(1, Relaxed);
            }
        }
    }
}

/// Sleeps `d` in steps of at most 50 ms, so a stop is seen quickly.
fn sleep_unless_stopped(d: Duration, stop: &AtomicBool) {
    let end = Instant::now() + d;
    while !stop.load(Relaxed) {
        let now = Instant::now();
        if now >= end {
            return;
        }
        thread::sleep((end - now).min(Duration::from_millis(50)));
    }
}
