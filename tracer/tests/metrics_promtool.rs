#![cfg(feature = "root-tests")]
//! The metrics exposition against Prometheus's own tools (package
//! `prometheus`, 2.42 on Debian 12, installed by `cargo xtask test`):
//! `promtool check metrics` lints what `Metrics::encode` writes, and a real
//! Prometheus server scrapes `serve`'s endpoint and answers a query with
//! our series. Not root-only, but gated with the root tests because it needs
//! those tools; a missing tool fails (it is installed by the bootstrap), it
//! is never a skip.
//!
//! Run: `cargo test -p tracer --features root-tests --test metrics_promtool`

use std::{
    io::Write as _,
    net::SocketAddr,
    process::{Child, Command, Stdio},
    sync::Arc,
    time::{Duration, Instant},
};

#[path = "common/http.rs"]
mod http;
use http::{free_port, get_with};
use tracer::{
    metrics::{Metrics, serve},
    model::{
        cause::Cause,
        role::Role,
        watch::{Health, TargetId, TriggerKind},
    },
};

fn tool(name: &str) -> String {
    let path = format!("/usr/bin/{name}");
    assert!(
        std::path::Path::new(&path).exists(),
        "{path} is missing: apt-get install prometheus (`cargo xtask test` installs it)"
    );
    path
}

/// Every family with a series in it, and a forgotten target.
fn busy_metrics() -> Metrics {
    let m = Metrics::new();
    let zeam = TargetId {
        key: "container:zeam_0".into(),
        process: "zeam".into(),
    };
    let gone = TargetId {
        key: "pid:4242".into(),
        process: "old \"svc\"".into(),
    };
    for t in [&zeam, &gone] {
        for role in Role::ALL {
            for cause in Cause::ALL {
                m.add_off_cpu(t, role, cause, 0.125);
            }
        }
        m.add_blackout(t, 0.3);
        m.add_blackout(t, 12.0);
        m.set_health(t, Health::StarvedMemory);
        for kind in TriggerKind::ALL {
            m.trigger_fired(t, kind);
        }
    }
    m.forget_target(&gone);
    m.bundle_written(true);
    m.bundle_written(false);
    m.set_lost_events(7);
    m.set_watched_targets(1);
    m.refresh_self().expect("/proc/self is readable");
    m
}

/// `promtool check metrics` reads the classic text format only (2.42), so
/// it lints what the endpoint serves a `text/plain` client: the same
/// registry, names, help and types. The OpenMetrics rendering is what the
/// real server below scrapes and parses.
#[test]
fn promtool_accepts_the_exposition() {
    let promtool = tool("promtool");
    let server = serve("127.0.0.1:0".parse().unwrap(), Arc::new(busy_metrics())).unwrap();
    let text = get_with(server.local_addr(), "/metrics", "text/plain;version=0.0.4")
        .expect("the endpoint answers");
    assert!(
        text.contains("starvetrace_off_cpu_seconds_total{"),
        "{text}"
    );
    let mut child = Command::new(&promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool starts");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // Exit 0 and no lint finding (promtool exits 3 for lint problems and
    // prints each).
    assert!(
        out.status.success() && said.trim().is_empty(),
        "promtool check metrics: {:?}\n{said}\n--- exposition ---\n{text}",
        out.status
    );
}

/// A Prometheus server in a temp dir, killed on drop.
struct Prometheus {
    child: Child,
    addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_prometheus(target: SocketAddr) -> Prometheus {
    let bin = tool("prometheus");
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n\
             scrape_configs:\n  - job_name: starvetrace\n    static_configs:\n      \
             - targets: ['{target}']\n"
        ),
    )
    .unwrap();
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let child = Command::new(bin)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address={addr}"))
        .stdout(Stdio::null())
        .stderr(Stdio::from(
            std::fs::File::create(dir.path().join("prometheus.log")).unwrap(),
        ))
        .spawn()
        .expect("prometheus starts");
    Prometheus {
        child,
        addr,
        _dir: dir,
    }
}

/// GET `path` from `addr`; the body, or None when nothing answers yet.
fn get(addr: SocketAddr, path: &str) -> Option<String> {
    get_with(addr, path, "*/*")
}

/// The result vector of an instant query.
fn query(prom: SocketAddr, promql: &str) -> Vec<serde_json::Value> {
    let encoded: String = promql
        .bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    let Some(body) = get(prom, &format!("/api/v1/query?query={encoded}")) else {
        return Vec::new();
    };
    let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
    v["data"]["result"].as_array().cloned().unwrap_or_default()
}

