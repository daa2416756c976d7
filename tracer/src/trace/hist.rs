//! Histograms: exact HDR (3 significant digits) while recording, summarized
//! into percentiles and BCC-style log2 buckets for reports.

use crate::model::hist::{HistSummary, Log2Bucket};
use hdrhistogram::{Counter, Histogram};

/// Significant digits of the histograms over all traced threads (per cause).
pub const HOST_SIGFIG: u8 = 3;
/// Each thread's own histograms: 2 significant digits above
/// `THREAD_LOWEST_NS` (values below it share 0.5 µs steps) and 32-bit
/// counts (saturating). A host-grade histogram reaching 10 s is ~200 KB; a
/// thread's ~10 KB, and a thread has up to a dozen (interval kinds and
/// causes): thousands of busy threads stay within a few tens of MiB.
pub const THREAD_SIGFIG: u8 = 2;
pub const THREAD_LOWEST_NS: u64 = 1_000;

/// Values in nanoseconds; grows as values arrive so an idle thread's
/// histogram stays small.
pub fn new_ns_histogram<C: Counter>(lowest: u64, sigfig: u8) -> Histogram<C> {
    let mut h = Histogram::new_with_bounds(lowest, 2 * lowest.max(2), sigfig)
        .expect("bounds and 2 or 3 significant digits are valid");
    h.auto(true);
    h
}

/// log2 bucket as BCC computes it: bucket `b` holds values in
/// `[2^(b-1), 2^b - 1]`, bucket 0 holds 0.
pub const fn log2_bucket(value: u64) -> usize {
    (u64::BITS - value.leading_zeros()) as usize
}

/// Inclusive value range of a bucket.
pub const fn log2_range(bucket: usize) -> (u64, u64) {
    match bucket {
        0 => (0, 0),
        64.. => (1 << 63, u64::MAX),
        b => (1 << (b - 1), (1 << b) - 1),
    }
}

/// Percentiles and log2 buckets of an HDR histogram; `total` is the exact sum.
pub fn summarize<C: Counter>(h: &Histogram<C>, total: u64) -> HistSummary {
    if h.is_empty() {
        return HistSummary::default();
    }
    let mut counts = [0u64; 65];
    for v in h.iter_recorded() {
        let us = h.lowest_equivalent(v.value_iterated_to()) / 1000;
        counts[log2_bucket(us).saturating_sub(1)] += v.count_at_value().as_u64();
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
    HistSummary {
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

/// A histogram plus the exact sum of what went in (HDR's mean is rounded).
#[derive(Clone, Debug)]
pub struct Hdr<C: Counter> {
    pub hist: Histogram<C>,
    pub total: u64,
}

/// Host-grade histogram (see `HOST_SIGFIG`).
pub type Recorder = Hdr<u64>;
/// One thread's histogram (see `THREAD_SIGFIG`).
pub type ThreadRecorder = Hdr<u32>;

impl<C: Counter> Default for Hdr<C> {
    /// Host-grade: every value to 3 significant digits.
    fn default() -> Self {
        Self::new(1, HOST_SIGFIG)
    }
}

impl<C: Counter> Hdr<C> {
    pub fn new(lowest: u64, sigfig: u8) -> Self {
        Self {
            hist: new_ns_histogram(lowest, sigfig),
            total: 0,
        }
    }

    pub fn record(&mut self, value: u64) {
        // auto-resize means only a value past u64 range could fail.
        let _ = self.hist.record(value.max(1));
        self.total = self.total.saturating_add(value);
    }

    pub fn add(&mut self, other: &Hdr<C>) {
        let _ = self.hist.add(&other.hist);
        self.total = self.total.saturating_add(other.total);
    }

    pub fn summary(&self) -> HistSummary {
        summarize(&self.hist, self.total)
    }
}

impl ThreadRecorder {
    pub fn per_thread() -> Self {
        Self::new(THREAD_LOWEST_NS, THREAD_SIGFIG)
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

    /// A thread's histogram: 1% above 50 µs, 0.5 µs steps below, and small
    /// even after values up to 10 s (the point of it).
    #[test]
    fn per_thread_histograms_are_compact_and_within_one_percent() {
        let mut t = ThreadRecorder::per_thread();
        let mut host = Recorder::default();
        for v in 1..=100_000u64 {
            t.record(v * 1000);
            host.record(v * 1000);
        }
        t.record(10_000_000_000);
        host.record(10_000_000_000);
        let s = t.summary();
        assert_eq!(s.count, 100_001);
        let rel = |a: u64, b: u64| (a as f64 - b as f64).abs() / b as f64;
        assert!(rel(s.p50, 50_000_000) < 0.01, "p50 {}", s.p50);
        assert!(rel(s.p99, 99_000_000) < 0.01, "p99 {}", s.p99);
        let mut small = ThreadRecorder::per_thread();
        small.record(2_700);
        assert!(small.summary().p50.abs_diff(2_700) <= 512);
        let bytes = |n: usize, width: usize| n * width;
        let thread_bytes = bytes(t.hist.distinct_values(), 4);
        let host_bytes = bytes(host.hist.distinct_values(), 8);
        assert!(
            thread_bytes < 12 << 10,
            "per-thread histogram {thread_bytes} B"
        );
        assert!(host_bytes > 15 * thread_bytes, "host {host_bytes} B");
    }

    #[test]
    fn empty_is_default() {
        assert_eq!(Recorder::default().summary(), HistSummary::default());
    }

    #[test]
    fn every_value_lands_in_its_range() {
        for v in [0u64, 1, 2, 3, 4, 7, 8, 1000, 1 << 40, u64::MAX] {
            let b = log2_bucket(v);
            let (lo, hi) = log2_range(b);
            assert!(lo <= v && v <= hi, "{v} not in bucket {b} = [{lo}, {hi}]");
        }
        assert_eq!(log2_bucket(1), 1);
        assert_eq!(log2_bucket(2), 2);
        assert_eq!(log2_bucket(3), 2);
    }
}
