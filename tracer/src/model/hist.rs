//! Histogram summaries as the report shows them: percentiles, and log2
//! buckets as BCC prints them.

use serde::{Deserialize, Serialize};

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
    /// Exact percentiles and BCC-style log2 buckets (µs) of a list of
    /// values (sorted in place).
    pub fn from_values(values: &mut [u64]) -> Self {
        if values.is_empty() {
            return Self::default();
        }
        values.sort_unstable();
        let at =
            |q: f64| values[((values.len() as f64 * q).ceil() as usize).clamp(1, values.len()) - 1];
        let total: u64 = values.iter().sum();
        // The buckets `from_hdr` makes: bucket 0 holds 0–1 µs, bucket k
        // holds [2^k, 2^(k+1)-1] µs.
        let mut counts = [0u64; 64];
        for v in values.iter() {
            let us = v / 1000;
            counts[((u64::BITS - us.leading_zeros()) as usize).saturating_sub(1)] += 1;
        }
        let first = counts.iter().position(|&c| c > 0).unwrap_or(0);
        let last = counts.iter().rposition(|&c| c > 0).unwrap_or(0);
        let log2 = (first..=last)
            .map(|b| {
                let (lo, hi) = if b == 0 {
                    (0, 1)
                } else {
                    (1u64 << b, (1u64 << b).wrapping_mul(2).wrapping_sub(1))
                };
                Log2Bucket {
                    lo,
                    hi,
                    count: counts[b],
                }
            })
            .collect();
        Self {
            count: values.len() as u64,
            min: values[0],
            mean: total as f64 / values.len() as f64,
            p50: at(0.5),
            p90: at(0.9),
            p99: at(0.99),
            p999: at(0.999),
            max: values[values.len() - 1],
            total,
            log2,
        }
    }
}
