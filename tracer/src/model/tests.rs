//! The JSON a recording serializes to is read back by `report FILE` and
//! by scripts: its key paths (and enum-like string values) must not move.

use super::*;

/// A recording with every optional part filled in.
pub(crate) fn representative() -> Recording {
    let hist = hist::HistSummary {
        count: 2,
        log2: vec![hist::Log2Bucket {
            lo: 1,
            hi: 1,
            count: 2,
        }],
        ..Default::default()
    };
    let stat = CauseStat {
        ns: 10,
        count: 2,
        histogram: hist.clone(),
        top_frames: vec!["2× a ← b".into()],
    };
    let thread = ThreadReport {
        tid: 2,
        tgid: 1,
        comm: "tokio-rt-worker".into(),
        role: role::Role::TokioWorker,
        ns_tid: Some(3),
        ongoing: Some(Ongoing {
            state: "sleeping".into(),
            cause: "futex".into(),
            off_cpu_ns: 5,
            start_known: true,
        }),
        futex_waits: vec![FutexWait { addr: 16, ns: 5 }],
        causes: [
            ("runqueue".to_string(), 1),
            ("memcg_high_throttle".to_string(), 2),
            ("page_fault_io".to_string(), 3),
            ("futex".to_string(), 4),
        ]
        .into_iter()
        .collect(),
        cause_stats: [("other".to_string(), stat.clone())].into_iter().collect(),
        histograms: Histograms {
            off_cpu: hist.clone(),
            runqueue: hist.clone(),
            on_cpu: hist,
        },
        ..Default::default()
    };
    let psi = cgroup::Psi {
        some_total_us: Some(1),
        full_total_us: Some(1),
        some_avg10: Some(0.5),
        full_avg10: Some(0.5),
    };
    let sample = cgroup::CgroupSample {
        t_ns: 1,
        memory_psi: psi,
        cpu_psi: psi,
        io_psi: psi,
        host_memory_psi: psi,
        host_cpu_psi: psi,
        host_io_psi: psi,
        events_high: Some(1),
        events_max: Some(1),
        events_oom: Some(1),
        events_oom_kill: Some(1),
        memory_current: Some(1),
        memory_high: Some(1),
        memory_max: Some(1),
        v1_usage_bytes: Some(1),
        v1_limit_bytes: Some(1),
        v1_failcnt: Some(1),
        pgmajfault: Some(1),
        refault_anon: Some(1),
        refault_file: Some(1),
        refault: Some(1),
        nr_throttled: Some(1),
        throttled_usec: Some(1),
    };
    let cgroup = cgroup::CgroupReport {
        layout: "v2".into(),
        limits: cgroup::CgroupLimits {
            memory_max: Some(cgroup::Limit::Bytes(1)),
            memory_high: Some(cgroup::Limit::Unlimited),
            v1_limit: None,
            changed: false,
        },
        samples: vec![sample],
        ..Default::default()
    };
    let snapshot = snapshot::Snapshot {
        threads: vec![snapshot::ThreadSnapshot {
            role: role::Role::SameNameAsProcess,
            syscall: Some(snapshot::SyscallNow {
                nr: 202,
                name: Some("futex".into()),
                futex_addr: Some(16),
                futex_op: Some("FUTEX_WAIT_PRIVATE".into()),
                ..Default::default()
            }),
            cause: "futex".into(),
            cause_from: "syscall".into(),
            ..Default::default()
        }],
        futex_groups: vec![snapshot::FutexGroup::default()],
        memory_pressure: Some(snapshot::PressureNow::default()),
        summary: vec!["line".into()],
        notes: vec!["note".into()],
        ..Default::default()
    };
    let mut timeline = timeline::TimelineReport {
        bucket_ns: 100_000_000,
        buckets: 2,
        ..Default::default()
    };
    timeline.series.insert("futex".into(), vec![50_000_000, 1]);
    timeline
        .series
        .insert("page_fault_io".into(), vec![0, 60_000_000]);
    Recording {
        diagnostics: [("malformed_records".to_string(), 1)].into_iter().collect(),
        threads: vec![thread],
        cause_totals: [("futex".to_string(), stat)].into_iter().collect(),
        intervals: vec![IntervalRow::default()],
        timeline: Some(timeline),
        snapshot: Some(snapshot),
        cgroup: Some(cgroup),
        verdict: Some(verdict::Verdict {
            outcome: verdict::Outcome::Refuted,
            summary: "s".into(),
            alternative: Some(verdict::Alternative::Idle),
            dominant_memory_cause: Some(cause::Cause::PageFaultIo),
            evidence: vec!["e".into()],
            reason: Some(judgement::Reason::Negligible {
                alternative: verdict::Alternative::Idle,
                why: judgement::AlternativeWhy::Parked {
                    share: 0.9,
                    longest_wait_ns: 1,
                },
            }),
            memory: Some(judgement::MemoryWeight {
                mechanism: Some(judgement::Mechanism::Refault),
                dominant_cause: Some(cause::Cause::PageFaultIo),
                ..Default::default()
            }),
            fault_waits: Some(judgement::FaultWaits::default()),
            throttle: Some(judgement::ThrottleWaits::default()),
            reclaim: Some(judgement::ReclaimFacts::default()),
            runtime: Some(judgement::RuntimeSet {
                pattern: Some("^rt".into()),
                names_seen: vec!["zeam".into()],
                ..Default::default()
            }),
        }),
        blackouts: Some(blackouts::Blackouts {
            by_cause: [(cause::Cause::PageFaultIo, 1)].into_iter().collect(),
            long: vec![blackouts::Blackout {
                cause: Some(cause::Cause::PageFaultIo),
                by_cause: [(cause::Cause::PageFaultIo, 1)].into_iter().collect(),
                ..Default::default()
            }],
            heartbeat: Some(blackouts::HeartbeatLoss::default()),
            lengths: hist::HistSummary {
                log2: vec![hist::Log2Bucket::default()],
                ..Default::default()
            },
            series: vec![1],
            ..Default::default()
        }),
        lab: Some(serde_json::json!({"scenario": "x"})),
        environment: Environment {
            probes: vec![ProbeStatus::default()],
            ..Default::default()
        },
        notes: vec!["n".into()],
        ..Default::default()
    }
}

