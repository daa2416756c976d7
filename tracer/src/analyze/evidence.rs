//! The cgroup-side evidence for each memory mechanism, read in the same
//! 100 ms sample windows as the runtime threads' stalls and independent of
//! them: a stall's own PSI proves nothing (PSI rises *because* the threads
//! stall), but the memcg's own counters say whether it was at its limit,
//! throttling or refaulting its working set.

use crate::model::{
    cause::Cause,
    cgroup::{CgroupReport, CgroupSample},
    judgement::{FaultTest, FaultWaits, ThrottleWaits},
    spans::OffSpan,
};

/// A cumulative counter of the cgroup, sampled over time (CLOCK_MONOTONIC ns).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Counter {
    points: Vec<(u64, u64)>,
}

impl Counter {
    /// From `(time, value)` samples in time order; absent readings left out.
    pub fn new(points: Vec<(u64, u64)>) -> Self {
        Self { points }
    }

    pub fn is_available(&self) -> bool {
        self.points.len() >= 2
    }

    /// Did it grow across the sample windows that hold `[a, b]`? `None`
    /// when the samples do not reach that far on both sides.
    pub fn moved(&self, a: u64, b: u64) -> Option<bool> {
        let before = self
            .points
            .partition_point(|&(t, _)| t <= a)
            .checked_sub(1)?;
        let after = self.points.partition_point(|&(t, _)| t < b);
        let (_, v0) = self.points[before];
        let (_, v1) = *self.points.get(after)?;
        Some(v1 > v0)
    }
}

/// The counters the evidence reads.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Signals {
    /// v2 `memory.events` high: the cgroup went over memory.high.
    pub high: Counter,
    /// v2 `memory.events` max plus v1 `memory.failcnt`: a charge hit the
    /// hard limit and had to reclaim.
    pub limit: Counter,
    /// `memory.stat` workingset_refault_anon + _file (or the pre-5.9 single
    /// counter, v1 `total_` names): evicted pages read back.
    pub refault: Counter,
}

impl Signals {
    /// The counters from the cgroup sampler's readings.
    pub fn from_cgroup(c: &CgroupReport) -> Self {
        let series = |f: fn(&CgroupSample) -> Option<u64>| {
            Counter::new(
                c.samples
                    .iter()
                    .filter_map(|s| Some((s.t_ns, f(s)?)))
                    .collect(),
            )
        };
        Self {
            high: series(|s| s.events_high),
            limit: series(|s| match (s.events_max, s.v1_failcnt) {
                (None, None) => None,
                (m, f) => Some(m.unwrap_or(0) + f.unwrap_or(0)),
            }),
            refault: series(CgroupSample::refaults),
        }
    }
}

/// Decide one fault wait.
pub fn fault_test(s: &Signals, a: u64, b: u64) -> FaultTest {
    match (s.refault.moved(a, b), s.limit.moved(a, b)) {
        (Some(true), _) => FaultTest::WorkingsetRefault,
        (_, Some(true)) => FaultTest::LimitReclaim,
        (None, None) => FaultTest::NoCounters,
        _ => FaultTest::ColdData,
    }
}

/// Go through the runtime threads' intervals once: decide each fault wait
/// and relabel the ones over cold data as `io` (so blackouts and shares see
/// them as I/O), and measure the throttle sleeps against `high`.
pub fn weigh<'a>(
    spans: impl IntoIterator<Item = &'a mut OffSpan>,
    s: &Signals,
) -> (FaultWaits, ThrottleWaits) {
    let mut faults = FaultWaits::default();
    let mut throttle = ThrottleWaits {
        counter_available: s.high.is_available(),
        ..ThrottleWaits::default()
    };
    for span in spans {
        let (a, b) = (span.start_ns, span.wake_ns());
        let blocked = b.saturating_sub(a);
        match span.cause {
            Cause::PageFaultIo => {
                faults.total_ns += blocked;
                match fault_test(s, a, b) {
                    FaultTest::WorkingsetRefault => faults.workingset_refault_ns += blocked,
                    FaultTest::LimitReclaim => faults.limit_reclaim_ns += blocked,
                    FaultTest::NoCounters => faults.no_counters_ns += blocked,
                    FaultTest::ColdData => {
                        faults.cold_data_ns += blocked;
                        span.cause = Cause::Io;
                    }
                }
            }
            Cause::MemcgHighThrottle => {
                throttle.total_ns += blocked;
                if s.high.moved(a, b) == Some(true) {
                    throttle.in_high_windows_ns += blocked;
                }
            }
            _ => {}
        }
    }
    (faults, throttle)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    fn counter(values: &[u64]) -> Counter {
        Counter::new(
            values
                .iter()
                .enumerate()
                .map(|(i, &v)| (i as u64 * 100 * MS, v))
                .collect(),
        )
    }

    fn fault(a: u64, b: u64) -> OffSpan {
        OffSpan {
            start_ns: a * MS,
            end_ns: b * MS,
            runq_ns: 0,
            cause: Cause::PageFaultIo,
            disk: true,
        }
    }

    #[test]
    fn counter_moves_in_the_windows_around_a_stall() {
        let c = counter(&[0, 0, 5, 5]);
        assert_eq!(c.moved(10 * MS, 20 * MS), Some(false));
        assert_eq!(c.moved(110 * MS, 120 * MS), Some(true));
        assert_eq!(c.moved(90 * MS, 120 * MS), Some(true), "spans two windows");
        assert_eq!(c.moved(250 * MS, 400 * MS), None, "past the last sample");
        assert!(!Counter::default().is_available());
    }

    #[test]
    fn cold_reads_are_io_refaults_and_limit_hits_are_memory() {
        let s = Signals {
            refault: counter(&[0, 0, 9, 9, 9]),
            limit: counter(&[0, 0, 0, 4, 4]),
            ..Signals::default()
        };
        let mut spans = [
            fault(10, 20),
            fault(110, 120),
            fault(210, 230),
            fault(310, 320),
        ];
        let (f, _) = weigh(spans.iter_mut(), &s);
        assert_eq!(
            f.cold_data_ns,
            20 * MS,
            "0..100 and 300..400: nothing moved"
        );
        assert_eq!(f.workingset_refault_ns, 10 * MS);
        assert_eq!(f.limit_reclaim_ns, 20 * MS);
        assert_eq!(spans[0].cause, Cause::Io);
        assert_eq!(spans[1].cause, Cause::PageFaultIo);
        assert_eq!(spans[3].cause, Cause::Io);
    }

    #[test]
    fn without_counters_a_fault_wait_stays_undecided() {
        let mut spans = [fault(10, 20)];
        let (f, t) = weigh(spans.iter_mut(), &Signals::default());
        assert_eq!((f.no_counters_ns, f.memory_ns()), (10 * MS, 0));
        assert_eq!(spans[0].cause, Cause::PageFaultIo);
        assert!(!t.counter_available);
    }

    #[test]
    fn throttle_needs_high_in_the_same_windows() {
        let s = Signals {
            high: counter(&[0, 3, 3, 3]),
            ..Signals::default()
        };
        let mut spans = [
            OffSpan {
                cause: Cause::MemcgHighThrottle,
                ..fault(10, 60)
            },
            OffSpan {
                cause: Cause::MemcgHighThrottle,
                ..fault(210, 240)
            },
        ];
        let (_, t) = weigh(spans.iter_mut(), &s);
        assert_eq!((t.total_ns, t.in_high_windows_ns), (80 * MS, 50 * MS));
        assert!(t.counter_available);
    }
}
