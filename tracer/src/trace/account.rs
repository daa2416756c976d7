//! Per-thread accounting: turns switch, exit and reclaim records into
//! on-CPU time, run-queue waits, off-CPU time by state and by cause, and
//! HDR histograms. Pure logic: `collect` feeds it, tests feed it synthetic
//! records.

use std::collections::{BTreeMap, HashMap};

use tracer_common::{
    event::{
        ExitEvent, RECLAIM_DIRECT, ReclaimEvent, SW_NEXT_INFERRED, SW_NEXT_OFF_KNOWN,
        SW_NEXT_RUNQ_KNOWN, SW_NEXT_TRACED, SW_PREV_EXEC_KNOWN, SW_PREV_INVOLUNTARY,
        SW_PREV_SLICE_KNOWN, SW_PREV_TRACED, SwitchEvent,
    },
    state::{OFF_DISK, OFF_OTHER, OFF_RUNNING, OFF_STATE_NAMES},
    task::{TS_ON_CPU, TaskState},
};

use super::{
    flame::FlameAgg,
    hist::{Recorder, ThreadRecorder},
    timeline::Timeline,
};
use crate::model::{
    CauseStat, IntervalRow, Ongoing,
    cause::Cause,
    spans::{OffSpan, SpanLog},
};

/// Past this many threads, new threads share one overflow account so user
/// space memory stays bounded (each account holds several histograms).
pub const MAX_THREADS: usize = 4096;
/// Stands in for every thread past `MAX_THREADS`.
pub const OVERFLOW_TID: u32 = u32::MAX;
/// Off-CPU intervals kept for blackouts and traces (32 bytes each): about
/// 23 MiB, which with the rest of `record` (about 25 MiB) and the report it
/// builds at the end keeps it under its 64 MiB goal (docs/BENCHMARKS.md).
pub const DEFAULT_SPAN_BUDGET: usize = 750_000;
/// Distinct futex addresses remembered per thread; later ones are dropped.
const MAX_FUTEX_ADDRS: usize = 64;

/// What a blocked interval was waiting for, as far as the classifier can tell.
pub trait CauseOf {
    /// Cause of the blocked (not runnable) part of an interval that ends with
    /// `ev` switching its thread in.
    fn blocked_cause(&mut self, ev: &SwitchEvent) -> Cause;
    /// Cause of a still-open interval described by a task's map state.
    fn open_cause(&mut self, state: &TaskState) -> Cause;
    /// Top frames to show for an interval classified `other`.
    fn top_frames(&mut self, stack_id: i32) -> Option<String>;
}

/// One off-CPU interval to book: `[start, end)` inside the trace (tracepoint
/// clock), of which the last `runq` ns (when known) were spent runnable,
/// waiting for a CPU. Its booked length is `end - start` plus the thread's
/// carry (see `ThreadAccount::carry_ns`).
struct OffInterval {
    start: u64,
    end: u64,
    runq: Option<u64>,
    /// The run-queue wait began with a preemption, not a wakeup.
    preempted: bool,
    state: u32,
    /// Cause of the blocked part.
    cause: Cause,
    /// futex(2) address slept on, 0 if none.
    futex: u64,
    /// Its length is known (it began inside the trace): only then does it
    /// go into the histograms.
    start_known: bool,
    /// Top frames of a blocked part classified `other`.
    other_frames: Option<String>,
    /// For the flame graphs: the thread's process and the stack ids taken
    /// at its switch-out.
    tgid: u32,
    kstack: i32,
    ustack: i32,
}

/// Host-wide intervals of one cause: all of them counted and summed, those
/// of known length in the histogram.
#[derive(Default)]
struct CauseTotal {
    count: u64,
    hist: Recorder,
}

impl CauseTotal {
    fn add(&mut self, ns: u64, length_known: bool) {
        self.count += 1;
        if length_known {
            self.hist.record(ns);
        } else {
            self.hist.total = self.hist.total.saturating_add(ns);
        }
    }
}

pub struct Accounts {
    /// CLOCK_MONOTONIC ns just before the first probe attached.
    pub start_ns: u64,
    threads: HashMap<u32, ThreadAccount>,
    pub interval: IntervalRow,
    pub timeline: Timeline,
    pub timeline_rows: Vec<IntervalRow>,
    pub records: u64,
    /// Intervals by cause over all traced threads.
    cause_totals: HashMap<Cause, CauseTotal>,
    /// Every off-CPU interval, in order, within a budget: what blackouts
    /// and the evidence windows are computed from.
    pub spans: SpanLog,
    /// Blocked time by thread, cause and stacks, for the flame graphs
    /// (`None`: not asked for).
    pub flame: Option<FlameAgg>,
}

