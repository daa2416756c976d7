//! Read `watch`'s kernel-side books once per interval: what each key
//! gained since the last read, named by cause, and the keys of threads that
//! are gone removed so the map stays small. A key's books are split between
//! the `AGG` map and the thread's `TaskState` (see `tracer_common::agg`):
//! they are added up here.

use std::collections::HashMap;

use aya::maps::{HashMap as BpfHashMap, MapData};
use tracer_common::{
    agg::{AGG_OFF, AGG_ON_CPU, AGG_RUNQ, AggKey, AggValue},
    task::TaskState,
};

use crate::{
    model::cause::Cause,
    trace::classify::{Classifier, KernelStacks},
};

/// What one thread gained under one cause (`None`: on a CPU) since the last read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Gain {
    pub tid: u32,
    pub tgid: u32,
    pub cause: Option<Cause>,
    pub count: u64,
    pub ns: u64,
}

/// One read of the books: the gains, and the state entries it added up
/// (the threads' open intervals are read from these too, not looked up
/// again).
pub struct BooksRead {
    pub gains: Vec<Gain>,
    pub states: HashMap<u32, TaskState>,
}

#[derive(Default)]
pub struct KernelBooks {
    seen: HashMap<AggKey, AggValue>,
}

impl KernelBooks {
    /// Everything gained since the last call. `alive(tgid, tid)` says which
    /// threads still exist: the entries of the others are read one last
    /// time and removed.
    pub fn read(
        &mut self,
        map: &mut BpfHashMap<MapData, AggKey, AggValue>,
        tasks: &mut BpfHashMap<MapData, u32, TaskState>,
        classifier: &mut Classifier<KernelStacks>,
        alive: impl Fn(u32, u32) -> bool,
    ) -> BooksRead {
        // `AGG` first: books the kernel moves from a `TaskState` to `AGG`
        // between the two reads are then missed this time and counted next
        // time, never counted twice.
        let moved: Vec<(AggKey, AggValue)> = map.iter().filter_map(Result::ok).collect();
        let mut states: HashMap<u32, TaskState> = tasks.iter().filter_map(Result::ok).collect();
        let now = add_up(moved, &states);
        let mut gains = Vec::new();
        // A thread has several keys: ask once per thread, not per key.
        let mut live: HashMap<u32, bool> = HashMap::new();
        for (key, value) in &now {
            let before = self.seen.get(key);
            if let Some(g) = gain(key, value, before, classifier) {
                gains.push(g);
            }
            if *live
                .entry(key.tid)
                .or_insert_with(|| alive(value.tgid, key.tid))
            {
                self.seen.insert(*key, *value);
            } else {
                self.seen.remove(key);
                // A thread that is gone books nothing more. Its state entry
                // is normally gone already (its last switch-out frees it);
                // one left behind would be counted again.
                let _ = map.remove(key);
                if states.remove(&key.tid).is_some() {
                    let _ = tasks.remove(&key.tid);
                }
            }
        }
        BooksRead { gains, states }
    }

    /// Keys held from the last read (bounded by the map's size).
    pub fn len(&self) -> usize {
        self.seen.len()
    }

    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }
}

fn gain(
    key: &AggKey,
    value: &AggValue,
    before: Option<&AggValue>,
    classifier: &mut Classifier<KernelStacks>,
) -> Option<Gain> {
    let zero = AggValue::default();
    let before = before.unwrap_or(&zero);
    let count = value.count.saturating_sub(before.count);
    if count == 0 {
        return None;
    }
    let cause = match key.kind {
        AGG_ON_CPU => None,
        AGG_RUNQ => Some(Cause::Runqueue),
        AGG_OFF => {
            Some(classifier.cause(key.off_state, key.stack_id, key.reclaim_kind, key.syscall))
        }
        _ => return None,
    };
    Some(Gain {
        tid: key.tid,
        tgid: value.tgid,
        cause,
        count,
        ns: value.sum_ns.saturating_sub(before.sum_ns),
    })
}

/// Each key's books: what `AGG` holds plus what its thread's `TaskState`
/// still holds.
fn add_up(
    moved: Vec<(AggKey, AggValue)>,
    held: &HashMap<u32, TaskState>,
) -> HashMap<AggKey, AggValue> {
    let mut books: HashMap<AggKey, AggValue> = moved.into_iter().collect();
    for (tid, st) in held {
        let parts = [
            (AggKey::plain(*tid, AGG_ON_CPU), st.slices, st.on_cpu_ns),
            (AggKey::plain(*tid, AGG_RUNQ), st.runq_waits, st.runq_ns),
            (
                AggKey {
                    tid: *tid,
                    kind: AGG_OFF,
                    off_state: st.acc_off_state,
                    reclaim_kind: st.acc_reclaim_kind,
                    syscall: st.acc_syscall,
                    stack_id: st.acc_stack_id,
                },
                st.acc_count,
                st.acc_ns,
            ),
        ];
        for (key, count, ns) in parts {
            if count == 0 {
                continue;
            }
            let v = books.entry(key).or_insert(AggValue {
                tgid: st.tgid,
                ..AggValue::default()
            });
            v.count += count;
            v.sum_ns += ns;
        }
    }
    books
}

#[cfg(test)]
mod tests {
    use super::*;

    fn off_key(tid: u32, syscall: i32) -> AggKey {
        AggKey {
            tid,
            kind: AGG_OFF,
            off_state: 1,
            syscall,
            stack_id: -1,
            ..AggKey::default()
        }
    }

    fn total(books: &HashMap<AggKey, AggValue>, key: &AggKey) -> (u64, u64) {
        books.get(key).map_or((0, 0), |v| (v.count, v.sum_ns))
    }

    #[test]
    fn a_key_is_what_agg_holds_plus_what_the_thread_still_holds() {
        let moved = vec![(
            off_key(7, 202),
            AggValue {
                tgid: 5,
                count: 3,
                sum_ns: 300,
                ..AggValue::default()
            },
        )];
        let st = TaskState {
            slices: 4,
            on_cpu_ns: 40,
            runq_waits: 2,
            runq_ns: 20,
            acc_off_state: 1,
            acc_syscall: 202,
            acc_stack_id: -1,
            acc_count: 1,
            acc_ns: 100,
            ..TaskState::fresh(5)
        };
        let books = add_up(moved, &HashMap::from([(7, st)]));
        assert_eq!(total(&books, &off_key(7, 202)), (4, 400));
        assert_eq!(total(&books, &AggKey::plain(7, AGG_ON_CPU)), (4, 40));
        assert_eq!(total(&books, &AggKey::plain(7, AGG_RUNQ)), (2, 20));
        assert_eq!(books.len(), 3);
    }

    #[test]
    fn a_dead_threads_books_are_all_in_agg_and_nothing_is_left_to_add() {
        // After its last switch-out the kernel moved everything to AGG and
        // freed its state entry: the totals do not change by the move.
        let before = add_up(
            Vec::new(),
            &HashMap::from([(
                9,
                TaskState {
                    slices: 2,
                    on_cpu_ns: 50,
                    ..TaskState::fresh(5)
                },
            )]),
        );
        let after = add_up(
            vec![(
                AggKey::plain(9, AGG_ON_CPU),
                AggValue {
                    tgid: 5,
                    count: 2,
                    sum_ns: 50,
                    ..AggValue::default()
                },
            )],
            &HashMap::new(),
        );
        assert_eq!(before, after);
    }
}
