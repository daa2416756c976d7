//! Kernel-side books for `watch`: per thread and per cause-determining key,
//! a count and a sum of interval lengths, so no record crosses the ring
//! buffer per context switch. User space names the cause of a key once
//! (from its state, reclaim kind, syscall and kernel stack), the same way it
//! names a recorded interval's.
//!
//! The books of a live thread are split in two, to keep hash lookups off
//! the switch path: its on-CPU and run-queue totals and its current
//! off-CPU key's running total sit in its `TaskState` (looked up anyway),
//! and `AGG` holds what was moved out of them: an off-CPU key's total when
//! the thread's next interval has another key, and everything when the
//! thread dies. A key's books are the sum of both places.
//!
//! No lengths distribution is kept here: a thread's percentiles come from
//! a bundle's full capture, and every interval of at least `emit_min_ns`
//! still goes through the ring buffer with its exact length.

/// On-CPU time (from `se.sum_exec_runtime`, else the tracepoint clock).
pub const AGG_ON_CPU: u32 = 1;
/// The run-queue wait at the end of an off-CPU interval.
pub const AGG_RUNQ: u32 = 2;
/// The blocked part of an off-CPU interval.
pub const AGG_OFF: u32 = 3;

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

impl AggKey {
    /// The key of a thread's on-CPU (`AGG_ON_CPU`) or run-queue
    /// (`AGG_RUNQ`) books: no cause fields.
    #[inline(always)]
    pub const fn plain(tid: u32, kind: u32) -> Self {
        Self {
            tid,
            kind,
            off_state: 0,
            reclaim_kind: 0,
            syscall: -1,
            stack_id: -1,
        }
    }
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AggValue {
    pub tgid: u32,
    pub _pad: u32,
    pub count: u64,
    pub sum_ns: u64,
}

const _: () = assert!(core::mem::size_of::<AggValue>() == 24);

/// Index of the capture switch in `CONTROL`: non-zero makes the programs
/// send every record, as `record` does, on top of the books.
pub const CONTROL_CAPTURE: u32 = 0;

/// `WATCHED` is a bitmap of tgids, one bit each, in `u64` words: an exact
/// membership test with one array load on every context switch of the
/// host, where a hash lookup would cost a hash and a bucket walk.
pub const WATCHED_BITS_PER_WORD: u32 = 64;
/// Words to cover every possible tgid: PID_MAX_LIMIT is 2^22 on 64-bit.
pub const WATCHED_WORDS: u32 = (1 << 22) / WATCHED_BITS_PER_WORD;

/// The word index and bit mask of `tgid` in `WATCHED`.
#[inline(always)]
pub const fn watched_slot(tgid: u32) -> (u32, u64) {
    (
        tgid / WATCHED_BITS_PER_WORD,
        1u64 << (tgid % WATCHED_BITS_PER_WORD),
    )
}
