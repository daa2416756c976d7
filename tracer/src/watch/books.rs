//! Read `watch`'s kernel-side books (the `AGG` map) once per interval: what
//! each key gained since the last read, named by cause, and the keys of
//! threads that are gone removed so the map stays small.

use std::collections::HashMap;

use aya::maps::{HashMap as BpfHashMap, MapData};
use tracer_common::agg::{AGG_BUCKETS, AGG_OFF, AGG_ON_CPU, AGG_RUNQ, AggKey, AggValue};

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
    pub buckets: [u32; AGG_BUCKETS],
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
        classifier: &mut Classifier<KernelStacks>,
        alive: impl Fn(u32, u32) -> bool,
    ) -> Vec<Gain> {
        let now: Vec<(AggKey, AggValue)> = map.iter().filter_map(Result::ok).collect();
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
                // A thread that is gone books nothing more.
                let _ = map.remove(key);
            }
        }
        gains
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
    let mut buckets = [0u32; AGG_BUCKETS];
    for (b, (now, was)) in buckets
        .iter_mut()
        .zip(value.buckets.iter().zip(before.buckets.iter()))
    {
        *b = now.saturating_sub(*was);
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
        buckets,
    })
}
