use std::{
    io::{Read as _, Write as _},
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream},
    sync::Arc,
    time::Duration,
};

use super::{serve::Request, *};
use crate::error::{Error, exit};

fn target(key: &str, process: &str) -> TargetId {
    TargetId {
        key: key.into(),
        process: process.into(),
    }
}

/// The sample lines (not comments) of the family named `name`, exactly.
fn samples<'a>(text: &'a str, name: &str) -> Vec<&'a str> {
    text.lines()
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .collect()
}

/// The value of the one sample line holding every one of `parts`.
fn value(text: &str, name: &str, parts: &[&str]) -> Option<f64> {
    let hits: Vec<&str> = samples(text, name)
        .into_iter()
        .filter(|l| parts.iter().all(|p| l.contains(p)))
        .collect();
    assert!(hits.len() <= 1, "{name} {parts:?} matches {hits:?}");
    hits.first()?.rsplit(' ').next()?.parse().ok()
}

#[test]
fn families_carry_their_labels_and_types() {
    let m = Metrics::new();
    let zeam = target("container:zeam_0", "zeam");
    m.add_off_cpu(&zeam, Role::TokioWorker, Cause::MemcgHighThrottle, 1.5);
    m.add_blackout(&zeam, 0.2);
    m.set_health(&zeam, Health::StarvedMemory);
    m.trigger_fired(&zeam, TriggerKind::Psi);
    m.bundle_written(true);
    m.set_lost_events(3);
    m.set_watched_targets(1);
    m.refresh_self().expect("/proc/self is readable");
    let text = m.encode();

    let who = r#"target="container:zeam_0",process="zeam""#;
    assert_eq!(
        value(
            &text,
            "starvetrace_off_cpu_seconds_total",
            &[
                who,
                r#"role="tokio-worker""#,
                r#"cause="memcg_high_throttle""#
            ]
        ),
        Some(1.5),
        "{text}"
    );
    for (name, kind) in [
        ("starvetrace_off_cpu_seconds", "counter"),
        ("starvetrace_blackout_seconds", "counter"),
        ("starvetrace_blackouts", "counter"),
        ("starvetrace_blackout_length_seconds", "histogram"),
        ("starvetrace_health", "gauge"),
        ("starvetrace_triggers", "counter"),
        ("starvetrace_bundles", "counter"),
        ("starvetrace_lost_events", "counter"),
        ("starvetrace_watched_targets", "gauge"),
        ("process_cpu_seconds", "counter"),
        ("process_resident_memory_bytes", "gauge"),
    ] {
        assert!(
            text.contains(&format!("# TYPE {name} {kind}\n")),
            "{name} {kind}: {text}"
        );
    }
    assert_eq!(
        value(&text, "starvetrace_blackout_seconds_total", &[who]),
        Some(0.2)
    );
    assert_eq!(
        value(&text, "starvetrace_blackouts_total", &[who]),
        Some(1.0)
    );
    assert_eq!(
        value(&text, "starvetrace_blackout_length_seconds_count", &[who]),
        Some(1.0)
    );
    // 0.2 s falls in the 0.25 bucket, not in 0.1.
    assert_eq!(
        value(
            &text,
            "starvetrace_blackout_length_seconds_bucket",
            &[who, r#"le="0.25""#]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &text,
            "starvetrace_blackout_length_seconds_bucket",
            &[who, r#"le="0.1""#]
        ),
        Some(0.0)
    );
    assert_eq!(
        value(
            &text,
            "starvetrace_triggers_total",
            &[who, r#"trigger="psi""#]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &text,
            "starvetrace_bundles_total",
            &[r#"outcome="written""#]
        ),
        Some(1.0)
    );
    // Present before its first failure.
    assert_eq!(
        value(&text, "starvetrace_bundles_total", &[r#"outcome="failed""#]),
        Some(0.0)
    );
    assert_eq!(
        value(&text, "starvetrace_lost_events_total", &[]),
        Some(3.0)
    );
    assert_eq!(value(&text, "starvetrace_watched_targets", &[]), Some(1.0));
    assert!(value(&text, "process_resident_memory_bytes", &[]).is_some_and(|b| b > 0.0));
    assert!(value(&text, "process_cpu_seconds_total", &[]).is_some());
    assert!(!text.contains("tid="), "no TID label: {text}");
    assert!(text.ends_with("# EOF\n"), "{text}");
}

#[test]
fn counters_add_and_refuse_what_a_counter_cannot_hold() {
    let m = Metrics::new();
    let t = target("pid:42", "svc");
    let parts = [r#"role="named""#, r#"cause="io""#];
    m.add_off_cpu(&t, Role::Named, Cause::Io, 0.25);
    m.add_off_cpu(&t, Role::Named, Cause::Io, 0.5);
    m.add_off_cpu(&t, Role::Named, Cause::Io, -1.0);
    m.add_off_cpu(&t, Role::Named, Cause::Io, f64::NAN);
    m.add_off_cpu(&t, Role::Named, Cause::Io, f64::INFINITY);
    assert_eq!(
        value(&m.encode(), "starvetrace_off_cpu_seconds_total", &parts),
        Some(0.75)
    );
    m.add_blackout(&t, 0.01);
    m.add_blackout(&t, 2.0);
    let text = m.encode();
    assert_eq!(value(&text, "starvetrace_blackouts_total", &[]), Some(2.0));
    assert_eq!(
        value(&text, "starvetrace_blackout_seconds_total", &[]),
        Some(2.01)
    );
    m.trigger_fired(&t, TriggerKind::Blackout);
    m.trigger_fired(&t, TriggerKind::Blackout);
    m.bundle_written(false);
    let text = m.encode();
    assert_eq!(
        value(
            &text,
            "starvetrace_triggers_total",
            &[r#"trigger="blackout""#]
        ),
        Some(2.0)
    );
    assert_eq!(
        value(&text, "starvetrace_bundles_total", &[r#"outcome="failed""#]),
        Some(1.0)
    );
}

#[test]
fn lost_events_follow_the_kernel_total() {
    let m = Metrics::new();
    let lost = |m: &Metrics| value(&m.encode(), "starvetrace_lost_events_total", &[]);
    m.set_lost_events(10);
    m.set_lost_events(10);
    assert_eq!(lost(&m), Some(10.0));
    m.set_lost_events(15);
    assert_eq!(lost(&m), Some(15.0));
    // The kernel side started over at 4: four more were lost.
    m.set_lost_events(4);
    assert_eq!(lost(&m), Some(19.0));
}

#[test]
fn health_is_a_state_set_with_exactly_one_state_set() {
    let m = Metrics::new();
    let t = target("cgroup:/system.slice/svc.service", "svc");
    for health in [Health::Ok, Health::StarvedMemory, Health::StarvedCpu] {
        m.set_health(&t, health);
        let text = m.encode();
        let lines = samples(&text, "starvetrace_health");
        assert_eq!(lines.len(), Health::ALL.len(), "{text}");
        let ones: Vec<&&str> = lines.iter().filter(|l| l.ends_with(" 1")).collect();
        assert_eq!(ones.len(), 1, "{text}");
        assert!(
            ones[0].contains(&format!(r#"starvetrace_health="{}""#, health.as_str())),
            "{text}"
        );
        assert_eq!(lines.iter().filter(|l| l.ends_with(" 0")).count(), 5);
    }
}

#[test]
fn forget_target_removes_its_series_only() {
    let m = Metrics::new();
    let gone = target("container:old", "svc");
    let kept = target("container:new", "svc");
    for t in [&gone, &kept] {
        for cause in [Cause::Runqueue, Cause::PageFaultIo] {
            m.add_off_cpu(t, Role::SameNameAsProcess, cause, 1.0);
        }
        m.add_blackout(t, 0.5);
        m.set_health(t, Health::Ok);
        m.trigger_fired(t, TriggerKind::Stall);
    }
    m.forget_target(&gone);
    let text = m.encode();
    assert!(!text.contains("container:old"), "{text}");
    let kept_lines = text.lines().filter(|l| l.contains("container:new")).count();
    // 2 off-CPU + 2 blackout counters + histogram (15 buckets, sum, count)
    // + 6 health states + 1 trigger.
    assert_eq!(kept_lines, 2 + 2 + 17 + 6 + 1, "{text}");
    // Forgetting twice, or a target never seen, is harmless.
    m.forget_target(&gone);
    m.forget_target(&target("pid:1", "init"));
    assert_eq!(m.encode(), text);
}

#[test]
fn label_values_are_escaped() {
    let m = Metrics::new();
    m.set_health(&target("cgroup:/a\"b\\c\nd", "x"), Health::Ok);
    let text = m.encode();
    assert!(text.contains(r#"target="cgroup:/a\"b\\c\nd""#), "{text}");
}

#[test]
fn proc_self_parsing() {
    let stat = "1234 (tokio (rt) w) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 3 0 1 2 3";
    assert_eq!(proc_self::cpu_ticks(stat), Some(300));
    assert_eq!(proc_self::cpu_ticks("1234 (x) S 1"), None);
    assert_eq!(proc_self::cpu_ticks("garbage"), None);
    let status = "Name:\tstarvetrace\nVmHWM:\t  9000 kB\nVmRSS:\t  4096 kB\n";
    assert_eq!(proc_self::vm_rss_bytes(status), Some(4096 * 1024));
    assert_eq!(proc_self::vm_rss_bytes("Name:\tx\n"), None);
}

#[test]
fn listen_addresses() {
    let v4 = |a: [u8; 4], p| SocketAddr::new(IpAddr::V4(Ipv4Addr::from(a)), p);
    assert_eq!(parse_listen("9464").unwrap(), v4([127, 0, 0, 1], 9464));
    assert_eq!(
        parse_listen("0.0.0.0:9464").unwrap(),
        v4([0, 0, 0, 0], 9464)
    );
    assert_eq!(parse_listen("10.1.2.3:80").unwrap(), v4([10, 1, 2, 3], 80));
    assert_eq!(
        parse_listen("[::1]:9464").unwrap(),
        SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), 9464)
    );
    assert_eq!(
        parse_listen("[::]:9464").unwrap(),
        SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 9464)
    );
    assert_eq!(parse_listen("localhost:9464").unwrap().port(), 9464);
    for bad in [
        "",
        "x",
        "65536",
        "-1",
        ":9464",
        "127.0.0.1",
        "127.0.0.1:",
        "::1:9464",
        "[::1]",
        "host:port",
    ] {
        match parse_listen(bad) {
            Err(e @ Error::Usage(_)) => assert_eq!(e.exit_code(), exit::USAGE, "{bad}"),
            other => panic!("`{bad}`: {other:?}"),
        }
    }
}

#[test]
fn routes() {
    let om = Format::OpenMetrics;
    let get = |head: bool, format| Request::Metrics { head, format };
    assert_eq!(
        serve::route(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"),
        get(false, om)
    );
    assert_eq!(
        serve::route(b"GET /metrics?x=1 HTTP/1.0\r\n\r\n"),
        get(false, om)
    );
    assert_eq!(
        serve::route(b"HEAD /metrics HTTP/1.1\r\n\r\n"),
        get(true, om)
    );
    // What Prometheus 2.42 sends, what curl sends, and a classic-only client.
    assert_eq!(
        serve::route(
            b"GET /metrics HTTP/1.1\r\nAccept: application/openmetrics-text;version=1.0.0,\
              application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,\
              */*;q=0.1\r\n\r\n"
        ),
        get(false, om)
    );
    assert_eq!(
        serve::route(b"GET /metrics HTTP/1.1\r\naccept: */*\r\n\r\n"),
        get(false, om)
    );
    assert_eq!(
        serve::route(b"GET /metrics HTTP/1.1\r\nACCEPT: text/plain;version=0.0.4\r\n\r\n"),
        get(false, Format::PrometheusText)
    );
    assert_eq!(serve::route(b"GET / HTTP/1.1\r\n\r\n"), Request::NotFound);
    assert_eq!(
        serve::route(b"POST /metrics HTTP/1.1\r\n\r\n"),
        Request::MethodNotAllowed
    );
    assert_eq!(serve::route(b"GET /metrics\r\n\r\n"), Request::Bad);
    assert_eq!(serve::route(b"\xff\xfe\r\n\r\n"), Request::Bad);
}

/// One request on a fresh connection; the whole response.
fn http(addr: SocketAddr, request: &[u8]) -> String {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(request).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn server_answers_a_real_scrape() {
    let metrics = Arc::new(Metrics::new());
    metrics.add_blackout(&target("pid:7", "svc"), 1.0);
    let server = serve(
        SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0),
        metrics.clone(),
    )
    .unwrap();
    let addr = server.local_addr();
    assert_ne!(addr.port(), 0);

    let ok = http(addr, b"GET /metrics HTTP/1.1\r\nHost: test\r\n\r\n");
    let (head, body) = ok.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(
        head.contains(&format!("Content-Type: {CONTENT_TYPE}\r\n")),
        "{head}"
    );
    assert!(
        head.contains(&format!("Content-Length: {}\r\n", body.len())),
        "{head}"
    );
    assert!(
        body.contains(r#"starvetrace_blackouts_total{target="pid:7",process="svc"} 1"#),
        "{body}"
    );
    assert!(body.ends_with("# EOF\n"));
    // The scrape itself refreshed our own figures.
    assert!(
        value(body, "process_resident_memory_bytes", &[]).is_some_and(|b| b > 0.0),
        "{body}"
    );

    // Each scrape sees the current values.
    metrics.add_blackout(&target("pid:7", "svc"), 1.0);
    let again = http(addr, b"GET /metrics HTTP/1.1\r\n\r\n");
    assert!(again.contains(r#"starvetrace_blackouts_total{target="pid:7",process="svc"} 2"#));

    let classic = http(addr, b"GET /metrics HTTP/1.1\r\nAccept: text/plain\r\n\r\n");
    assert!(
        classic.contains("Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"),
        "{classic}"
    );
    assert!(
        classic.contains("# TYPE starvetrace_blackouts_total counter\n"),
        "{classic}"
    );
    assert!(!classic.contains("# EOF"), "{classic}");

    assert!(http(addr, b"GET / HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 404 "));
    assert!(http(addr, b"DELETE /metrics HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 405 "));
    let head_only = http(addr, b"HEAD /metrics HTTP/1.1\r\n\r\n");
    assert!(head_only.starts_with("HTTP/1.1 200 ") && head_only.ends_with("\r\n\r\n"));
    // An endless header is cut off, not buffered.
    let mut huge = b"GET /metrics HTTP/1.1\r\nX: ".to_vec();
    huge.extend(std::iter::repeat_n(b'a', 64 * 1024));
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    // The server may stop reading while we still write: only its answer matters.
    let _ = s.write_all(&huge);
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    assert!(out.starts_with("HTTP/1.1 400 "), "{out}");
    drop(s);
    assert!(http(addr, b"GET /metrics HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 200 "));

    // Dropping the server stops it: the port no longer answers.
    drop(server);
    assert!(TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err());
}

#[test]
fn an_address_in_use_is_a_listen_error() {
    let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = held.local_addr().unwrap();
    let err = serve(addr, Arc::new(Metrics::new())).unwrap_err();
    assert!(matches!(err, Error::Listen { .. }), "{err:?}");
    assert_eq!(err.exit_code(), exit::LISTEN);
    assert!(
        err.to_string()
            .starts_with(&format!("cannot listen on {addr}: ")),
        "{err}"
    );
}
