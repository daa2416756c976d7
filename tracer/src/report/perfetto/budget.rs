//! The slice budget: past `max_slices`, the shortest thread slices are not
//! drawn but added up per cause, so a long recording still opens in the UI
//! while no nanosecond goes unaccounted.

use std::collections::BTreeMap;

use super::input::{Slice, Thread};

/// How many slices of one name were merged, and their total time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub(crate) struct MergedTotal {
    pub count: u64,
    pub ns: u64,
}

/// Which thread slices are written, and what the others add up to.
#[derive(Debug)]
pub(crate) struct Plan {
    /// Per thread, per slice; `None` when every slice fits the budget.
    keep: Option<Vec<Vec<bool>>>,
    pub merged: BTreeMap<String, MergedTotal>,
    pub slices_written: usize,
    pub slices_merged: usize,
}

impl Plan {
    /// Keeps the `max_slices` longest slices of all threads; ties keep the
    /// earlier thread and slice, so the same input always gives one plan.
    pub fn new(threads: &[Thread], max_slices: Option<usize>) -> Self {
        let total: usize = threads.iter().map(|t| t.slices.len()).sum();
        let budget = max_slices.unwrap_or(usize::MAX);
        if total <= budget {
            return Self {
                keep: None,
                merged: BTreeMap::new(),
                slices_written: total,
                slices_merged: 0,
            };
        }
        let mut order: Vec<(u64, usize, usize)> = threads
            .iter()
            .enumerate()
            .flat_map(|(t, th)| {
                th.slices
                    .iter()
                    .enumerate()
                    .map(move |(i, s)| (s.dur_ns(), t, i))
            })
            .collect();
        // Longest first; O(n) selection instead of a full sort of a million.
        let longest_first = |a: &(u64, usize, usize), b: &(u64, usize, usize)| {
            b.0.cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2))
        };
        order.select_nth_unstable_by(budget, longest_first);
        let mut keep: Vec<Vec<bool>> = threads
            .iter()
            .map(|t| vec![false; t.slices.len()])
            .collect();
        for &(_, t, i) in &order[..budget] {
            keep[t][i] = true;
        }
        let mut merged: BTreeMap<String, MergedTotal> = BTreeMap::new();
        for &(dur, t, i) in &order[budget..] {
            let m = merged
                .entry(threads[t].slices[i].name.to_string())
                .or_default();
            m.count += 1;
            m.ns += dur;
        }
        Self {
            keep: Some(keep),
            merged,
            slices_written: budget,
            slices_merged: total - budget,
        }
    }

    pub fn kept(&self, thread: usize, slice: usize) -> bool {
        self.keep.as_ref().is_none_or(|k| k[thread][slice])
    }

    /// The merged slices of one thread as cumulative ns per name, one point
    /// per `bin_ns` bin that had any (at the end of its last merged slice),
    /// after a zero where the first one starts: the UI shows where the
    /// merged time went without a point per merged slice.
    pub fn merged_series(
        &self,
        thread: usize,
        slices: &[Slice],
        bin_ns: u64,
    ) -> BTreeMap<String, Vec<(u64, u64)>> {
        struct Acc {
            cum: u64,
            bin: Option<u64>,
            points: Vec<(u64, u64)>,
        }
        let bin_ns = bin_ns.max(1);
        let mut by_name: BTreeMap<&str, Acc> = BTreeMap::new();
        for (i, s) in slices.iter().enumerate() {
            if self.kept(thread, i) {
                continue;
            }
            let acc = by_name.entry(&s.name).or_insert_with(|| Acc {
                cum: 0,
                bin: None,
                points: vec![(s.start_ns, 0)],
            });
            acc.cum += s.dur_ns();
            let bin = s.end_ns / bin_ns;
            if acc.bin == Some(bin) {
                if let Some(last) = acc.points.last_mut() {
                    *last = (s.end_ns, acc.cum);
                }
            } else {
                acc.points.push((s.end_ns, acc.cum));
                acc.bin = Some(bin);
            }
        }
        by_name
            .into_iter()
            .map(|(name, acc)| (name.to_string(), acc.points))
            .collect()
    }
}
