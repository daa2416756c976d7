//! Scheduler hooks: per-thread on-CPU slices, off-CPU intervals with the
//! state at switch-out, and run-queue waits.

use aya_ebpf::{
    bindings::{BPF_F_USER_STACK, BPF_NOEXIST, BPF_RB_NO_WAKEUP},
    helpers::{
        bpf_get_current_pid_tgid, bpf_get_current_task_btf, bpf_get_smp_processor_id,
        bpf_ktime_get_ns, bpf_task_pt_regs,
    },
    macros::btf_tracepoint,
    programs::{BtfTracePointContext, tracing::StackIdContext},
};
use tracer_common::{
    config::{FILTER_CGROUP, RUNQ_SCHED_INFO, STACKS_ALL_SLEEPS, STACKS_BLOCKED, USER_STACKS_ON},
    diag,
    event::{
        EVENT_EXIT, EVENT_SWITCH, EVENT_SWITCH_USER, ExitEvent, SW_NEXT_INFERRED,
        SW_NEXT_OFF_KNOWN, SW_NEXT_RUNQ_KNOWN, SW_NEXT_TRACED, SW_PREV_EXEC_KNOWN,
        SW_PREV_INVOLUNTARY, SW_PREV_SLICE_KNOWN, SW_PREV_TRACED, SwitchEvent, SwitchEventUser,
    },
    state::{OFF_DISK, OFF_RUNNING, TASK_DEAD, decode_off_state},
    task::{TS_EXEC_KNOWN, TS_EXITING, TS_ON_CPU, TS_RUN_DELAY_KNOWN, TaskState},
};

use crate::{
    books, config,
    maps::{EVENTS, STACKS, TASKS, USTACKS, count},
    task::{
        pending_run_delay, prev_is_target, run_delay, state_or_fresh, sum_exec, tgid_of, tid_of,
        traced_tid,
    },
};

#[btf_tracepoint(function = "sched_switch")]
pub fn sched_switch(ctx: BtfTracePointContext) -> i32 {
    // The bench's calibration build: the cost of the dispatch alone.
    if cfg!(feature = "dispatch-floor") {
        return 0;
    }
    if let Err(e) = try_sched_switch(&ctx) {
        crate::log::unexpected(&ctx, "sched_switch", e);
    }
    0
}

fn try_sched_switch(ctx: &BtfTracePointContext) -> Result<(), i32> {
    // sched_switch(bool preempt, prev, next, unsigned int prev_state): the
    // same argument list on 6.1 and 6.18. `prev` is the current task.
    let prev: *const u8 = ctx.arg(1);
    let prev_traced = prev_is_target(prev)?;
    let next: *const u8 = ctx.arg(2);
    let next_tid = traced_tid(next)?;
    if !prev_traced && next_tid.is_none() {
        return Ok(());
    }
    let prev_tid = tid_of(prev)?;

    // SAFETY: helper without arguments.
    let now = unsafe { bpf_ktime_get_ns() };
    let mut event = SwitchEvent {
        kind: EVENT_SWITCH,
        // SAFETY: helper without arguments.
        cpu: unsafe { bpf_get_smp_processor_id() },
        ts_ns: now,
        prev_tid,
        ..SwitchEvent::default()
    };

    if prev_traced {
        let preempt = ctx.arg::<u64>(0) & 1 != 0;
        let raw_state = ctx.arg::<u64>(3) as u32;
        switch_out(ctx, &mut event, prev, preempt, raw_state, now)?;
    }
    let mut user = (-1, 0);
    let mut long = false;
    if let Some(tid) = next_tid {
        (user, long) = switch_in(&mut event, next, tid, now)?;
    }
    if config::aggregate() == 0 || long || books::capture_on() {
        send_switch(&event, user);
    }
    Ok(())
}

