//! `watch`'s kernel-side books (see `tracer_common::agg`): every slice and
//! interval of a traced thread is added to its own `TaskState`, already in
//! hand on the switch path; `AGG` is written only when a thread's off-CPU
//! key changes or the thread dies. Only long intervals (or everything,
//! while user space captures) still go through the ring buffer.

use aya_ebpf::bindings::BPF_NOEXIST;
use tracer_common::{
    agg::{AGG_OFF, AGG_ON_CPU, AGG_RUNQ, AggKey, AggValue, CONTROL_CAPTURE},
    diag,
    task::TaskState,
};

use crate::{
    config,
    maps::{AGG, CONTROL, count},
};

/// Is user space capturing every record (after a trigger)?
#[inline(always)]
pub fn capture_on() -> bool {
    CONTROL.get(CONTROL_CAPTURE).is_some_and(|v| *v != 0)
}

/// Book the on-CPU slice that just ended.
#[inline(always)]
pub fn book_slice(state: &mut TaskState, ran_ns: u64) {
    state.slices += 1;
    state.on_cpu_ns += ran_ns;
}

/// The cause-determining fields of an off-CPU interval.
pub struct OffKey {
    pub off_state: u32,
    pub reclaim_kind: u32,
    pub syscall: i32,
    pub stack_id: i32,
}

/// Book the off-CPU interval of `tid` that just ended: `runq_ns` of it
/// waiting for a CPU, the rest (if it blocked) under `key`. Says whether its
/// record should still be sent: it is long, or user space is capturing.
#[inline(always)]
pub fn book_interval(
    tid: u32,
    state: &mut TaskState,
    off_ns: u64,
    runq_ns: u64,
    blocked: Option<OffKey>,
) -> bool {
    if runq_ns > 0 {
        state.runq_waits += 1;
        state.runq_ns += runq_ns;
    }
    if let Some(key) = blocked {
        let same = state.acc_off_state == key.off_state
            && state.acc_reclaim_kind == key.reclaim_kind
            && state.acc_syscall == key.syscall
            && state.acc_stack_id == key.stack_id;
        if !same {
            if state.acc_count != 0 {
                move_books(tid, state, false);
            }
            state.acc_off_state = key.off_state;
            state.acc_reclaim_kind = key.reclaim_kind;
            state.acc_syscall = key.syscall;
            state.acc_stack_id = key.stack_id;
        }
        state.acc_count += 1;
        state.acc_ns += off_ns.saturating_sub(runq_ns);
    }
    off_ns >= config::emit_min_ns()
}

/// Move the books `state` holds for `tid` to `AGG`: the running off-CPU
/// total, and with `all` (the thread's last switch-out) its on-CPU and
/// run-queue totals too. One function of its own (a BPF-to-BPF call) on
/// paths taken only when a thread's cause changes or it dies: inlined, its
/// keys would sit on `sched_switch`'s stack, and a second level of calls
/// passes 6.1's 512-byte limit for the frames of a call chain together.
#[inline(never)]
pub fn move_books(tid: u32, state: &mut TaskState, all: bool) {
    if state.acc_count != 0 {
        let key = AggKey {
            tid,
            kind: AGG_OFF,
            off_state: state.acc_off_state,
            reclaim_kind: state.acc_reclaim_kind,
            syscall: state.acc_syscall,
            stack_id: state.acc_stack_id,
        };
        add(&key, state.tgid, state.acc_count, state.acc_ns);
        state.acc_count = 0;
        state.acc_ns = 0;
    }
    if !all {
        return;
    }
    if state.slices != 0 {
        add(
            &AggKey::plain(tid, AGG_ON_CPU),
            state.tgid,
            state.slices,
            state.on_cpu_ns,
        );
    }
    if state.runq_waits != 0 {
        add(
            &AggKey::plain(tid, AGG_RUNQ),
            state.tgid,
            state.runq_waits,
            state.runq_ns,
        );
    }
}

#[inline(always)]
fn add(key: &AggKey, tgid: u32, n: u64, ns: u64) {
    if bump(key, n, ns) {
        return;
    }
    let init = AggValue {
        tgid,
        _pad: 0,
        count: n,
        sum_ns: ns,
    };
    match AGG.insert(key, &init, BPF_NOEXIST as u64) {
        Ok(()) => {}
        // Another CPU inserted it first: add to theirs.
        Err(-17) if bump(key, n, ns) => {}
        Err(_) => count(diag::AGG_MAP_FULL),
    }
}

/// Add to an existing entry; false if there is none.
#[inline(always)]
fn bump(key: &AggKey, n: u64, ns: u64) -> bool {
    let Some(v) = AGG.get_ptr_mut(key) else {
        return false;
    };
    // SAFETY: a valid map value pointer; a key belongs to one thread, and
    // only the switches that move that thread write it.
    let v = unsafe { &mut *v };
    v.count += n;
    v.sum_ns += ns;
    true
}
