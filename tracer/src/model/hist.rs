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
