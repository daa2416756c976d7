//! One watched target between ticks: its runtime threads, their long
//! off-CPU intervals over the detail window, its cgroup's counters, and what
//! one tick reads from them for the triggers, the log line and the metrics.

use std::{
    collections::{BTreeMap, BTreeSet, VecDeque},
    path::PathBuf,
};

use serde::Serialize;
use tracer_common::{
    state::{OFF_DISK, OFF_RUNNING},
    task::{TS_ON_CPU, TaskState},
};

use super::triggers::Readings;
use crate::{
    analyze::{
        blackouts,
        roles::role_in_process,
        verdict::{BLACKOUT_SIGNIFICANT, MEMORY_BUSY_SUBSTANTIAL, MEMORY_WALL_FLOOR},
    },
    cgroup::read::Reader,
    model::{
        blackouts::{Blackout, Blackouts},
        cause::Cause,
        role::Role,
        spans::{Chunked, OffSpan, ThreadSpans},
        watch::{Health, TargetId, TriggerKind},
    },
    sys,
};

/// How often a known thread's name is read again (tokio names its
/// workers right after spawning them).
const RENAME_EVERY: u64 = 10;

/// A runtime thread (tokio worker or `block_on` candidate) of the target.
#[derive(Clone, Debug)]
pub struct RuntimeThread {
    pub tgid: u32,
    pub role: Role,
    /// When `watch` first saw it (its presence in the blackout sweep).
    pub first_ns: u64,
    /// The kernel's run time at the last tick, and when it last grew.
    pub exec_ns: u64,
    pub ran_at_ns: u64,
}

/// The books of one tick for one target (the rolling coarse window).
#[derive(Clone, Debug, Default, Serialize)]
pub struct CoarseRow {
    pub at_unix_ms: u64,
    pub on_cpu_ns: u64,
    pub off_ns: BTreeMap<Cause, u64>,
    pub blackout_ns: u64,
    /// The runtime threads only: time in memory causes, busy time (on a CPU
    /// or kept off it for a non-idle reason) and wall time (threads × tick).
    pub runtime_memory_ns: u64,
    pub runtime_busy_ns: u64,
    pub runtime_wall_ns: u64,
    pub health: Health,
}

pub struct Monitor {
    pub id: TargetId,
    pub tgids: BTreeSet<u32>,
    pub runtime: BTreeMap<u32, RuntimeThread>,
    /// Every thread's role (for the metrics' labels), by tid.
    pub roles: BTreeMap<u32, Role>,
    /// Long off-CPU intervals of runtime threads inside the detail window.
    pub spans: BTreeMap<u32, VecDeque<OffSpan>>,
    pub rows: VecDeque<CoarseRow>,
    pub max_rows: usize,
    reader: Option<Reader>,
    last_events: Option<(u64, u64)>,
    /// Blackouts that ended before this were counted in the metrics.
    pub counted_until_ns: u64,
    pub health: Health,
    /// Triggers that held at the last tick (a new episode starts when one
    /// is not in here).
    pub active: BTreeSet<TriggerKind>,
    pub last_blackouts: Blackouts,
    /// The longest stretch of blackouts joined across gaps below watch's
    /// resolution, in the last read: what the blackout trigger measures.
    pub longest_stall: Option<(u64, u64)>,
    pub cgroup_dir: Option<PathBuf>,
    ticks: u64,
}

impl Monitor {
    pub fn new(id: TargetId, max_rows: usize, now_ns: u64) -> Self {
        Self {
            id,
            tgids: BTreeSet::new(),
            runtime: BTreeMap::new(),
            roles: BTreeMap::new(),
            spans: BTreeMap::new(),
            rows: VecDeque::new(),
            max_rows,
            reader: None,
            last_events: None,
            counted_until_ns: now_ns,
            health: Health::Unknown,
            active: BTreeSet::new(),
            last_blackouts: Blackouts::default(),
            longest_stall: None,
            cgroup_dir: None,
            ticks: 0,
        }
    }

