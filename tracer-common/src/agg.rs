//! Kernel-side books for `watch`: per thread and per cause-determining key,
//! a count, a sum and log2 buckets of interval lengths, so no record crosses
//! the ring buffer per context switch. User space names the cause of a key
//! once (from its state, reclaim kind, syscall and kernel stack), the same
//! way it names a recorded interval's.

/// On-CPU time (from `se.sum_exec_runtime`, else the tracepoint clock).
pub const AGG_ON_CPU: u32 = 1;
/// The run-queue wait at the end of an off-CPU interval.
pub const AGG_RUNQ: u32 = 2;
/// The blocked part of an off-CPU interval.
pub const AGG_OFF: u32 = 3;

/// Log2 buckets: bucket 0 holds lengths under 1024 ns; bucket `b >= 1`
/// holds `[2^(b+9), 2^(b+10))` ns; the last one everything above.
pub const AGG_BUCKETS: usize = 32;

/// The bucket of a length in ns (see `AGG_BUCKETS`).
#[inline(always)]
pub const fn bucket_of(ns: u64) -> usize {
    let v = ns >> 10;
    if v == 0 {
        return 0;
    }
    let b = 64 - v.leading_zeros() as usize;
    if b >= AGG_BUCKETS { AGG_BUCKETS - 1 } else { b }
}

/// Lower edge in ns of bucket `b`.
pub const fn bucket_floor_ns(b: usize) -> u64 {
    if b == 0 { 0 } else { 1u64 << (b + 9) }
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AggKey {
    pub tid: u32,
    /// `AGG_ON_CPU`, `AGG_RUNQ` or `AGG_OFF`.
    pub kind: u32,
    /// For `AGG_OFF`: the `OFF_*` state at switch-out, the reclaim kind the
    /// thread was inside, its syscall (-1 none) and kernel stack id (< 0 none).
    pub off_state: u32,
    pub reclaim_kind: u32,
    pub syscall: i32,
    pub stack_id: i32,
}

const _: () = assert!(core::mem::size_of::<AggKey>() == 24);

#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AggValue {
    pub tgid: u32,
    pub _pad: u32,
    pub count: u64,
    pub sum_ns: u64,
    pub buckets: [u32; AGG_BUCKETS],
}

impl Default for AggValue {
    fn default() -> Self {
        Self {
            tgid: 0,
            _pad: 0,
            count: 0,
            sum_ns: 0,
            buckets: [0; AGG_BUCKETS],
        }
    }
}

const _: () = assert!(core::mem::size_of::<AggValue>() == 152);

/// Index of the capture switch in `CONTROL`: non-zero makes the programs
/// send every record, as `record` does, on top of the books.
pub const CONTROL_CAPTURE: u32 = 0;