/// Send a switch record; with user stacks on, the longer one that also
/// carries `next`'s (user stack id, tgid). A function of its own (a
/// BPF-to-BPF call), so its record's copy is not on `sched_switch`'s stack.
#[inline(never)]
fn send_switch(event: &SwitchEvent, (next_ustack_id, next_tgid): (i32, u32)) {
    let sent = if config::user_stacks() == USER_STACKS_ON {
        let record = SwitchEventUser {
            switch: SwitchEvent {
                kind: EVENT_SWITCH_USER,
                ..*event
            },
            next_ustack_id,
            next_tgid,
        };
        EVENTS.output(&record, BPF_RB_NO_WAKEUP as u64)
    } else {
        EVENTS.output(event, BPF_RB_NO_WAKEUP as u64)
    };
    if sent.is_err() {
        count(diag::RINGBUF_FULL);
    }
}

#[inline(always)]
fn switch_out(
    ctx: &BtfTracePointContext,
    event: &mut SwitchEvent,
    prev: *const u8,
    preempt: bool,
    raw_state: u32,
    now: u64,
) -> Result<(), i32> {
    let tgid = tgid_of(prev)?;
    // A running thread normally has an entry from its switch-in; tgid 0
    // marks the one just inserted here.
    let state = state_or_fresh(event.prev_tid, 0)?;
    let missed_in = state.on_cpu_since == 0 && state.off_since != 0;
    if state.tgid == 0 {
        state.tgid = tgid;
        count(diag::SWITCH_OUT_NEW_ENTRY);
    } else if missed_in {
        count(diag::SWITCH_OUT_WITHOUT_IN);
    }
    event.flags |= SW_PREV_TRACED;
    let mut slice_start = state.on_cpu_since;
    if slice_start != 0 {
        event.prev_slice_ns = now.saturating_sub(slice_start);
        event.flags |= SW_PREV_SLICE_KNOWN;
    }
    if let Some(exec) = sum_exec(prev) {
        // The scheduler's own account of this slice (and of any slice whose
        // switch-in never reached us): what /proc/<tid>/schedstat adds up.
        if state.flags & TS_EXEC_KNOWN != 0 {
            let ran = exec.saturating_sub(state.exec_seen);
            event.prev_exec_ns = ran;
            event.flags |= SW_PREV_EXEC_KNOWN;
            if missed_in && state.flags & TS_RUN_DELAY_KNOWN != 0 {
                // Its switch-in never reached us; the kernel's books say
                // when it was and what the wait before it was.
                slice_start = now.saturating_sub(ran);
                infer_switch_in(event.prev_tid, state, prev, slice_start)?;
                event.prev_slice_ns = ran;
                event.flags |= SW_PREV_SLICE_KNOWN;
            }
        }
        state.exec_seen = exec;
        state.flags |= TS_EXEC_KNOWN;
    }
    if config::aggregate() != 0 {
        if event.flags & SW_PREV_EXEC_KNOWN != 0 {
            books::book_slice(state, event.prev_exec_ns);
        } else if event.flags & SW_PREV_SLICE_KNOWN != 0 {
            books::book_slice(state, event.prev_slice_ns);
        }
    }
    if state.reclaim_since != 0 {
        // Switching out inside a reclaim: the slice's part inside it was
        // reclaim work on the CPU.
        state.reclaim_on_cpu_ns += now.saturating_sub(slice_start.max(state.reclaim_since));
    }
    let off_state = decode_off_state(preempt, raw_state);
    if off_state == OFF_RUNNING {
        event.flags |= SW_PREV_INVOLUNTARY;
    }
    state.flags &= !TS_ON_CPU;
    state.on_cpu_since = 0;
    state.off_since = now;
    state.off_raw_state = raw_state;
    state.off_state = off_state;
    state.off_reclaim_kind = state.reclaim_kind;
    if config::runq_source() == RUNQ_SCHED_INFO {
        // Includes the wait before this slice: the kernel added it at
        // switch-in. Whatever it adds from now on is the next wait.
        state.run_delay_seen = run_delay(prev);
        state.flags |= TS_RUN_DELAY_KNOWN;
    }
    // A preempted thread is runnable from the first nanosecond.
    state.wakeup_at = if off_state == OFF_RUNNING { now } else { 0 };
    let (syscall, futex) = if off_state == OFF_RUNNING {
        (-1, 0)
    } else {
        current_syscall()
    };
    state.off_syscall = syscall;
    state.off_futex = futex;
    let take_stacks = match config::stack_policy() {
        STACKS_BLOCKED => off_state == OFF_DISK,
        STACKS_ALL_SLEEPS => off_state != OFF_RUNNING,
        _ => false,
    };
    state.off_stack_id = if take_stacks { stack_id(ctx) } else { -1 };
    // `prev` is still the current task here, so its user stack is the one
    // it left user space with (its saved user registers).
    state.off_ustack_id = if take_stacks && config::user_stacks() == USER_STACKS_ON {
        user_stack_id(ctx)
    } else {
        -1
    };
    // Only the last switch-out of a dead task frees its entry: an exiting
    // thread may still block (closing files, say) after sched_process_exit.
    if raw_state & TASK_DEAD != 0 && !preempt {
        if config::aggregate() != 0 {
            books::move_books(event.prev_tid, state, true);
        }
        let _ = TASKS.remove(&event.prev_tid);
    }
    Ok(())
}

