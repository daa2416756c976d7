//! What the verdict rules look at and what they decide, as typed values:
//! `analyze` fills them in, `report::verdict` puts them into words, and the
//! JSON carries the typed decision next to the words.

use serde::{Deserialize, Serialize};

use super::{
    blackouts::Blackouts,
    cause::Cause,
    outcome::{Alternative, Outcome},
};

/// The cgroup's pressure over the trace window: context for the reader,
/// never proof (PSI rises *because* the traced threads stall).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Pressure {
    /// PSI memory "some"/"full" stall as a share of the window.
    pub psi_some: Option<f64>,
    pub psi_full: Option<f64>,
    /// memory.events high + max deltas (v2), or memory.failcnt delta (v1).
    pub limit_hits: Option<u64>,
    pub oom_kills: Option<u64>,
    pub major_faults: Option<u64>,
    /// Whose PSI this is (the target's cgroup, or host-wide).
    pub psi_scope: String,
}

/// Which threads the rules call the runtime, and how they were found.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RuntimeSet {
    /// tokio workers by name (default names or `--threads`).
    pub workers: usize,
    /// Threads named like their process: one may drive `block_on`.
    pub block_on_candidates: usize,
    /// tokio-named threads left out as the blocking pool (by behaviour).
    pub blocking_pool: usize,
    /// The `--threads` pattern, when one was given.
    pub pattern: Option<String>,
    /// It matched no thread.
    pub pattern_matched_nothing: bool,
    /// The target's thread names, when no runtime thread was found.
    pub names_seen: Vec<String>,
}

impl RuntimeSet {
    pub fn count(&self) -> usize {
        self.workers + self.block_on_candidates
    }
}

/// Which test decided a fault wait.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultTest {
    /// The cgroup was refaulting its working set in those windows: memory.
    WorkingsetRefault,
    /// The cgroup was at its limit (and so reclaiming) in those windows: memory.
    LimitReclaim,
    /// Neither: a first read of cold data, an I/O wait.
    ColdData,
    /// The memory counters are not available here: undecided.
    NoCounters,
}

/// Fault waits of the runtime threads, split by the test that decided each.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FaultWaits {
    pub total_ns: u64,
    pub workingset_refault_ns: u64,
    pub limit_reclaim_ns: u64,
    pub cold_data_ns: u64,
    pub no_counters_ns: u64,
}

impl FaultWaits {
    pub fn memory_ns(&self) -> u64 {
        self.workingset_refault_ns + self.limit_reclaim_ns
    }
}

/// Throttle sleeps of the runtime threads and how many fell in sample
/// windows in which `memory.events high` moved.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ThrottleWaits {
    pub total_ns: u64,
    pub in_high_windows_ns: u64,
    /// memory.events is readable (a v2 memory controller).
    pub counter_available: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mechanism {
    /// memory.high penalty sleeps, backed by memory.events high moving in the same windows.
    HighThrottle,
    /// Reclaim (off- or on-CPU), backed by the vmscan tracepoints in those threads.
    Reclaim,
    /// Fault waits, backed by workingset refaults or limit hits in the same windows.
    Refault,
    /// Direct compaction: no independent cgroup counter.
    Compaction,
}

/// Why the verdict is what it is, with the numbers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Reason {
    TooShort {
        window_ns: u64,
    },
    NoRuntimeThreads {
        pattern_matched_nothing: bool,
    },
    Lost {
        lost: u64,
        total: u64,
    },
    SpansIncomplete {
        covered_share: f64,
    },
    /// Memory starvation, backed by the mechanism's own evidence.
    Starved {
        mechanism: Mechanism,
    },
    /// Memory stalls that would be substantial, but the mechanism's
    /// independent evidence is missing.
    NoEvidence {
        mechanism: Mechanism,
        unbacked_ns: u64,
    },
    /// Memory stalls negligible; the alternative explains the time.
    Negligible {
        alternative: Alternative,
        why: AlternativeWhy,
    },
    /// More than negligible, less than substantial.
    Middling,
    /// What the tracer could not see could flip the answer.
    Blind {
        blindness: Blindness,
        blind_ns: u64,
    },
}

/// What the tracer was blind to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Blindness {
    /// `--stacks none`: an uninterruptible sleep cannot be told apart.
    StacksOff,
    /// Kernel stacks could not be taken or read back (stack-map collisions).
    StacksLost,
}

