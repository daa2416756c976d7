//! Per-thread accounting: turns switch, exit and reclaim records into
//! on-CPU time, run-queue waits, off-CPU time by state and by cause, and
//! HDR histograms. Pure logic: `collect` feeds it, tests feed it synthetic
//! records.

use std::collections::{BTreeMap, HashMap};

use tracer_common::{
    event::{
        ExitEvent, RECLAIM_DIRECT, ReclaimEvent, SW_NEXT_OFF_KNOWN, SW_NEXT_RUNQ_KNOWN,
        SW_NEXT_TRACED, SW_PREV_INVOLUNTARY, SW_PREV_SLICE_KNOWN, SW_PREV_TRACED, SwitchEvent,
    },
    state::{OFF_OTHER, OFF_RUNNING, OFF_STATE_NAMES},
    task::{TS_ON_CPU, TaskState},
};

use super::{
    hist::{Recorder, ThreadRecorder},
    timeline::Timeline,
};
use crate::model::{
    CauseStat, FutexWait, Histograms, IntervalRow, Ongoing, StateSplit, ThreadReport, cause::Cause,
    role::Role,
};

/// Past this many threads, new threads share one overflow account so user
/// space memory stays bounded (each account holds several histograms).
pub const MAX_THREADS: usize = 4096;
/// Stands in for every thread past `MAX_THREADS`.
pub const OVERFLOW_TID: u32 = u32::MAX;
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
    pub exited: bool,
    pub ongoing: Option<Ongoing>,
    pub ongoing_off_ns: u64,
    /// Switch-outs whose switch-in was never seen although the thread had
    /// been seen before (should be 0; shown in diagnostics if not).
    pub slice_anomalies: u64,
    causes: [u64; Cause::COUNT],
    cause_counts: [u64; Cause::COUNT],
    cause_hist: HashMap<Cause, ThreadRecorder>,
    /// futex address → ns waited on it (bounded: see `MAX_FUTEX_ADDRS`).
    futex_waits: HashMap<u64, u64>,
    other_frames: HashMap<String, u64>,
    hist_off: ThreadRecorder,
    hist_runq: ThreadRecorder,
    hist_on: ThreadRecorder,
}

impl ThreadAccount {
    fn add_cause(&mut self, cause: Cause, ns: u64) {
        let i = cause.index();
        self.causes[i] += ns;
        self.cause_counts[i] += 1;
        self.cause_hist
            .entry(cause)
            .or_insert_with(ThreadRecorder::per_thread)
            .record(ns);
    }

    pub fn cause_ns(&self, cause: Cause) -> u64 {
        self.causes[cause.index()]
    }

