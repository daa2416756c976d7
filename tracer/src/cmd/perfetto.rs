//! `record --perfetto FILE`: the finished recording in the Perfetto writer's
//! neutral terms. A track per traced thread (every off-CPU interval a slice
//! named by its cause, every on-CPU stretch an `on-cpu` slice), the cgroup's
//! samples as counters, the runtime's blackouts on their own track, the
//! lab's late heartbeats as instants, and the verdict. Written after the
//! trace, never while it records.

use std::{collections::BTreeMap, path::Path};

use crate::{
    error::{Error, Result},
    model::{Recording, cgroup::CgroupSample, spans::SpanLog},
    report::perfetto::{
        Arg, Blackouts, ClockPair, Counter, InstantEvent, InstantTrack, ON_CPU, Process, Slice,
        Thread, TraceInput, Unit, Verdict, WriteOptions, write_trace,
    },
};

/// Write the trace; `max_slices` bounds the thread slices (the shortest are
/// merged into per-cause counters past it, and the trace says so).
pub fn write(
    path: &Path,
    rec: &Recording,
    spans: &SpanLog,
    max_slices: Option<usize>,
) -> Result<String> {
    let input = input(rec, spans);
    let options = WriteOptions {
        max_slices,
        ..WriteOptions::default()
    };
    let stats = write_trace(path, &input, &options).map_err(|e| Error::Output {
        path: path.to_path_buf(),
        source: std::io::Error::other(e.to_string()),
    })?;
    Ok(format!(
        "Perfetto trace {}: {} slices{}, {} bytes",
        path.display(),
        stats.slices_written,
        if stats.slices_merged > 0 {
            format!(
                " ({} shortest merged into per-cause counters past --perfetto-max-slices)",
                stats.slices_merged
            )
        } else {
            String::new()
        },
        stats.bytes
    ))
}

pub fn input(rec: &Recording, spans: &SpanLog) -> TraceInput {
    let start = rec.timeline.as_ref().map_or(0, |t| t.start_ns);
    let end = start + rec.duration_ns;
    let mut processes: BTreeMap<u32, Process> = BTreeMap::new();
    let mut threads = Vec::new();
    for t in &rec.threads {
        let name = if t.tid == t.tgid {
            t.comm.clone()
        } else {
            rec.threads
                .iter()
                .find(|m| m.tid == t.tgid)
                .map_or_else(|| rec.target.comm.clone(), |m| m.comm.clone())
        };
        processes.entry(t.tgid).or_insert_with(|| Process {
            pid: t.tgid as i32,
            name,
            container: rec.target.container.clone(),
        });
        threads.push(Thread {
            tid: t.tid as i32,
            pid: t.tgid as i32,
            name: t.comm.clone(),
            role: Some(t.role.to_string()),
            slices: spans
                .threads
                .get(&t.tid)
                .map(|s| thread_slices(s, start, end))
                .unwrap_or_default(),
        });
    }
    let runtime_pid = rec.target.pid.map(|p| p as i32);
    TraceInput {
        clock: ClockPair::now(),
        processes: processes.into_values().collect(),
        threads,
        counters: rec
            .cgroup
            .as_ref()
            .map(|c| counters(&c.samples))
            .unwrap_or_default(),
        blackouts: Blackouts {
            pid: runtime_pid,
            slices: rec
                .blackouts
                .as_ref()
                .map(|b| {
                    b.all
                        .iter()
                        .map(|(a, z, c)| Slice::new(*a, *z, c.map_or("blackout", |c| c.name())))
                        .collect()
                })
                .unwrap_or_default(),
        },
        instant_tracks: heartbeats(rec).into_iter().collect(),
        verdict: rec.verdict.as_ref().map(|v| Verdict {
            t_ns: end,
            outcome: v.outcome.to_string(),
            summary: v.summary.clone(),
            args: v
                .alternative
                .map(|a| vec![Arg::new("alternative", a.as_str())])
                .unwrap_or_default(),
        }),
    }
}

/// On- and off-CPU slices of one thread, in time order, from its first
/// sight. Each interval keeps its booked length exactly (the report's
/// totals): a run-queue wait the kernel booked longer than the switch-to-
/// switch interval lengthens it backwards into the slice before, so where
/// two would overlap the later one is laid out right after the earlier one
/// (the thread's next, shorter interval takes the difference back).
fn thread_slices(t: &crate::model::spans::ThreadSpans, start: u64, end: u64) -> Vec<Slice> {
    let (from, to) = (t.first_ns.max(start), t.last_ns.min(end));
    let mut out = Vec::with_capacity(t.off.len() * 2 + 1);
    let mut cursor = from;
    for s in &t.off {
        let len = s.end_ns.saturating_sub(s.start_ns);
        if len == 0 {
            continue;
        }
        let runq = s.runq_ns.min(len);
        let a = s.start_ns.max(cursor);
        if a > cursor {
            out.push(Slice::new(cursor, a, ON_CPU));
        }
        let wake = a + (len - runq);
        if wake > a {
            out.push(Slice::new(a, wake, s.cause.name()));
        }
        if runq > 0 {
            out.push(Slice::new(wake, wake + runq, "runqueue"));
        }
        cursor = wake + runq;
    }
    if to > cursor {
        out.push(Slice::new(cursor, to, ON_CPU));
    }
    out
}

