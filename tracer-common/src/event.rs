//! Records sent through the ring buffer. Every record starts with a `u32`
//! kind so user space can dispatch before casting.

pub const EVENT_SWITCH: u32 = 1;
pub const EVENT_EXIT: u32 = 2;
pub const EVENT_RECLAIM: u32 = 3;

/// `prev` is a traced thread: `prev_slice_ns` and the voluntary flag apply.
pub const SW_PREV_TRACED: u32 = 1 << 0;
/// `next` is a traced thread: the `next_*` fields apply.
pub const SW_NEXT_TRACED: u32 = 1 << 1;
/// `prev_slice_ns` is exact (its switch-in was seen).
pub const SW_PREV_SLICE_KNOWN: u32 = 1 << 2;
/// `next_off_ns` is exact (its switch-out was seen).
pub const SW_NEXT_OFF_KNOWN: u32 = 1 << 3;
/// `prev` left the CPU involuntarily (preempted or still runnable).
pub const SW_PREV_INVOLUNTARY: u32 = 1 << 4;
/// `next` was woken (or preempted) while off-CPU: `next_runq_ns` is valid.
pub const SW_NEXT_RUNQ_KNOWN: u32 = 1 << 5;

/// One context switch where at least one side is traced.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SwitchEvent {
    pub kind: u32,
    pub cpu: u32,
    pub ts_ns: u64,
    pub prev_tid: u32,
    pub next_tid: u32,
    pub prev_slice_ns: u64,
    /// Whole off-CPU interval of `next` that ends now.
    pub next_off_ns: u64,
    /// Part of that interval spent runnable, waiting for a CPU.
    pub next_runq_ns: u64,
    pub next_off_state: u32,
    pub next_raw_state: u32,
    pub next_syscall: i32,
    pub next_stack_id: i32,
    pub flags: u32,
    pub next_reclaim_kind: u32,
    /// Futex address `next` waited on (futex(2) sleeps only), else 0.
    pub next_futex: u64,
}

const _: () = assert!(core::mem::size_of::<SwitchEvent>() == 80);

/// A traced thread exited; its fault counters as of then.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExitEvent {
    pub kind: u32,
    pub tid: u32,
    pub ts_ns: u64,
    pub tgid: u32,
    pub _pad: u32,
    pub min_faults: u64,
    pub maj_faults: u64,
    pub fault_entries: u64,
}

const _: () = assert!(core::mem::size_of::<ExitEvent>() == 48);

pub const RECLAIM_MEMCG: u32 = 1;
pub const RECLAIM_DIRECT: u32 = 2;

/// A traced thread finished a reclaim (begin/end tracepoints in the thread).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReclaimEvent {
    pub kind: u32,
    pub tid: u32,
    pub ts_ns: u64,
    pub duration_ns: u64,
    pub reclaim_kind: u32,
    pub _pad: u32,
}

const _: () = assert!(core::mem::size_of::<ReclaimEvent>() == 32);