    /// Take the target's processes now: find new threads, drop gone ones,
    /// and (once) open its cgroup's files.
    pub fn refresh(&mut self, tgids: BTreeSet<u32>, threads: Option<&regex::Regex>, now_ns: u64) {
        self.ticks += 1;
        if self.reader.is_none()
            && let Some(&pid) = tgids.iter().next()
            && let Ok(paths) = crate::cgroup::mounts::paths_of_pid(pid)
        {
            self.cgroup_dir = paths.v2.clone();
            self.reader = Some(Reader::new(paths, std::path::Path::new("/proc")));
        }
        let rename = self.ticks % RENAME_EVERY == 1;
        let mut live = BTreeSet::new();
        for &tgid in &tgids {
            let process = sys::comm_of(tgid, tgid);
            for tid in sys::tids_of(tgid) {
                live.insert(tid);
                if self.roles.contains_key(&tid) && !rename {
                    continue;
                }
                let role = role_in_process(&sys::comm_of(tgid, tid), &process, threads);
                self.roles.insert(tid, role);
                if role.is_runtime() {
                    self.runtime.entry(tid).or_insert(RuntimeThread {
                        tgid,
                        role,
                        first_ns: now_ns,
                        exec_ns: 0,
                        ran_at_ns: now_ns,
                    });
                } else {
                    self.runtime.remove(&tid);
                }
            }
        }
        self.roles.retain(|t, _| live.contains(t));
        self.runtime.retain(|t, _| live.contains(t));
        self.spans.retain(|t, _| live.contains(t));
        self.tgids = tgids;
    }

    /// A long interval the kernel sent for a runtime thread.
    pub fn add_span(&mut self, tid: u32, span: OffSpan, max_per_thread: usize) {
        if !self.runtime.contains_key(&tid) {
            return;
        }
        let q = self.spans.entry(tid).or_default();
        if q.len() >= max_per_thread {
            q.pop_front();
        }
        q.push_back(span);
    }

    /// Read the tick: blackouts over `[now - detail, now)` (open intervals
    /// from the kernel's task map included), stalls, the cgroup's counters.
    pub fn read(
        &mut self,
        now_ns: u64,
        detail_ns: u64,
        resolution_ns: u64,
        tasks: &dyn Fn(u32) -> Option<TaskState>,
        cause_of_open: &mut dyn FnMut(&TaskState) -> Cause,
    ) -> Readings {
        let start = now_ns.saturating_sub(detail_ns);
        for q in self.spans.values_mut() {
            while q.front().is_some_and(|s| s.end_ns < start) {
                q.pop_front();
            }
        }
        let mut threads = Vec::new();
        let mut longest_stall: Option<(u32, char, u64)> = None;
        for (&tid, t) in self.runtime.iter_mut() {
            let mut off: Chunked<OffSpan> = self
                .spans
                .get(&tid)
                .map(|q| q.iter().copied().collect())
                .unwrap_or_default();
            if let Some(st) = tasks(tid)
                && st.flags & TS_ON_CPU == 0
                && st.off_since != 0
                && st.off_since < now_ns
            {
                let preempted = st.off_state == OFF_RUNNING;
                off.push(OffSpan {
                    start_ns: st.off_since,
                    end_ns: now_ns,
                    runq_ns: if preempted {
                        now_ns - st.off_since
                    } else if st.wakeup_at != 0 {
                        now_ns.saturating_sub(st.wakeup_at)
                    } else {
                        0
                    },
                    cause: if preempted {
                        Cause::Runqueue
                    } else {
                        cause_of_open(&st)
                    },
                    disk: st.off_state == OFF_DISK,
                });
            }
            threads.push(ThreadSpans {
                first_ns: t.first_ns.max(start),
                last_ns: now_ns,
                off,
            });
            if let Some(books) = sys::sched_books(t.tgid, tid) {
                if books.exec_ns != t.exec_ns {
                    t.exec_ns = books.exec_ns;
                    t.ran_at_ns = now_ns;
                } else if let Some(state @ ('R' | 'D')) = sys::task_state(t.tgid, tid) {
                    let idle = now_ns - t.ran_at_ns;
                    if longest_stall.is_none_or(|(_, _, n)| idle > n) {
                        longest_stall = Some((tid, state, idle));
                    }
                }
            }
        }
        let refs: Vec<&ThreadSpans> = threads.iter().collect();
        let b = blackouts::find(&refs, start, now_ns, now_ns, None);
        self.health = health(&b, now_ns - start.max(self.first_seen_ns()));
        // Gaps shorter than what the kernel sends (`--emit-min-ms`) are
        // below what watch can resolve: a stall is the stretch across them.
        self.longest_stall = blackouts::longest_stretch(&refs, start, now_ns, resolution_ns);
        let mut r = Readings {
            longest_blackout_ns: self.longest_stall.map_or(0, |(a, e)| e - a),
            longest_stall,
            ..Default::default()
        };
        if let Some(reader) = self.reader.as_mut() {
            let s = reader.read(now_ns);
            r.psi_full_avg10 = s.memory_psi.full_avg10;
            if let (Some(h), Some(m)) = (s.events_high, s.events_max) {
                let total = h + m;
                if let Some((was, at)) = self.last_events
                    && now_ns > at
                {
                    r.memory_events_per_s =
                        Some(total.saturating_sub(was) as f64 / ((now_ns - at) as f64 / 1e9));
                }
                self.last_events = Some((total, now_ns));
            }
        }
        self.last_blackouts = b;
        r
    }