/// Send the switch-in of `tid` (on a CPU now, `task`) that never reached
/// us, as the kernel's books place it: at `at`, ending the interval that
/// began at its last switch-out, with the run-queue waits the kernel added
/// since then. `state` is still as that switch-out left it.
#[inline(always)]
fn infer_switch_in(tid: u32, state: &mut TaskState, task: *const u8, at: u64) -> Result<(), i32> {
    let event = SwitchEvent {
        kind: EVENT_SWITCH,
        // SAFETY: helper without arguments.
        cpu: unsafe { bpf_get_smp_processor_id() },
        ts_ns: at,
        next_tid: tid,
        next_off_ns: at.saturating_sub(state.off_since),
        next_runq_ns: run_delay(task).saturating_sub(state.run_delay_seen),
        next_off_state: state.off_state,
        next_raw_state: state.off_raw_state,
        next_syscall: state.off_syscall,
        next_stack_id: state.off_stack_id,
        flags: SW_NEXT_TRACED | SW_NEXT_OFF_KNOWN | SW_NEXT_RUNQ_KNOWN | SW_NEXT_INFERRED,
        next_reclaim_kind: state.off_reclaim_kind,
        next_futex: state.off_futex,
        ..SwitchEvent::default()
    };
    if config::aggregate() == 0 || book_interval(&event, state) || books::capture_on() {
        send_switch(&event, (state.off_ustack_id, state.tgid));
    }
    Ok(())
}

/// Book the interval `event` closes for its `next` thread (aggregate mode)
/// and say whether it is long enough that its record is still sent.
#[inline(always)]
fn book_interval(event: &SwitchEvent, state: &mut TaskState) -> bool {
    let Some((off, runq)) = event.next_off_and_runq() else {
        return false;
    };
    let blocked = (event.next_off_state != OFF_RUNNING).then_some(books::OffKey {
        off_state: event.next_off_state,
        reclaim_kind: event.next_reclaim_kind,
        syscall: event.next_syscall,
        stack_id: event.next_stack_id,
    });
    books::book_interval(event.next_tid, state, off, runq, blocked)
}