#[test]
fn prometheus_scrapes_the_endpoint() {
    let metrics = Arc::new(busy_metrics());
    let server = serve("127.0.0.1:0".parse().unwrap(), metrics.clone()).unwrap();
    let prom = start_prometheus(server.local_addr());
    let started = Instant::now();
    let mut up = Vec::new();
    while started.elapsed() < Duration::from_secs(60) {
        up = query(prom.addr, "up{job=\"starvetrace\"} == 1");
        if !up.is_empty() && !query(prom.addr, "starvetrace_blackouts_total").is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    assert_eq!(
        up.len(),
        1,
        "Prometheus never scraped {}",
        server.local_addr()
    );

    let blackouts = query(prom.addr, "starvetrace_blackouts_total");
    assert_eq!(blackouts.len(), 1, "{blackouts:?}");
    let b = &blackouts[0];
    assert_eq!(b["metric"]["target"], "container:zeam_0");
    assert_eq!(b["metric"]["process"], "zeam");
    assert_eq!(b["value"][1], "2");
    // The histogram arrived as buckets: the 12 s blackout is above 10 s.
    let above = query(
        prom.addr,
        "starvetrace_blackout_length_seconds_count - ignoring(le) starvetrace_blackout_length_seconds_bucket{le=\"10.0\"}",
    );
    assert_eq!(above.len(), 1, "{above:?}");
    assert_eq!(above[0]["value"][1], "1");
    // The state set: one state is 1.
    let health = query(prom.addr, "starvetrace_health == 1");
    assert_eq!(health.len(), 1, "{health:?}");
    assert_eq!(health[0]["metric"]["starvetrace_health"], "starved_memory");
    // Every role x cause series of the kept target, none of the forgotten.
    let off = query(prom.addr, "starvetrace_off_cpu_seconds_total");
    assert_eq!(off.len(), Role::ALL.len() * Cause::ALL.len());
    assert!(query(prom.addr, "{target=\"pid:4242\"}").is_empty());
    drop(server);
}

/// A lab scenario run by our binary, killed on drop.
struct Lab(Child);

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn lab(scenario: &str, secs: u32) -> Lab {
    Lab(Command::new(env!("CARGO_BIN_EXE_starvetrace"))
        .args(["lab", scenario, "--duration", &secs.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the lab starts"))
}

/// The memory causes' seconds of one target over the last `range`.
fn memory_seconds(prom: SocketAddr, target: &str, range: &str) -> f64 {
    let q = format!(
        "sum(increase(starvetrace_off_cpu_seconds_total{{target=\"{target}\",cause=~\"page_fault_io|memcg_reclaim|direct_reclaim|memcg_high_throttle|compaction\"}}[{range}]))"
    );
    query(prom, &q)
        .first()
        .and_then(|r| r["value"][1].as_str()?.parse().ok())
        .unwrap_or(0.0)
}

/// `watch` over a memory-starved lab (memory-max: every host here has a
/// memory.max or v1 limit) and a healthy one, scraped by a real Prometheus:
/// the series exist, the starved lab's memory counters move, the healthy
/// one's do not. Expected before the first run: memory-max > 0.5 s of
/// memory stalls over 15 s (its workers fault most of the time), healthy
/// under 0.05 s.
#[test]
fn watch_feeds_prometheus_and_only_the_starved_lab_moves() {
    let starved = lab("memory-max", 40);
    let healthy = lab("healthy", 40);
    let port = free_port();
    let evidence = tempfile::tempdir().unwrap();
    let mut watch = Command::new(env!("CARGO_BIN_EXE_starvetrace"))
        .args(["watch", "--pid"])
        .arg(starved.0.id().to_string())
        .arg("--pid")
        .arg(healthy.0.id().to_string())
        .args([
            "--listen",
            &port.to_string(),
            "--capture",
            "2",
            "--evidence-dir",
        ])
        .arg(evidence.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("watch starts");
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let prom = start_prometheus(addr);
    let t0 = Instant::now();
    let starved_key = format!("pid:{}", starved.0.id());
    let healthy_key = format!("pid:{}", healthy.0.id());
    // Exposition linted by promtool, from the live watch.
    let mut text = None;
    while text.is_none() && t0.elapsed() < Duration::from_secs(20) {
        text = get_with(addr, "/metrics", "text/plain;version=0.0.4");
        std::thread::sleep(Duration::from_millis(200));
    }
    let text = text.expect("watch serves /metrics");
    let mut check = Command::new(tool("promtool"))
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    check
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = check.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool: {}{}\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    std::thread::sleep(Duration::from_secs(25).saturating_sub(t0.elapsed()));
    let health = query(prom.addr, "starvetrace_health == 1");
    let targets: Vec<&str> = health
        .iter()
        .filter_map(|r| r["metric"]["target"].as_str())
        .collect();
    assert!(
        targets.contains(&starved_key.as_str()) && targets.contains(&healthy_key.as_str()),
        "both targets have a health series: {health:?}"
    );
    let moved = memory_seconds(prom.addr, &starved_key, "15s");
    let still = memory_seconds(prom.addr, &healthy_key, "15s");
    let _ = watch.kill();
    let _ = watch.wait();
    assert!(
        moved > 0.5,
        "memory-max's memory stalls over 15 s: {moved} s"
    );
    assert!(still < 0.05, "healthy's memory stalls over 15 s: {still} s");
}
