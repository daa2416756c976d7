//! The lab's scenarios and their command-line names.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};

use super::LabError;

/// One way to make a tokio runtime go silent (or, for `Healthy`, not).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scenario {
    /// cgroup v2 `memory.high` throttling of the allocating runtime threads.
    MemoryHigh,
    /// A working set above the hard limit: reclaim and refaults of file pages.
    MemoryMax,
    /// Runtime threads wait for a CPU (competing burners plus a CPU quota).
    Cpu,
    /// Every task is pending and nothing will wake them.
    LostWakeup,
    /// Runtime threads block synchronously on a std `Mutex`.
    Lock,
    /// The control: light work, everything on time.
    Healthy,
    /// Negative control: a `mem-sidecar` std thread keeps a file working set
    /// above the hard limit; the runtime only runs its light load.
    SidecarMemory,
    /// Negative control: the workers read a cold mmapped file (evicted before
    /// each pass), no memory limit: they wait for the disk.
    ColdReads,
    /// The field report's shape: the `block_on` thread (named like the
    /// process) refaults a file working set above the limit; workers idle.
    BlockonMemory,
    /// Negative control: an idle `spawn_blocking` pool of 8 threads parked on
    /// tokio's shared condvar, next to idle workers.
    BlockingPoolIdle,
    /// Negative control: CPU starvation as in `Cpu`, while a sidecar thread
    /// holds the cgroup at its memory limit with page cache.
    CpuAndMemory,
}

impl Scenario {
    pub const ALL: [Scenario; 11] = [
        Scenario::MemoryHigh,
        Scenario::MemoryMax,
        Scenario::Cpu,
        Scenario::LostWakeup,
        Scenario::Lock,
        Scenario::Healthy,
        Scenario::SidecarMemory,
        Scenario::ColdReads,
        Scenario::BlockonMemory,
        Scenario::BlockingPoolIdle,
        Scenario::CpuAndMemory,
    ];
    pub const NAMES: [&'static str; 11] = [
        "memory-high",
        "memory-max",
        "cpu",
        "lost-wakeup",
        "lock",
        "healthy",
        "sidecar-memory",
        "cold-reads",
        "blockon-memory",
        "blocking-pool-idle",
        "cpu-and-memory",
    ];

    pub fn name(self) -> &'static str {
        match self {
            Scenario::MemoryHigh => "memory-high",
            Scenario::MemoryMax => "memory-max",
            Scenario::Cpu => "cpu",
            Scenario::LostWakeup => "lost-wakeup",
            Scenario::Lock => "lock",
            Scenario::Healthy => "healthy",
            Scenario::SidecarMemory => "sidecar-memory",
            Scenario::ColdReads => "cold-reads",
            Scenario::BlockonMemory => "blockon-memory",
            Scenario::BlockingPoolIdle => "blocking-pool-idle",
            Scenario::CpuAndMemory => "cpu-and-memory",
        }
    }

    /// Whether a runtime thread should be starved in this scenario: its
    /// heartbeat late or stopped — the tokio heartbeat (polled by the
    /// workers), or for `BlockonMemory` the event loop's tick on the
    /// `block_on` thread (the workers stay idle there).
    pub fn expects_starvation(self) -> bool {
        !matches!(
            self,
            Scenario::Healthy | Scenario::SidecarMemory | Scenario::BlockingPoolIdle
        )
    }

    /// What the tracer should find, in one line (printed in the lab summary).
    pub fn expected_cause(self) -> &'static str {
        match self {
            Scenario::MemoryHigh => {
                "runtime threads throttled by memory.high (memcg over-high penalty)"
            }
            Scenario::MemoryMax => {
                "runtime threads stalled in memcg reclaim and refaulting file pages"
            }
            Scenario::Cpu => {
                "runtime threads runnable but waiting for a CPU (burners and a CPU quota)"
            }
            Scenario::LostWakeup => {
                "runtime threads idle-parked: every task pending, nothing wakes them"
            }
            Scenario::Lock => {
                "runtime threads blocked in futex wait on a std Mutex held by another thread"
            }
            Scenario::Healthy => "nothing: the runtime threads are mostly idle and on time",
            Scenario::SidecarMemory => {
                "runtime threads idle: the memory stalls at the cgroup limit (reclaim, refaults) are the `mem-sidecar` thread's, not the runtime's"
            }
            Scenario::ColdReads => {
                "runtime threads waiting for disk reads of a cold file (major faults with no memory limit): I/O, not memory pressure"
            }
            Scenario::BlockonMemory => {
                "the block_on thread (named like the process) stalled in memcg reclaim and refaulting file pages; the workers idle"
            }
            Scenario::BlockingPoolIdle => {
                "runtime threads idle: workers parked, and idle spawn_blocking threads parked on tokio's one shared condvar (not lock contention)"
            }
            Scenario::CpuAndMemory => {
                "runtime threads runnable but waiting for a CPU (burners and a CPU quota); the cgroup sits at its memory limit, filled by the `mem-sidecar` thread, but the runtime does not refault"
            }
        }
    }
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Scenario {
    type Err = LabError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim().to_ascii_lowercase().replace('_', "-");
        Scenario::ALL
            .into_iter()
            .find(|sc| sc.name() == wanted)
            .ok_or_else(|| LabError::UnknownScenario(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for (sc, name) in Scenario::ALL.into_iter().zip(Scenario::NAMES) {
            assert_eq!(sc.to_string(), name);
            assert_eq!(name.parse::<Scenario>().unwrap(), sc);
        }
    }

    #[test]
    fn parsing_is_forgiving_about_case_and_underscores() {
        assert_eq!(
            "Memory_Max".parse::<Scenario>().unwrap(),
            Scenario::MemoryMax
        );
        assert_eq!(
            " lost-wakeup ".parse::<Scenario>().unwrap(),
            Scenario::LostWakeup
        );
    }

    #[test]
    fn unknown_names_list_the_valid_ones() {
        let err = "oom".parse::<Scenario>().unwrap_err().to_string();
        assert!(
            err.contains("oom") && err.contains("memory-high") && err.contains("healthy"),
            "{err}"
        );
    }

    #[test]
    fn serde_uses_the_cli_names() {
        assert_eq!(
            serde_json::to_string(&Scenario::LostWakeup).unwrap(),
            "\"lost-wakeup\""
        );
    }
}
