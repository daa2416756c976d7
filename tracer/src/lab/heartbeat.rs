//! Heartbeats and how late they fire.
//!
//! Both heartbeats share one schedule (origin + k × period) and the same
//! "skip missed beats" rule, so their numbers compare directly: the tokio one
//! runs on `tokio::time::interval` (it fires only when a runtime worker polls
//! it), the OS one on a plain thread with `std::thread::sleep` (it fires when
//! the kernel runs that thread). A late tokio beat next to an on-time OS beat
//! means the runtime, not the timer or the machine, is the problem.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// The heartbeat period (the field report's heartbeat logged every 10 s; 100 ms
/// gives enough beats for percentiles in a short run).
pub const PERIOD: Duration = Duration::from_millis(100);
/// Beats later than this go into `late_beats` (the timeline the demo prints).
pub const LATE_BEAT_THRESHOLD: Duration = Duration::from_millis(50);
/// Keeps `late_beats` bounded on long runs.
const MAX_LATE_BEATS: usize = 600;

/// How late a heartbeat's beats fired compared with their schedule.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Lateness {
    /// Beats that fired.
    pub count: u64,
    /// The worst lateness: over the beats that fired AND the beat still overdue
    /// when the run ended (a stopped heartbeat is as late as it has been silent).
    pub max_late_ns: u64,
    /// Percentiles and mean over the beats that fired (histogram, ~1% precision).
    pub p50_late_ns: u64,
    pub p99_late_ns: u64,
    pub mean_late_ns: u64,
    /// Beats that fired more than 100 ms late.
    pub late_over_100ms: u64,
    /// How long the next beat was overdue when the run ended (0 if not yet due).
    pub overdue_at_end_ns: u64,
    /// No beat during the last half of the run (or the last 2 s, whichever is
    /// longer): the heartbeat stopped rather than ran late.
    pub stopped: bool,
    /// Beats more than 50 ms late: (ms since the lab started, ms late). Capped.
    pub late_beats: Vec<LateBeat>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LateBeat {
    pub at_ms: u64,
    pub late_ms: u64,
}

impl Lateness {
    pub fn max_late(&self) -> Duration {
        Duration::from_nanos(self.max_late_ns)
    }
}

/// When beats are due: `origin + k × period`, k ≥ 1.
#[derive(Clone, Copy, Debug)]
pub struct Schedule {
    pub origin: Instant,
    pub period: Duration,
}

impl Schedule {
    pub fn first(&self) -> Instant {
        self.origin + self.period
    }

    /// The first deadline strictly after `t` (missed beats are skipped, as
    /// tokio's `MissedTickBehavior::Skip` does).
    pub fn next_after(&self, t: Instant) -> Instant {
        if t < self.origin {
            return self.first();
        }
        let period = self.period.as_nanos().max(1);
        let k = (t - self.origin).as_nanos() / period + 1;
        self.origin + Duration::from_nanos(u64::try_from(k * period).unwrap_or(u64::MAX))
    }

    /// Beats due in `[origin, end]`.
    pub fn expected_by(&self, end: Instant) -> u64 {
        if end < self.origin {
            return 0;
        }
        let n = (end - self.origin).as_nanos() / self.period.as_nanos().max(1);
        u64::try_from(n).unwrap_or(u64::MAX)
    }
}

/// Collects one heartbeat's lateness. Memory stays bounded (a histogram, not
/// a list of samples) however long the lab runs.
#[derive(Debug)]
pub struct Recorder {
    schedule: Schedule,
    hist: Histogram<u64>,
    count: u64,
    sum_ns: u128,
    max_ns: u64,
    over_100ms: u64,
    /// When the last beat fired and when the next one is due.
    last_fired: Option<Instant>,
    next_due: Instant,
    late_beats: Vec<LateBeat>,
}

impl Recorder {
    pub fn new(schedule: Schedule) -> Self {
        // 1 ns .. 1 h with 2 significant digits: ~40 KiB, 1% precision.
        let hist = Histogram::new_with_bounds(1, 3_600_000_000_000, 2)
            .expect("static histogram bounds are valid");
        Recorder {
            schedule,
            hist,
            count: 0,
            sum_ns: 0,
            max_ns: 0,
            over_100ms: 0,
            last_fired: None,
            next_due: schedule.first(),
            late_beats: Vec::new(),
        }
    }

