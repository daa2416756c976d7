//! Page-fault counters per thread. Minor and major counts come from the perf
//! software events the kernel raises in `mm_account_fault`, so they match
//! `/proc/<pid>/task/<tid>/stat` minflt/majflt exactly; the tracepoint counts
//! every user-mode fault entry.

use aya_ebpf::{
    helpers::bpf_get_current_pid_tgid,
    macros::{perf_event, tracepoint},
    programs::{PerfEventContext, TracePointContext},
};
use tracer_common::task::TaskState;

use crate::{config, task::state_or_fresh};

#[inline(always)]
fn bump(field: fn(&mut TaskState) -> &mut u64) -> Result<(), i32> {
    if !config::current_is_target() {
        return Ok(());
    }
    let pid_tgid = bpf_get_current_pid_tgid();
    let state = state_or_fresh(pid_tgid as u32, (pid_tgid >> 32) as u32)?;
    *field(state) += 1;
    Ok(())
}

#[tracepoint(category = "exceptions", name = "page_fault_user")]
pub fn page_fault_user(ctx: TracePointContext) -> u32 {
    if let Err(e) = bump(|s| &mut s.fault_entries) {
        crate::log::unexpected(&ctx, "page_fault_user", e);
    }
    0
}

#[perf_event]
pub fn minor_fault(ctx: PerfEventContext) -> u32 {
    if let Err(e) = bump(|s| &mut s.min_faults) {
        crate::log::unexpected(&ctx, "minor_fault", e);
    }
    0
}

#[perf_event]
pub fn major_fault(ctx: PerfEventContext) -> u32 {
    if let Err(e) = bump(|s| &mut s.maj_faults) {
        crate::log::unexpected(&ctx, "major_fault", e);
    }
    0
}