    pub fn runqueue_ns(&self) -> u64 {
        self.runq_wakeup_ns + self.runq_preempted_ns
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
    /// Interval lengths by cause over all traced threads.
    cause_totals: HashMap<Cause, Recorder>,
}

impl Accounts {
    pub fn new(start_ns: u64) -> Self {
        Self {
            start_ns,
            threads: HashMap::new(),
            interval: IntervalRow::default(),
            timeline: Timeline::new(start_ns),
            timeline_rows: Vec::new(),
            records: 0,
            cause_totals: HashMap::new(),
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
        self.records += 1;
        let start = self.start_ns;
        if ev.flags & SW_PREV_TRACED != 0 {
            let slice = if ev.flags & SW_PREV_SLICE_KNOWN != 0 {
                Some(ev.prev_slice_ns)
            } else {
                None
            };
            let a = self.thread(ev.prev_tid);
            // An unknown slice start on a thread's first record means it was
            // on-CPU since before the trace began: it ran for the whole
            // window so far. After that it means a missed switch-in: count
            // the anomaly rather than guess.
            let on = match slice {
                Some(s) => s,
                None if a.switches == 0 && a.off_cpu_ns == 0 => ev.ts_ns.saturating_sub(start),
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
                    0
                }
            };
            a.switches += 1;
            if ev.flags & SW_PREV_INVOLUNTARY != 0 {
                a.involuntary += 1;
            } else {
                a.voluntary += 1;
            }
            a.on_cpu_ns += on;
            if let Some(s) = slice {
                a.hist_on.record(s);
            }
            self.interval.on_cpu_ns += on;
            self.interval.switches += 1;
        }
        if ev.flags & SW_NEXT_TRACED == 0 {
            return;
        }
        let runq = if ev.flags & SW_NEXT_RUNQ_KNOWN != 0 {
            ev.next_runq_ns
        } else {
            0
        };
        let off_known = ev.flags & SW_NEXT_OFF_KNOWN != 0;
        // Off since before the trace: count the part we saw, keep it out of
        // the histograms (its length is unknown).
        let off = if off_known {
            ev.next_off_ns
        } else {
            ev.ts_ns.saturating_sub(start)
        };
        let runq = runq.min(off);
        let blocked = off - runq;
        let state = if off_known {
            ev.next_off_state
        } else {
            OFF_OTHER
        };
        let blocked_cause = if blocked > 0 {
            Some(classifier.blocked_cause(ev))
        } else {
            None
        };
        let other_frames = match blocked_cause {
            Some(Cause::Other) if ev.next_stack_id >= 0 => classifier.top_frames(ev.next_stack_id),
            _ => None,
        };
        let a = self.thread(ev.next_tid);
        a.off_cpu_ns += off;
        a.by_state.add(state, off);
        if off_known {
            a.hist_off.record(off);
        }
        if ev.flags & SW_NEXT_RUNQ_KNOWN != 0 {
            a.hist_runq.record(runq);
            if ev.next_off_state == OFF_RUNNING {
                a.runq_preempted_ns += runq;
            } else {
                a.runq_wakeup_ns += runq;
            }
            a.add_cause(Cause::Runqueue, runq);
        }
        if blocked_cause == Some(Cause::Futex) && ev.next_futex != 0 {
            let n = a.futex_waits.len();
            if let Some(ns) = a.futex_waits.get_mut(&ev.next_futex) {
                *ns += blocked;
            } else if n < MAX_FUTEX_ADDRS {
                a.futex_waits.insert(ev.next_futex, blocked);
            }
        }
        if let Some(c) = blocked_cause {
            a.add_cause(c, blocked);
            if let Some(frames) = other_frames {
                *a.other_frames.entry(frames).or_default() += 1;
            }
        }
        if ev.flags & SW_NEXT_RUNQ_KNOWN != 0 {
            self.cause_totals
                .entry(Cause::Runqueue)
                .or_default()
                .record(runq);
        }
        if let Some(c) = blocked_cause {
            self.cause_totals.entry(c).or_default().record(blocked);
        }
        self.interval.off_cpu_ns += off;
        self.interval.runqueue_ns += runq;
        let t_end = ev.ts_ns;
        if let Some(c) = blocked_cause {
            if c.is_memory() {
                self.interval.memory_stall_ns += blocked;
            }
            self.timeline.add(c, t_end - off, t_end - runq);
        }
        if runq > 0 {
            self.timeline.add(Cause::Runqueue, t_end - runq, t_end);
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

    /// Close the books at `now` with the kernel's per-thread state: fault
    /// counters of live threads, the running slice of threads on a CPU, and
    /// the open interval of threads off-CPU (reported as ongoing, never dropped).
    pub fn finish(&mut self, now: u64, tasks: &[(u32, TaskState)], classifier: &mut dyn CauseOf) {
        let start = self.start_ns;
        for (tid, st) in tasks {
            let open_cause = if st.flags & TS_ON_CPU == 0 {
                Some(classifier.open_cause(st))
            } else {
                None
            };
            let a = self.thread(*tid);
            a.tgid = st.tgid;
            a.min_faults = a.min_faults.max(st.min_faults);
            a.maj_faults = a.maj_faults.max(st.maj_faults);
            a.fault_entries = a.fault_entries.max(st.fault_entries);
            if st.flags & TS_ON_CPU != 0 {
                let since = if st.on_cpu_since != 0 {
                    st.on_cpu_since
                } else {
                    start
                };
                a.on_cpu_ns += now.saturating_sub(since);
                continue;
            }
            let start_known = st.off_since != 0;
            let since = if start_known { st.off_since } else { start };
            // Only the part inside the window counts toward the totals.
            let off_in_window = now.saturating_sub(since.max(start));
            let runq = if st.wakeup_at != 0 {
                now.saturating_sub(st.wakeup_at.max(start))
            } else {
                0
            };
            let runq = runq.min(off_in_window);
            let state = if start_known || st.off_raw_state != 0 {
                st.off_state
            } else {
                OFF_OTHER
            };
            a.off_cpu_ns += off_in_window;
            a.by_state.add(state, off_in_window);
            if runq > 0 {
                if st.off_state == OFF_RUNNING {
                    a.runq_preempted_ns += runq;
                } else {
                    a.runq_wakeup_ns += runq;
                }
                a.causes[Cause::Runqueue.index()] += runq;
            }
            let c = if runq > 0 && st.off_state == OFF_RUNNING {
                Cause::Runqueue
            } else {
                open_cause.unwrap_or(Cause::Other)
            };
            a.causes[c.index()] += off_in_window - runq;
            if c == Cause::Futex && st.off_futex != 0 && a.futex_waits.len() < MAX_FUTEX_ADDRS {
                *a.futex_waits.entry(st.off_futex).or_default() += off_in_window - runq;
            }
            a.ongoing_off_ns = now.saturating_sub(since);
            a.ongoing = Some(Ongoing {
                state: OFF_STATE_NAMES[state as usize % OFF_STATE_NAMES.len()].to_string(),
                cause: c.name().to_string(),
                off_cpu_ns: a.ongoing_off_ns,
                start_known,
            });
            self.timeline
                .add(c, since.max(start), now.saturating_sub(runq));
            if runq > 0 {
                self.timeline.add(Cause::Runqueue, now - runq, now);
            }
        }
    }

    /// Per-cause interval statistics over every traced thread.
    pub fn cause_totals(&self) -> BTreeMap<String, CauseStat> {
        self.cause_totals
            .iter()
            .map(|(c, r)| {
                let histogram = r.summary();
                let stat = CauseStat {
                    ns: r.total,
                    count: histogram.count,
                    histogram,
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

impl ThreadAccount {
    pub fn report(&self) -> ThreadReport {
        let comm = self.comm.clone().unwrap_or_else(|| "?".to_string());
        let mut causes = BTreeMap::new();
        let mut cause_stats = BTreeMap::new();
        for c in Cause::ALL {
            let (i, name) = (c.index(), c.name());
            if self.causes[i] == 0 && self.cause_counts[i] == 0 {
                continue;
            }
            causes.insert(name.to_string(), self.causes[i]);
            let mut top: Vec<(&String, &u64)> = self.other_frames.iter().collect();
            top.sort_by(|a, b| b.1.cmp(a.1));
            cause_stats.insert(
                name.to_string(),
                CauseStat {
                    ns: self.causes[i],
                    count: self.cause_counts[i],
                    histogram: self
                        .cause_hist
                        .get(&c)
                        .map(ThreadRecorder::summary)
                        .unwrap_or_default(),
                    top_frames: if c == Cause::Other {
                        top.into_iter()
                            .take(5)
                            .map(|(f, n)| format!("{n}× {f}"))
                            .collect()
                    } else {
                        Vec::new()
                    },
                },
            );
        }
        ThreadReport {
            tid: self.tid,
            tgid: self.tgid,
            comm,
            role: Role::default(),
            ns_tid: None,
            on_cpu_ns: self.on_cpu_ns,
            runqueue_ns: self.runqueue_ns(),
            runqueue_wakeup_ns: self.runq_wakeup_ns,
            runqueue_preempted_ns: self.runq_preempted_ns,
            off_cpu_ns: self.off_cpu_ns,
            off_cpu_ns_by_state: self.by_state.clone(),
            switches: self.switches,
            voluntary_switches: self.voluntary,
            involuntary_switches: self.involuntary,
            minor_faults: self.min_faults,
            major_faults: self.maj_faults,
            fault_entries: self.fault_entries,
            reclaim_ns: self.reclaim_ns,
            reclaim_count: self.reclaim_count,
            ongoing_off_cpu_ns: self.ongoing_off_ns,
            ongoing: self.ongoing.clone(),
            exited: self.exited,
            futex_waits: {
                let mut f: Vec<FutexWait> = self
                    .futex_waits
                    .iter()
                    .map(|(&addr, &ns)| FutexWait { addr, ns })
                    .collect();
                f.sort_by_key(|w| std::cmp::Reverse(w.ns));
                f.truncate(4);
                f
            },
            causes,
            cause_stats,
            histograms: Histograms {
                off_cpu: self.hist_off.summary(),
                runqueue: self.hist_runq.summary(),
                on_cpu: self.hist_on.summary(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use tracer_common::{
        event::EVENT_SWITCH,
        state::{OFF_DISK, OFF_SLEEPING},
    };

    use super::*;
    use crate::sys::syscalls::cause_x86_64;

    /// Classifies by the syscall alone (futex = 202), like the real rule
    /// when no stack is taken.
    struct BySyscall;

    impl CauseOf for BySyscall {
        fn blocked_cause(&mut self, ev: &SwitchEvent) -> Cause {
            cause_x86_64(ev.next_syscall.into()).unwrap_or(Cause::Other)
        }
        fn open_cause(&mut self, st: &TaskState) -> Cause {
            cause_x86_64(st.off_syscall.into()).unwrap_or(Cause::Other)
        }
        fn top_frames(&mut self, _: i32) -> Option<String> {
            None
        }
    }

    const MS: u64 = 1_000_000;

    fn switch(
        ts: u64,
        prev: Option<(u32, u64, bool)>,
        next: Option<(u32, u64, u64, u32)>,
    ) -> SwitchEvent {
        let mut ev = SwitchEvent {
            kind: EVENT_SWITCH,
            ts_ns: ts,
            ..Default::default()
        };
        if let Some((tid, slice, involuntary)) = prev {
            ev.prev_tid = tid;
            ev.prev_slice_ns = slice;
            ev.flags |= SW_PREV_TRACED | SW_PREV_SLICE_KNOWN;
            if involuntary {
                ev.flags |= SW_PREV_INVOLUNTARY;
            }
        }
        if let Some((tid, off, runq, state)) = next {
            ev.next_tid = tid;
            ev.next_off_ns = off;
            ev.next_runq_ns = runq;
            ev.next_off_state = state;
            ev.next_syscall = 202;
            ev.flags |= SW_NEXT_TRACED | SW_NEXT_OFF_KNOWN | SW_NEXT_RUNQ_KNOWN;
        }
        ev
    }

    #[test]
    fn splits_intervals_into_runqueue_and_cause() {
        let mut a = Accounts::new(0);
        // Thread 1 slept 30 ms on a futex, of which 5 ms runnable.
        a.apply_switch(
            &switch(
                100 * MS,
                Some((2, 10 * MS, false)),
                Some((1, 30 * MS, 5 * MS, OFF_SLEEPING)),
            ),
            &mut BySyscall,
        );
        // Thread 2 was preempted for 4 ms.
        a.apply_switch(
            &switch(
                110 * MS,
                Some((1, 10 * MS, true)),
                Some((2, 4 * MS, 4 * MS, OFF_RUNNING)),
            ),
            &mut BySyscall,
        );
        let t1 = a.thread(1).report();
        assert_eq!(t1.off_cpu_ns, 30 * MS);
        assert_eq!(t1.runqueue_wakeup_ns, 5 * MS);
        assert_eq!(t1.causes["futex"], 25 * MS);
        assert_eq!(t1.causes["runqueue"], 5 * MS);
        assert_eq!(t1.off_cpu_ns_by_state.sleeping, 30 * MS);
        assert_eq!((t1.switches, t1.involuntary_switches), (1, 1));
        let t2 = a.thread(2).report();
        assert_eq!(t2.runqueue_preempted_ns, 4 * MS);
        assert_eq!(t2.causes.get("futex"), None);
        assert_eq!(t2.on_cpu_ns, 10 * MS);
        assert_eq!(t2.histograms.on_cpu.count, 1);
    }

    #[test]
    fn unknown_starts_count_from_the_trace_start_and_stay_out_of_histograms() {
        let mut a = Accounts::new(1_000 * MS);
        let mut ev = switch(
            1_200 * MS,
            Some((7, 0, false)),
            Some((8, 0, 0, OFF_SLEEPING)),
        );
        ev.flags &= !(SW_PREV_SLICE_KNOWN | SW_NEXT_OFF_KNOWN | SW_NEXT_RUNQ_KNOWN);
        a.apply_switch(&ev, &mut BySyscall);
        let t7 = a.thread(7).report();
        assert_eq!(t7.on_cpu_ns, 200 * MS);
        assert_eq!(t7.histograms.on_cpu.count, 0);
        let t8 = a.thread(8).report();
        assert_eq!(t8.off_cpu_ns, 200 * MS);
        assert_eq!(t8.histograms.off_cpu.count, 0);
    }

    #[test]
    fn open_intervals_are_reported_as_ongoing() {
        let mut a = Accounts::new(1_000 * MS);
        let blocked = TaskState {
            tgid: 5,
            off_since: 500 * MS,
            off_state: OFF_SLEEPING,
            off_syscall: 202,
            ..Default::default()
        };
        let never_seen_start = TaskState {
            tgid: 5,
            off_state: OFF_DISK,
            off_raw_state: 2,
            off_syscall: 0,
            ..Default::default()
        };
        let running = TaskState {
            tgid: 5,
            flags: TS_ON_CPU,
            on_cpu_since: 1_900 * MS,
            ..Default::default()
        };
        let tasks = [(1, blocked), (2, never_seen_start), (3, running)];
        a.finish(2_000 * MS, &tasks, &mut BySyscall);
        let t1 = a.thread(1).report();
        let g = t1.ongoing.unwrap();
        assert_eq!(
            (
                g.off_cpu_ns,
                g.start_known,
                g.cause.as_str(),
                g.state.as_str()
            ),
            (1_500 * MS, true, "futex", "sleeping")
        );
        // Only the part inside the window counts toward the totals.
        assert_eq!(t1.off_cpu_ns, 1_000 * MS);
        let g2 = a.thread(2).report().ongoing.unwrap();
        assert_eq!(
            (g2.off_cpu_ns, g2.start_known, g2.state.as_str()),
            (1_000 * MS, false, "disk")
        );
        let t3 = a.thread(3).report();
        assert!(t3.ongoing.is_none());
        assert_eq!(t3.on_cpu_ns, 100 * MS);
    }

    #[test]
    fn thread_count_is_bounded() {
        let mut a = Accounts::new(0);
        for tid in 0..(MAX_THREADS as u32 + 10) {
            a.thread(tid).switches += 1;
        }
        assert_eq!(a.threads().count(), MAX_THREADS + 1);
        assert_eq!(a.thread(OVERFLOW_TID).switches, 10);
    }
}