    /// A beat that was due at `due` fired at `fired`.
    pub fn beat(&mut self, due: Instant, fired: Instant) {
        let late = fired.saturating_duration_since(due);
        let ns = u64::try_from(late.as_nanos()).unwrap_or(u64::MAX);
        self.hist.saturating_record(ns.max(1));
        self.count += 1;
        self.sum_ns += u128::from(ns);
        self.max_ns = self.max_ns.max(ns);
        if late > Duration::from_millis(100) {
            self.over_100ms += 1;
        }
        if late > LATE_BEAT_THRESHOLD && self.late_beats.len() < MAX_LATE_BEATS {
            self.late_beats.push(LateBeat {
                at_ms: ms(fired.saturating_duration_since(self.schedule.origin)),
                late_ms: ms(late),
            });
        }
        self.last_fired = Some(fired);
        self.next_due = self.schedule.next_after(fired.max(due));
    }

    /// The summary as of `end` (the end of the run).
    pub fn summary(&self, end: Instant) -> Lateness {
        let overdue = end.saturating_duration_since(self.next_due);
        let overdue_ns = u64::try_from(overdue.as_nanos()).unwrap_or(u64::MAX);
        let run = end.saturating_duration_since(self.schedule.origin);
        let quiet_limit = (run / 2).max(Duration::from_secs(2));
        let silent_since = self.last_fired.unwrap_or(self.schedule.origin);
        let stopped =
            run > quiet_limit && end.saturating_duration_since(silent_since) > quiet_limit;
        let pct = |q: f64| {
            if self.count == 0 {
                0
            } else {
                self.hist.value_at_quantile(q).min(self.max_ns)
            }
        };
        Lateness {
            count: self.count,
            max_late_ns: self.max_ns.max(overdue_ns),
            p50_late_ns: pct(0.50),
            p99_late_ns: pct(0.99),
            mean_late_ns: if self.count == 0 {
                0
            } else {
                u64::try_from(self.sum_ns / u128::from(self.count)).unwrap_or(u64::MAX)
            },
            late_over_100ms: self.over_100ms,
            overdue_at_end_ns: overdue_ns,
            stopped,
            late_beats: self.late_beats.clone(),
        }
    }
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

pub type SharedRecorder = Arc<Mutex<Recorder>>;

pub fn shared(schedule: Schedule) -> SharedRecorder {
    Arc::new(Mutex::new(Recorder::new(schedule)))
}

/// Records into a shared recorder; a poisoned lock (a panicked recorder user)
/// still holds valid counters, so keep going.
pub fn record(rec: &SharedRecorder, due: Instant, fired: Instant) {
    rec.lock()
        .unwrap_or_else(|e| e.into_inner())
        .beat(due, fired);
}

pub fn summarize(rec: &SharedRecorder, end: Instant) -> Lateness {
    rec.lock().unwrap_or_else(|e| e.into_inner()).summary(end)
}

/// The tokio heartbeat: a task on `tokio::time::interval`. With `stall_after`,
/// after that long it awaits `never` (a notification nobody sends): the lost
/// wakeup.
pub async fn tokio_heartbeat(
    schedule: Schedule,
    rec: SharedRecorder,
    stall_after: Option<(Duration, Arc<tokio::sync::Notify>)>,
) {
    let start = tokio::time::Instant::from_std(schedule.first());
    let mut iv = tokio::time::interval_at(start, schedule.period);
    iv.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        let due = iv.tick().await.into_std();
        let fired = Instant::now();
        record(&rec, due, fired);
        if let Some((after, never)) = &stall_after
            && fired.saturating_duration_since(schedule.origin) >= *after
        {
            never.notified().await;
        }
    }
}