impl Accounts {
    pub fn new(start_ns: u64) -> Self {
        Self::with_span_budget(start_ns, DEFAULT_SPAN_BUDGET)
    }

    /// Keep at most `budget` off-CPU intervals for blackouts and traces.
    pub fn with_span_budget(start_ns: u64, budget: usize) -> Self {
        Self {
            spans: SpanLog::new(budget),
            start_ns,
            threads: HashMap::new(),
            interval: IntervalRow::default(),
            timeline: Timeline::new(start_ns),
            timeline_rows: Vec::new(),
            records: 0,
            cause_totals: HashMap::new(),
            flame: None,
        }
    }

    pub fn thread(&mut self, tid: u32) -> &mut ThreadAccount {
        let key = if self.threads.len() >= MAX_THREADS && !self.threads.contains_key(&tid) {
            OVERFLOW_TID
        } else {
            tid
        };
        self.threads.entry(key).or_insert_with(|| ThreadAccount {
            tid: key,
            hist_off: ThreadRecorder::per_thread(),
            hist_runq: ThreadRecorder::per_thread(),
            hist_on: ThreadRecorder::per_thread(),
            ..Default::default()
        })
    }

    pub fn threads(&self) -> impl Iterator<Item = &ThreadAccount> {
        self.threads.values()
    }

    /// The snapshot saw `tid` waiting for `cause` (from its kernel stack or
    /// wchan) when the trace began. Its open interval is classified so when
    /// it is booked without a stack of its own.
    pub fn seed_cause(&mut self, tid: u32, cause: Cause) {
        self.thread(tid).seeded_cause = Some(cause);
    }

    /// The cause of the blocked part of an interval that began at `began`
    /// (`None`: before the trace, length unknown): the seeded snapshot cause
    /// when the interval began before the trace and has no stack, else the
    /// classifier's. Any seeded cause is used up by the thread's first
    /// interval.
    fn cause_with_seed(
        &mut self,
        tid: u32,
        began: Option<u64>,
        stack_id: i32,
        classified: Cause,
    ) -> Cause {
        let start = self.start_ns;
        let seeded = self.thread(tid).seeded_cause.take();
        match seeded {
            Some(c) if stack_id < 0 && began.is_none_or(|b| b <= start) => c,
            _ => classified,
        }
    }

    /// Re-read the names of live threads: a thread renames itself, and a
    /// launched command's first name is the holding trampoline's.
    pub fn refresh_comms(&mut self, mut lookup: impl FnMut(u32) -> Option<String>) {
        for a in self
            .threads
            .values_mut()
            .filter(|a| !a.exited && a.tid != OVERFLOW_TID)
        {
            if let Some(c) = lookup(a.tid) {
                a.comm = Some(c);
            }
        }
    }

    /// Name threads that have no name yet with `lookup` (a /proc read).
    pub fn fill_comms(&mut self, mut lookup: impl FnMut(u32) -> Option<String>) {
        for a in self.threads.values_mut().filter(|a| a.comm.is_none()) {
            a.comm = if a.tid == OVERFLOW_TID {
                Some(format!("(threads past the first {MAX_THREADS})"))
            } else {
                lookup(a.tid)
            };
        }
    }

    pub fn apply_switch(&mut self, ev: &SwitchEvent, classifier: &mut dyn CauseOf) {
        self.apply_switch_user(ev, (-1, 0), classifier);
    }

