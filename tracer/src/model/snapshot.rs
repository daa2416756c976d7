//! Where every thread of the target was when it was looked at: state, time
//! since it last ran, syscall, kernel stack, and a cause guess.

use serde::{Deserialize, Serialize};

use super::role::Role;

/// How ages are measured (copied into every snapshot's `source`).
pub const AGE_SOURCE: &str = "age = rq clock now of the CPU the thread last ran on (se.exec_start in /proc/thread-self/sched of a helper thread pinned to that CPU, right after sched_yield) - se.exec_start in /proc/<pid>/task/<tid>/sched (that CPU's rq clock when the thread last left it); off_since_monotonic_ns = CLOCK_MONOTONIC read beside that now - age";

/// Cause label for a thread in state R: /proc cannot tell running from
/// waiting for a CPU.
pub const RUNQUEUE_OR_RUNNING: &str = "runqueue-or-running";

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Snapshot {
    /// CLOCK_MONOTONIC ns at which the ages hold.
    pub taken_at_monotonic_ns: u64,
    pub taken_at_unix_ms: u64,
    /// How `since_last_ran_ns` was measured, or why it could not be.
    pub source: String,
    pub threads: Vec<ThreadSnapshot>,
    /// Threads in futex wait, grouped by (process, address), largest first.
    pub futex_groups: Vec<FutexGroup>,
    /// Memory PSI of the target's cgroup (or host-wide) at snapshot time.
    pub memory_pressure: Option<PressureNow>,
    /// One-line findings, most important first.
    pub summary: Vec<String>,
    /// What could not be read and what that means.
    pub notes: Vec<String>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ThreadSnapshot {
    pub pid: u32,
    pub tid: u32,
    /// TID inside the innermost PID namespace, when it differs from `tid`.
    pub ns_tid: Option<u32>,
    pub comm: String,
    pub process_comm: String,
    pub role: Role,
    /// State letter from /proc/<pid>/task/<tid>/stat (R, S, D, T, Z, ...).
    pub state: String,
    /// Time since it last ran (for R: since its runtime was last accounted,
    /// at most a tick if it is on a CPU now).
    pub since_last_ran_ns: Option<u64>,
    /// CLOCK_MONOTONIC ns when it went off-CPU (bpf_ktime_get_ns clock).
    pub off_since_monotonic_ns: Option<u64>,
    /// Kernel function it sleeps in (/proc/.../wchan), `None` if running or
    /// not shown.
    pub wchan: Option<String>,
    /// Kernel stack frame names, innermost first.
    pub kernel_stack: Vec<String>,
    /// "ok", "empty (...)" or "unreadable: ...".
    pub kernel_stack_status: String,
    /// Current syscall; `None` when running or unreadable.
    pub syscall: Option<SyscallNow>,
    /// Cause name (tracer_common::cause::NAMES, or `runqueue-or-running`).
    pub cause: String,
    /// Which evidence gave the cause: "state R", "kernel stack", "syscall", "wchan", "none".
    pub cause_from: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyscallNow {
    pub nr: i64,
    pub name: Option<String>,
    pub args: [u64; 6],
    /// futex(2): the futex word's address (arg0) and the operation.
    pub futex_addr: Option<u64>,
    pub futex_op: Option<String>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct FutexGroup {
    pub pid: u32,
    pub addr: u64,
    pub tids: Vec<u32>,
    pub comms: Vec<String>,
    /// The shortest wait in the group so far.
    pub min_age_ns: Option<u64>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct PressureNow {
    /// "cgroup <dir>" or "host-wide /proc/pressure/memory".
    pub scope: String,
    pub some_avg10: Option<f64>,
    pub full_avg10: Option<f64>,
}
