//! The traced threads' stall time by cause in fixed time buckets, to line
//! up with the cgroup's PSI samples.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct TimelineReport {
    pub start_ns: u64,
    pub bucket_ns: u64,
    pub buckets: usize,
    /// cause name → ns of stall in each bucket (only causes that occur).
    pub series: BTreeMap<String, Vec<u64>>,
    pub dropped_ns: u64,
}