/// Fill in `next`'s side; returns its interval's (user stack id, tgid)
/// and, in aggregate mode, whether that interval is long.
#[inline(always)]
fn switch_in(
    event: &mut SwitchEvent,
    next: *const u8,
    tid: u32,
    now: u64,
) -> Result<((i32, u32), bool), i32> {
    event.next_tid = tid;
    event.flags |= SW_NEXT_TRACED;
    let state = state_or_fresh(tid, tgid_of(next)?)?;
    if state.flags & TS_ON_CPU != 0 && state.on_cpu_since != 0 {
        count(diag::SWITCH_IN_WHILE_ON_CPU);
    }
    if state.off_since != 0 {
        event.next_off_ns = now.saturating_sub(state.off_since);
        event.flags |= SW_NEXT_OFF_KNOWN;
    }
    if config::runq_source() == RUNQ_SCHED_INFO {
        // Waits the kernel already closed (a queued task migrated to
        // another CPU is dequeued and re-queued) plus the open one.
        let mut runq = pending_run_delay(next);
        if state.flags & TS_RUN_DELAY_KNOWN != 0 {
            runq += run_delay(next).saturating_sub(state.run_delay_seen);
        }
        event.next_runq_ns = runq;
        event.flags |= SW_NEXT_RUNQ_KNOWN;
    } else if state.wakeup_at != 0 {
        event.next_runq_ns = now.saturating_sub(state.wakeup_at);
        event.flags |= SW_NEXT_RUNQ_KNOWN;
    }
    event.next_off_state = state.off_state;
    event.next_raw_state = state.off_raw_state;
    event.next_syscall = state.off_syscall;
    event.next_stack_id = state.off_stack_id;
    event.next_reclaim_kind = state.off_reclaim_kind;
    event.next_futex = state.off_futex;
    if state.flags & TS_EXEC_KNOWN == 0
        && let Some(exec) = sum_exec(next)
    {
        // First sight of its run time (a thread not seeded, or created
        // before its `sched_wakeup_new` ran): it does not change while the
        // thread is off-CPU, so this is where its next slice starts.
        state.exec_seen = exec;
        state.flags |= TS_EXEC_KNOWN;
    }
    state.flags = (state.flags | TS_ON_CPU) & !TS_RUN_DELAY_KNOWN;
    state.on_cpu_since = now;
    state.wakeup_at = 0;
    let long = config::aggregate() != 0 && book_interval(event, state);
    Ok(((state.off_ustack_id, state.tgid), long))
}

/// The syscall number the current task is in, from its user-entry
/// registers, and for futex(2) the futex word's address (its first argument).
#[inline(always)]
fn current_syscall() -> (i32, u64) {
    let offset = config::regs_syscall_off();
    if offset == u32::MAX {
        return (-1, 0);
    }
    // SAFETY: helpers valid in tp_btf programs; `regs` is a BTF-typed
    // `pt_regs *`, so direct loads at config offsets are verified.
    unsafe {
        let regs = bpf_task_pt_regs(bpf_get_current_task_btf()) as *const u8;
        if regs.is_null() {
            count(diag::REGS_UNAVAILABLE);
            return (-1, 0);
        }
        let nr = core::ptr::read_volatile(regs.wrapping_add(offset as usize) as *const i64) as i32;
        let arg0_off = config::regs_arg0_off();
        let futex = if nr == SYS_FUTEX && arg0_off != u32::MAX {
            core::ptr::read_volatile(regs.wrapping_add(arg0_off as usize) as *const u64)
        } else {
            0
        };
        (nr, futex)
    }
}

/// x86_64 futex(2).
const SYS_FUTEX: i32 = 202;

#[inline(always)]
fn stack_id(ctx: &BtfTracePointContext) -> i32 {
    match ctx.get_stackid(&STACKS, 0) {
        Ok(id) => id as i32,
        Err(_) => {
            count(diag::STACK_FAILED);
            -2
        }
    }
}

/// The current task's user-space stack (frame-pointer walk by the kernel):
/// 1–2 frames deep for code built without frame pointers.
#[inline(always)]
fn user_stack_id(ctx: &BtfTracePointContext) -> i32 {
    match ctx.get_stackid(&USTACKS, BPF_F_USER_STACK as u64) {
        Ok(id) => id as i32,
        Err(_) => {
            count(diag::USER_STACK_FAILED);
            -2
        }
    }
}

#[btf_tracepoint(function = "sched_wakeup")]
pub fn sched_wakeup(ctx: BtfTracePointContext) -> i32 {
    if let Err(e) = try_sched_wakeup(&ctx) {
        crate::log::unexpected(&ctx, "sched_wakeup", e);
    }
    0
}

