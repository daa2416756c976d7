#!/usr/bin/env python3
"""Checks a starvetrace Perfetto trace against its expectations.

Usage: check_trace.py TRACE EXPECTATIONS_JSON

The trace is parsed with Perfetto's official schema (`perfetto_trace_pb2`
from the PyPI package `perfetto`), not with the protos that wrote it, so a
field the writer put in the wrong place shows up here. Slices are rebuilt
from TrackEvent BEGIN/END per track uuid, in timestamp order and file order
within a timestamp (as the trace processor sorts them). The expectations
come from `report::perfetto::expectations_json`. Every comparison is exact.

Exit status: 0 when everything matches, 1 on a mismatch (each one listed),
2 when the schema cannot be imported or the files cannot be read.
"""

import json
import sys
from collections import defaultdict

VENV_HINT = (
    "python3 -m venv target/perfetto-venv && "
    "target/perfetto-venv/bin/pip install 'perfetto==0.59.*' protobuf"
)


def load_schema():
    try:
        from perfetto.protos.perfetto.trace import perfetto_trace_pb2
    except ImportError as e:
        print(f"check_trace: cannot import perfetto_trace_pb2 ({e}); create the venv: {VENV_HINT}", file=sys.stderr)
        sys.exit(2)
    return perfetto_trace_pb2


def annotations(event):
    """Debug annotations as a dict; nested dicts stay nested."""
    out = {}
    for a in event.debug_annotations:
        kind = a.WhichOneof("value")
        out[a.name] = annotations_of(a.dict_entries) if kind is None else getattr(a, kind)
    return out


def annotations_of(entries):
    return {e.name: (annotations_of(e.dict_entries) if e.WhichOneof("value") is None else getattr(e, e.WhichOneof("value"))) for e in entries}


class Trace:
    def __init__(self, pb, data, errors):
        trace = pb.Trace()
        trace.ParseFromString(data)
        self.pb = pb
        self.packets = list(trace.packet)
        self.tracks = {}
        self.slices = defaultdict(list)  # uuid -> [(start, end, name)]
        self.counters = defaultdict(list)  # uuid -> [(ts, value)]
        self.instants = defaultdict(list)  # uuid -> [(ts, name, args)]
        events = []
        for i, p in enumerate(self.packets):
            kind = p.WhichOneof("data")
            if kind == "track_descriptor":
                d = p.track_descriptor
                if d.uuid in self.tracks:
                    errors.append(f"track uuid {d.uuid} described twice")
                self.tracks[d.uuid] = d
            elif kind == "track_event":
                if not p.HasField("timestamp"):
                    errors.append(f"packet {i}: track event without a timestamp")
                events.append((p.timestamp, i, p.track_event))
        events.sort(key=lambda e: (e[0], e[1]))
        open_slices = defaultdict(list)
        TE = pb.TrackEvent
        for ts, i, e in events:
            u = e.track_uuid
            if u not in self.tracks:
                errors.append(f"packet {i}: event on undescribed track {u}")
            if e.type == TE.TYPE_SLICE_BEGIN:
                open_slices[u].append((ts, e.name))
            elif e.type == TE.TYPE_SLICE_END:
                if not open_slices[u]:
                    errors.append(f"packet {i}: slice END without BEGIN on track {u}")
                    continue
                start, name = open_slices[u].pop()
                self.slices[u].append((start, ts, name))
            elif e.type == TE.TYPE_COUNTER:
                field = e.WhichOneof("counter_value_field")
                if field is None:
                    errors.append(f"packet {i}: counter event without a value")
                    continue
                self.counters[u].append((ts, float(getattr(e, field))))
            elif e.type == TE.TYPE_INSTANT:
                self.instants[u].append((ts, e.name, annotations(e)))
            else:
                errors.append(f"packet {i}: unexpected event type {e.type}")
        for u, stack in open_slices.items():
            if stack:
                errors.append(f"track {u}: {len(stack)} slices never end")

    def named(self, name):
        return [u for u, d in self.tracks.items() if d.name == name]


def ns_by_name(slices):
    out = defaultdict(int)
    for start, end, name in slices:
        out[name] += end - start
    return dict(out)


