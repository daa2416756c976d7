//! The trace's layout: which tracks exist, under which parent, and in what
//! order their packets go out.

use std::{collections::HashMap, io};

use perfetto_protos::debug_annotation::DebugAnnotation;

use super::{
    WriteOptions, WriteStats,
    budget::Plan,
    encode::{self, Sink},
    input::{Arg, BLACKOUT_TRACK, STARVETRACE_TRACK, Slice, TraceInput, Unit},
};

/// The instant on the "starvetrace" track that says what the export
/// dropped; at the trace's first timestamp so it is easy to find.
pub const EXPORT_EVENT: &str = "trace export";

/// The per-thread counter track of merged slices of one name.
pub fn merged_track_name(slice_name: &str) -> String {
    format!("merged {slice_name} ns")
}

/// The "starvetrace" track's name: the verdict and any merging show in the
/// track list without opening an event.
pub fn starvetrace_track_name(input: &TraceInput, slices_merged: usize) -> String {
    let mut name = match &input.verdict {
        Some(v) => format!("{STARVETRACE_TRACK}: {}", v.outcome),
        None => STARVETRACE_TRACK.to_string(),
    };
    if slices_merged > 0 {
        name.push_str(&format!(" ({slices_merged} shortest slices merged)"));
    }
    name
}

#[derive(Default)]
struct Uuids(u64);

impl Uuids {
    fn next(&mut self) -> u64 {
        self.0 += 1;
        self.0
    }
}

pub(crate) fn write_all(
    out: &mut dyn io::Write,
    input: &TraceInput,
    options: &WriteOptions,
) -> io::Result<WriteStats> {
    let plan = Plan::new(&input.threads, options.max_slices);
    let mut uuids = Uuids::default();
    let mut sink = Sink::new(out);
    sink.start(input.clock)?;

    let meta = uuids.next();
    let name = starvetrace_track_name(input, plan.slices_merged);
    sink.track(encode::named_track(meta, &name, None))?;
    sink.event(
        first_ts(input),
        encode::instant(meta, EXPORT_EVENT, export_args(options, &plan)),
    )?;
    if let Some(v) = &input.verdict {
        let mut args = vec![
            encode::annotation(&Arg::new("outcome", v.outcome.as_str())),
            encode::annotation(&Arg::new("summary", v.summary.as_str())),
        ];
        args.extend(v.args.iter().map(encode::annotation));
        let title = format!("verdict: {}", v.outcome);
        sink.event(v.t_ns, encode::instant(meta, &title, args))?;
    }

    let mut process_uuid = HashMap::new();
    for p in &input.processes {
        let u = uuids.next();
        process_uuid.insert(p.pid, u);
        sink.track(encode::process_track(u, p))?;
    }
    let parent = |pid: Option<i32>| pid.and_then(|p| process_uuid.get(&p).copied());

    let b = uuids.next();
    sink.track(encode::named_track(
        b,
        BLACKOUT_TRACK,
        parent(input.blackouts.pid),
    ))?;
    for s in &input.blackouts.slices {
        slice(&mut sink, b, s)?;
    }

    for c in &input.counters {
        let u = uuids.next();
        sink.track(encode::counter_track(u, &c.name, &c.unit, parent(c.pid)))?;
        for &(t, v) in &c.points {
            sink.event(t, encode::counter_f64(u, v))?;
        }
    }

    for track in &input.instant_tracks {
        let u = uuids.next();
        sink.track(encode::named_track(u, &track.name, parent(track.pid)))?;
        for e in &track.events {
            let args = e.args.iter().map(encode::annotation).collect();
            sink.event(e.t_ns, encode::instant(u, &e.name, args))?;
        }
    }

    for (ti, t) in input.threads.iter().enumerate() {
        let u = uuids.next();
        sink.track(encode::thread_track(u, t))?;
        for (i, s) in t.slices.iter().enumerate() {
            if plan.kept(ti, i) {
                slice(&mut sink, u, s)?;
            }
        }
        for (name, points) in plan.merged_series(ti, &t.slices, options.merge_bin_ns) {
            let cu = uuids.next();
            let track =
                encode::counter_track(cu, &merged_track_name(&name), &Unit::Nanoseconds, Some(u));
            sink.track(track)?;
            for (ts, cum) in points {
                sink.event(
                    ts,
                    encode::counter_i64(cu, i64::try_from(cum).unwrap_or(i64::MAX)),
                )?;
            }
        }
    }

    let bytes = sink.finish()?;
    Ok(WriteStats {
        slices_written: plan.slices_written,
        slices_merged: plan.slices_merged,
        merged_ns_by_name: plan.merged.iter().map(|(k, m)| (k.clone(), m.ns)).collect(),
        merged_count_by_name: plan
            .merged
            .iter()
            .map(|(k, m)| (k.clone(), m.count))
            .collect(),
        bytes,
    })
}

/// An END before the next BEGIN: the trace processor orders events of one
/// timestamp as they appear, so touching slices stay siblings.
fn slice(sink: &mut Sink<'_>, track: u64, s: &Slice) -> protobuf::Result<()> {
    sink.event(s.start_ns, encode::slice_begin(track, &s.name))?;
    sink.event(s.end_ns, encode::slice_end(track))
}

fn export_args(options: &WriteOptions, plan: &Plan) -> Vec<DebugAnnotation> {
    let max = match options.max_slices {
        Some(m) => Arg::new("max_slices", m as u64),
        None => Arg::new("max_slices", "unlimited"),
    };
    let mut args: Vec<DebugAnnotation> = [
        Arg::new("clock", "CLOCK_MONOTONIC"),
        max,
        Arg::new("slices_written", plan.slices_written as u64),
        Arg::new("slices_merged", plan.slices_merged as u64),
        Arg::new("merge_bin_ns", options.merge_bin_ns),
    ]
    .iter()
    .map(encode::annotation)
    .collect();
    if !plan.merged.is_empty() {
        let per_name = plan
            .merged
            .iter()
            .map(|(name, m)| {
                let entries = [Arg::new("count", m.count), Arg::new("ns", m.ns)]
                    .iter()
                    .map(encode::annotation)
                    .collect();
                encode::dict(name, entries)
            })
            .collect();
        args.push(encode::dict("merged", per_name));
    }
    args
}

/// The earliest timestamp the trace draws, or the clock snapshot's.
fn first_ts(input: &TraceInput) -> u64 {
    let slices = input
        .threads
        .iter()
        .filter_map(|t| t.slices.first())
        .chain(input.blackouts.slices.first())
        .map(|s| s.start_ns);
    let counters = input
        .counters
        .iter()
        .filter_map(|c| c.points.first())
        .map(|p| p.0);
    let instants = input
        .instant_tracks
        .iter()
        .flat_map(|t| t.events.iter().map(|e| e.t_ns));
    let verdict = input.verdict.iter().map(|v| v.t_ns);
    slices
        .chain(counters)
        .chain(instants)
        .chain(verdict)
        .min()
        .unwrap_or(input.clock.monotonic_ns)
}
