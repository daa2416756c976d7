//! Runtime blackouts as the recording carries them: the stretches of time
//! in which the runtime could run none of its work (see `analyze::blackouts`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{cause::Cause, hist::HistSummary};

/// One blackout, in CLOCK_MONOTONIC ns.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Blackout {
    pub start_ns: u64,
    pub end_ns: u64,
    /// The cause with the most time inside it.
    pub cause: Option<Cause>,
    /// Time inside it by cause: each instant is shared equally among the
    /// causes of the threads kept off-CPU then, so the parts add up to the length.
    pub by_cause: BTreeMap<Cause, u64>,
}

impl Blackout {
    pub fn len_ns(&self) -> u64 {
        self.end_ns - self.start_ns
    }
}

/// How many beats of a periodic heartbeat fell inside blackouts longer
/// than its period (beats counted from the window start).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct HeartbeatLoss {
    pub period_ns: u64,
    pub beats_in_window: u64,
    pub beats_in_blackouts: u64,
    pub blackouts_longer_than_period: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Blackouts {
    /// Runtime threads the blackouts are computed over.
    pub threads: usize,
    pub window_start_ns: u64,
    pub window_end_ns: u64,
    /// The intervals are whole up to here (the span budget ran out after).
    pub complete_until_ns: u64,
    pub count: u64,
    pub total_ns: u64,
    pub longest_ns: u64,
    pub by_cause: BTreeMap<Cause, u64>,
    pub lengths: HistSummary,
    /// Blackout time per timeline bucket (`bucket_ns` wide from the window
    /// start), for the timeline picture.
    pub series_bucket_ns: u64,
    pub series: Vec<u64>,
    /// Every blackout at least `long_ns` long, longest first (a bounded list).
    pub long: Vec<Blackout>,
    pub long_ns: u64,
    /// Long ones not listed (past the list's bound).
    pub long_not_listed: u64,
    pub heartbeat: Option<HeartbeatLoss>,
}

impl Blackouts {
    /// Blackout time in the memory causes.
    pub fn memory_ns(&self) -> u64 {
        self.by_cause
            .iter()
            .filter(|(c, _)| c.is_memory())
            .map(|(_, ns)| ns)
            .sum()
    }
}
