//! Stall time of the traced threads by cause, in fixed time buckets, so it
//! can be lined up with the cgroup's PSI samples.

use std::collections::BTreeMap;

use crate::model::{cause::Cause, timeline::TimelineReport};

pub const BUCKET_NS: u64 = 100_000_000;
/// One hour of 100 ms buckets; past that the series stops growing and the
/// report says how much time fell outside it.
pub const MAX_BUCKETS: usize = 36_000;

pub struct Timeline {
    start_ns: u64,
    buckets: Vec<[u64; Cause::COUNT]>,
    dropped_ns: u64,
}

impl Timeline {
    pub fn new(start_ns: u64) -> Self {
        Self {
            start_ns,
            buckets: Vec::new(),
            dropped_ns: 0,
        }
    }

    /// Spread `[from, to)` of `cause` over the buckets it covers.
    pub fn add(&mut self, cause: Cause, from: u64, to: u64) {
        let c = cause.index();
        let mut t = from.max(self.start_ns);
        while t < to {
            let index = ((t - self.start_ns) / BUCKET_NS) as usize;
            let bucket_end = self.start_ns + (index as u64 + 1) * BUCKET_NS;
            let piece = to.min(bucket_end) - t;
            if index >= MAX_BUCKETS {
                self.dropped_ns += to - t;
                return;
            }
            if self.buckets.len() <= index {
                self.buckets.resize(index + 1, [0; Cause::COUNT]);
            }
            self.buckets[index][c] += piece;
            t += piece;
        }
    }

    pub fn report(&self, end_ns: u64) -> TimelineReport {
        let n = (end_ns.saturating_sub(self.start_ns).div_ceil(BUCKET_NS) as usize)
            .clamp(self.buckets.len(), MAX_BUCKETS.max(self.buckets.len()));
        let mut series = BTreeMap::new();
        for (c, name) in Cause::ALL.iter().map(|c| (c.index(), c.name())) {
            if self.buckets.iter().all(|b| b[c] == 0) {
                continue;
            }
            let mut values: Vec<u64> = self.buckets.iter().map(|b| b[c]).collect();
            values.resize(n, 0);
            series.insert(name.to_string(), values);
        }
        TimelineReport {
            start_ns: self.start_ns,
            bucket_ns: BUCKET_NS,
            buckets: n,
            series,
            dropped_ns: self.dropped_ns,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_across_buckets_without_losing_time() {
        let mut t = Timeline::new(1_000);
        t.add(Cause::Futex, 1_000 + 50_000_000, 1_000 + 250_000_000);
        let r = t.report(1_000 + 300_000_000);
        let futex = &r.series["futex"];
        assert_eq!(futex, &vec![50_000_000, 100_000_000, 50_000_000]);
        assert_eq!(r.buckets, 3);
    }

    #[test]
    fn caps_the_series() {
        let mut t = Timeline::new(0);
        let end = (MAX_BUCKETS as u64 + 2) * BUCKET_NS;
        t.add(Cause::Sleep, 0, end);
        let r = t.report(end);
        assert_eq!(r.buckets, MAX_BUCKETS);
        assert_eq!(r.dropped_ns, 2 * BUCKET_NS);
    }
}
