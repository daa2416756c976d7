//! Write synthetic inputs, decode them back with the same protos, compare.

mod fixture;

use std::collections::BTreeMap;

use perfetto_protos::trace_packet::trace_packet;

use super::*;
use fixture::{arg, decode, ns_by_name, sample, string, uint, write};

#[test]
fn every_slice_counter_and_event_comes_back_exactly() {
    let input = sample();
    let (d, stats) = write(&input, &WriteOptions::default());
    assert_eq!(stats.slices_written, 11);
    assert_eq!(stats.slices_merged, 0);
    for t in &input.threads {
        let got = &d.slices[&d.thread(t.tid)];
        assert_eq!(got.len(), t.slices.len(), "tid {}", t.tid);
        let want = ns_by_name(t.slices.iter().map(|s| (s.start_ns, s.end_ns, &*s.name)));
        assert_eq!(
            ns_by_name(got.iter().map(|s| (s.0, s.1, s.2.as_str()))),
            want
        );
        let desc = d.tracks[&d.thread(t.tid)]
            .thread
            .clone()
            .unwrap_or_default();
        assert_eq!(desc.pid(), t.pid);
    }
    let app = d.track(|t| t.process.as_ref().is_some_and(|p| p.pid() == 100));
    assert_eq!(d.tracks[&app].process.process_name(), "[shop] app");
    for c in &input.counters {
        let u = d.named(&c.name);
        assert!(d.tracks[&u].counter.is_some());
        assert_eq!(d.counters[&u], c.points);
    }
    let b = d.named(BLACKOUT_TRACK);
    assert_eq!(d.tracks[&b].parent_uuid(), app);
    let want: Vec<_> = input
        .blackouts
        .slices
        .iter()
        .map(|s| (s.start_ns, s.end_ns, s.name.to_string()))
        .collect();
    assert_eq!(d.slices[&b], want);
    let beats = &d.instants[&d.named("heartbeats")];
    assert_eq!(beats.len(), 4);
    assert_eq!(uint(arg(&beats[3].2, "late_ns")), 21);

    let meta = d.named("starvetrace: starved");
    let verdict = d.instants[&meta]
        .iter()
        .find(|e| e.1 == "verdict: starved")
        .expect("verdict");
    assert_eq!(verdict.0, 9_000);
    assert_eq!(string(arg(&verdict.2, "outcome")), "starved");
    assert_eq!(
        string(arg(&verdict.2, "summary")),
        "memory reclaim stalled the workers"
    );
    assert_eq!(string(arg(&verdict.2, "dominant")), "memcg_reclaim");
    let export = d.instants[&meta]
        .iter()
        .find(|e| e.1 == EXPORT_EVENT)
        .expect("export");
    assert_eq!(export.0, 1_000, "at the trace's first timestamp");
    assert_eq!(uint(arg(&export.2, "slices_merged")), 0);
}

#[test]
fn clock_domain_and_sequence_are_stated() {
    let (d, _) = write(&sample(), &WriteOptions::default());
    let first = &d.packets[0];
    assert_eq!(
        first.sequence_flags(),
        trace_packet::SequenceFlags::SEQ_INCREMENTAL_STATE_CLEARED as u32
    );
    assert_eq!(
        first.trace_packet_defaults.timestamp_clock_id(),
        3,
        "MONOTONIC"
    );
    assert!(first.data.is_none());
    let Some(trace_packet::Data::ClockSnapshot(snap)) = &d.packets[1].data else {
        panic!("second packet has the clock snapshot");
    };
    let clocks: BTreeMap<u32, u64> = snap
        .clocks
        .iter()
        .map(|c| (c.clock_id(), c.timestamp()))
        .collect();
    assert_eq!(
        clocks,
        BTreeMap::from([(3, 5_000_000_000), (6, 5_700_000_123)])
    );
    assert_eq!(snap.primary_trace_clock() as u32, 3);
    for p in &d.packets {
        assert_eq!(p.trusted_packet_sequence_id(), encode::SEQUENCE_ID);
        if matches!(p.data, Some(trace_packet::Data::TrackEvent(_))) {
            assert!(
                p.has_timestamp() && !p.has_timestamp_clock_id(),
                "clock from the defaults"
            );
            assert_eq!(
                p.sequence_flags(),
                trace_packet::SequenceFlags::SEQ_NEEDS_INCREMENTAL_STATE as u32
            );
        }
    }
}

