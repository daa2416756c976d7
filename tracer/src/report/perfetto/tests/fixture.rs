//! A small input and a decoder that rebuilds what a trace draws.

use std::collections::BTreeMap;

use perfetto_protos::{
    debug_annotation::{DebugAnnotation, debug_annotation},
    trace::Trace,
    trace_packet::{TracePacket, trace_packet},
    track_descriptor::TrackDescriptor,
    track_event::{TrackEvent, track_event},
};
use protobuf::Message as _;

use super::super::*;

pub(super) fn sample() -> TraceInput {
    let s = Slice::new;
    TraceInput {
        clock: ClockPair {
            monotonic_ns: 5_000_000_000,
            boottime_ns: 5_700_000_123,
        },
        processes: vec![
            Process {
                pid: 100,
                name: "app".into(),
                container: Some("shop".into()),
            },
            Process {
                pid: 200,
                name: "lab".into(),
                container: None,
            },
        ],
        threads: vec![
            Thread {
                tid: 101,
                pid: 100,
                name: "tokio-rt-w-0".into(),
                role: Some("worker".into()),
                // Touching slices: an END and a BEGIN share timestamps.
                slices: vec![
                    s(1_000, 1_500, ON_CPU),
                    s(1_500, 4_000, "memcg_reclaim"),
                    s(4_000, 4_100, ON_CPU),
                    s(4_100, 4_130, "futex"),
                    s(4_130, 9_000, "runqueue"),
                ],
            },
            Thread {
                tid: 102,
                pid: 100,
                name: "tokio-rt-w-1".into(),
                role: Some("worker".into()),
                slices: vec![
                    s(1_100, 1_110, ON_CPU),
                    s(1_200, 1_900, "memcg_reclaim"),
                    s(2_000, 2_005, "futex"),
                    s(2_005, 2_005, "epoll"),
                ],
            },
            Thread {
                tid: 201,
                pid: 200,
                name: "heartbeat".into(),
                role: None,
                slices: vec![s(1_000, 2_000, "sleep"), s(2_000, 2_020, ON_CPU)],
            },
        ],
        counters: vec![
            Counter {
                name: "psi memory some".into(),
                unit: Unit::Named("%".into()),
                pid: Some(100),
                points: vec![(1_000, 0.0), (2_000, 12.5), (3_000, 0.1 + 0.2)],
            },
            Counter {
                name: "memory.current".into(),
                unit: Unit::Bytes,
                pid: None,
                points: vec![(1_000, 1.0e9), (2_000, 1.5e9)],
            },
        ],
        blackouts: Blackouts {
            pid: Some(100),
            slices: vec![
                s(1_500, 1_900, "memcg_reclaim"),
                s(4_130, 9_000, "runqueue"),
            ],
        },
        instant_tracks: vec![InstantTrack {
            name: "heartbeats".into(),
            pid: Some(200),
            events: (0..4)
                .map(|i| InstantEvent {
                    t_ns: 1_000 + i * 1_000,
                    name: "beat".into(),
                    args: vec![Arg::new("late_ns", i * 7)],
                })
                .collect(),
        }],
        verdict: Some(Verdict {
            t_ns: 9_000,
            outcome: "starved".into(),
            summary: "memory reclaim stalled the workers".into(),
            args: vec![Arg::new("dominant", "memcg_reclaim")],
        }),
    }
}

#[derive(Default)]
pub(super) struct Decoded {
    pub(super) packets: Vec<TracePacket>,
    pub(super) tracks: BTreeMap<u64, TrackDescriptor>,
    pub(super) slices: BTreeMap<u64, Vec<(u64, u64, String)>>,
    pub(super) counters: BTreeMap<u64, Vec<(u64, f64)>>,
    pub(super) instants: BTreeMap<u64, Vec<(u64, String, Vec<DebugAnnotation>)>>,
}

