//! Runtime blackouts: the stretches of time in which the runtime could run
//! none of its work. No runtime thread was on a CPU, and at least one had
//! work but was kept off-CPU for a non-idle reason (run queue, memory, I/O,
//! an uninterruptible sleep); threads parked idle had nothing to run. This is
//! what a heartbeat that never fires looks like from the scheduler.

use std::{
    cmp::Reverse,
    collections::{BTreeMap, BinaryHeap},
};

use crate::model::{
    blackouts::{Blackout, Blackouts, HeartbeatLoss},
    cause::Cause,
    hist::HistSummary,
    spans::ThreadSpans,
};

/// Width of the per-bucket series (the timeline's 100 ms buckets).
pub const SERIES_BUCKET_NS: u64 = 100_000_000;
/// At most this many series buckets (one hour), like the timeline.
pub const MAX_SERIES_BUCKETS: usize = 36_000;

/// Blackouts this long are listed one by one.
pub const LONG_BLACKOUT_NS: u64 = 100_000_000;
/// At most this many are listed.
pub const MAX_LISTED: usize = 50;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Edge {
    /// A runtime thread left (or entered) a CPU.
    OnCpu(i32),
    /// A runtime thread began (or ended) being kept off-CPU for a cause.
    Busy(Cause, i32),
}

/// The blackouts of `threads` (the runtime) over `[start, end)`, intervals
/// trusted up to `complete_until` (the span log's budget); `heartbeat` is
/// an optional period to count lost beats for.
pub fn find(
    threads: &[&ThreadSpans],
    start: u64,
    end: u64,
    complete_until: u64,
    heartbeat: Option<u64>,
) -> Blackouts {
    let until = end.min(complete_until);
    let list = sweep(edges_in_order(threads, start, until));
    summarize(list, threads.len(), start, end, until, heartbeat)
}

/// The longest stretch over `[start, end)` made of blackouts whose gaps
/// (runtime activity between them) are each shorter than `max_gap`: a
/// runtime that wakes for a fraction of a millisecond between 200 ms
/// memory.high penalty sleeps is stalled for the whole stretch, though each
/// blackout alone is short. `(start, end)` of it, if there is one.
pub fn longest_stretch(
    threads: &[&ThreadSpans],
    start: u64,
    end: u64,
    max_gap: u64,
) -> Option<(u64, u64)> {
    let mut best: Option<(u64, u64)> = None;
    let mut cur: Option<(u64, u64)> = None;
    for (a, b, _) in sweep(edges_in_order(threads, start, end)) {
        cur = match cur {
            Some((s, e)) if a.saturating_sub(e) < max_gap => Some((s, b)),
            _ => Some((a, b)),
        };
        if let Some((s, e)) = cur
            && best.is_none_or(|(bs, be)| e - s > be - bs)
        {
            best = Some((s, e));
        }
    }
    best
}

/// Every thread's edges in time order, merged lazily (each thread's are
/// already in order): a busy trace has millions, and sorting them in one
/// vector made `record`'s peak memory.
fn edges_in_order<'a>(
    threads: &'a [&ThreadSpans],
    start: u64,
    end: u64,
) -> impl Iterator<Item = (u64, Edge)> + 'a {
    let mut each: Vec<std::iter::Peekable<_>> = threads
        .iter()
        .map(|t| thread_edges(t, start, end).peekable())
        .collect();
    let mut next: BinaryHeap<Reverse<(u64, usize)>> = each
        .iter_mut()
        .enumerate()
        .filter_map(|(i, it)| Some(Reverse((it.peek()?.0, i))))
        .collect();
    std::iter::from_fn(move || {
        let Reverse((_, i)) = next.pop()?;
        let edge = each[i].next()?;
        if let Some(&(t, _)) = each[i].peek() {
            next.push(Reverse((t, i)));
        }
        Some(edge)
    })
}

