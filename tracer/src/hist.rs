//! Histograms: exact HDR (3 significant digits) while recording, summarized
//! into percentiles and BCC-style log2 buckets for reports.

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use tracer_common::hist::{log2_bucket, log2_range};

/// Values in nanoseconds, 3 significant digits; grows as values arrive so
/// an idle thread's histogram stays small.
pub fn new_ns_histogram() -> Histogram<u64> {
    let mut h = Histogram::new(3).expect("3 significant digits is valid");
    h.auto(true);
    h
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Log2Bucket {
    pub lo: u64,
    pub hi: u64,
    pub count: u64,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct HistSummary {
    pub count: u64,
    pub min: u64,
    pub mean: f64,
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
    pub total: u64,
    /// log2 buckets of the values in microseconds, as BCC's runqlat keeps
    /// them (bucket k holds [2^k, 2^(k+1)-1] µs, bucket 0 holds 0-1 µs),
    /// from the lowest to the highest used one.
    pub log2: Vec<Log2Bucket>,
}

impl HistSummary {
    pub fn from_hdr(h: &Histogram<u64>, total: u64) -> Self {
        if h.is_empty() {
            return Self::default();
        }
        let mut counts = [0u64; 65];
        for v in h.iter_recorded() {
            let us = h.lowest_equivalent(v.value_iterated_to()) / 1000;
            counts[log2_bucket(us).saturating_sub(1)] += v.count_at_value();
        }
        let first = counts.iter().position(|&c| c > 0).unwrap_or(0);
        let last = counts.iter().rposition(|&c| c > 0).unwrap_or(0);
        let log2 = (first..=last)
            .map(|b| {
                let (lo, hi) = if b == 0 { (0, 1) } else { log2_range(b + 1) };
                Log2Bucket {
                    lo,
                    hi,
                    count: counts[b],
                }
            })
            .collect();
        Self {
            count: h.len(),
            min: h.min(),
            mean: h.mean(),
            p50: h.value_at_quantile(0.5),
            p90: h.value_at_quantile(0.9),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            max: h.max(),
            total,
            log2,
        }
    }
}

/// A histogram plus the exact sum of what went in (HDR's mean is rounded).
#[derive(Clone, Debug)]
pub struct Recorder {
    pub hist: Histogram<u64>,
    pub total: u64,
}

impl Default for Recorder {
    fn default() -> Self {
        Self {
            hist: new_ns_histogram(),
            total: 0,
        }
    }
}

impl Recorder {
    pub fn record(&mut self, value: u64) {
        // auto-resize means only a value past u64 range could fail.
        let _ = self.hist.record(value.max(1));
        self.total = self.total.saturating_add(value);
    }

    pub fn add(&mut self, other: &Recorder) {
        let _ = self.hist.add(&other.hist);
        self.total = self.total.saturating_add(other.total);
    }

    pub fn summary(&self) -> HistSummary {
        HistSummary::from_hdr(&self.hist, self.total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_exact_to_three_digits() {
        let mut r = Recorder::default();
        for v in 1..=100_000u64 {
            r.record(v * 1000);
        }
        let s = r.summary();
        assert_eq!(s.count, 100_000);
        assert_eq!(s.total, (1..=100_000u64).map(|v| v * 1000).sum::<u64>());
        let rel = |a: u64, b: u64| (a as f64 - b as f64).abs() / b as f64;
        assert!(rel(s.p50, 50_000_000) < 0.001, "p50 {}", s.p50);
        assert!(rel(s.p99, 99_000_000) < 0.001, "p99 {}", s.p99);
        assert!(rel(s.max, 100_000_000) < 0.001);
        let in_buckets: u64 = s.log2.iter().map(|b| b.count).sum();
        assert_eq!(in_buckets, 100_000);
    }

    #[test]
    fn empty_is_default() {
        assert_eq!(Recorder::default().summary(), HistSummary::default());
    }
}