fn try_sched_wakeup(ctx: &BtfTracePointContext) -> Result<(), i32> {
    let task: *const u8 = ctx.arg(0);
    let Some(tid) = traced_tid(task)? else {
        return Ok(());
    };
    if let Some(state) = TASKS.get_ptr_mut(&tid) {
        // SAFETY: a valid map value pointer.
        let state = unsafe { &mut *state };
        if state.flags & TS_ON_CPU == 0 && state.wakeup_at == 0 {
            // SAFETY: helper without arguments.
            state.wakeup_at = unsafe { bpf_ktime_get_ns() };
        }
    }
    Ok(())
}

#[btf_tracepoint(function = "sched_wakeup_new")]
pub fn sched_wakeup_new(ctx: BtfTracePointContext) -> i32 {
    if let Err(e) = try_sched_wakeup_new(&ctx) {
        crate::log::unexpected(&ctx, "sched_wakeup_new", e);
    }
    0
}

fn try_sched_wakeup_new(ctx: &BtfTracePointContext) -> Result<(), i32> {
    let task: *const u8 = ctx.arg(0);
    // A new task is traced if its process is (tgid mode) or its parent, the
    // current task, is in the target cgroup (cgroup mode: children inherit it).
    let tid = if config::filter_mode() == FILTER_CGROUP {
        if !config::current_is_target() {
            return Ok(());
        }
        crate::task::tid_of(task)?
    } else {
        match traced_tid(task)? {
            Some(tid) => tid,
            None => return Ok(()),
        }
    };
    // SAFETY: helper without arguments.
    let now = unsafe { bpf_ktime_get_ns() };
    let mut init = TaskState {
        off_since: now,
        wakeup_at: now,
        off_state: OFF_RUNNING,
        ..TaskState::fresh(tgid_of(task)?)
    };
    if config::runq_source() == RUNQ_SCHED_INFO {
        init.run_delay_seen = run_delay(task);
        init.flags = TS_RUN_DELAY_KNOWN;
    }
    if let Some(exec) = sum_exec(task) {
        init.exec_seen = exec;
        init.flags |= TS_EXEC_KNOWN;
    }
    // NOEXIST: the new task may already have run on another CPU (it is
    // runnable before this tracepoint fires); keep what its switch-in wrote.
    if let Err(e) = TASKS.insert(&tid, &init, BPF_NOEXIST as u64)
        && e != -17
    {
        count(diag::TASK_MAP_FULL);
    }
    Ok(())
}

#[btf_tracepoint(function = "sched_process_exit")]
pub fn sched_process_exit(ctx: BtfTracePointContext) -> i32 {
    if let Err(e) = try_sched_process_exit(&ctx) {
        crate::log::unexpected(&ctx, "sched_process_exit", e);
    }
    0
}

fn try_sched_process_exit(_ctx: &BtfTracePointContext) -> Result<(), i32> {
    // Fires for every exiting thread, in the thread itself.
    let pid_tgid = bpf_get_current_pid_tgid();
    let tid = pid_tgid as u32;
    let Some(state) = TASKS.get_ptr_mut(&tid) else {
        return Ok(());
    };
    // SAFETY: a valid map value pointer, written only by this thread now.
    let state = unsafe { &mut *state };
    state.flags |= TS_EXITING;
    let event = ExitEvent {
        kind: EVENT_EXIT,
        tid,
        // SAFETY: helper without arguments.
        ts_ns: unsafe { bpf_ktime_get_ns() },
        tgid: (pid_tgid >> 32) as u32,
        _pad: 0,
        min_faults: state.min_faults,
        maj_faults: state.maj_faults,
        fault_entries: state.fault_entries,
    };
    if EVENTS.output(&event, BPF_RB_NO_WAKEUP as u64).is_err() {
        count(diag::RINGBUF_FULL);
    }
    Ok(())
}