def check(pb, t, exp, errors):
    def expect(what, got, want):
        if got == want:
            return
        if isinstance(got, dict) and isinstance(want, dict):
            # Only the keys that differ: a long map's message stays readable.
            keys = sorted(k for k in set(got) | set(want) if got.get(k) != want.get(k))
            got = {k: got.get(k) for k in keys}
            want = {k: want.get(k) for k in keys}
        errors.append(f"{what}: got {got!r}, want {want!r}")

    # One sequence; its first packet clears the incremental state and makes
    # MONOTONIC the default clock; a snapshot ties MONOTONIC to BOOTTIME.
    seqs = {p.trusted_packet_sequence_id for p in t.packets}
    expect("packet sequences", len(seqs), 1)
    expect("sequence id set", 0 in seqs, False)
    first = t.packets[0]
    expect(
        "first packet clears incremental state",
        bool(first.sequence_flags & pb.TracePacket.SEQ_INCREMENTAL_STATE_CLEARED),
        True,
    )
    expect("default clock", first.trace_packet_defaults.timestamp_clock_id, pb.BUILTIN_CLOCK_MONOTONIC)
    snaps = [p.clock_snapshot for p in t.packets if p.WhichOneof("data") == "clock_snapshot"]
    expect("clock snapshots", len(snaps), 1)
    if snaps:
        clocks = {c.clock_id: c.timestamp for c in snaps[0].clocks}
        expect("MONOTONIC in snapshot", clocks.get(pb.BUILTIN_CLOCK_MONOTONIC), exp["clock"]["monotonic_ns"])
        expect("BOOTTIME in snapshot", clocks.get(pb.BUILTIN_CLOCK_BOOTTIME), exp["clock"]["boottime_ns"])
        expect("primary trace clock", snaps[0].primary_trace_clock, pb.BUILTIN_CLOCK_MONOTONIC)
    for i, p in enumerate(t.packets):
        if p.WhichOneof("data") == "track_event":
            if p.HasField("timestamp_clock_id"):
                errors.append(f"packet {i}: own clock id instead of the default")
            if not p.sequence_flags & pb.TracePacket.SEQ_NEEDS_INCREMENTAL_STATE:
                errors.append(f"packet {i}: uses the defaults without SEQ_NEEDS_INCREMENTAL_STATE")

    thread_uuid = {d.thread.tid: u for u, d in t.tracks.items() if d.HasField("thread")}
    thread_uuids = set(thread_uuid.values())
    expect("thread tracks", sorted(thread_uuid), sorted(int(k) for k in exp["threads"]))
    for tid, want in exp["threads"].items():
        u = thread_uuid.get(int(tid))
        if u is None:
            continue
        got = t.slices.get(u, [])
        expect(f"tid {tid}: slices", len(got), want["slices"])
        expect(f"tid {tid}: ns by name", ns_by_name(got), want["ns_by_name"])
        merged = {
            d.name: t.counters.get(v, [])
            for v, d in t.tracks.items()
            if d.HasField("counter") and d.parent_uuid == u
        }
        want_merged = {f"merged {n} ns": ns for n, ns in want["merged_ns_by_name"].items()}
        expect(f"tid {tid}: merged counter tracks", sorted(merged), sorted(want_merged))
        for name, ns in want_merged.items():
            points = merged.get(name) or [(0, None)]
            expect(f"tid {tid}: last value of {name!r}", points[-1][1], float(ns))

    b = t.named(exp["blackouts"]["track"])
    expect("blackout tracks", len(b), 1)
    if b:
        got = t.slices.get(b[0], [])
        expect("blackout slices", len(got), exp["blackouts"]["slices"])
        expect("blackout ns by name", ns_by_name(got), exp["blackouts"]["ns_by_name"])

    counters = {
        d.name: t.counters.get(u, [])
        for u, d in t.tracks.items()
        if d.HasField("counter") and d.parent_uuid not in thread_uuids
    }
    expect("counter tracks", sorted(counters), sorted(exp["counters"]))
    for name, want in exp["counters"].items():
        values = [v for _, v in counters.get(name, [])]
        got = {
            "points": len(values),
            "min": min(values) if values else None,
            "max": max(values) if values else None,
            "last": values[-1] if values else None,
        }
        expect(f"counter {name!r}", got, want)

    for name, want in exp["instant_tracks"].items():
        us = t.named(name)
        expect(f"instant track {name!r}", len(us), 1)
        if us:
            expect(f"instants on {name!r}", len(t.instants.get(us[0], [])), want)

    meta = t.named(exp["starvetrace_track"])
    expect(f"track {exp['starvetrace_track']!r}", len(meta), 1)
    events = t.instants.get(meta[0], []) if meta else []
    export = [args for _, name, args in events if name == exp["export_event"]]
    expect(f"{exp['export_event']!r} events", len(export), 1)
    if export:
        args = export[0]
        expect("slices_merged in the export event", args.get("slices_merged"), exp["merged"]["slices"])
        expect("merged totals in the export event", args.get("merged", {}), exp["merged"]["by_name"])
    verdict = exp["verdict"]
    if verdict is not None:
        found = [args for _, name, args in events if name == f"verdict: {verdict['outcome']}"]
        expect("verdict events", len(found), 1)
        if found:
            expect("verdict outcome", found[0].get("outcome"), verdict["outcome"])
            expect("verdict summary", found[0].get("summary"), verdict["summary"])


def main(argv):
    if len(argv) != 3:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    pb = load_schema()
    try:
        with open(argv[1], "rb") as f:
            data = f.read()
        with open(argv[2]) as f:
            exp = json.load(f)
    except (OSError, ValueError) as e:
        print(f"check_trace: {e}", file=sys.stderr)
        return 2
    errors = []
    try:
        t = Trace(pb, data, errors)
    except Exception as e:  # the schema's DecodeError, whatever its module
        print(f"check_trace: {argv[1]} is not a Perfetto Trace: {e}", file=sys.stderr)
        return 1
    check(pb, t, exp, errors)
    if errors:
        print(f"check_trace: {argv[1]}: {len(errors)} mismatches:", file=sys.stderr)
        for e in errors:
            print(f"  {e}", file=sys.stderr)
        return 1
    n_slices = sum(len(s) for s in t.slices.values())
    print(
        f"check_trace: {argv[1]}: OK: {len(t.packets)} packets, {len(t.tracks)} tracks, "
        f"{n_slices} slices, {exp['merged']['slices']} merged"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
