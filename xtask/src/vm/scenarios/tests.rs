use super::*;

fn report(outcome: &str, alt: Option<&str>, dominant: Option<&str>) -> String {
    serde_json::json!({
        "lost_events": 0,
        "records": 10,
        "environment": {
            "kernel": "6.1.0-56-cloud-amd64",
            "probes": [{"name": "sched_switch", "attached": true, "detail": "tp_btf"}]
        },
        "threads": [{
            "on_cpu_ns": 5,
            "off_cpu_ns": 1_000_000_001,
            "switches": 2,
            "causes": {"sleep": 1_000_000_000},
            "off_cpu_ns_by_state": {"sleeping": 1_000_000_000}
        }],
        "verdict": {
            "outcome": outcome,
            "summary": "s",
            "alternative": alt,
            "dominant_memory_cause": dominant
        }
    })
    .to_string()
}

fn run(stdout: String) -> GuestRun {
    GuestRun {
        stdout,
        ..Default::default()
    }
}

#[test]
fn every_lab_scenario_has_a_row() {
    for name in [
        "memory-high",
        "memory-max",
        "cpu",
        "lost-wakeup",
        "lock",
        "healthy",
        "sidecar-memory",
        "cold-reads",
        "blockon-memory",
        "blocking-pool-idle",
        "cpu-and-memory",
    ] {
        assert_eq!(find(name).unwrap().kind, Kind::Demo, "{name}");
    }
    assert_eq!(find("smoke").unwrap().kind, Kind::Smoke);
}

#[test]
fn memory_high_needs_the_throttle_dominant() {
    let exp = find("memory-high").unwrap();
    let ok = judge(
        exp,
        &run(report("confirmed", None, Some("memcg_high_throttle"))),
    );
    assert!(ok.pass, "{ok:?}");
    assert_eq!(ok.dominant, "memcg_high_throttle");
    assert_eq!(ok.alternative, "-");
    let bad = judge(exp, &run(report("confirmed", None, Some("memcg_reclaim"))));
    assert!(!bad.pass);
    assert!(bad.detail.contains("memcg_reclaim"), "{}", bad.detail);
}

#[test]
fn alternatives_and_missing_alternative() {
    let lw = find("lost-wakeup").unwrap();
    assert!(judge(lw, &run(report("refuted", Some("idle"), None))).pass);
    assert!(!judge(lw, &run(report("refuted", Some("cpu"), None))).pass);
    let healthy = find("healthy").unwrap();
    assert!(judge(healthy, &run(report("refuted", None, None))).pass);
    assert!(!judge(healthy, &run(report("inconclusive", None, None))).pass);
}

#[test]
fn smoke_checks_loss_probes_and_cpu() {
    let smoke = find("smoke").unwrap();
    assert!(judge(smoke, &run(report("refuted", Some("busy"), None))).pass);
    let lossy = report("refuted", None, None).replace("\"lost_events\":0", "\"lost_events\":3");
    let j = judge(smoke, &run(lossy));
    assert!(!j.pass && j.detail.contains("lost_events=3"), "{j:?}");
    let detached = report("refuted", None, None).replace("\"attached\":true", "\"attached\":false");
    assert!(!judge(smoke, &run(detached)).pass);
    let idle = report("refuted", None, None).replace("\"on_cpu_ns\":5", "\"on_cpu_ns\":0");
    assert!(!judge(smoke, &run(idle)).pass);
    let no_sleep =
        report("refuted", None, None).replace("\"sleep\":1000000000", "\"futex\":1000000000");
    let j = judge(smoke, &run(no_sleep));
    assert!(
        !j.pass && j.detail.contains("syscall classification"),
        "{j:?}"
    );
}

#[test]
fn heartbeat_ground_truth() {
    let mut r: Value = serde_json::from_str(&report("confirmed", None, None)).unwrap();
    assert_eq!(heartbeats(&r), "-");
    r["lab"] = serde_json::json!({
        "tokio_heartbeat": {"max_late_ns": 412_000_000u64, "p99_late_ns": 380_000_000u64},
        "event_loop_heartbeat": {"max_late_ns": 9_000_000u64},
        "os_heartbeat": {"max_late_ns": 1_400_000u64},
        "tokio_beats_seen": 80,
        "tokio_beats_expected": 100
    });
    assert_eq!(
        heartbeats(&r),
        "tokio max 412 p99 380 ms (80/100 beats), loop max 9 ms, os max 1 ms"
    );
}

#[test]
fn no_json_is_a_failure_with_stderr() {
    let j = judge(
        find("smoke").unwrap(),
        &GuestRun {
            rc: 6,
            stderr: "starvetrace: error: verifier said no\n".into(),
            ..Default::default()
        },
    );
    assert!(!j.pass);
    assert!(j.detail.contains("exit 6") && j.detail.contains("verifier said no"));
}

#[test]
fn watch_rows_judge_the_whole_episode_and_the_latency() {
    let exp = find("watch-memory-high").unwrap();
    let doc = serde_json::json!({
        "lab": {
            "started_monotonic_ns": 100_000_000_000u64,
            "tokio_heartbeat": {"late_beats": [
                {"at_ms": 1000, "late_ms": 50},
                {"at_ms": 9000, "late_ms": 4000}
            ]}
        },
        "trigger": {
            "request": {"fired": [{"kind": "psi", "at_ns": 106_000_000_000u64}]},
            "fired_during_capture": [{"kind": "blackout", "at_ns": 106_500_000_000u64}]
        },
        "report": {
            "lost_events": 0,
            "verdict": {"outcome": "confirmed"},
            "environment": {"probes": [{"name": "sched_switch", "attached": true}]}
        }
    });
    // Wedge at 100 s + (9000 − 4000) ms; blackout trigger 1.5 s later.
    assert_eq!(super::trigger_latency_ms(&doc), Some(1500.0));
    let run = GuestRun {
        stdout: doc.to_string(),
        ..Default::default()
    };
    let j = judge(exp, &run);
    assert!(j.pass, "{}", j.detail);
    let mut only_psi = doc.clone();
    only_psi["trigger"]["fired_during_capture"] = serde_json::json!([]);
    let j = judge(
        exp,
        &GuestRun {
            stdout: only_psi.to_string(),
            ..Default::default()
        },
    );
    assert!(
        !j.pass,
        "a bundle without a blackout or stall trigger fails"
    );
    let healthy = find("watch-healthy").unwrap();
    let none = serde_json::json!({"lab": {}, "trigger": null, "report": null});
    let j = judge(
        healthy,
        &GuestRun {
            stdout: none.to_string(),
            ..Default::default()
        },
    );
    assert!(j.pass, "{}", j.detail);
    assert!(
        !judge(healthy, &run).pass,
        "a bundle for the healthy lab fails"
    );
}
