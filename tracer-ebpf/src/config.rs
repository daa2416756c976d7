//! The read-only configuration global. User space sets it before load; the
//! verifier treats its fields as constants.

use aya_ebpf::helpers::{bpf_get_current_ancestor_cgroup_id, bpf_get_current_pid_tgid};
use tracer_common::{
    agg::watched_slot,
    config::{Config, FILTER_CGROUP, FILTER_TGID, FILTER_TGID_SET},
};

use crate::maps::WATCHED;

#[unsafe(no_mangle)]
static CONFIG: Config = Config {
    filter_mode: 0,
    target_tgid: 0,
    cgroup_id: 0,
    cgroup_level: 0,
    task_pid_off: 0,
    task_tgid_off: 0,
    stack_policy: 0,
    regs_syscall_off: u32::MAX,
    regs_arg0_off: u32::MAX,
    runq_source: 0,
    task_run_delay_off: 0,
    task_last_queued_off: 0,
    task_cfs_rq_off: 0,
    cfs_rq_rq_off: 0,
    rq_clock_off: 0,
    exec_source: 0,
    task_sum_exec_off: 0,
    user_stacks: 0,
    aggregate: 0,
    emit_min_ns: 0,
};

macro_rules! field {
    ($name:ident, $ty:ty) => {
        #[inline(always)]
        pub fn $name() -> $ty {
            // SAFETY: a plain read of a global; volatile so the compiler
            // does not fold in the zero it was built with.
            unsafe { core::ptr::read_volatile(&raw const CONFIG.$name) }
        }
    };
}

field!(filter_mode, u32);
field!(target_tgid, u32);
field!(cgroup_id, u64);
field!(cgroup_level, u32);
field!(task_pid_off, u32);
field!(task_tgid_off, u32);
field!(stack_policy, u32);
field!(regs_syscall_off, u32);
field!(regs_arg0_off, u32);
field!(runq_source, u32);
field!(task_run_delay_off, u32);
field!(task_last_queued_off, u32);
field!(task_cfs_rq_off, u32);
field!(cfs_rq_rq_off, u32);
field!(rq_clock_off, u32);
field!(exec_source, u32);
field!(task_sum_exec_off, u32);
field!(user_stacks, u32);
field!(aggregate, u32);
field!(emit_min_ns, u64);

/// Is the current task one we trace? The cheapest test comes first: this
/// runs on every context switch on the host.
#[inline(always)]
pub fn current_is_target() -> bool {
    match filter_mode() {
        FILTER_TGID => (bpf_get_current_pid_tgid() >> 32) as u32 == target_tgid(),
        FILTER_CGROUP => {
            // SAFETY: helper with no pointer arguments.
            let id = unsafe { bpf_get_current_ancestor_cgroup_id(cgroup_level() as i32) };
            id == cgroup_id()
        }
        FILTER_TGID_SET => is_watched((bpf_get_current_pid_tgid() >> 32) as u32),
        _ => false,
    }
}

/// Is `tgid` one of the processes user space asked `watch` to follow? One
/// array load (the verifier inlines array lookups): no hashing on the
/// host's hottest path.
#[inline(always)]
pub fn is_watched(tgid: u32) -> bool {
    let (word, bit) = watched_slot(tgid);
    WATCHED.get(word).is_some_and(|w| *w & bit != 0)
}
