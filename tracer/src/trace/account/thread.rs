//! One thread's books: totals by state and cause, run-queue splits,
//! futex addresses, histograms.

use std::collections::HashMap;

use super::MAX_FUTEX_ADDRS;
use crate::{
    model::{Ongoing, StateSplit, cause::Cause},
    trace::hist::ThreadRecorder,
};

#[derive(Default)]
pub struct ThreadAccount {
    pub tid: u32,
    /// Read from /proc when the thread is first seen, so exited threads keep it.
    pub comm: Option<String>,
    pub tgid: u32,
    pub on_cpu_ns: u64,
    pub runq_wakeup_ns: u64,
    pub runq_preempted_ns: u64,
    pub off_cpu_ns: u64,
    pub by_state: StateSplit,
    pub switches: u64,
    pub voluntary: u64,
    pub involuntary: u64,
    pub min_faults: u64,
    pub maj_faults: u64,
    pub fault_entries: u64,
    pub reclaim_ns: u64,
    pub reclaim_count: u64,
    /// Time on a CPU inside reclaim (from the kernel, per reclaim).
    pub reclaim_on_cpu_ns: u64,
    pub exited: bool,
    pub ongoing: Option<Ongoing>,
    pub ongoing_off_ns: u64,
    /// Switch-outs whose switch-in was never seen although the thread had
    /// been seen before (should be 0; shown in diagnostics if not).
    pub slice_anomalies: u64,
    /// Switch-ins that never reached us, rebuilt by the kernel side from its
    /// books at the next switch-out (`SW_NEXT_INFERRED`); shown in
    /// diagnostics.
    pub switch_ins_inferred: u64,
    /// Tracepoint-clock slice minus the kernel's run time for it, summed
    /// and not yet booked: the next off-CPU interval is booked this much
    /// longer (shorter when negative), so on-CPU (the kernel's) plus
    /// off-CPU still adds up to wall time. Wakeup preemption makes it: the
    /// scheduler's clock for that switch is the wakeup's, so the woken
    /// thread's run time starts there and the preempted one's ends there.
    pub carry_ns: i64,
    /// Run-queue waits (the kernel's) longer than the carry-adjusted
    /// interval they ended: how many, and by how much in all. Each is booked
    /// in full and the interval lengthened to hold it, the excess taken from
    /// the thread's next interval (through the carry). Shown in diagnostics.
    pub runq_beyond_interval: u64,
    pub runq_beyond_interval_ns: u64,
    /// The snapshot's cause (kernel stack or wchan) for the interval open
    /// when the trace began; taken by the first booking of that interval.
    pub(in crate::trace) seeded_cause: Option<Cause>,
    pub(in crate::trace) causes: [u64; Cause::COUNT],
    pub(in crate::trace) cause_counts: [u64; Cause::COUNT],
    pub(in crate::trace) cause_hist: HashMap<Cause, ThreadRecorder>,
    /// futex address → ns waited on it (bounded: see `MAX_FUTEX_ADDRS`).
    pub(in crate::trace) futex_waits: HashMap<u64, u64>,
    pub(in crate::trace) other_frames: HashMap<String, u64>,
    pub(in crate::trace) hist_off: ThreadRecorder,
    pub(in crate::trace) hist_runq: ThreadRecorder,
    pub(in crate::trace) hist_on: ThreadRecorder,
}

impl ThreadAccount {
    /// One interval of `cause`; into the histogram only when its length is known.
    pub(in crate::trace) fn add_cause(&mut self, cause: Cause, ns: u64, length_known: bool) {
        let i = cause.index();
        self.causes[i] += ns;
        self.cause_counts[i] += 1;
        if length_known {
            self.cause_hist
                .entry(cause)
                .or_insert_with(ThreadRecorder::per_thread)
                .record(ns);
        }
    }

    pub(in crate::trace) fn add_futex_wait(&mut self, addr: u64, ns: u64) {
        let n = self.futex_waits.len();
        if let Some(w) = self.futex_waits.get_mut(&addr) {
            *w += ns;
        } else if n < MAX_FUTEX_ADDRS {
            self.futex_waits.insert(addr, ns);
        }
    }

    pub fn cause_ns(&self, cause: Cause) -> u64 {
        self.causes[cause.index()]
    }

    pub fn runqueue_ns(&self) -> u64 {
        self.runq_wakeup_ns + self.runq_preempted_ns
    }
}
