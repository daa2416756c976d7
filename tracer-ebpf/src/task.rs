//! Reading a `task_struct` portably and finding a thread's state entry.

use aya_ebpf::bindings::BPF_NOEXIST;
use tracer_common::{
    config::{EXEC_SUM_EXEC, FILTER_TGID, FILTER_TGID_SET},
    diag,
    task::TaskState,
};

use crate::{
    config,
    maps::{TASKS, count},
};

/// A `u32` at a byte offset the loader resolved from the running kernel's BTF.
///
/// `task` comes from a BTF tracepoint argument, so the verifier knows it is
/// a `task_struct *` and the offset is a constant from the frozen config:
/// a direct load is allowed (the JIT guards it like a probe read) and costs
/// no helper call — this runs on every context switch of the host.
#[inline(always)]
fn read_u32(task: *const u8, offset: u32) -> Result<u32, i32> {
    // SAFETY: a BTF-typed pointer; the verifier checks the offset against
    // task_struct's layout and the JIT turns faults into zero reads.
    Ok(unsafe { core::ptr::read_volatile(task.wrapping_add(offset as usize) as *const u32) })
}

/// A `u64` at a loader-resolved offset of a BTF-typed pointer.
#[inline(always)]
fn read_u64(ptr: *const u8, offset: u32) -> u64 {
    // SAFETY: as `read_u32`.
    unsafe { core::ptr::read_volatile(ptr.wrapping_add(offset as usize) as *const u64) }
}

/// A pointer field at a loader-resolved offset: the verifier types the
/// result from BTF, so it can be read through in turn.
#[inline(always)]
fn read_ptr(ptr: *const u8, offset: u32) -> *const u8 {
    // SAFETY: as `read_u32`.
    unsafe { core::ptr::read_volatile(ptr.wrapping_add(offset as usize) as *const *const u8) }
}

/// The kernel's total run-queue wait of `task` (`sched_info.run_delay`).
#[inline(always)]
pub fn run_delay(task: *const u8) -> u64 {
    read_u64(task, config::task_run_delay_off())
}

/// The kernel's total run time of `task` (`se.sum_exec_runtime`), if the
/// config asks for it. At `sched_switch` it is up to date for `prev`:
/// `__schedule` ran `update_curr` (dequeue or put_prev) before the tracepoint.
#[inline(always)]
pub fn sum_exec(task: *const u8) -> Option<u64> {
    (config::exec_source() == EXEC_SUM_EXEC).then(|| read_u64(task, config::task_sum_exec_off()))
}

/// The part of the current run-queue wait of `task`, about to run on this
/// CPU, that `sched_info` has not added to `run_delay` yet: the kernel adds
/// exactly this (rq clock − `last_queued`) right after `sched_switch`.
#[inline(always)]
pub fn pending_run_delay(task: *const u8) -> u64 {
    let queued = read_u64(task, config::task_last_queued_off());
    if queued == 0 {
        return 0;
    }
    let cfs_rq = read_ptr(task, config::task_cfs_rq_off());
    let rq = read_ptr(cfs_rq, config::cfs_rq_rq_off());
    read_u64(rq, config::rq_clock_off()).saturating_sub(queued)
}

/// Is `prev`, the task leaving the CPU, one we trace? In tgid mode a direct
/// load from the BTF-typed argument: no helper call on the host's hottest
/// path.
#[inline(always)]
pub fn prev_is_target(prev: *const u8) -> Result<bool, i32> {
    match config::filter_mode() {
        FILTER_TGID => Ok(read_u32(prev, config::task_tgid_off())? == config::target_tgid()),
        FILTER_TGID_SET => Ok(config::is_watched(read_u32(prev, config::task_tgid_off())?)),
        _ => Ok(config::current_is_target()),
    }
}

/// The tid of `task` if it is one we trace.
#[inline(always)]
pub fn traced_tid(task: *const u8) -> Result<Option<u32>, i32> {
    if config::filter_mode() == FILTER_TGID {
        if read_u32(task, config::task_tgid_off())? != config::target_tgid() {
            return Ok(None);
        }
        return read_u32(task, config::task_pid_off()).map(Some);
    }
    if config::filter_mode() == FILTER_TGID_SET {
        if !config::is_watched(read_u32(task, config::task_tgid_off())?) {
            return Ok(None);
        }
        return read_u32(task, config::task_pid_off()).map(Some);
    }
    // Cgroup mode: membership is "has a state entry" (seeded by user space,
    // extended when a member forks or runs).
    let tid = read_u32(task, config::task_pid_off())?;
    Ok(TASKS.get_ptr(&tid).map(|_| tid))
}

/// The tgid of `task`.
#[inline(always)]
pub fn tgid_of(task: *const u8) -> Result<u32, i32> {
    read_u32(task, config::task_tgid_off())
}

/// The state entry of `tid`, created fresh (`TaskState::fresh`) if it has
/// none. `tgid` 0 marks an entry created here, for a caller that wants to
/// know (and then fills the tgid in).
#[inline(always)]
pub fn state_or_fresh(tid: u32, tgid: u32) -> Result<&'static mut TaskState, i32> {
    let state = match TASKS.get_ptr_mut(&tid) {
        Some(state) => state,
        None => {
            // Inserted from a read-only global: a 192-byte state built on
            // the stack of every switch would cost stores on the hot path and
            // overflow 6.1's 512-byte budget for the program's frames.
            if let Err(e) = TASKS.insert(&tid, &FRESH, BPF_NOEXIST as u64) {
                // -EEXIST: another CPU inserted it first, which is fine.
                if e != -17 {
                    count(diag::TASK_MAP_FULL);
                    return Err(e);
                }
            }
            TASKS.get_ptr_mut(&tid).ok_or(-2)?
        }
    };
    // SAFETY: a valid map value pointer. Each field is written only by the
    // thread it describes (on its CPU) or by the switch that moves it, never
    // by two programs at once.
    let state = unsafe { &mut *state };
    if state.tgid == 0 {
        state.tgid = tgid;
    }
    Ok(state)
}

static FRESH: TaskState = TaskState::fresh(0);

/// The tid of `task`.
#[inline(always)]
pub fn tid_of(task: *const u8) -> Result<u32, i32> {
    read_u32(task, config::task_pid_off())
}