/// All slices of the sample, longest first, ties in input order.
fn by_length(input: &TraceInput) -> Vec<(i32, Slice)> {
    let mut all: Vec<(i32, Slice)> = input
        .threads
        .iter()
        .flat_map(|t| t.slices.iter().map(|s| (t.tid, s.clone())))
        .collect();
    all.sort_by_key(|(_, s)| std::cmp::Reverse(s.dur_ns()));
    all
}

#[test]
fn past_the_budget_the_shortest_slices_are_merged_and_accounted() {
    let input = sample();
    let budget = 4;
    let (d, stats) = write(
        &input,
        &WriteOptions {
            max_slices: Some(budget),
            merge_bin_ns: 1,
        },
    );
    let all = by_length(&input);
    let (kept, dropped) = all.split_at(budget);
    assert_eq!(stats.slices_written, budget);
    assert_eq!(stats.slices_merged, dropped.len());

    let mut want_count: BTreeMap<String, u64> = BTreeMap::new();
    let mut want_ns: BTreeMap<String, u64> = BTreeMap::new();
    for (_, s) in dropped {
        *want_count.entry(s.name.to_string()).or_default() += 1;
        *want_ns.entry(s.name.to_string()).or_default() += s.dur_ns();
    }
    assert_eq!(stats.merged_count_by_name, want_count);
    assert_eq!(stats.merged_ns_by_name, want_ns);

    for t in &input.threads {
        let u = d.thread(t.tid);
        let mut want: Vec<_> = kept
            .iter()
            .filter(|k| k.0 == t.tid)
            .map(|(_, s)| (s.start_ns, s.end_ns, s.name.to_string()))
            .collect();
        want.sort();
        assert_eq!(
            d.slices.get(&u).cloned().unwrap_or_default(),
            want,
            "tid {}",
            t.tid
        );
        // Each merged name's cumulative counter ends at its merged ns.
        for (name, ns) in ns_by_name(
            dropped
                .iter()
                .filter(|k| k.0 == t.tid)
                .map(|(_, s)| (s.start_ns, s.end_ns, &*s.name)),
        ) {
            let c = d.track(|x| x.parent_uuid() == u && x.name() == merged_track_name(&name));
            assert_eq!(
                d.counters[&c].last().map(|p| p.1),
                Some(ns as f64),
                "tid {} {name}",
                t.tid
            );
            assert_eq!(d.counters[&c].first().map(|p| p.1), Some(0.0));
        }
    }

    let meta = d.named(&format!(
        "starvetrace: starved ({} shortest slices merged)",
        dropped.len()
    ));
    let export = d.instants[&meta]
        .iter()
        .find(|e| e.1 == EXPORT_EVENT)
        .expect("export");
    assert_eq!(uint(arg(&export.2, "slices_merged")), dropped.len() as u64);
    assert_eq!(uint(arg(&export.2, "max_slices")), budget as u64);
    let merged = arg(&export.2, "merged");
    let got: BTreeMap<String, (u64, u64)> = merged
        .dict_entries
        .iter()
        .map(|e| {
            (
                e.name().to_string(),
                (
                    uint(arg(&e.dict_entries, "count")),
                    uint(arg(&e.dict_entries, "ns")),
                ),
            )
        })
        .collect();
    let want: BTreeMap<String, (u64, u64)> = want_count
        .iter()
        .map(|(k, c)| (k.clone(), (*c, want_ns[k])))
        .collect();
    assert_eq!(got, want);
}

#[test]
fn merged_counters_get_one_point_per_bin() {
    let slices: Vec<Slice> = (0..1000)
        .map(|i| Slice::new(i * 100, i * 100 + 10, "futex"))
        .collect();
    let threads = vec![Thread {
        tid: 1,
        pid: 1,
        slices,
        ..Default::default()
    }];
    let plan = budget::Plan::new(&threads, Some(0));
    let series = plan.merged_series(0, &threads[0].slices, 10_000);
    let points = &series["futex"];
    // A zero, then one point per 10 µs bin of the 100 µs span.
    assert_eq!(points.len(), 1 + 10);
    assert_eq!(points[0], (0, 0));
    assert_eq!(points.last(), Some(&(99_910, 10_000)));
}

