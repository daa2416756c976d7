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
}

impl Scenario {
    pub const ALL: [Scenario; 6] = [
        Scenario::MemoryHigh,
        Scenario::MemoryMax,
        Scenario::Cpu,
        Scenario::LostWakeup,
        Scenario::Lock,
        Scenario::Healthy,
    ];
    pub const NAMES: [&'static str; 6] = [
        "memory-high",
        "memory-max",
        "cpu",
        "lost-wakeup",
        "lock",
        "healthy",
    ];

    pub fn name(self) -> &'static str {
        match self {
            Scenario::MemoryHigh => "memory-high",
            Scenario::MemoryMax => "memory-max",
            Scenario::Cpu => "cpu",
            Scenario::LostWakeup => "lost-wakeup",
            Scenario::Lock => "lock",
            Scenario::Healthy => "healthy",
        }
    }

    /// Whether the tokio heartbeat should be late (or stopped) in this scenario.
    pub fn expects_starvation(self) -> bool {
        !matches!(self, Scenario::Healthy)
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
