//! The Perfetto writer's output parses with Perfetto's official schema
//! (`perfetto_trace_pb2` from PyPI) and holds exactly what was written:
//! `tests/perfetto/check_trace.py` compares it with `expectations_json`.
//!
//! Python: `$STARVETRACE_PERFETTO_PY` if set, else `<target>/perfetto-venv`,
//! created by `tests/perfetto/make_venv.sh` when missing; a venv that cannot
//! be had fails the test with the reason, it never passes unchecked. The
//! traces stay in `<target>/perfetto-schema/` to open in ui.perfetto.dev.
#![cfg(feature = "root-tests")]

use std::{
    path::{Path, PathBuf},
    process::Command,
    sync::OnceLock,
};

use tracer::report::perfetto::{
    Arg, Blackouts, ClockPair, Counter, InstantEvent, InstantTrack, ON_CPU, Process, Slice, Thread,
    TraceInput, Unit, Verdict, WriteOptions, expectations_json, write_trace,
};

const CAUSES: [&str; 6] = [
    "runqueue",
    "memcg_reclaim",
    "futex",
    "epoll",
    "page_fault_io",
    "sleep",
];

fn manifest() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| manifest().join("../target"))
}

fn has_schema(python: &Path) -> Result<(), String> {
    let out = Command::new(python)
        .args([
            "-c",
            "from perfetto.protos.perfetto.trace import perfetto_trace_pb2",
        ])
        .output()
        .map_err(|e| format!("cannot run {}: {e}", python.display()))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// A python with the official schema, made if need be (once, though the
/// tests run in parallel); panics saying why not.
fn python() -> PathBuf {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON.get_or_init(find_or_make_python).clone()
}

fn find_or_make_python() -> PathBuf {
    if let Some(py) = std::env::var_os("STARVETRACE_PERFETTO_PY") {
        let py = PathBuf::from(py);
        if let Err(why) = has_schema(&py) {
            panic!(
                "STARVETRACE_PERFETTO_PY={} has no perfetto_trace_pb2: {why}",
                py.display()
            );
        }
        return py;
    }
    let venv = target_dir().join("perfetto-venv");
    let py = venv.join("bin/python");
    if has_schema(&py).is_ok() {
        return py;
    }
    let script = manifest().join("tests/perfetto/make_venv.sh");
    let out = Command::new("sh")
        .arg(&script)
        .arg(&venv)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    if !out.status.success() {
        panic!(
            "perfetto_schema: cannot run: creating {} failed: {}{}",
            venv.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    if let Err(why) = has_schema(&py) {
        panic!(
            "perfetto_schema: cannot run: {} has no schema after install: {why}",
            venv.display()
        );
    }
    py
}

/// Alternating on-CPU and off-CPU slices with uneven lengths and gaps, so
/// a budget has short and long ones to choose from.
fn thread(tid: i32, pid: i32, role: &str, n: u64, t0: u64) -> Thread {
    let mut t = t0;
    let mut slices = Vec::new();
    for i in 0..n {
        let dur = 1_000 + (i * 7_919 + tid as u64 * 104_729) % 900_000;
        let name = if i % 2 == 0 {
            ON_CPU
        } else {
            CAUSES[(i as usize / 2) % CAUSES.len()]
        };
        slices.push(Slice::new(t, t + dur, name));
        t += dur + (i % 3) * 500;
    }
    Thread {
        tid,
        pid,
        name: format!("tokio-rt-{tid}"),
        role: Some(role.into()),
        slices,
    }
}

fn input() -> TraceInput {
    let t0 = 1_000_000_000;
    let psi = |name: &str, k: f64| Counter {
        name: name.into(),
        unit: Unit::Named("%".into()),
        pid: Some(10),
        points: (0..40)
            .map(|i| (t0 + i * 100_000_000, (i as f64 * k) % 97.3))
            .collect(),
    };
    TraceInput {
        clock: ClockPair {
            monotonic_ns: 9_000_000_000,
            boottime_ns: 9_123_456_789,
        },
        processes: vec![
            Process {
                pid: 10,
                name: "shop".into(),
                container: Some("shop-ctr".into()),
            },
            Process {
                pid: 20,
                name: "lab".into(),
                container: None,
            },
        ],
        threads: vec![
            thread(11, 10, "worker", 3_000, t0),
            thread(12, 10, "worker", 2_500, t0 + 333),
            thread(21, 20, "heartbeat", 500, t0),
        ],
        counters: vec![
            psi("psi memory some", 3.3),
            psi("psi memory full", 1.1),
            psi("psi cpu some", 0.7),
            Counter {
                name: "memory.current".into(),
                unit: Unit::Bytes,
                pid: None,
                points: (0..40)
                    .map(|i| (t0 + i * 100_000_000, 5.0e8 + i as f64 * 1.0e6))
                    .collect(),
            },
        ],
        blackouts: Blackouts {
            pid: Some(10),
            slices: (0..30)
                .map(|i| {
                    Slice::new(
                        t0 + i * 50_000_000,
                        t0 + i * 50_000_000 + 3_000_000 + i * 1_000,
                        CAUSES[i as usize % 3],
                    )
                })
                .collect(),
        },
        instant_tracks: vec![InstantTrack {
            name: "heartbeats".into(),
            pid: Some(20),
            events: (0..200)
                .map(|i| InstantEvent {
                    t_ns: t0 + i * 10_000_000,
                    name: "beat".into(),
                    args: vec![Arg::new("late_ns", i * 13)],
                })
                .collect(),
        }],
        verdict: Some(Verdict {
            t_ns: t0 + 4_000_000_000,
            outcome: "starved".into(),
            summary: "memory reclaim held the workers off-CPU".into(),
            args: vec![Arg::new("dominant", "memcg_reclaim")],
        }),
    }
}

fn check(name: &str, options: &WriteOptions) {
    let py = python();
    let dir = target_dir().join("perfetto-schema");
    std::fs::create_dir_all(&dir)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    let input = input();
    let trace = dir.join(format!("{name}.pftrace"));
    let expect = dir.join(format!("{name}.expect.json"));
    let stats = write_trace(&trace, &input, options).expect("write the trace");
    let json = serde_json::to_vec_pretty(&expectations_json(&input, options)).expect("json");
    std::fs::write(&expect, json)
        .unwrap_or_else(|e| panic!("cannot write {}: {e}", expect.display()));
    eprintln!("{name}: {stats:?}");
    let out = Command::new(&py)
        .arg(manifest().join("tests/perfetto/check_trace.py"))
        .args([&trace, &expect])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", py.display()));
    eprintln!("{}", String::from_utf8_lossy(&out.stdout));
    assert!(
        out.status.success(),
        "check_trace.py rejected {}:\n{}",
        trace.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn every_slice_parses_with_the_official_schema() {
    check("all-slices", &WriteOptions::default());
}

#[test]
fn a_budgeted_trace_parses_with_the_official_schema() {
    check(
        "budget",
        &WriteOptions {
            max_slices: Some(1_000),
            merge_bin_ns: 1_000_000,
        },
    );
}