#[test]
fn an_unwritable_path_is_a_typed_error_naming_it() {
    let path = std::path::Path::new("/nonexistent-dir/starvetrace/t.pftrace");
    let err = write_trace(path, &sample(), &WriteOptions::default()).expect_err("cannot write");
    assert!(
        matches!(&err, PerfettoError::Write { path: p, .. } if p == path),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains("/nonexistent-dir/starvetrace/t.pftrace"),
        "{err}"
    );
}

#[test]
fn invalid_input_is_refused_before_any_file_exists() {
    let mut input = sample();
    input.threads[0]
        .slices
        .push(Slice::new(8_000, 10_000, "io"));
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("t.pftrace");
    let err = write_trace(&path, &input, &WriteOptions::default()).expect_err("overlap");
    assert!(
        matches!(err, PerfettoError::Invalid(ref m) if m.contains("thread 101")),
        "{err}"
    );
    assert!(!path.exists());
}

#[test]
fn expectations_agree_with_the_written_trace() {
    let input = sample();
    let options = WriteOptions {
        max_slices: Some(6),
        merge_bin_ns: 1,
    };
    let (d, stats) = write(&input, &options);
    let e = expectations_json(&input, &options);
    assert_eq!(e["merged"]["slices"], stats.slices_merged);
    for t in &input.threads {
        let got = d.slices.get(&d.thread(t.tid)).cloned().unwrap_or_default();
        let want = &e["threads"][t.tid.to_string()];
        assert_eq!(want["slices"], got.len());
        let ns = ns_by_name(got.iter().map(|s| (s.0, s.1, s.2.as_str())));
        assert_eq!(want["ns_by_name"], serde_json::to_value(ns).expect("json"));
    }
    assert_eq!(e["counters"]["psi memory some"]["last"], 0.1 + 0.2);
    assert_eq!(e["starvetrace_track"], d.tracks[&1].name());
}

#[test]
fn a_large_input_streams_within_the_budget() {
    let causes = ["futex", "runqueue", ON_CPU, "epoll"];
    let threads: Vec<Thread> = (0..4)
        .map(|t| Thread {
            tid: t,
            pid: 1,
            slices: (0..25_000u64)
                .map(|i| {
                    Slice::new(
                        i * 1_000,
                        i * 1_000 + (i * 7919 % 997),
                        causes[i as usize % 4],
                    )
                })
                .collect(),
            ..Default::default()
        })
        .collect();
    let input = TraceInput {
        threads,
        ..Default::default()
    };
    let mut out = Vec::new();
    let stats = write_to(
        &mut out,
        &input,
        &WriteOptions {
            max_slices: Some(10_000),
            ..Default::default()
        },
    )
    .expect("write");
    assert_eq!(
        (stats.slices_written, stats.slices_merged),
        (10_000, 90_000)
    );
    let total: u64 = input
        .threads
        .iter()
        .flat_map(|t| &t.slices)
        .map(Slice::dur_ns)
        .sum();
    let d = decode(&out);
    let drawn: u64 = d.slices.values().flatten().map(|s| s.1 - s.0).sum();
    assert_eq!(drawn + stats.merged_ns_by_name.values().sum::<u64>(), total);
    let shortest_drawn = d.slices.values().flatten().map(|s| s.1 - s.0).min();
    let plan = budget::Plan::new(&input.threads, Some(10_000));
    let longest_merged = input
        .threads
        .iter()
        .enumerate()
        .flat_map(|(ti, t)| t.slices.iter().enumerate().map(move |(i, s)| (ti, i, s)))
        .filter(|&(ti, i, _)| !plan.kept(ti, i))
        .map(|(_, _, s)| s.dur_ns())
        .max();
    assert!(shortest_drawn >= longest_merged);
    assert_eq!(stats.bytes, out.len() as u64);
}
