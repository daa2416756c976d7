//! What the verdict rules look at and what they decide, as typed values:
//! `analyze` fills them in, `report::verdict` puts them into words. Not
//! part of the JSON (the words are).

use super::{
    cause::Cause,
    verdict::{Alternative, Outcome},
};

/// The cgroup's pressure signals over the trace window, where available.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Pressure {
    /// PSI memory "some" stall as a share of the window.
    pub psi_some: Option<f64>,
    pub psi_full: Option<f64>,
    /// memory.events high + max deltas (v2), or memory.failcnt delta (v1).
    pub limit_hits: Option<u64>,
    pub oom_kills: Option<u64>,
    pub major_faults: Option<u64>,
    /// Share of the threads' memory-stall time in 100 ms buckets where the
    /// cgroup's PSI memory was non-zero, and the correlation of the series.
    pub aligned_share: Option<f64>,
    pub correlation: Option<f64>,
    /// cpu.stat throttled time delta (ns), for the CPU alternative.
    pub cpu_throttled_ns: Option<u64>,
    /// Whose PSI this is (the target's cgroup, or host-wide).
    pub psi_scope: String,
}

/// What the rules look at, summed over the runtime threads.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Facts {
    pub window_ns: u64,
    pub threads: usize,
    /// Which threads these are (e.g. "2 tokio workers + 1 block_on thread").
    pub which: String,
    pub wall_ns: u64,
    pub on_cpu_ns: u64,
    pub by_cause: [u64; Cause::COUNT],
    /// Reclaim done on-CPU (vmscan begin/end time not spent off-CPU).
    pub reclaim_on_cpu_ns: u64,
    pub longest_memory_stall_ns: u64,
    /// Longest futex/epoll wait, closed or still open.
    pub longest_idle_wait_ns: u64,
    /// Futex wait time on addresses that two or more runtime threads waited
    /// on, and the busiest such address with how many threads shared it.
    pub shared_futex_ns: u64,
    pub shared_futex: Option<(u64, usize)>,
    pub records: u64,
    pub lost: u64,
    /// Cause names in the recording this version does not know: left out
    /// of the sums, never folded into a known cause.
    pub unknown_causes: u64,
    pub pressure: Pressure,
}

impl Facts {
    /// `ns` as a share of the runtime threads' wall time.
    pub fn share(&self, ns: u64) -> f64 {
        if self.wall_ns == 0 {
            0.0
        } else {
            ns as f64 / self.wall_ns as f64
        }
    }

    pub fn ns(&self, cause: Cause) -> u64 {
        self.by_cause[cause.index()]
    }

    pub fn memory_ns(&self) -> u64 {
        Cause::ALL
            .into_iter()
            .filter(|c| c.is_memory())
            .map(|c| self.ns(c))
            .sum::<u64>()
            + self.reclaim_on_cpu_ns
    }

    pub fn memory_share(&self) -> f64 {
        self.share(self.memory_ns())
    }

    pub fn runqueue_share(&self) -> f64 {
        self.share(self.ns(Cause::Runqueue))
    }

    /// futex, epoll and sleep: waiting for work.
    pub fn idle_share(&self) -> f64 {
        self.share(self.ns(Cause::Futex) + self.ns(Cause::Epoll) + self.ns(Cause::Sleep))
    }

    pub fn io_share(&self) -> f64 {
        self.share(self.ns(Cause::Io) + self.ns(Cause::WritebackThrottle))
    }

    pub fn on_cpu_share(&self) -> f64 {
        self.share(self.on_cpu_ns)
    }
}

/// The thresholds the rules used, for the evidence lines.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Thresholds {
    pub memory_substantial: f64,
    pub memory_negligible: f64,
    pub long_memory_stall_ns: u64,
    pub aligned_share: f64,
}

/// Why the rules decided what they did, with the numbers that decided it.
#[derive(Clone, Debug, PartialEq)]
pub enum Reason {
    TooShort {
        window_ns: u64,
        min_ns: u64,
    },
    NoRuntimeThreads,
    Lost {
        lost: u64,
        total: u64,
        max_share: f64,
    },
    MemoryConfirmed {
        share: f64,
        dominant: Option<Cause>,
    },
    PressureDisagrees {
        share: f64,
    },
    NoPressureSignal {
        share: f64,
    },
    Negligible {
        share: f64,
        alt: AltReason,
    },
    Middling {
        share: f64,
    },
}

/// Why the alternative to memory starvation is what it is.
#[derive(Clone, Debug, PartialEq)]
pub enum AltReason {
    /// Runnable but waiting for a CPU; `throttled_ns` when the cgroup's CPU
    /// quota throttled it.
    Cpu {
        runqueue_share: f64,
        throttled_ns: Option<u64>,
    },
    Io {
        io_share: f64,
    },
    /// Several runtime threads wait on one futex: a lock held elsewhere.
    Lock {
        threads: usize,
        addr: u64,
        share: f64,
        min_share: f64,
    },
    /// Parked with long waits and no wakeup: idle, or a lost wakeup.
    Parked {
        idle_share: f64,
        longest_wait_ns: u64,
    },
    /// Parked, waking often: idle, waiting for work.
    Waking {
        idle_share: f64,
        longest_wait_ns: u64,
    },
    Busy {
        on_cpu_share: f64,
    },
}

impl AltReason {
    pub const fn alternative(&self) -> Alternative {
        match self {
            AltReason::Cpu { .. } => Alternative::Cpu,
            AltReason::Io { .. } => Alternative::Io,
            AltReason::Lock { .. } => Alternative::Blocked,
            AltReason::Parked { .. } | AltReason::Waking { .. } => Alternative::Idle,
            AltReason::Busy { .. } => Alternative::Busy,
        }
    }
}

/// The rules' decision with everything the words are made from.
#[derive(Clone, Debug, PartialEq)]
pub struct Judgement {
    pub outcome: Outcome,
    pub alternative: Option<Alternative>,
    /// Named only when memory stalls matter at all.
    pub dominant_memory_cause: Option<Cause>,
    pub reason: Reason,
    pub facts: Facts,
    pub thresholds: Thresholds,
}
