//! What `starvetrace watch` says about each watched target: the kinds of
//! trigger, the coarse health it reports every interval, and the identity
//! a target keeps across restarts (a container recreated under its name).

use serde::{Deserialize, Serialize};

/// A condition that makes `watch` write an evidence bundle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TriggerKind {
    /// A runtime blackout longer than `--trigger-blackout`.
    Blackout,
    /// A runtime thread that has not run for `--trigger-stall` while
    /// runnable or in D state.
    Stall,
    /// memory.events `high` + `max` grew faster than `--trigger-memory-events` per second.
    MemoryEvents,
    /// memory.pressure `full avg10` at or above `--trigger-psi`.
    Psi,
}

impl TriggerKind {
    pub const ALL: [TriggerKind; 4] = [
        TriggerKind::Blackout,
        TriggerKind::Stall,
        TriggerKind::MemoryEvents,
        TriggerKind::Psi,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            TriggerKind::Blackout => "blackout",
            TriggerKind::Stall => "stall",
            TriggerKind::MemoryEvents => "memory_events",
            TriggerKind::Psi => "psi",
        }
    }
}

/// A target's health over the last `--window`, from its runtime blackouts:
/// the share of the window the runtime could run none of its work, and the
/// group of causes that kept it off-CPU most.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Health {
    /// Not enough seen yet (no runtime thread, or the window just began).
    #[default]
    Unknown,
    /// Blackouts below the significance threshold.
    Ok,
    /// Significant blackouts, mostly memory (throttle, reclaim, fault I/O).
    StarvedMemory,
    /// Significant blackouts, mostly waiting for a CPU.
    StarvedCpu,
    /// Significant blackouts, mostly I/O other than faults.
    StarvedIo,
    /// Significant blackouts of another cause.
    StarvedOther,
}

impl Health {
    pub const ALL: [Health; 6] = [
        Health::Unknown,
        Health::Ok,
        Health::StarvedMemory,
        Health::StarvedCpu,
        Health::StarvedIo,
        Health::StarvedOther,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Health::Unknown => "unknown",
            Health::Ok => "ok",
            Health::StarvedMemory => "starved_memory",
            Health::StarvedCpu => "starved_cpu",
            Health::StarvedIo => "starved_io",
            Health::StarvedOther => "starved_other",
        }
    }
}

/// Who a watched target is, as metrics and log lines name it. A container
/// keeps its name across restarts (new cgroup, new PIDs); a bare process is
/// named by its pid.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TargetId {
    /// `container:<name>`, `cgroup:<path>` or `pid:<pid>`.
    pub key: String,
    /// The process name (comm of the main thread).
    pub process: String,
}