    /// A switch whose `next` interval carries a user stack: (its id, the
    /// thread's tgid), from a `SwitchEventUser`; (-1, 0) for none.
    pub fn apply_switch_user(
        &mut self,
        ev: &SwitchEvent,
        (ustack, tgid): (i32, u32),
        classifier: &mut dyn CauseOf,
    ) {
        self.records += 1;
        let start = self.start_ns;
        if ev.flags & SW_PREV_TRACED != 0 {
            let slice = (ev.flags & SW_PREV_SLICE_KNOWN != 0).then_some(ev.prev_slice_ns);
            let exec = (ev.flags & SW_PREV_EXEC_KNOWN != 0).then_some(ev.prev_exec_ns);
            let a = self.thread(ev.prev_tid);
            // An unknown slice start on a thread's first record means it was
            // on-CPU since before the trace began: it ran for the whole
            // window so far. After that it means a missed switch-in: count
            // the anomaly rather than guess.
            let wall = match slice {
                Some(s) => Some(s),
                None if a.switches == 0 && a.off_cpu_ns == 0 => {
                    Some(ev.ts_ns.saturating_sub(start))
                }
                None => {
                    a.slice_anomalies += 1;
                    tracing::debug!(
                        tid = ev.prev_tid,
                        ts = ev.ts_ns,
                        switches = a.switches,
                        off_cpu = a.off_cpu_ns,
                        on_cpu = a.on_cpu_ns,
                        exited = a.exited,
                        "switch-out without a seen switch-in"
                    );
                    None
                }
            };
            // The kernel's run time when it is known: it also covers a slice
            // whose switch-in never reached us.
            let on = exec.or(wall).unwrap_or(0);
            if let (Some(w), Some(e)) = (wall, exec) {
                a.carry_ns += w as i64 - e as i64;
            }
            a.switches += 1;
            if ev.flags & SW_PREV_INVOLUNTARY != 0 {
                a.involuntary += 1;
            } else {
                a.voluntary += 1;
            }
            a.on_cpu_ns += on;
            if slice.is_some() {
                a.hist_on.record(on);
            }
            let key = a.tid;
            if key != OVERFLOW_TID {
                // Presence on the tracepoint clock, like the intervals.
                self.spans
                    .seen(key, ev.ts_ns.saturating_sub(wall.unwrap_or(on)));
                self.spans.ended(key, ev.ts_ns);
            }
            self.interval.on_cpu_ns += on;
            self.interval.switches += 1;
        }
        if ev.flags & SW_NEXT_TRACED == 0 {
            return;
        }
        if ev.flags & SW_NEXT_INFERRED != 0 {
            self.thread(ev.next_tid).switch_ins_inferred += 1;
        }
        let off_known = ev.flags & SW_NEXT_OFF_KNOWN != 0;
        // Off since before the trace: count the part we saw, keep it out of
        // the histograms (its length is unknown).
        let off = if off_known {
            ev.next_off_ns
        } else {
            ev.ts_ns.saturating_sub(start)
        };
        let runq = (ev.flags & SW_NEXT_RUNQ_KNOWN != 0).then_some(ev.next_runq_ns);
        // The classifier is asked only when there is a blocked part; the
        // same rule as the booking (which sees the carry too).
        let carry = self.thread(ev.next_tid).carry_ns;
        let booked = (off as i64 + carry).max(0) as u64;
        let blocked = booked.saturating_sub(runq.unwrap_or(0));
        let cause = if blocked > 0 {
            let classified = classifier.blocked_cause(ev);
            let began = off_known.then(|| ev.ts_ns.saturating_sub(off));
            self.cause_with_seed(ev.next_tid, began, ev.next_stack_id, classified)
        } else {
            Cause::Other
        };
        let other_frames = match cause {
            Cause::Other if blocked > 0 && ev.next_stack_id >= 0 => {
                classifier.top_frames(ev.next_stack_id)
            }
            _ => None,
        };
        self.book_off_interval(
            ev.next_tid,
            OffInterval {
                start: ev.ts_ns - off,
                end: ev.ts_ns,
                runq,
                preempted: ev.next_off_state == OFF_RUNNING,
                state: if off_known {
                    ev.next_off_state
                } else {
                    OFF_OTHER
                },
                cause,
                futex: ev.next_futex,
                start_known: off_known,
                other_frames,
                tgid,
                kstack: ev.next_stack_id,
                ustack,
            },
        );
    }