    /// Blackouts of the last read that ended since the last call (ongoing
    /// ones are counted once they end), each at least `LONG_BLACKOUT_NS`.
    pub fn newly_ended(&mut self, now_ns: u64) -> Vec<Blackout> {
        let mut out: Vec<Blackout> = self
            .last_blackouts
            .long
            .iter()
            .filter(|b| b.end_ns < now_ns && b.end_ns > self.counted_until_ns)
            .cloned()
            .collect();
        out.sort_by_key(|b| b.end_ns);
        if let Some(last) = out.last() {
            self.counted_until_ns = last.end_ns;
        }
        out
    }

    pub fn push_row(&mut self, row: CoarseRow) {
        if self.rows.len() >= self.max_rows {
            self.rows.pop_front();
        }
        self.rows.push_back(row);
    }

    /// Health once the books of the last `rows` ticks are in: a runtime
    /// with no significant blackouts is still starved by memory when the
    /// verdict's other rule holds (memory at least `MEMORY_BUSY_SUBSTANTIAL`
    /// of its busy time and `MEMORY_WALL_FLOOR` of its wall time), as with
    /// many short fault stalls that never make a blackout.
    pub fn settle_health(&mut self, rows: usize) {
        if self.health != Health::Ok {
            return;
        }
        let recent = self.rows.iter().rev().take(rows);
        let (mem, busy, wall) = recent.fold((0u64, 0u64, 0u64), |(m, b, w), r| {
            (
                m + r.runtime_memory_ns,
                b + r.runtime_busy_ns,
                w + r.runtime_wall_ns,
            )
        });
        if memory_substantial(mem, busy, wall) {
            self.health = Health::StarvedMemory;
            if let Some(last) = self.rows.back_mut() {
                last.health = self.health;
            }
        }
    }

    fn first_seen_ns(&self) -> u64 {
        self.runtime.values().map(|t| t.first_ns).min().unwrap_or(0)
    }
}

fn memory_substantial(memory_ns: u64, busy_ns: u64, wall_ns: u64) -> bool {
    busy_ns > 0
        && wall_ns > 0
        && memory_ns as f64 >= MEMORY_BUSY_SUBSTANTIAL * busy_ns as f64
        && memory_ns as f64 >= MEMORY_WALL_FLOOR * wall_ns as f64
}

/// Health from the blackouts over `window_ns`: significant (the verdict's
/// `BLACKOUT_SIGNIFICANT` share) or not, and by which group of causes.
fn health(b: &Blackouts, window_ns: u64) -> Health {
    if b.threads == 0 || window_ns == 0 {
        return Health::Unknown;
    }
    if (b.total_ns as f64) < BLACKOUT_SIGNIFICANT * window_ns as f64 {
        return Health::Ok;
    }
    let mut groups = [0u64; 4];
    for (cause, ns) in &b.by_cause {
        let g = match cause {
            c if c.is_memory() => 0,
            Cause::Runqueue => 1,
            Cause::Io | Cause::WritebackThrottle => 2,
            _ => 3,
        };
        groups[g] += ns;
    }
    let top = (0..4).max_by_key(|&g| groups[g]).unwrap_or(3);
    [
        Health::StarvedMemory,
        Health::StarvedCpu,
        Health::StarvedIo,
        Health::StarvedOther,
    ][top]
}

