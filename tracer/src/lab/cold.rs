//! cold-reads: tasks on the tokio workers read a file whose pages were just
//! dropped from the page cache, through a mapping, one page per fault. There
//! is no memory limit and no memory pressure: each read is a major fault that
//! waits for the disk, i.e. I/O. A skeptic's case against reading every major
//! fault as memory starvation.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering::Relaxed},
    },
    time::Instant,
};

use super::{
    memory::{Mapping, Rng},
    plan::ColdPlan,
};

/// What the readers did (reported in the lab's `Workload`).
#[derive(Debug, Default)]
pub struct Counters {
    /// Passes, each preceded by evicting the whole file.
    pub passes: AtomicU64,
    pub pages_read: AtomicU64,
    /// Wall time the readers spent inside passes (summed over readers).
    pub pass_ns: AtomicU64,
}

/// One reader: evict the file, read up to `pass_pages` distinct pages (or
/// for `pass_budget`) synchronously on the worker, yield for `gap`, repeat.
pub async fn reader_task(
    map: Arc<Mapping>,
    seed: u64,
    plan: ColdPlan,
    c: Arc<Counters>,
    stop: Arc<AtomicBool>,
) {
    let mut rng = Rng::new(seed);
    while !stop.load(Relaxed) {
        let t = Instant::now();
        map.evict();
        let (pages, sum) = map.read_distinct_pages(&mut rng, plan.pass_pages, t + plan.pass_budget);
        std::hint::black_box(sum);
        c.passes.fetch_add(1, Relaxed);
        c.pages_read.fetch_add(pages as u64, Relaxed);
        c.pass_ns.fetch_add(t.elapsed().as_nanos() as u64, Relaxed);
        tokio::time::sleep(plan.gap).await;
    }
}