/// The cgroup's samples as counter tracks: PSI stall shares per sample
/// interval, memory use against its limits, and the per-interval growth of
/// memory.events, failcnt and refaults.
fn counters(samples: &[CgroupSample]) -> Vec<Counter> {
    type Get = fn(&CgroupSample) -> Option<u64>;
    let mut out = Vec::new();
    let stall: [(&str, Get); 6] = [
        ("PSI memory some %", |s| s.memory_psi.some_total_us),
        ("PSI memory full %", |s| s.memory_psi.full_total_us),
        ("PSI io some %", |s| s.io_psi.some_total_us),
        ("PSI io full %", |s| s.io_psi.full_total_us),
        ("PSI cpu some %", |s| s.cpu_psi.some_total_us),
        ("PSI cpu full %", |s| s.cpu_psi.full_total_us),
    ];
    for (name, get) in stall {
        let points = rates(samples, get, |d_us, d_ns| d_us as f64 * 1e5 / d_ns as f64);
        push(&mut out, name, Unit::Named("%".into()), points);
    }
    let level: [(&str, Get); 4] = [
        ("memory used", CgroupSample::memory_usage),
        ("memory.high", |s| s.memory_high.filter(|&v| v != u64::MAX)),
        ("memory.max", |s| s.memory_max.filter(|&v| v != u64::MAX)),
        ("memory limit (v1)", |s| {
            s.v1_limit_bytes.filter(|&v| v != u64::MAX)
        }),
    ];
    for (name, get) in level {
        let points = samples
            .iter()
            .filter_map(|s| Some((s.t_ns, get(s)? as f64)))
            .collect();
        push(&mut out, name, Unit::Bytes, points);
    }
    let deltas: [(&str, Get); 4] = [
        ("memory.events high (per sample)", |s| s.events_high),
        ("memory.events max (per sample)", |s| s.events_max),
        ("memory.failcnt (per sample)", |s| s.v1_failcnt),
        ("workingset refaults (per sample)", CgroupSample::refaults),
    ];
    for (name, get) in deltas {
        let points = rates(samples, get, |d, _| d as f64);
        push(&mut out, name, Unit::Count, points);
    }
    out
}

fn push(out: &mut Vec<Counter>, name: &str, unit: Unit, points: Vec<(u64, f64)>) {
    if !points.is_empty() {
        out.push(Counter {
            name: name.into(),
            unit,
            pid: None,
            points,
        });
    }
}

/// `f(Δvalue, Δt)` between consecutive readings of a cumulative counter,
/// stamped at the later one; a counter that went backwards (reset) is skipped.
fn rates(
    samples: &[CgroupSample],
    get: fn(&CgroupSample) -> Option<u64>,
    f: impl Fn(u64, u64) -> f64,
) -> Vec<(u64, f64)> {
    let known: Vec<(u64, u64)> = samples
        .iter()
        .filter_map(|s| Some((s.t_ns, get(s)?)))
        .collect();
    known
        .windows(2)
        .filter(|w| w[1].0 > w[0].0 && w[1].1 >= w[0].1)
        .map(|w| (w[1].0, f(w[1].1 - w[0].1, w[1].0 - w[0].0)))
        .collect()
}

/// The lab's beats that fired late (its own clock), when the target was a
/// lab scenario: one instant each, with how late.
fn heartbeats(rec: &Recording) -> Option<InstantTrack> {
    let lab = rec.lab.as_ref()?;
    let t0 = lab.get("started_monotonic_ns")?.as_u64()?;
    let mut events = Vec::new();
    for (key, name) in [
        ("tokio_heartbeat", "late tokio interval beat"),
        ("event_loop_heartbeat", "late block_on loop beat"),
        ("os_heartbeat", "late OS-thread beat"),
    ] {
        let Some(beats) = lab
            .get(key)
            .and_then(|h| h.get("late_beats"))
            .and_then(|b| b.as_array())
        else {
            continue;
        };
        for b in beats {
            let (Some(at), Some(late)) = (
                b.get("at_ms").and_then(|v| v.as_u64()),
                b.get("late_ms").and_then(|v| v.as_u64()),
            ) else {
                continue;
            };
            events.push(InstantEvent {
                t_ns: t0 + at * 1_000_000,
                name: name.into(),
                args: vec![Arg::new("late_ms", late)],
            });
        }
    }
    events.sort_by_key(|e| e.t_ns);
    Some(InstantTrack {
        name: "lab heartbeats (beats ≥ 50 ms late)".into(),
        pid: rec.target.pid.map(|p| p as i32),
        events,
    })
}
