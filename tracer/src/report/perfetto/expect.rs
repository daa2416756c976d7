//! What a trace written from an input must contain, as JSON for
//! `tracer/tests/perfetto/check_trace.py`, which parses the trace with
//! Perfetto's official Python schema and compares exactly. Not test-only:
//! root tests and xtask check real recordings with it too.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::{
    WriteOptions,
    budget::Plan,
    input::{BLACKOUT_TRACK, Slice, TraceInput},
    write::{EXPORT_EVENT, starvetrace_track_name},
};

/// The expectations for the trace `write_trace(_, input, options)` writes:
/// per thread (by tid) the slices drawn and their ns per name and the merged
/// ns per name; the blackout slices; per counter track its point count,
/// min, max and last value; per instant track its event count; the verdict;
/// the merged totals; the clock snapshot.
pub fn expectations_json(input: &TraceInput, options: &WriteOptions) -> Value {
    let plan = Plan::new(&input.threads, options.max_slices);
    let mut threads = serde_json::Map::new();
    for (ti, t) in input.threads.iter().enumerate() {
        let (kept, merged): (Vec<_>, Vec<_>) = t
            .slices
            .iter()
            .enumerate()
            .partition(|&(i, _)| plan.kept(ti, i));
        threads.insert(
            t.tid.to_string(),
            json!({
                "slices": kept.len(),
                "ns_by_name": ns_by_name(kept.into_iter().map(|(_, s)| s)),
                "merged_ns_by_name": ns_by_name(merged.into_iter().map(|(_, s)| s)),
            }),
        );
    }
    let counters: serde_json::Map<String, Value> = input
        .counters
        .iter()
        .map(|c| {
            let values = c.points.iter().map(|p| p.1);
            let v = json!({
                "points": c.points.len(),
                "min": values.clone().reduce(f64::min),
                "max": values.clone().reduce(f64::max),
                "last": c.points.last().map(|p| p.1),
            });
            (c.name.clone(), v)
        })
        .collect();
    let instant_tracks: serde_json::Map<String, Value> = input
        .instant_tracks
        .iter()
        .map(|t| (t.name.clone(), json!(t.events.len())))
        .collect();
    json!({
        "clock": {
            "monotonic_ns": input.clock.monotonic_ns,
            "boottime_ns": input.clock.boottime_ns,
        },
        "starvetrace_track": starvetrace_track_name(input, plan.slices_merged),
        "export_event": EXPORT_EVENT,
        "threads": threads,
        "blackouts": {
            "track": BLACKOUT_TRACK,
            "slices": input.blackouts.slices.len(),
            "ns_by_name": ns_by_name(input.blackouts.slices.iter()),
        },
        "counters": counters,
        "instant_tracks": instant_tracks,
        "verdict": input.verdict.as_ref().map(|v| json!({
            "outcome": v.outcome,
            "summary": v.summary,
        })),
        "merged": {
            "slices": plan.slices_merged,
            "by_name": plan.merged,
        },
    })
}

fn ns_by_name<'a>(slices: impl Iterator<Item = &'a Slice>) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for s in slices {
        *out.entry(s.name.to_string()).or_default() += s.dur_ns();
    }
    out
}
