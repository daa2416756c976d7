//! Layout of the read-only configuration global (`CONFIG`) that user space
//! sets before load. The verifier sees it as constant, so disabled branches
//! cost nothing.

/// Trace the threads of one process (tgid).
pub const FILTER_TGID: u32 = 1;
/// Trace every task whose cgroup v2 ancestor at `cgroup_level` is `cgroup_id`.
pub const FILTER_CGROUP: u32 = 2;
/// Trace every thread of the processes in the `WATCHED` map (`watch`).
pub const FILTER_TGID_SET: u32 = 3;

/// Run-queue waits from the kernel's own `sched_info` (what
/// /proc/<tid>/schedstat reports), read at switch-in: no wakeup probe.
pub const RUNQ_SCHED_INFO: u32 = 1;
/// Run-queue waits from a `sched_wakeup` probe (kernels without
/// CONFIG_SCHED_INFO or without the fields in BTF).
pub const RUNQ_WAKEUP: u32 = 2;

/// No exec source: on-CPU slices are tracepoint-clock differences.
pub const EXEC_NONE: u32 = 0;
/// On-CPU time of each slice from the kernel's own account
/// (`task_struct.se.sum_exec_runtime`, the first field of
/// /proc/<tid>/schedstat), read at switch-out.
pub const EXEC_SUM_EXEC: u32 = 1;

/// No kernel stacks.
pub const STACKS_NONE: u32 = 0;
/// Kernel stack at uninterruptible (D) switch-outs only: those are where the
/// cause (reclaim, throttle, fault I/O) is not visible from the syscall.
pub const STACKS_BLOCKED: u32 = 1;
/// Kernel stack at every voluntary switch-out.
pub const STACKS_ALL_SLEEPS: u32 = 2;

/// No user-space stacks.
pub const USER_STACKS_OFF: u32 = 0;
/// The traced thread's user-space stack too, at the same switch-outs as the
/// kernel stack (`stack_policy`), into the `USTACKS` map.
pub const USER_STACKS_ON: u32 = 1;

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Config {
    pub filter_mode: u32,
    pub target_tgid: u32,
    pub cgroup_id: u64,
    pub cgroup_level: u32,
    /// Byte offsets inside `struct task_struct`, read from the running
    /// kernel's BTF at start-up (Rust eBPF has no CO-RE).
    pub task_pid_off: u32,
    pub task_tgid_off: u32,
    pub stack_policy: u32,
    /// Offset of `orig_ax` (x86_64) in `struct pt_regs`; `u32::MAX` = unknown.
    pub regs_syscall_off: u32,
    /// Offset of the first syscall argument (`di` on x86_64) in `struct
    /// pt_regs`, for futex addresses; `u32::MAX` = unknown.
    pub regs_arg0_off: u32,
    /// `RUNQ_SCHED_INFO` or `RUNQ_WAKEUP`.
    pub runq_source: u32,
    /// `task_struct.sched_info.run_delay`: total ns runnable but waiting.
    pub task_run_delay_off: u32,
    /// `task_struct.sched_info.last_queued`: rq clock when it was queued,
    /// 0 once it ran.
    pub task_last_queued_off: u32,
    /// `task_struct.se.cfs_rq`, then `cfs_rq.rq`, then `rq.clock`: the
    /// clock `last_queued` is in.
    pub task_cfs_rq_off: u32,
    pub cfs_rq_rq_off: u32,
    pub rq_clock_off: u32,
    /// `EXEC_NONE` or `EXEC_SUM_EXEC`.
    pub exec_source: u32,
    /// `task_struct.se.sum_exec_runtime`: total ns the task ran, as the
    /// scheduler books it.
    pub task_sum_exec_off: u32,
    /// `USER_STACKS_OFF` or `USER_STACKS_ON`.
    pub user_stacks: u32,
    /// Non-zero: book every interval in the `AGG` map (`watch`) and send a
    /// switch record only for intervals of at least `emit_min_ns`, or while
    /// the capture switch is on.
    pub aggregate: u32,
    pub emit_min_ns: u64,
}

const _: () = assert!(core::mem::size_of::<Config>() == 88);