/// Every key path, array elements as `[]`; string leaves with their value.
fn paths(prefix: &str, v: &serde_json::Value, out: &mut std::collections::BTreeSet<String>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, v) in m {
                paths(&format!("{prefix}.{k}"), v, out);
            }
        }
        serde_json::Value::Array(a) => {
            for v in a {
                paths(&format!("{prefix}[]"), v, out);
            }
        }
        serde_json::Value::String(s) => {
            out.insert(format!("{prefix} = {s:?}"));
        }
        _ => {
            out.insert(prefix.to_string());
        }
    }
}

/// Schema 2 only adds keys: every key path of schema 1 (the sample taken
/// before the house was reshaped) is still there, and the whole set is the
/// stored schema-2 sample (regenerate it with STARVETRACE_WRITE_KEYS=1 when
/// keys change on purpose, and bump `SCHEMA_VERSION`).
#[test]
fn json_key_paths_are_unchanged() {
    let json = serde_json::to_value(representative()).unwrap();
    let mut set = std::collections::BTreeSet::new();
    paths("", &json, &mut set);
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data");
    let v1 = std::fs::read_to_string(format!("{dir}/recording-keys.txt")).unwrap();
    let missing: Vec<&str> = v1.lines().filter(|k| !set.contains(*k)).collect();
    assert!(missing.is_empty(), "schema-1 keys gone: {missing:?}");
    let got: String = set.into_iter().map(|p| p + "\n").collect();
    let file = format!("{dir}/recording-keys-v2.txt");
    if std::env::var_os("STARVETRACE_WRITE_KEYS").is_some() {
        std::fs::write(&file, &got).unwrap();
    }
    let want = std::fs::read_to_string(&file).unwrap();
    assert_eq!(got, want, "the JSON key paths changed");
    // `report FILE` reads it back.
    let text = serde_json::to_string(&representative()).unwrap();
    let back: Recording = serde_json::from_str(&text).unwrap();
    assert_eq!(serde_json::to_value(back).unwrap(), json);
}
