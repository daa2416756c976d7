//! Reading a `task_struct` portably and finding a thread's state entry.

use aya_ebpf::bindings::BPF_NOEXIST;
use tracer_common::{config::FILTER_TGID, diag, task::TaskState};

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

/// The tid of `task` if it is one we trace.
#[inline(always)]
pub fn traced_tid(task: *const u8) -> Result<Option<u32>, i32> {
    if config::filter_mode() == FILTER_TGID {
        if read_u32(task, config::task_tgid_off())? != config::target_tgid() {
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

/// The state entry of `tid`, created from `init` if it has none.
#[inline(always)]
pub fn state_or_insert(tid: u32, init: &TaskState) -> Result<*mut TaskState, i32> {
    if let Some(state) = TASKS.get_ptr_mut(&tid) {
        return Ok(state);
    }
    if let Err(e) = TASKS.insert(&tid, init, BPF_NOEXIST as u64) {
        // -EEXIST: another CPU inserted it first, which is fine.
        if e != -17 {
            count(diag::TASK_MAP_FULL);
            return Err(e);
        }
    }
    TASKS.get_ptr_mut(&tid).ok_or(-2)
}

/// The tid of `task`.
#[inline(always)]
pub fn tid_of(task: *const u8) -> Result<u32, i32> {
    read_u32(task, config::task_pid_off())
}