/// The numbers behind the named alternative.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "by", rename_all = "snake_case")]
pub enum AlternativeWhy {
    /// Runtime blackouts, mostly of this cause.
    Blackouts {
        cause: Cause,
        share: f64,
    },
    RunQueue {
        share: f64,
        cpu_throttled_ns: Option<u64>,
    },
    Io {
        share: f64,
    },
    SharedFutex {
        addr: u64,
        threads: usize,
        share: f64,
    },
    Parked {
        share: f64,
        longest_wait_ns: u64,
    },
    OnCpu {
        share: f64,
    },
}

/// Reclaim done by the runtime threads.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ReclaimFacts {
    /// Off-CPU intervals classified as memcg/direct reclaim.
    pub off_cpu_ns: u64,
    /// On-CPU time inside reclaim (vmscan begin..end, only while on a CPU).
    pub on_cpu_ns: u64,
    /// vmscan begin/end pairs seen in those threads.
    pub tracepoint_hits: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SharedFutex {
    pub addr: u64,
    pub threads: usize,
    pub ns: u64,
}

/// What the rules look at, over the runtime threads.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Facts {
    pub window_ns: u64,
    pub runtime: RuntimeSet,
    pub wall_ns: u64,
    pub on_cpu_ns: u64,
    /// Blocked (not runnable) off-CPU time by cause, after the fault test
    /// moved cold-data fault waits to `io`. `runqueue` holds the run-queue waits.
    pub by_cause: [u64; Cause::COUNT],
    /// Off-CPU time in uninterruptible sleep (D).
    pub disk_ns: u64,
    pub reclaim: ReclaimFacts,
    pub faults: FaultWaits,
    pub throttle: ThrottleWaits,
    pub blackouts: Blackouts,
    pub longest_idle_wait_ns: u64,
    pub shared_futex: Option<SharedFutex>,
    pub records: u64,
    pub lost: u64,
    pub stacks_off: bool,
    pub stack_failures: u64,
    pub blocked_intervals: u64,
    pub cpu_throttled_ns: Option<u64>,
    /// Context for the reader, not used by the rules.
    pub pressure: Pressure,
}

impl Facts {
    /// `ns` as a share of the runtime threads' wall time.
    pub fn share(&self, ns: u64) -> f64 {
        ratio(ns, self.wall_ns)
    }

    pub fn ns(&self, c: Cause) -> u64 {
        self.by_cause[c.index()]
    }

    /// Waiting for work: futex, epoll, sleep.
    pub fn idle_ns(&self) -> u64 {
        Cause::ALL
            .into_iter()
            .filter(|c| c.is_idle())
            .map(|c| self.ns(c))
            .sum()
    }

    /// Wall time not spent parked idle: running, waiting for a CPU, stalled.
    pub fn busy_ns(&self) -> u64 {
        self.wall_ns.saturating_sub(self.idle_ns())
    }

    pub fn io_ns(&self) -> u64 {
        self.ns(Cause::Io) + self.ns(Cause::WritebackThrottle)
    }
}

/// `part / whole`, 0 when there is no whole.
pub fn ratio(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

/// The memory picture the outcome rests on.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MemoryWeight {
    /// Memory stall time backed by its mechanism's evidence.
    pub backed_ns: u64,
    /// Memory stall time whose evidence is missing.
    pub unbacked_ns: u64,
    pub backed_share_of_wall: f64,
    pub backed_share_of_busy: f64,
    pub blackout_ns: u64,
    pub blackout_share_of_window: f64,
    /// The mechanism with the most backed (else unbacked) time.
    pub mechanism: Option<Mechanism>,
    pub dominant_cause: Option<Cause>,
}

/// The thresholds the rules used, quoted by the evidence lines.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Thresholds {
    pub blackout_memory_substantial: f64,
    pub memory_busy_substantial: f64,
    pub memory_wall_floor: f64,
    pub memory_negligible: f64,
    pub throttle_evidence_share: f64,
    pub long_blackout_ns: u64,
}

/// The rules' decision with everything the words are made from.
#[derive(Clone, Debug, PartialEq)]
pub struct Judgement {
    pub outcome: Outcome,
    pub alternative: Option<Alternative>,
    pub reason: Reason,
    pub memory: MemoryWeight,
    pub facts: Facts,
    pub thresholds: Thresholds,
}
