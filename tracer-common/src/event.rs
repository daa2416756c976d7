//! Records sent through the ring buffer. Every record starts with a `u32`
//! kind so user space can dispatch before casting.

pub const EVENT_SWITCH: u32 = 1;
pub const EVENT_EXIT: u32 = 2;
pub const EVENT_RECLAIM: u32 = 3;
/// A `SwitchEventUser`: the switch record when user stacks are on.
pub const EVENT_SWITCH_USER: u32 = 4;

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
/// `prev_exec_ns` is the kernel's own account of the run time `prev` just
/// finished (growth of its `se.sum_exec_runtime` since its last switch-out).
pub const SW_PREV_EXEC_KNOWN: u32 = 1 << 6;
/// A switch-in of `next` that never reached the programs, rebuilt from the
/// kernel's books at its next switch-out: at `ts_ns` = that switch-out minus
/// the run time the scheduler booked since (`se.sum_exec_runtime`), ending
/// the interval from its last switch-out, with the run-queue wait the
/// kernel added to `run_delay` meanwhile. No `prev` side.
pub const SW_NEXT_INFERRED: u32 = 1 << 7;

/// One context switch where at least one side is traced.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SwitchEvent {
    pub kind: u32,
    pub cpu: u32,
    pub ts_ns: u64,
    pub prev_tid: u32,
    pub next_tid: u32,
    /// Tracepoint clock: this switch minus `prev`'s switch-in.
    pub prev_slice_ns: u64,
    /// Run time the scheduler booked for `prev` since its last switch-out
    /// (see `SW_PREV_EXEC_KNOWN`). Differs from `prev_slice_ns` where the
    /// kernel's clock for the slice edges is not the tracepoint's (wakeup
    /// preemption: the woken task's run time starts at the wakeup, and the
    /// preempted one's ends there), and covers slices whose switch-in never
    /// reached us.
    pub prev_exec_ns: u64,
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

const _: () = assert!(core::mem::size_of::<SwitchEvent>() == 88);

impl SwitchEvent {
    /// The off-CPU interval this switch closes for `next`, when its length
    /// is known: `(off_ns, runq_ns)`, where the run-queue part is all of it
    /// after a preemption, else the measured wait (never longer than the
    /// interval), else 0. `record`'s books split it the same way.
    #[inline(always)]
    pub fn next_off_and_runq(&self) -> Option<(u64, u64)> {
        if self.flags & SW_NEXT_OFF_KNOWN == 0 {
            return None;
        }
        let off = self.next_off_ns;
        let runq = if self.next_off_state == crate::state::OFF_RUNNING {
            off
        } else if self.flags & SW_NEXT_RUNQ_KNOWN != 0 {
            self.next_runq_ns.min(off)
        } else {
            0
        };
        Some((off, runq))
    }
}

/// The switch record with `--user-stacks` (kind `EVENT_SWITCH_USER`): the
/// same fields plus the user stack of `next`'s interval. Only then is it
/// sent, so the record everyone else pays for stays 88 bytes.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SwitchEventUser {
    pub switch: SwitchEvent,
    /// `USTACKS` id taken at `next`'s switch-out: -1 none taken, -2 the
    /// kernel could not take it.
    pub next_ustack_id: i32,
    /// `next`'s process: user stack addresses mean something only with it.
    pub next_tgid: u32,
}

const _: () = assert!(core::mem::size_of::<SwitchEventUser>() == 96);

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
    /// Part of `duration_ns` the thread was on a CPU (tracepoint clock): the
    /// reclaim work itself, without the run-queue waits and sleeps inside.
    pub on_cpu_ns: u64,
}

const _: () = assert!(core::mem::size_of::<ReclaimEvent>() == 40);
