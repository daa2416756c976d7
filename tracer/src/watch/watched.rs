//! The kernel's filter for `watch`: the `WATCHED` bitmap of tgids, kept
//! equal to the processes followed, writing only the words that change.

use std::collections::{BTreeMap, BTreeSet};

use aya::maps::{Array, MapData};
use tracer_common::agg::{WATCHED_WORDS, watched_slot};

pub struct WatchedSet {
    max_processes: usize,
    /// Non-zero words as the kernel has them.
    words: BTreeMap<u32, u64>,
    warned_cap: bool,
}

impl WatchedSet {
    pub fn new(max_processes: u32) -> Self {
        Self {
            max_processes: max_processes as usize,
            words: BTreeMap::new(),
            warned_cap: false,
        }
    }

    /// Make the kernel follow exactly `tgids` (the first `max_processes`).
    pub fn update(&mut self, map: &mut Array<MapData, u64>, tgids: &BTreeSet<u32>) {
        if tgids.len() > self.max_processes && !self.warned_cap {
            tracing::warn!(
                found = tgids.len(),
                max = self.max_processes,
                "more processes than --max-processes; the rest are not watched"
            );
            self.warned_cap = true;
        }
        let wanted = words_of(tgids.iter().copied().take(self.max_processes));
        let changed = self
            .words
            .keys()
            .chain(wanted.keys())
            .copied()
            .collect::<BTreeSet<u32>>();
        for index in changed {
            let value = wanted.get(&index).copied().unwrap_or(0);
            if self.words.get(&index).copied().unwrap_or(0) == value {
                continue;
            }
            if let Err(e) = map.set(index, &value, 0) {
                tracing::warn!(
                    word = index,
                    "cannot update the kernel's process filter: {e}"
                );
            }
        }
        self.words = wanted;
    }
}

fn words_of(tgids: impl Iterator<Item = u32>) -> BTreeMap<u32, u64> {
    let mut words = BTreeMap::new();
    for tgid in tgids {
        let (index, bit) = watched_slot(tgid);
        // No tgid reaches PID_MAX_LIMIT; the guard keeps a bad one from
        // failing every update.
        if index < WATCHED_WORDS {
            *words.entry(index).or_insert(0) |= bit;
        }
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tgids_share_words_by_sixty_fours() {
        let w = words_of([1, 63, 64, 4_194_303].into_iter());
        assert_eq!(w.get(&0), Some(&((1u64 << 1) | (1u64 << 63))));
        assert_eq!(w.get(&1), Some(&1u64));
        assert_eq!(w.get(&(WATCHED_WORDS - 1)), Some(&(1u64 << 63)));
        assert_eq!(w.len(), 3);
    }

    #[test]
    fn a_tgid_past_the_limit_is_left_out() {
        assert!(words_of([1 << 22].into_iter()).is_empty());
    }
}