    /// Book one off-CPU interval of `tid`, closed at a switch-in or still
    /// open at the end of the trace: the one place an interval is split
    /// into its run-queue wait (at its end) and its blocked part.
    ///
    /// The thread's carry (tracepoint slices minus the kernel's run time for
    /// them) lengthens or shortens it first, never below zero. The kernel's
    /// run-queue wait is booked in full: where it is longer than that (the
    /// scheduler's clock put the switch-out that began it earlier than the
    /// tracepoint did, and the carry could not tell which edge of a slice
    /// moved), the interval is lengthened to hold it and the excess counted
    /// (`runq_beyond_interval`). What was not booked stays in the carry, for
    /// the thread's next interval.
    fn book_off_interval(&mut self, tid: u32, mut iv: OffInterval) {
        // A thread seeded with the moment it really went off-CPU (before the
        // attach): only the part inside the window counts toward the totals,
        // and, like any interval whose whole length the books do not hold,
        // it stays out of the histograms (the snapshot and `ongoing` carry
        // its true age).
        if iv.start < self.start_ns {
            iv.start = self.start_ns;
            iv.start_known = false;
        }
        let a = self.thread(tid);
        let total = iv.end.saturating_sub(iv.start) as i64 + a.carry_ns;
        let mut off = total.max(0) as u64;
        if let Some(r) = iv.runq
            && r > off
        {
            a.runq_beyond_interval += 1;
            a.runq_beyond_interval_ns += r - off;
            off = r;
        }
        a.carry_ns = total - off as i64;
        let runq = iv.runq;
        let runq_ns = runq.unwrap_or(0);
        let blocked = off - runq_ns;
        let key = a.tid;
        a.off_cpu_ns += off;
        a.by_state.add(iv.state, off);
        if iv.start_known {
            a.hist_off.record(off);
        }
        if let Some(r) = runq {
            // Its own start (the wakeup or the preemption) is known.
            a.hist_runq.record(r);
            if iv.preempted {
                a.runq_preempted_ns += r;
            } else {
                a.runq_wakeup_ns += r;
            }
            a.add_cause(Cause::Runqueue, r, true);
        }
        if blocked > 0 {
            if iv.cause == Cause::Futex && iv.futex != 0 {
                a.add_futex_wait(iv.futex, blocked);
            }
            a.add_cause(iv.cause, blocked, iv.start_known);
            if let Some(frames) = iv.other_frames {
                *a.other_frames.entry(frames).or_default() += 1;
            }
        }
        if let Some(r) = runq {
            self.cause_totals
                .entry(Cause::Runqueue)
                .or_default()
                .add(r, true);
        }
        self.interval.off_cpu_ns += off;
        self.interval.runqueue_ns += runq_ns;
        if blocked > 0 {
            self.cause_totals
                .entry(iv.cause)
                .or_default()
                .add(blocked, iv.start_known);
            if iv.cause.is_memory() {
                self.interval.memory_stall_ns += blocked;
            }
            if let Some(f) = self.flame.as_mut() {
                f.add(key, iv.tgid, iv.cause, iv.kstack, iv.ustack, blocked);
            }
            self.timeline
                .add(iv.cause, iv.end.saturating_sub(off), iv.end - runq_ns);
        }
        if runq_ns > 0 {
            self.timeline.add(Cause::Runqueue, iv.end - runq_ns, iv.end);
        }
        if key != OVERFLOW_TID && off > 0 {
            self.spans.push(
                key,
                OffSpan {
                    // As booked: the carry moves its start.
                    start_ns: iv.end.saturating_sub(off),
                    end_ns: iv.end,
                    runq_ns,
                    cause: if blocked > 0 {
                        iv.cause
                    } else {
                        Cause::Runqueue
                    },
                    disk: iv.state == OFF_DISK,
                },
            );
        }
    }

    pub fn apply_exit(&mut self, ev: &ExitEvent) {
        self.records += 1;
        let a = self.thread(ev.tid);
        a.tgid = ev.tgid;
        a.exited = true;
        a.min_faults = ev.min_faults;
        a.maj_faults = ev.maj_faults;
        a.fault_entries = ev.fault_entries;
    }

    pub fn apply_reclaim(&mut self, ev: &ReclaimEvent) {
        self.records += 1;
        let a = self.thread(ev.tid);
        a.reclaim_ns += ev.duration_ns;
        a.reclaim_on_cpu_ns += ev.on_cpu_ns;
        a.reclaim_count += 1;
        // Reclaim is mostly CPU work: without it the timeline would miss
        // most of a reclaiming thread's stall. (A D-sleep inside reclaim is
        // also an off-CPU memcg_reclaim interval; that overlap is small.)
        let kind = if ev.reclaim_kind == RECLAIM_DIRECT {
            Cause::DirectReclaim
        } else {
            Cause::MemcgReclaim
        };
        self.timeline
            .add(kind, ev.ts_ns.saturating_sub(ev.duration_ns), ev.ts_ns);
    }

    /// Per-cause interval statistics over every traced thread.
    pub fn cause_totals(&self) -> BTreeMap<String, CauseStat> {
        self.cause_totals
            .iter()
            .map(|(c, t)| {
                let stat = CauseStat {
                    ns: t.hist.total,
                    count: t.count,
                    histogram: t.hist.summary(),
                    top_frames: Vec::new(),
                };
                (c.name().to_string(), stat)
            })
            .collect()
    }

    /// Take the interval totals and start a new interval.
    pub fn take_interval(&mut self, end_ns: u64, lost: u64) -> IntervalRow {
        let mut row = std::mem::take(&mut self.interval);
        row.end_ns = end_ns;
        row.threads = self.threads.len();
        row.lost = lost;
        row
    }
}

mod finish;
mod thread;

pub use thread::ThreadAccount;

#[cfg(test)]
mod tests;
