#!/usr/bin/env python3
"""Checks a `record --perfetto` trace against the JSON report of the same run.

Usage: compare_report.py TRACE REPORT_JSON

Parsed with Perfetto's official schema (see check_trace.py). Per traced
thread: the total ns of the slices named by each off-CPU cause equals the
report's `causes` for that thread, to the nanosecond, and the number of
slices of each blocking cause equals the report's `cause_stats` count
(run-queue slices are compared by time only: the report also counts waits
of zero length, which draw no slice). Exit 0 when all match, 1 otherwise
(each mismatch listed), 2 when something cannot be read.
"""

import json
import os
import sys
from collections import defaultdict

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import check_trace  # noqa: E402  (the same schema loader and slice rebuild)


def main(argv):
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    pb = check_trace.load_schema()
    try:
        data = open(argv[1], "rb").read()
        report = json.load(open(argv[2]))
    except OSError as e:
        print(f"compare_report: {e}", file=sys.stderr)
        return 2
    errors = []
    t = check_trace.Trace(pb, data, errors)
    tid_of = {u: d.thread.tid for u, d in t.tracks.items() if d.HasField("thread")}
    ns = defaultdict(lambda: defaultdict(int))
    count = defaultdict(lambda: defaultdict(int))
    for uuid, slices in t.slices.items():
        if uuid not in tid_of:
            continue
        for start, end, name in slices:
            ns[tid_of[uuid]][name] += end - start
            count[tid_of[uuid]][name] += 1
    threads = 0
    for th in report["threads"]:
        tid = th["tid"]
        threads += 1
        for cause, want in th["causes"].items():
            got = ns[tid].get(cause, 0)
            if got != want:
                errors.append(f"thread {tid} {cause}: trace {got} ns, report {want} ns")
            if cause == "runqueue" or want == 0:
                continue
            want_n = th["cause_stats"][cause]["count"]
            got_n = count[tid].get(cause, 0)
            if got_n != want_n:
                errors.append(f"thread {tid} {cause}: trace {got_n} slices, report {want_n}")
        for name in ns[tid]:
            if name not in th["causes"] and name != "on-cpu":
                errors.append(f"thread {tid}: trace has {name} slices the report lacks")
    for e in errors:
        print(f"MISMATCH {e}")
    if errors:
        return 1
    print(f"OK: {threads} threads, every cause's ns and slice count as in the report")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
