//! Reclaim done by traced threads: memcg reclaim (charged to the cgroup) and
//! global direct reclaim, timed from the vmscan begin/end tracepoints that
//! fire in the reclaiming thread. Besides its length, each reclaim carries
//! the time the thread was on a CPU inside it (the switch-outs in between
//! add their part in `sched.rs`), so reclaim work is not confused with the
//! run-queue waits and sleeps inside it.

use aya_ebpf::{
    bindings::BPF_RB_NO_WAKEUP,
    helpers::{bpf_get_current_pid_tgid, bpf_ktime_get_ns},
    macros::tracepoint,
    programs::TracePointContext,
};
use tracer_common::{
    diag,
    event::{EVENT_RECLAIM, RECLAIM_DIRECT, RECLAIM_MEMCG, ReclaimEvent},
};

use crate::{
    config,
    maps::{EVENTS, TASKS, count},
    task::state_or_fresh,
};

fn begin(kind: u32) -> Result<(), i32> {
    if !config::current_is_target() {
        return Ok(());
    }
    let pid_tgid = bpf_get_current_pid_tgid();
    let state = state_or_fresh(pid_tgid as u32, (pid_tgid >> 32) as u32)?;
    // SAFETY: helper without arguments.
    state.reclaim_since = unsafe { bpf_ktime_get_ns() };
    state.reclaim_kind = kind;
    state.reclaim_on_cpu_ns = 0;
    Ok(())
}

fn end(kind: u32) -> Result<(), i32> {
    if !config::current_is_target() {
        return Ok(());
    }
    let tid = bpf_get_current_pid_tgid() as u32;
    let Some(state) = TASKS.get_ptr_mut(&tid) else {
        return Ok(());
    };
    // SAFETY: a valid map value pointer, written only by this thread now.
    let state = unsafe { &mut *state };
    if state.reclaim_since == 0 || state.reclaim_kind != kind {
        count(diag::RECLAIM_UNMATCHED_END);
        return Ok(());
    }
    // SAFETY: helper without arguments.
    let now = unsafe { bpf_ktime_get_ns() };
    // The thread is on a CPU now: its current slice counts from its
    // switch-in or the reclaim's start, whichever is later.
    let on_cpu_ns =
        state.reclaim_on_cpu_ns + now.saturating_sub(state.on_cpu_since.max(state.reclaim_since));
    let event = ReclaimEvent {
        kind: EVENT_RECLAIM,
        tid,
        ts_ns: now,
        duration_ns: now.saturating_sub(state.reclaim_since),
        reclaim_kind: kind,
        _pad: 0,
        on_cpu_ns,
    };
    state.reclaim_since = 0;
    state.reclaim_kind = 0;
    state.reclaim_on_cpu_ns = 0;
    // `watch` books reclaims through the intervals they cause; their
    // records flow only while it captures.
    if config::aggregate() != 0 && !crate::books::capture_on() {
        return Ok(());
    }
    if EVENTS.output(&event, BPF_RB_NO_WAKEUP as u64).is_err() {
        count(diag::RINGBUF_FULL);
    }
    Ok(())
}

#[tracepoint(category = "vmscan", name = "mm_vmscan_memcg_reclaim_begin")]
pub fn memcg_reclaim_begin(ctx: TracePointContext) -> u32 {
    if let Err(e) = begin(RECLAIM_MEMCG) {
        crate::log::unexpected(&ctx, "memcg_reclaim_begin", e);
    }
    0
}

#[tracepoint(category = "vmscan", name = "mm_vmscan_memcg_reclaim_end")]
pub fn memcg_reclaim_end(ctx: TracePointContext) -> u32 {
    if let Err(e) = end(RECLAIM_MEMCG) {
        crate::log::unexpected(&ctx, "memcg_reclaim_end", e);
    }
    0
}

#[tracepoint(category = "vmscan", name = "mm_vmscan_direct_reclaim_begin")]
pub fn direct_reclaim_begin(ctx: TracePointContext) -> u32 {
    if let Err(e) = begin(RECLAIM_DIRECT) {
        crate::log::unexpected(&ctx, "direct_reclaim_begin", e);
    }
    0
}

#[tracepoint(category = "vmscan", name = "mm_vmscan_direct_reclaim_end")]
pub fn direct_reclaim_end(ctx: TracePointContext) -> u32 {
    if let Err(e) = end(RECLAIM_DIRECT) {
        crate::log::unexpected(&ctx, "direct_reclaim_end", e);
    }
    0
}
