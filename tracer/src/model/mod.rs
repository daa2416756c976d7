//! In: what the stages found (filled in by `cmd`).
//! Out: the finished recording's types: what `--format json` prints and
//! `starvetrace report FILE` reads back. A leaf: it imports nothing else
//! from the crate.

pub mod blackouts;
pub mod cause;
pub mod cgroup;
pub mod flame;
pub mod hist;
pub mod judgement;
pub mod outcome;
pub mod role;
pub mod snapshot;
pub mod spans;
pub mod timeline;
pub mod verdict;
pub mod watch;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use hist::HistSummary;

/// `Display` as the short name the JSON uses.
macro_rules! display_as {
    ($($ty:ty => $name:ident),* $(,)?) => {
        $(impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.$name())
            }
        })*
    };
}

display_as!(
    cause::Cause => name,
    role::Role => as_str,
    role::RoleSource => as_str,
    outcome::Outcome => as_str,
    outcome::Alternative => as_str,
    watch::TriggerKind => as_str,
    watch::Health => as_str,
);

/// The schema this version writes.
pub const SCHEMA_VERSION: u32 = 2;

fn schema_1() -> u32 {
    1
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Recording {
    /// Bumped when keys change: 2 added `blackouts`, the verdict's typed
    /// `reason`/`memory`/`fault_waits`/`throttle`/`reclaim`/`runtime`, and
    /// each thread's `role_source` (files without it are schema 1).
    #[serde(default = "schema_1")]
    pub schema_version: u32,
    pub tool: String,
    pub started_at_unix_ms: u64,
    pub duration_ns: u64,
    /// Records that never reached user space (ring buffer full) plus failed
    /// map updates: every loss counter summed.
    pub lost_events: u64,
    /// Records received from the kernel.
    #[serde(default)]
    pub records: u64,
    pub target: TargetInfo,
    pub environment: Environment,
    /// Every non-zero kernel-side diagnostic counter, by name.
    pub diagnostics: BTreeMap<String, u64>,
    pub threads: Vec<ThreadReport>,
    /// Closed off-CPU intervals by cause over all traced threads.
    #[serde(default)]
    pub cause_totals: BTreeMap<String, CauseStat>,
    /// Per-interval progress rows, as printed live on stderr.
    pub intervals: Vec<IntervalRow>,
    #[serde(default)]
    pub timeline: Option<timeline::TimelineReport>,
    #[serde(default)]
    pub snapshot: Option<snapshot::Snapshot>,
    #[serde(default)]
    pub cgroup: Option<cgroup::CgroupReport>,
    #[serde(default)]
    pub verdict: Option<verdict::Verdict>,
    /// The runtime's blackouts (schema 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blackouts: Option<blackouts::Blackouts>,
    /// What the off-CPU flame graphs were made of (`--user-stacks`,
    /// `--folded`, `--out`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flame: Option<flame::FlameSummary>,
    /// The lab's own ground truth when the target was a lab scenario (demo).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lab: Option<serde_json::Value>,
    /// Things the reader must know: exited target, missing files, fallbacks.
    pub notes: Vec<String>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct TargetInfo {
    pub pid: Option<u32>,
    pub cgroup: Option<String>,
    pub container: Option<String>,
    pub command: Option<Vec<String>>,
    pub comm: String,
    /// The target process exited before the trace ended.
    pub exited: bool,
    pub exit_status: Option<i32>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Environment {
    pub kernel: String,
    pub hostname: String,
    pub cpus: usize,
    pub btf: bool,
    pub psi: bool,
    pub cgroup_layout: String,
    pub swap_total_bytes: u64,
    pub probes: Vec<ProbeStatus>,
    pub stack_policy: String,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ProbeStatus {
    pub name: String,
    pub kind: String,
    pub attached: bool,
    pub detail: String,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct StateSplit {
    pub running: u64,
    pub sleeping: u64,
    pub disk: u64,
    pub other: u64,
}

impl StateSplit {
    pub fn add(&mut self, state: u32, ns: u64) {
        let slot = match state {
            tracer_common::state::OFF_RUNNING => &mut self.running,
            tracer_common::state::OFF_SLEEPING => &mut self.sleeping,
            tracer_common::state::OFF_DISK => &mut self.disk,
            _ => &mut self.other,
        };
        *slot = slot.saturating_add(ns);
    }
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct CauseStat {
    pub ns: u64,
    pub count: u64,
    pub histogram: HistSummary,
    /// The most frequent top kernel frames seen for this cause (for `other`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub top_frames: Vec<String>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Histograms {
    pub off_cpu: HistSummary,
    pub runqueue: HistSummary,
    pub on_cpu: HistSummary,
}

/// An off-CPU interval still open when the trace ended.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Ongoing {
    pub state: String,
    pub cause: String,
    /// How long it has been off-CPU so far.
    pub off_cpu_ns: u64,
    /// False when it went off-CPU before the trace began, so the length is
    /// a lower bound measured from the attach.
    pub start_known: bool,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ThreadReport {
    pub tid: u32,
    pub tgid: u32,
    pub comm: String,
    pub role: role::Role,
    /// How the role was decided (schema 2).
    #[serde(default)]
    pub role_source: role::RoleSource,
    /// Thread id inside the target's PID namespace, when it differs.
    pub ns_tid: Option<u32>,
    pub on_cpu_ns: u64,
    /// Runnable and waiting for a CPU: `runqueue_wakeup_ns + runqueue_preempted_ns`.
    pub runqueue_ns: u64,
    pub runqueue_wakeup_ns: u64,
    pub runqueue_preempted_ns: u64,
    pub off_cpu_ns: u64,
    pub off_cpu_ns_by_state: StateSplit,
    pub switches: u64,
    pub voluntary_switches: u64,
    pub involuntary_switches: u64,
    pub minor_faults: u64,
    pub major_faults: u64,
    pub fault_entries: u64,
    /// Time inside memcg/direct reclaim (on and off CPU), from vmscan tracepoints.
    pub reclaim_ns: u64,
    pub reclaim_count: u64,
    /// Time ON a CPU inside reclaim (vmscan begin..end while running):
    /// memory stall time that the on-CPU column would otherwise hide.
    #[serde(default)]
    pub reclaim_on_cpu_ns: u64,
    pub ongoing_off_cpu_ns: u64,
    pub ongoing: Option<Ongoing>,
    pub exited: bool,
    /// The futex addresses it waited on longest (futex(2) sleeps).
    #[serde(default)]
    pub futex_waits: Vec<FutexWait>,
    /// Off-CPU time by cause (runqueue included), cause name → ns.
    pub causes: BTreeMap<String, u64>,
    pub cause_stats: BTreeMap<String, CauseStat>,
    pub histograms: Histograms,
}

impl ThreadReport {
    /// Wall time this thread was observed for (on + off CPU).
    pub fn observed_ns(&self) -> u64 {
        self.on_cpu_ns + self.off_cpu_ns
    }
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct FutexWait {
    pub addr: u64,
    pub ns: u64,
}

/// One `--interval` row: totals over the traced threads in that interval.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct IntervalRow {
    pub end_ns: u64,
    pub threads: usize,
    pub on_cpu_ns: u64,
    pub runqueue_ns: u64,
    pub off_cpu_ns: u64,
    pub memory_stall_ns: u64,
    pub switches: u64,
    pub lost: u64,
}

#[cfg(test)]
pub(crate) mod tests;