/// The edges of one thread's presence, clipped to `[start, end)`, in time
/// order: on a CPU whenever it is present and not inside one of its
/// off-CPU intervals.
fn thread_edges(t: &ThreadSpans, start: u64, end: u64) -> impl Iterator<Item = (u64, Edge)> + '_ {
    let (from, to) = (t.first_ns.max(start), t.last_ns.min(end));
    let present = from < to;
    let mut cursor = from;
    let inside = t
        .off
        .iter()
        .take_while(move |_| present)
        .flat_map(move |s| {
            let (a, b) = (s.start_ns.max(cursor), s.end_ns.min(to));
            let mut out = [None; 6];
            if a < b {
                let wake = s.wake_ns().clamp(a, b);
                out[0] = Some((a, Edge::OnCpu(-1)));
                if !s.blocked_is_idle() && a < wake {
                    out[1] = Some((a, Edge::Busy(s.cause, 1)));
                    out[2] = Some((wake, Edge::Busy(s.cause, -1)));
                }
                if wake < b {
                    out[3] = Some((wake, Edge::Busy(Cause::Runqueue, 1)));
                    out[4] = Some((b, Edge::Busy(Cause::Runqueue, -1)));
                }
                out[5] = Some((b, Edge::OnCpu(1)));
                cursor = b;
            }
            out.into_iter().flatten()
        });
    let bounds = present.then_some(((from, Edge::OnCpu(1)), (to, Edge::OnCpu(-1))));
    bounds
        .map(|b| b.0)
        .into_iter()
        .chain(inside)
        .chain(bounds.map(|b| b.1))
}

/// Blackouts: `(start, end, ns by cause)` for every stretch between edges
/// where no thread was on a CPU and some were kept off one, pieces that
/// touch joined into one.
fn sweep(edges: impl Iterator<Item = (u64, Edge)>) -> Vec<(u64, u64, [u64; Cause::COUNT])> {
    let mut edges = edges.peekable();
    let mut on = 0i32;
    let mut busy = [0i32; Cause::COUNT];
    let mut out: Vec<(u64, u64, [u64; Cause::COUNT])> = Vec::new();
    while let Some((t, first)) = edges.next() {
        let mut apply = |e: Edge| match e {
            Edge::OnCpu(d) => on += d,
            Edge::Busy(c, d) => busy[c.index()] += d,
        };
        apply(first);
        while let Some((_, e)) = edges.next_if(|&(u, _)| u == t) {
            apply(e);
        }
        let Some(&(next, _)) = edges.peek() else {
            break;
        };
        let kept: i32 = busy.iter().sum();
        if on == 0 && kept > 0 && next > t {
            let len = next - t;
            let mut by = [0u64; Cause::COUNT];
            for (slot, &n) in by.iter_mut().zip(&busy) {
                *slot = len * n.max(0) as u64 / kept as u64;
            }
            match out.last_mut() {
                Some(last) if last.1 == t => {
                    last.1 = next;
                    for (x, y) in last.2.iter_mut().zip(by) {
                        *x += y;
                    }
                }
                _ => out.push((t, next, by)),
            }
        }
    }
    out
}

/// The cause with the most time in a blackout's mix.
fn dominant(by: &[u64; Cause::COUNT]) -> Option<Cause> {
    Cause::ALL
        .into_iter()
        .filter(|c| by[c.index()] > 0)
        .max_by_key(|c| by[c.index()])
}

fn to_blackout(a: u64, b: u64, by: &[u64; Cause::COUNT]) -> Blackout {
    let by_cause: BTreeMap<Cause, u64> = Cause::ALL
        .iter()
        .filter(|c| by[c.index()] > 0)
        .map(|&c| (c, by[c.index()]))
        .collect();
    Blackout {
        start_ns: a,
        end_ns: b,
        cause: dominant(by),
        by_cause,
    }
}

fn summarize(
    list: Vec<(u64, u64, [u64; Cause::COUNT])>,
    threads: usize,
    start: u64,
    end: u64,
    until: u64,
    heartbeat: Option<u64>,
) -> Blackouts {
    let mut out = Blackouts {
        threads,
        window_start_ns: start,
        window_end_ns: end,
        complete_until_ns: until,
        long_ns: LONG_BLACKOUT_NS,
        ..Blackouts::default()
    };
    out.series_bucket_ns = SERIES_BUCKET_NS;
    out.series = series(&list, start, until);
    let mut lengths = Vec::with_capacity(list.len());
    let mut long = Vec::new();
    for (a, b, by) in &list {
        let len = b - a;
        lengths.push(len);
        out.total_ns += len;
        out.longest_ns = out.longest_ns.max(len);
        for c in Cause::ALL {
            if by[c.index()] > 0 {
                *out.by_cause.entry(c).or_default() += by[c.index()];
            }
        }
        if len >= LONG_BLACKOUT_NS {
            long.push(to_blackout(*a, *b, by));
        }
    }
    out.count = list.len() as u64;
    out.all = list
        .iter()
        .map(|(a, b, by)| (*a, *b, dominant(by)))
        .collect();
    out.lengths = HistSummary::from_values(&mut lengths);
    long.sort_by_key(|b| std::cmp::Reverse(b.len_ns()));
    out.long_not_listed = long.len().saturating_sub(MAX_LISTED) as u64;
    long.truncate(MAX_LISTED);
    out.long = long;
    out.heartbeat = heartbeat
        .filter(|&p| p > 0)
        .map(|p| beats(&list, start, until, p));
    out
}

