//! Indices of the per-CPU diagnostic counters the probes bump when something
//! goes wrong. User space sums them over CPUs and prints every non-zero one.

pub const RINGBUF_FULL: u32 = 0;
pub const TASK_MAP_FULL: u32 = 1;
pub const STACK_FAILED: u32 = 2;
pub const PROBE_READ_FAILED: u32 = 3;
pub const UNEXPECTED_STATE: u32 = 4;
pub const REGS_UNAVAILABLE: u32 = 5;
/// A program returned early with an error (logged at info level with -v);
/// whatever it was recording is missing.
pub const PROGRAM_ERROR: u32 = 6;
pub const RECLAIM_UNMATCHED_END: u32 = 7;
/// Switch-in of a thread the map already had on a CPU (a missed switch-out).
pub const SWITCH_IN_WHILE_ON_CPU: u32 = 8;
/// Switch-out of a thread seen switching out before, with no switch-in since.
pub const SWITCH_OUT_WITHOUT_IN: u32 = 9;
/// Switch-out of a thread with no map entry at all (created there).
pub const SWITCH_OUT_NEW_ENTRY: u32 = 10;
/// `bpf_get_stackid` failed for a user-space stack (`--user-stacks`): a
/// full `USTACKS` bucket (hash collision) or no user memory to walk.
pub const USER_STACK_FAILED: u32 = 11;
/// The `AGG` map (`watch`'s kernel-side books) was full: an interval or a
/// slice was not booked.
pub const AGG_MAP_FULL: u32 = 12;
pub const COUNT: u32 = 13;

/// Names, indexed by counter, as printed in reports.
pub const NAMES: [&str; COUNT as usize] = [
    "ringbuf_full",
    "task_map_full",
    "stack_lookup_failed",
    "probe_read_failed",
    "unexpected_state",
    "regs_unavailable",
    "program_error",
    "reclaim_end_without_begin",
    "switch_in_while_on_cpu",
    "switch_out_without_in",
    "switch_out_new_entry",
    "user_stack_lookup_failed",
    "aggregate_map_full",
];

/// Counters that mean a record or an update never made it: the totals
/// undercount by that much. The others are degraded detail (a missing
/// stack) or information, shown but not counted as lost.
pub const fn is_loss(index: u32) -> bool {
    matches!(
        index,
        RINGBUF_FULL | TASK_MAP_FULL | PROBE_READ_FAILED | PROGRAM_ERROR | AGG_MAP_FULL
    )
}
