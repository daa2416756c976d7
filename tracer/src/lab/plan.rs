//! The sizes and rates each scenario uses, in one place (tuned on a 2-CPU,
//! 24 GiB VM with a virtio disk; see the lab root test for the numbers seen).

use std::time::Duration;

use super::memory::MIB;

/// memory-max: a hard limit, anon ballast holding most of it, and a file-backed
/// data set larger than the limit read at random by tasks on the workers.
///
/// Tuning notes (2-CPU VM, virtio disk): with ~30 MiB left for page cache a
/// random page of a 256 MiB file misses ~90% of the time; each miss is a memcg
/// charge over the limit (failcnt, reclaim) and a read (a major fault, D in
/// filemap_fault). A 4096-page read then takes a few hundred ms instead of a
/// few µs, and the heartbeat waits behind it. A data set barely above the
/// cache (32-40 MiB) thrashes "workingset" pages instead, which PSI counts as
/// memory stall (25-30%), but the lateness it causes swings from 5 to 200 ms
/// between runs, too unstable for CI.
#[derive(Clone, Copy, Debug)]
pub struct MaxPlan {
    pub limit: usize,
    pub ballast: usize,
    pub ballast_step: usize,
    pub ballast_every: Duration,
    pub file: usize,
    pub readers: usize,
    pub reader_pages: usize,
    pub reader_every: Duration,
    /// Pages a reconnect attempt reads (the event loop reads the same).
    pub attempt_pages: usize,
}

pub const MAX: MaxPlan = MaxPlan {
    // The field report's reproduction used 192 MiB.
    limit: 192 * MIB,
    // Leaves ~30 MiB for page cache, runtime and stacks: anon never reaches the
    // limit, so reclaim always finds file pages and there is no OOM kill.
    ballast: 160 * MIB,
    ballast_step: 8 * MIB,
    ballast_every: Duration::from_millis(50),
    file: 256 * MIB,
    readers: 2,
    reader_pages: 4096,
    reader_every: Duration::from_millis(20),
    attempt_pages: 16,
};

/// memory-high (cgroup v2): a ballast growing slowly past memory.high and
/// tasks that keep charging fresh pages; memory.max is a safety net far above.
#[derive(Clone, Copy, Debug)]
pub struct HighPlan {
    pub high: usize,
    pub max: usize,
    pub ballast_cap: usize,
    pub ballast_step: usize,
    pub ballast_every: Duration,
    pub churners: usize,
    pub churn_bytes: usize,
    pub churn_every: Duration,
    pub attempt_bytes: usize,
}

pub const HIGH: HighPlan = HighPlan {
    high: 96 * MIB,
    max: 192 * MIB,
    // 1/8 over memory.high: a steady penalty of a few hundred ms per charge.
    ballast_cap: 108 * MIB,
    ballast_step: 2 * MIB,
    ballast_every: Duration::from_millis(100),
    churners: 2,
    churn_bytes: 2 * MIB,
    churn_every: Duration::from_millis(20),
    attempt_bytes: 256 * 1024,
};

/// lost-wakeup: how long everything runs normally before the wakeup is lost.
pub const LOST_WAKEUP_AFTER: Duration = Duration::from_secs(1);

/// sidecar-memory and blockon-memory reuse memory-max's limit, ballast and
/// data set ([`MAX`]); only the thread doing the work differs (the
/// `mem-sidecar` thread, or the `block_on` thread), and it is one reader.
///
/// cold-reads: no memory limit at all; tasks on the workers read a file whose
/// pages were just dropped from the page cache, one 4 KiB page per read
/// (MADV_RANDOM: no readahead), so every read is a major fault that waits for
/// the disk. A pass stops after `pass_pages` pages or `pass_budget`, whichever
/// comes first (natively ~60 µs a page: 4096 pages take ~250 ms; under TCG
/// the budget bounds a pass), then the task yields for `gap`.
#[derive(Clone, Copy, Debug)]
pub struct ColdPlan {
    pub file: usize,
    pub readers: usize,
    pub pass_pages: usize,
    pub pass_budget: Duration,
    pub gap: Duration,
}

pub const COLD: ColdPlan = ColdPlan {
    // 16384 pages: a pass of ≤ 4096 distinct pages never reads one twice.
    file: 64 * MIB,
    readers: 2,
    pass_pages: 4096,
    pass_budget: Duration::from_millis(300),
    gap: Duration::from_millis(10),
};

/// cpu-and-memory: the `cpu` scenario's burners and quota, plus a memory
/// limit the sidecar thread fills with page cache (one sequential read of a
/// file larger than the limit, so charges hit the limit and reclaim) and then
/// holds there with a trickle of reads on through the file (`hold_bytes`
/// every `hold_every`, 2.5 MiB/s: each one evicted, so charged at the limit).
#[derive(Clone, Copy, Debug)]
pub struct FillPlan {
    pub limit: usize,
    pub file: usize,
    pub chunk: usize,
    pub hold_bytes: usize,
    pub hold_every: Duration,
}

pub const FILL: FillPlan = FillPlan {
    limit: 128 * MIB,
    file: 160 * MIB,
    chunk: MIB,
    hold_bytes: 256 * 1024,
    hold_every: Duration::from_millis(100),
};

/// blocking-pool-idle: how many `spawn_blocking` threads the burst creates
/// (they must all run at once, so the pool grows to exactly this), and how
/// much longer than the run they are kept alive while idle.
pub const POOL_THREADS: usize = 8;
pub const POOL_KEEP_ALIVE_MARGIN: Duration = Duration::from_secs(60);