/// Blackout ns per `SERIES_BUCKET_NS` bucket of `[start, end)`.
fn series(list: &[(u64, u64, [u64; Cause::COUNT])], start: u64, end: u64) -> Vec<u64> {
    let n = (end.saturating_sub(start).div_ceil(SERIES_BUCKET_NS) as usize).min(MAX_SERIES_BUCKETS);
    let mut out = vec![0u64; n];
    for &(a, b, _) in list {
        let mut t = a;
        while t < b {
            let i = ((t - start) / SERIES_BUCKET_NS) as usize;
            let Some(slot) = out.get_mut(i) else { break };
            let bucket_end = start + (i as u64 + 1) * SERIES_BUCKET_NS;
            let upto = b.min(bucket_end);
            *slot += upto - t;
            t = upto;
        }
    }
    out
}

/// Beats at `start + k·period` (k ≥ 1) that fall inside a blackout longer
/// than one period: the ones a heartbeat on that period could not have run.
fn beats(
    list: &[(u64, u64, [u64; Cause::COUNT])],
    start: u64,
    end: u64,
    period: u64,
) -> HeartbeatLoss {
    let mut loss = HeartbeatLoss {
        period_ns: period,
        beats_in_window: end.saturating_sub(start) / period,
        ..HeartbeatLoss::default()
    };
    for &(a, b, _) in list.iter().filter(|(a, b, _)| b - a > period) {
        loss.blackouts_longer_than_period += 1;
        // k with a <= start + k·period < b.
        let first = (a - start).div_ceil(period).max(1);
        let last = (b - 1 - start) / period;
        loss.beats_in_blackouts += (last + 1).saturating_sub(first);
    }
    loss
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{hist::Log2Bucket, spans::OffSpan};

    const MS: u64 = 1_000_000;

    fn thread(off: Vec<OffSpan>) -> ThreadSpans {
        ThreadSpans {
            first_ns: 0,
            last_ns: 1000 * MS,
            off: off.into(),
        }
    }

    #[test]
    fn stretches_join_blackouts_across_short_gaps_only() {
        // Throttled 0..200, runs 200..201 (1 ms), throttled 201..400,
        // runs 400..450 (50 ms), throttled 450..600.
        let a = thread(vec![
            OffSpan::ms(0, 200, 0, Cause::MemcgHighThrottle, true),
            OffSpan::ms(201, 400, 0, Cause::MemcgHighThrottle, true),
            OffSpan::ms(450, 600, 0, Cause::MemcgHighThrottle, true),
        ]);
        let one = longest_stretch(&[&a], 0, 1000 * MS, 10 * MS);
        assert_eq!(one, Some((0, 400 * MS)));
        // No gap allowed: each blackout on its own.
        let strict = longest_stretch(&[&a], 0, 1000 * MS, 0);
        assert_eq!(strict, Some((0, 200 * MS)));
        let idle = thread(vec![OffSpan::ms(0, 1000, 0, Cause::Epoll, false)]);
        assert_eq!(longest_stretch(&[&idle], 0, 1000 * MS, 10 * MS), None);
    }

    #[test]
    fn idle_runtime_has_no_blackout() {
        let a = thread(vec![OffSpan::ms(0, 1000, 0, Cause::Epoll, false)]);
        let b = thread(vec![OffSpan::ms(100, 900, 0, Cause::Futex, false)]);
        let r = find(&[&a, &b], 0, 1000 * MS, u64::MAX, None);
        assert_eq!((r.count, r.total_ns), (0, 0));
    }

    #[test]
    fn one_thread_on_cpu_ends_the_blackout() {
        // A refaults 100..400; B idle-parked 0..300 then runs 300..350.
        let a = thread(vec![OffSpan::ms(100, 400, 0, Cause::PageFaultIo, true)]);
        let b = thread(vec![
            OffSpan::ms(0, 300, 0, Cause::Futex, false),
            OffSpan::ms(350, 1000, 0, Cause::Futex, false),
        ]);
        let r = find(&[&a, &b], 0, 1000 * MS, u64::MAX, None);
        assert_eq!(r.count, 2);
        assert_eq!(r.total_ns, 200 * MS + 50 * MS);
        assert_eq!(r.longest_ns, 200 * MS);
        assert_eq!(r.by_cause[&Cause::PageFaultIo], 250 * MS);
        assert_eq!(r.memory_ns(), 250 * MS);
        assert_eq!(r.long.len(), 1, "350..400 is shorter than LONG_BLACKOUT_NS");
        assert_eq!(r.long[0].start_ns, 100 * MS);
        assert_eq!(r.long[0].end_ns, 300 * MS);
    }

    #[test]
    fn run_queue_tail_of_an_idle_sleep_is_work_kept_waiting() {
        // Both parked on a futex, woken at 200 and 250, run at 500 and 600.
        let a = thread(vec![OffSpan::ms(0, 500, 300, Cause::Futex, false)]);
        let b = thread(vec![OffSpan::ms(0, 600, 350, Cause::Futex, false)]);
        let r = find(&[&a, &b], 0, 1000 * MS, u64::MAX, None);
        assert_eq!((r.count, r.total_ns), (1, 300 * MS));
        assert_eq!(
            r.by_cause.keys().copied().collect::<Vec<_>>(),
            vec![Cause::Runqueue]
        );
        assert_eq!(r.long[0].cause, Some(Cause::Runqueue));
    }

    #[test]
    fn mixed_causes_share_each_instant() {
        // 0..100 both kept off: A by memory.high throttle, B by the run queue.
        let a = thread(vec![OffSpan::ms(0, 100, 0, Cause::MemcgHighThrottle, true)]);
        let b = thread(vec![OffSpan::ms(0, 100, 100, Cause::Futex, false)]);
        let r = find(&[&a, &b], 0, 1000 * MS, u64::MAX, None);
        assert_eq!(r.total_ns, 100 * MS);
        assert_eq!(r.by_cause[&Cause::MemcgHighThrottle], 50 * MS);
        assert_eq!(r.by_cause[&Cause::Runqueue], 50 * MS);
    }

    #[test]
    fn disk_sleep_of_unknown_cause_is_not_idle() {
        let a = thread(vec![OffSpan::ms(0, 100, 0, Cause::Other, true)]);
        let r = find(&[&a], 0, 1000 * MS, u64::MAX, None);
        assert_eq!(r.by_cause[&Cause::Other], 100 * MS);
        let a = thread(vec![OffSpan::ms(0, 100, 0, Cause::Other, false)]);
        assert_eq!(
            find(&[&a], 0, 1000 * MS, u64::MAX, None).count,
            1,
            "S-state other is not a known idle wait"
        );
    }

    #[test]
    fn absent_and_exited_threads_do_not_count() {
        let mut a = thread(vec![OffSpan::ms(0, 500, 0, Cause::Io, true)]);
        let mut b = thread(vec![]);
        b.first_ns = 600 * MS; // born later: on a CPU from 600 on.
        a.last_ns = 500 * MS; // exited at 500.
        let r = find(&[&a, &b], 0, 1000 * MS, u64::MAX, None);
        assert_eq!(r.total_ns, 500 * MS);
    }

    #[test]
    fn truncated_log_limits_the_window() {
        let a = thread(vec![OffSpan::ms(0, 1000, 0, Cause::Io, true)]);
        let r = find(&[&a], 0, 1000 * MS, 400 * MS, None);
        assert_eq!((r.total_ns, r.complete_until_ns), (400 * MS, 400 * MS));
    }

    #[test]
    fn heartbeat_beats_inside_long_blackouts() {
        // Period 100 ms; blackouts 150..470 (beats at 200, 300, 400) and
        // 600..650 (shorter than a period: not counted).
        let a = thread(vec![
            OffSpan::ms(150, 470, 0, Cause::PageFaultIo, true),
            OffSpan::ms(600, 650, 0, Cause::PageFaultIo, true),
        ]);
        let r = find(&[&a], 0, 1000 * MS, u64::MAX, Some(100 * MS));
        let h = r.heartbeat.unwrap();
        assert_eq!(
            (
                h.beats_in_window,
                h.beats_in_blackouts,
                h.blackouts_longer_than_period
            ),
            (10, 3, 1)
        );
    }

    #[test]
    fn exact_percentiles_and_log2() {
        let mut v: Vec<u64> = (1..=100).map(|i| i * 1000).collect();
        let s = HistSummary::from_values(&mut v);
        assert_eq!(
            (s.count, s.p50, s.p90, s.max, s.min),
            (100, 50_000, 90_000, 100_000, 1000)
        );
        assert_eq!(s.log2.iter().map(|b| b.count).sum::<u64>(), 100);
        assert_eq!(
            s.log2[0],
            Log2Bucket {
                lo: 0,
                hi: 1,
                count: 1
            }
        );
    }
}
