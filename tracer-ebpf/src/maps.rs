//! Maps shared by the programs. All fixed-size; user space may resize the
//! ones marked so before load.

use aya_ebpf::{
    macros::map,
    maps::{Array, HashMap, PerCpuArray, RingBuf, StackTrace},
};
use tracer_common::{
    agg::{AggKey, AggValue},
    diag,
    task::TaskState,
};

/// Per-thread scheduler state, keyed by tid. Only traced threads get an entry.
#[map]
pub static TASKS: HashMap<u32, TaskState> = HashMap::with_max_entries(16384, 0);

/// Switch, exit and reclaim records for user space (resizable).
#[map]
pub static EVENTS: RingBuf = RingBuf::with_byte_size(8 << 20, 0);

/// Kernel stacks at blocking switch-outs.
#[map]
pub static STACKS: StackTrace = StackTrace::with_max_entries(16384, 0);

/// User-space stacks at the same switch-outs (`--user-stacks`). User space
/// shrinks it to one entry when they are off: a stack map's buckets are
/// allocated up front (about 1 KiB each).
#[map]
pub static USTACKS: StackTrace = StackTrace::with_max_entries(16384, 0);

/// `watch`'s kernel-side books (see `tracer_common::agg`). User space
/// shrinks it to one entry for `record`, and sizes it for `watch`.
#[map]
pub static AGG: HashMap<AggKey, AggValue> = HashMap::with_max_entries(16384, 0);

/// The processes `watch` follows (`FILTER_TGID_SET`): a bitmap of tgids
/// (`tracer_common::agg::watched_slot`). User space sizes it to
/// `WATCHED_WORDS` for `watch` and one word for `record`.
#[map]
pub static WATCHED: Array<u64> = Array::with_max_entries(1, 0);

/// Switches user space flips while the programs run (`CONTROL_CAPTURE`).
#[map]
pub static CONTROL: Array<u32> = Array::with_max_entries(1, 0);

/// Per-CPU diagnostic counters, indexed by `tracer_common::diag`.
#[map]
pub static DIAG: PerCpuArray<u64> = PerCpuArray::with_max_entries(diag::COUNT, 0);

#[inline(always)]
pub fn count(index: u32) {
    if let Some(slot) = DIAG.get_ptr_mut(index) {
        // SAFETY: per-CPU slot, and programs do not nest on one CPU.
        unsafe { *slot += 1 };
    }
}