impl Decoded {
    pub(super) fn track(&self, pred: impl Fn(&TrackDescriptor) -> bool) -> u64 {
        let found: Vec<_> = self.tracks.values().filter(|d| pred(d)).collect();
        assert_eq!(found.len(), 1, "exactly one such track");
        found[0].uuid()
    }
    pub(super) fn named(&self, name: &str) -> u64 {
        self.track(|d| d.name() == name)
    }
    pub(super) fn thread(&self, tid: i32) -> u64 {
        self.track(|d| d.thread.as_ref().is_some_and(|t| t.tid() == tid))
    }
}

/// Rebuilds slices from BEGIN/END per track, in timestamp order, keeping
/// file order within a timestamp as the trace processor does.
pub(super) fn decode(bytes: &[u8]) -> Decoded {
    let trace = Trace::parse_from_bytes(bytes).expect("a Trace");
    let mut d = Decoded::default();
    let mut events: Vec<(u64, TrackEvent)> = Vec::new();
    for p in &trace.packet {
        match &p.data {
            Some(trace_packet::Data::TrackDescriptor(t)) => {
                assert!(
                    d.tracks.insert(t.uuid(), t.clone()).is_none(),
                    "uuid reused"
                );
            }
            Some(trace_packet::Data::TrackEvent(e)) => events.push((p.timestamp(), e.clone())),
            _ => {}
        }
    }
    events.sort_by_key(|e| e.0);
    let mut open: BTreeMap<u64, Vec<(u64, String)>> = BTreeMap::new();
    for (ts, e) in events {
        let u = e.track_uuid();
        match e.type_() {
            track_event::Type::TYPE_SLICE_BEGIN => {
                open.entry(u).or_default().push((ts, e.name().to_string()))
            }
            track_event::Type::TYPE_SLICE_END => {
                let (start, name) = open
                    .get_mut(&u)
                    .and_then(|v| v.pop())
                    .expect("END after BEGIN");
                d.slices.entry(u).or_default().push((start, ts, name));
            }
            track_event::Type::TYPE_COUNTER => {
                let v = match e.counter_value_field {
                    Some(track_event::Counter_value_field::DoubleCounterValue(v)) => v,
                    Some(track_event::Counter_value_field::CounterValue(v)) => v as f64,
                    other => panic!("counter without a value: {other:?}"),
                };
                d.counters.entry(u).or_default().push((ts, v));
            }
            track_event::Type::TYPE_INSTANT => {
                let args = e.debug_annotations.clone();
                d.instants
                    .entry(u)
                    .or_default()
                    .push((ts, e.name().to_string(), args));
            }
            other => panic!("unexpected event type {other:?}"),
        }
    }
    assert!(open.values().all(Vec::is_empty), "unterminated slices");
    d.packets = trace.packet;
    d
}

pub(super) fn write(input: &TraceInput, options: &WriteOptions) -> (Decoded, WriteStats) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("t.pftrace");
    let stats = write_trace(&path, input, options).expect("write");
    let bytes = std::fs::read(&path).expect("read back");
    assert_eq!(stats.bytes, bytes.len() as u64);
    (decode(&bytes), stats)
}

pub(super) fn ns_by_name<'a>(
    slices: impl Iterator<Item = (u64, u64, &'a str)>,
) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for (a, b, n) in slices {
        *out.entry(n.to_string()).or_default() += b - a;
    }
    out
}

pub(super) fn arg<'a>(args: &'a [DebugAnnotation], name: &str) -> &'a DebugAnnotation {
    args.iter()
        .find(|a| a.name() == name)
        .unwrap_or_else(|| panic!("no arg {name}"))
}

pub(super) fn uint(a: &DebugAnnotation) -> u64 {
    match a.value {
        Some(debug_annotation::Value::UintValue(v)) => v,
        ref v => panic!("{} is not a uint: {v:?}", a.name()),
    }
}

pub(super) fn string(a: &DebugAnnotation) -> &str {
    match &a.value {
        Some(debug_annotation::Value::StringValue(v)) => v,
        v => panic!("{} is not a string: {v:?}", a.name()),
    }
}
