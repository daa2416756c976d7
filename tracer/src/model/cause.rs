//! What an off-CPU interval was waiting for. The serde names are the
//! strings the JSON has always carried ("runqueue", "page_fault_io", ...).

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cause {
    Runqueue,
    MemcgHighThrottle,
    MemcgReclaim,
    DirectReclaim,
    Compaction,
    PageFaultIo,
    WritebackThrottle,
    Io,
    Futex,
    Epoll,
    Sleep,
    Other,
}

/// A cause name this version does not know (a newer or damaged recording).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown cause `{0}`")]
pub struct UnknownCause(pub String);

impl Cause {
    pub const COUNT: usize = 12;
    /// Every cause in taxonomy order (the order of tables and the SVG).
    pub const ALL: [Cause; Cause::COUNT] = [
        Cause::Runqueue,
        Cause::MemcgHighThrottle,
        Cause::MemcgReclaim,
        Cause::DirectReclaim,
        Cause::Compaction,
        Cause::PageFaultIo,
        Cause::WritebackThrottle,
        Cause::Io,
        Cause::Futex,
        Cause::Epoll,
        Cause::Sleep,
        Cause::Other,
    ];

    /// Position in [`Cause::ALL`], for per-cause arrays.
    pub const fn index(self) -> usize {
        self as usize
    }

    pub const fn name(self) -> &'static str {
        match self {
            Cause::Runqueue => "runqueue",
            Cause::MemcgHighThrottle => "memcg_high_throttle",
            Cause::MemcgReclaim => "memcg_reclaim",
            Cause::DirectReclaim => "direct_reclaim",
            Cause::Compaction => "compaction",
            Cause::PageFaultIo => "page_fault_io",
            Cause::WritebackThrottle => "writeback_throttle",
            Cause::Io => "io",
            Cause::Futex => "futex",
            Cause::Epoll => "epoll",
            Cause::Sleep => "sleep",
            Cause::Other => "other",
        }
    }

    pub const fn description(self) -> &'static str {
        match self {
            Cause::Runqueue => "runnable, waiting for a CPU (preempted, or woken and not yet run)",
            Cause::MemcgHighThrottle => "memory.high penalty sleep (mem_cgroup_handle_over_high)",
            Cause::MemcgReclaim => {
                "reclaim charged to the cgroup (mm_vmscan_memcg_reclaim_*, try_to_free_mem_cgroup_pages)"
            }
            Cause::DirectReclaim => {
                "global direct reclaim (mm_vmscan_direct_reclaim_*, try_to_free_pages)"
            }
            Cause::Compaction => "direct compaction during allocation",
            Cause::PageFaultIo => "waiting for a page during a fault (refault, swap-in, file read)",
            Cause::WritebackThrottle => "dirty-page throttling (balance_dirty_pages)",
            Cause::Io => "other block, file or network I/O wait",
            Cause::Futex => "futex wait: a lock, a condvar, or an idle-parked worker",
            Cause::Epoll => "epoll/poll/select wait: an idle reactor",
            Cause::Sleep => "timed sleep (nanosleep, clock_nanosleep, pause)",
            Cause::Other => "anything else (see the top kernel frames in the report)",
        }
    }

    /// Memory causes: the ones hypothesis 1 (memory starvation) is about.
    pub const fn is_memory(self) -> bool {
        matches!(
            self,
            Cause::MemcgHighThrottle
                | Cause::MemcgReclaim
                | Cause::DirectReclaim
                | Cause::Compaction
                | Cause::PageFaultIo
        )
    }

    /// Idle causes: waiting for work rather than being kept from it.
    pub const fn is_idle(self) -> bool {
        matches!(self, Cause::Futex | Cause::Epoll | Cause::Sleep)
    }

    /// `None` for a name this version does not know: never guessed.
    pub fn from_name(name: &str) -> Option<Cause> {
        Cause::ALL.into_iter().find(|c| c.name() == name)
    }
}

impl std::str::FromStr for Cause {
    type Err = UnknownCause;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Cause::from_name(s).ok_or_else(|| UnknownCause(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_round_trip() {
        for (i, c) in Cause::ALL.into_iter().enumerate() {
            assert_eq!(c.index(), i);
            assert_eq!(Cause::from_name(c.name()), Some(c));
            assert_eq!(c.name().parse::<Cause>(), Ok(c));
            // serde and name() agree.
            assert_eq!(serde_json::to_string(&c).unwrap(), format!("\"{c}\""));
        }
        assert_eq!(Cause::from_name("unknown"), None);
        assert!("memcg".parse::<Cause>().is_err());
    }

    #[test]
    fn classes() {
        assert!(Cause::PageFaultIo.is_memory() && !Cause::Futex.is_memory());
        assert!(Cause::Epoll.is_idle() && !Cause::Runqueue.is_idle());
    }
}