/// The off-CPU interval a long switch record closes, as the blackout sweep
/// reads it.
pub fn span_of(
    ev: &tracer_common::event::SwitchEvent,
    cause: &mut dyn FnMut(&tracer_common::event::SwitchEvent) -> Cause,
) -> Option<(u32, OffSpan)> {
    if ev.flags & tracer_common::event::SW_NEXT_TRACED == 0 {
        return None;
    }
    let (off, runq) = ev.next_off_and_runq()?;
    let preempted = ev.next_off_state == OFF_RUNNING;
    Some((
        ev.next_tid,
        OffSpan {
            start_ns: ev.ts_ns.saturating_sub(off),
            end_ns: ev.ts_ns,
            runq_ns: runq,
            cause: if preempted {
                Cause::Runqueue
            } else {
                cause(ev)
            },
            disk: ev.next_off_state == OFF_DISK,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::hist::HistSummary;

    fn blackouts(total_ms: u64, by: &[(Cause, u64)]) -> Blackouts {
        Blackouts {
            threads: 2,
            total_ns: total_ms * 1_000_000,
            by_cause: by.iter().map(|&(c, ms)| (c, ms * 1_000_000)).collect(),
            lengths: HistSummary::default(),
            ..Default::default()
        }
    }

    #[test]
    fn health_needs_a_significant_share() {
        let w = 10_000_000_000;
        assert_eq!(health(&blackouts(0, &[]), w), Health::Ok);
        assert_eq!(
            health(&blackouts(400, &[(Cause::MemcgHighThrottle, 400)]), w),
            Health::Ok
        );
        assert_eq!(
            health(&blackouts(600, &[(Cause::MemcgHighThrottle, 600)]), w),
            Health::StarvedMemory
        );
        assert_eq!(
            health(
                &blackouts(900, &[(Cause::Runqueue, 600), (Cause::PageFaultIo, 300)]),
                w
            ),
            Health::StarvedCpu
        );
        let none = Blackouts::default();
        assert_eq!(health(&none, w), Health::Unknown);
    }

    #[test]
    fn memory_share_follows_the_verdicts_rule() {
        // 30% of busy and 3% of wall: substantial.
        assert!(memory_substantial(30, 100, 1000));
        // Most of busy but under the wall floor: not.
        assert!(!memory_substantial(19, 20, 1000));
        // Over the floor but a small share of busy: not.
        assert!(!memory_substantial(30, 200, 1000));
        assert!(!memory_substantial(0, 0, 0));
    }

    #[test]
    fn a_long_record_becomes_its_span() {
        use tracer_common::event::{
            SW_NEXT_OFF_KNOWN, SW_NEXT_RUNQ_KNOWN, SW_NEXT_TRACED, SwitchEvent,
        };
        let ev = SwitchEvent {
            ts_ns: 5_000,
            next_tid: 9,
            next_off_ns: 3_000,
            next_runq_ns: 500,
            next_off_state: OFF_DISK,
            flags: SW_NEXT_TRACED | SW_NEXT_OFF_KNOWN | SW_NEXT_RUNQ_KNOWN,
            ..Default::default()
        };
        let (tid, s) = span_of(&ev, &mut |_| Cause::PageFaultIo).unwrap();
        assert_eq!(tid, 9);
        assert_eq!(
            (s.start_ns, s.end_ns, s.runq_ns, s.cause, s.disk),
            (2_000, 5_000, 500, Cause::PageFaultIo, true)
        );
        let not_traced = SwitchEvent {
            flags: SW_NEXT_OFF_KNOWN,
            ..ev
        };
        assert!(span_of(&not_traced, &mut |_| Cause::Io).is_none());
    }
}
