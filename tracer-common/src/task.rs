//! Per-thread scheduler state the probes keep in the `TASKS` hash map.
//! User space reads it at the end of a trace to report open intervals.

/// The thread is on a CPU right now.
pub const TS_ON_CPU: u32 = 1;
/// `sched_process_exit` ran for this thread; the next switch-out is its last.
pub const TS_EXITING: u32 = 2;
/// `run_delay_seen` holds the kernel's `sched_info.run_delay` as of the
/// last switch-out (or the seed): the next run-queue wait is its growth.
pub const TS_RUN_DELAY_KNOWN: u32 = 4;
/// `exec_seen` holds the kernel's `se.sum_exec_runtime` as of the last
/// switch-out (or the seed, or the first switch-in seen): the next slice's
/// run time is its growth.
pub const TS_EXEC_KNOWN: u32 = 8;

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TaskState {
    pub tgid: u32,
    pub flags: u32,
    /// Monotonic ns of the last switch-in; 0 = not seen switching in yet.
    pub on_cpu_since: u64,
    /// Monotonic ns of the last switch-out; 0 = off-CPU since before the trace.
    pub off_since: u64,
    /// When the thread became runnable again while off-CPU; 0 = not yet.
    pub wakeup_at: u64,
    pub off_raw_state: u32,
    pub off_state: u32,
    /// Syscall number the thread was in at switch-out, -1 if none.
    pub off_syscall: i32,
    /// Kernel stack id at switch-out, negative if none was taken or it failed.
    pub off_stack_id: i32,
    pub min_faults: u64,
    pub maj_faults: u64,
    /// `exceptions:page_fault_user` hits (every user-mode fault entry).
    pub fault_entries: u64,
    /// Start of the reclaim the thread is inside, 0 if none.
    pub reclaim_since: u64,
    pub reclaim_kind: u32,
    /// Reclaim kind the thread was inside when it switched out (0 = none).
    pub off_reclaim_kind: u32,
    /// The futex word's address when it slept in futex(2), else 0.
    pub off_futex: u64,
    /// `sched_info.run_delay` when last seen (see `TS_RUN_DELAY_KNOWN`).
    pub run_delay_seen: u64,
    /// `se.sum_exec_runtime` when last seen (see `TS_EXEC_KNOWN`).
    pub exec_seen: u64,
    /// Time on a CPU (tracepoint clock) since `reclaim_since`, up to the
    /// last switch-out inside that reclaim.
    pub reclaim_on_cpu_ns: u64,
    /// User-space stack id at switch-out (`USTACKS`), negative if none was
    /// taken (-1) or it failed (-2).
    pub off_ustack_id: i32,
    pub _pad0: u32,
    /// `watch`'s books kept here (see `crate::agg`): on-CPU slices and
    /// their total run time, run-queue waits and their total.
    pub slices: u64,
    pub on_cpu_ns: u64,
    pub runq_waits: u64,
    pub runq_ns: u64,
    /// The off-CPU key of the thread's last intervals (`AggKey`'s cause
    /// fields) and what they add up to, until an interval with another
    /// key moves it to `AGG`.
    pub acc_off_state: u32,
    pub acc_reclaim_kind: u32,
    pub acc_syscall: i32,
    pub acc_stack_id: i32,
    pub acc_count: u64,
    pub acc_ns: u64,
}

const _: () = assert!(core::mem::size_of::<TaskState>() == 192);

impl TaskState {
    /// The state of a thread first seen now: nothing known about it but its
    /// process (no syscall, no stack, no interval open).
    pub const fn fresh(tgid: u32) -> Self {
        Self {
            tgid,
            flags: 0,
            on_cpu_since: 0,
            off_since: 0,
            wakeup_at: 0,
            off_raw_state: 0,
            off_state: 0,
            off_syscall: -1,
            off_stack_id: -1,
            min_faults: 0,
            maj_faults: 0,
            fault_entries: 0,
            reclaim_since: 0,
            reclaim_kind: 0,
            off_reclaim_kind: 0,
            off_futex: 0,
            run_delay_seen: 0,
            exec_seen: 0,
            reclaim_on_cpu_ns: 0,
            off_ustack_id: -1,
            _pad0: 0,
            slices: 0,
            on_cpu_ns: 0,
            runq_waits: 0,
            runq_ns: 0,
            acc_off_state: 0,
            acc_reclaim_kind: 0,
            acc_syscall: -1,
            acc_stack_id: -1,
            acc_count: 0,
            acc_ns: 0,
        }
    }
}