/// The OS heartbeat: a plain thread sleeping until each deadline, the field
/// report's suggested comparison. Returns when `stop` is set (checked every beat).
pub fn os_heartbeat(schedule: Schedule, rec: SharedRecorder, stop: Arc<AtomicBool>) {
    let mut due = schedule.first();
    while !stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let fired = Instant::now();
        record(&rec, due, fired);
        due = schedule.next_after(fired.max(due));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sched() -> (Instant, Schedule) {
        let o = Instant::now();
        (
            o,
            Schedule {
                origin: o,
                period: Duration::from_millis(100),
            },
        )
    }
    fn at(o: Instant, ms: u64) -> Instant {
        o + Duration::from_millis(ms)
    }

    #[test]
    fn next_after_skips_to_the_next_multiple() {
        let (o, s) = sched();
        assert_eq!(s.next_after(o), at(o, 100));
        assert_eq!(s.next_after(at(o, 100)), at(o, 200));
        assert_eq!(s.next_after(at(o, 101)), at(o, 200));
        assert_eq!(s.next_after(at(o, 1_050)), at(o, 1_100));
        assert_eq!(s.expected_by(at(o, 1_050)), 10);
        assert_eq!(s.expected_by(o), 0);
    }

    #[test]
    fn on_time_beats_have_no_lateness() {
        let (o, s) = sched();
        let mut r = Recorder::new(s);
        for k in 1..=10 {
            r.beat(at(o, k * 100), at(o, k * 100));
        }
        let l = r.summary(at(o, 1_050));
        assert_eq!(l.count, 10);
        assert_eq!(
            (l.max_late_ns, l.mean_late_ns, l.overdue_at_end_ns),
            (0, 0, 0)
        );
        assert!(l.p99_late_ns <= 1 && !l.stopped && l.late_beats.is_empty());
    }

    #[test]
    fn lateness_math() {
        let (o, s) = sched();
        let mut r = Recorder::new(s);
        // 98 beats 1 ms late, one 30 ms late, one 500 ms late.
        for k in 1..=98 {
            r.beat(at(o, k * 100), at(o, k * 100 + 1));
        }
        r.beat(at(o, 9_900), at(o, 9_930));
        r.beat(at(o, 10_000), at(o, 10_500));
        let l = r.summary(at(o, 10_550));
        assert_eq!(l.count, 100);
        assert_eq!(l.max_late_ns, 500_000_000);
        // mean = (98 + 30 + 500) / 100 ms = 6.28 ms
        assert_eq!(l.mean_late_ns, 6_280_000);
        let p50 = l.p50_late_ns as f64 / 1e6;
        assert!((0.99..=1.01).contains(&p50), "p50 {p50}");
        let p99 = l.p99_late_ns as f64 / 1e6;
        assert!((29.7..=30.3).contains(&p99), "p99 {p99}");
        assert_eq!(l.late_over_100ms, 1);
        assert_eq!(
            l.late_beats,
            vec![LateBeat {
                at_ms: 10_500,
                late_ms: 500
            }]
        );
        // After the 500 ms late beat the next is due at 10.6 s: not overdue at 10.55 s.
        assert_eq!(l.overdue_at_end_ns, 0);
    }

    #[test]
    fn a_stopped_heartbeat_is_as_late_as_it_has_been_silent() {
        let (o, s) = sched();
        let mut r = Recorder::new(s);
        for k in 1..=10 {
            r.beat(at(o, k * 100), at(o, k * 100));
        }
        let l = r.summary(at(o, 10_000));
        assert_eq!(l.count, 10);
        assert_eq!(l.overdue_at_end_ns, 8_900_000_000);
        assert_eq!(l.max_late_ns, 8_900_000_000);
        assert!(l.stopped);
        assert_eq!(l.p99_late_ns, 0);
    }

    #[test]
    fn never_fired_is_stopped() {
        let (o, s) = sched();
        let l = Recorder::new(s).summary(at(o, 5_000));
        assert_eq!((l.count, l.overdue_at_end_ns), (0, 4_900_000_000));
        assert!(l.stopped);
        // A short run without beats yet is not "stopped".
        assert!(!Recorder::new(s).summary(at(o, 150)).stopped);
    }
}
