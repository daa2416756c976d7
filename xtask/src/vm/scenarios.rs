//! What each VM scenario must show, and the judge that checks one report
//! against it. The table is the single place the acceptance criteria live.

use serde_json::Value;

/// How the guest runs a scenario (the KIND column of /vmtest/plan).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `starvetrace record -- <busy loop>`: needs no lab, proves the probes
    /// load, attach and account on the VM kernel.
    Smoke,
    /// `starvetrace demo --scenario NAME --format json`.
    Demo,
    /// `starvetrace watch --pid` on `lab NAME-without-watch-`: the guest
    /// prints `{"lab": …, "trigger": …, "report": …}` (the first bundle's
    /// trigger.json and report.json, null without a bundle).
    Watch,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Smoke => "smoke",
            Kind::Demo => "demo",
            Kind::Watch => "watch",
        }
    }
}

/// One row of the acceptance table.
#[derive(Debug)]
pub struct Expectation {
    pub name: &'static str,
    pub kind: Kind,
    /// Accepted `verdict.outcome` values (empty: the smoke has no verdict check).
    pub outcomes: &'static [&'static str],
    /// Accepted `verdict.alternative` values; "none" accepts a missing one.
    /// Empty: not checked.
    pub alternatives: &'static [&'static str],
    /// Accepted `verdict.dominant_memory_cause` values. Empty: not checked.
    pub dominant: &'static [&'static str],
    /// For the summary table.
    pub expected: &'static str,
}

/// The acceptance table. The smoke runs first in every default run: it is the
/// portability baseline and costs a few seconds.
pub const TABLE: &[Expectation] = &[
    Expectation {
        name: "smoke",
        kind: Kind::Smoke,
        outcomes: &[],
        alternatives: &[],
        dominant: &[],
        expected: "probes attach, on-CPU > 0, sleep 1 = sleep/S, no loss",
    },
    Expectation {
        name: "memory-high",
        kind: Kind::Demo,
        outcomes: &["confirmed"],
        alternatives: &[],
        dominant: &["memcg_high_throttle"],
        expected: "confirmed, memcg_high_throttle",
    },
    Expectation {
        name: "memory-max",
        kind: Kind::Demo,
        outcomes: &["confirmed"],
        alternatives: &[],
        dominant: &[],
        expected: "confirmed",
    },
    Expectation {
        name: "cpu",
        kind: Kind::Demo,
        outcomes: &["refuted"],
        alternatives: &["cpu"],
        dominant: &[],
        expected: "refuted, alt cpu",
    },
    Expectation {
        name: "lost-wakeup",
        kind: Kind::Demo,
        outcomes: &["refuted"],
        alternatives: &["blocked", "idle"],
        dominant: &[],
        expected: "refuted, alt blocked|idle",
    },
    Expectation {
        name: "lock",
        kind: Kind::Demo,
        outcomes: &["refuted"],
        alternatives: &["blocked"],
        dominant: &[],
        expected: "refuted, alt blocked",
    },
    Expectation {
        name: "healthy",
        kind: Kind::Demo,
        outcomes: &["refuted"],
        alternatives: &["idle", "busy", "none"],
        dominant: &[],
        expected: "refuted, alt idle|busy|none",
    },
    // Negative controls: expectations written down before any run.
    Expectation {
        name: "sidecar-memory",
        kind: Kind::Demo,
        outcomes: &["refuted"],
        alternatives: &["idle"],
        dominant: &[],
        expected: "refuted, alt idle",
    },
    Expectation {
        name: "cold-reads",
        kind: Kind::Demo,
        outcomes: &["refuted"],
        alternatives: &["io"],
        dominant: &[],
        expected: "refuted, alt io",
    },
    Expectation {
        name: "blockon-memory",
        kind: Kind::Demo,
        outcomes: &["confirmed"],
        alternatives: &[],
        dominant: &["page_fault_io", "memcg_reclaim", "direct_reclaim"],
        expected: "confirmed, page_fault_io|memcg_reclaim|direct_reclaim",
    },
    Expectation {
        name: "blocking-pool-idle",
        kind: Kind::Demo,
        outcomes: &["refuted"],
        alternatives: &["idle"],
        dominant: &[],
        expected: "refuted, alt idle",
    },
    Expectation {
        name: "cpu-and-memory",
        kind: Kind::Demo,
        outcomes: &["refuted"],
        alternatives: &["cpu"],
        dominant: &[],
        expected: "refuted, alt cpu",
    },
    // `watch`: expectations written down before the first run. The wedge
    // must fire the blackout trigger and its bundle must confirm; the
    // healthy lab over the same time must fire nothing.
    Expectation {
        name: "watch-memory-high",
        kind: Kind::Watch,
        outcomes: &["confirmed"],
        alternatives: &[],
        dominant: &[],
        expected: "blackout trigger, bundle confirmed",
    },
    Expectation {
        name: "watch-healthy",
        kind: Kind::Watch,
        outcomes: &[NO_BUNDLE],
        alternatives: &[],
        dominant: &[],
        expected: "no trigger, no bundle",
    },
];

/// `outcomes` of a `watch` row that must write no bundle.
pub const NO_BUNDLE: &str = "no-bundle";

pub fn find(name: &str) -> Option<&'static Expectation> {
    TABLE.iter().find(|e| e.name == name)
}

pub fn names() -> String {
    TABLE.iter().map(|e| e.name).collect::<Vec<_>>().join(", ")
}

/// Result of judging one scenario.
#[derive(Debug)]
pub struct Judgement {
    pub pass: bool,
    /// `verdict.outcome`, `verdict.alternative` and
    /// `verdict.dominant_memory_cause`; "-" where absent.
    pub outcome: String,
    pub alternative: String,
    pub dominant: String,
    /// The lab's ground truth (see [`heartbeats`]); "-" without one.
    pub heartbeat: String,
    pub detail: String,
}

impl Judgement {
    /// A failure with nothing to show but `detail`.
    pub fn failed(detail: String) -> Self {
        Judgement {
            pass: false,
            outcome: "-".into(),
            alternative: "-".into(),
            dominant: "-".into(),
            heartbeat: "-".into(),
            detail,
        }
    }
}

/// What the guest reported for one scenario.
#[derive(Debug, Default)]
pub struct GuestRun {
    pub rc: i32,
    pub secs: f64,
    pub stdout: String,
    pub stderr: String,
    /// The kernel log written during this scenario.
    pub dmesg: String,
}

pub fn judge(exp: &Expectation, run: &GuestRun) -> Judgement {
    let report: Value = match serde_json::from_str(run.stdout.trim()) {
        Ok(v) => v,
        Err(e) => {
            let why = match run.rc {
                0 => format!("exit 0 but stdout is not a JSON report ({e})"),
                137 => "killed by SIGKILL (the guest timeout or the OOM killer)".to_string(),
                rc => format!("exit {rc}"),
            };
            return Judgement::failed(format!(
                "{why}; stderr: {}; dmesg: {}",
                tail(&run.stderr, 12),
                tail(&run.dmesg, 8)
            ));
        }
    };
    if exp.kind == Kind::Watch {
        return judge_watch(exp, &report, run);
    }
    let mut problems = common_problems(&report, run.rc);
    let outcome = str_at(&report, "/verdict/outcome")
        .unwrap_or("-")
        .to_string();
    let alternative = str_at(&report, "/verdict/alternative");
    let dominant = str_at(&report, "/verdict/dominant_memory_cause");
    let detail = match exp.kind {
        Kind::Smoke => {
            let facts = smoke_facts(&report);
            if facts.on_cpu_ns == 0 {
                problems.push("no thread has on_cpu_ns > 0".into());
            }
            // `sleep 1` must come out as cause `sleep` in state S: that is
            // the syscall number read at a BTF-resolved pt_regs offset and
            // the prev_state decoding, both kernel-specific.
            if facts.sleep_ns < SMOKE_MIN_SLEEP_NS {
                problems.push(format!(
                    "cause sleep {:.1} ms < {} ms for `sleep 1` (syscall classification)",
                    facts.sleep_ns as f64 / 1e6,
                    SMOKE_MIN_SLEEP_NS / 1_000_000
                ));
            }
            if facts.sleeping_ns < SMOKE_MIN_SLEEP_NS {
                problems.push(format!(
                    "state S {:.1} ms < {} ms for `sleep 1` (prev_state decoding)",
                    facts.sleeping_ns as f64 / 1e6,
                    SMOKE_MIN_SLEEP_NS / 1_000_000
                ));
            }
            facts.describe()
        }
        Kind::Watch => unreachable!("judged by judge_watch"),
        Kind::Demo => {
            if !exp.outcomes.contains(&outcome.as_str()) {
                problems.push(format!(
                    "outcome {outcome}, expected {}",
                    exp.outcomes.join("|")
                ));
            }
            if !exp.alternatives.is_empty()
                && !exp.alternatives.contains(&alternative.unwrap_or("none"))
            {
                problems.push(format!(
                    "alternative {}, expected {}",
                    alternative.unwrap_or("none"),
                    exp.alternatives.join("|")
                ));
            }
            if !exp.dominant.is_empty() && !dominant.is_some_and(|d| exp.dominant.contains(&d)) {
                problems.push(format!(
                    "dominant memory cause {}, expected {}",
                    dominant.unwrap_or("none"),
                    exp.dominant.join("|")
                ));
            }
            str_at(&report, "/verdict/summary")
                .unwrap_or("no verdict summary")
                .to_string()
        }
    };
    let pass = problems.is_empty();
    let detail = if pass {
        detail
    } else if run.dmesg.trim().is_empty() {
        format!("{}; {detail}", problems.join("; "))
    } else {
        format!(
            "{}; {detail}; dmesg: {}",
            problems.join("; "),
            tail(&run.dmesg, 8)
        )
    };
    Judgement {
        pass,
        outcome,
        alternative: alternative.unwrap_or("-").to_string(),
        dominant: dominant.unwrap_or("-").to_string(),
        heartbeat: heartbeats(&report),
        detail,
    }
}

/// The lab's heartbeat lateness from the report's `lab` section (what
/// `demo` adds), as `tokio max/p99 ms, loop max, os max`: the ground truth
/// the verdict is meant to explain.
pub fn heartbeats(report: &Value) -> String {
    let Some(lab) = report.get("lab").filter(|l| l.is_object()) else {
        return "-".into();
    };
    let ms = |pointer: &str| {
        lab.pointer(pointer)
            .and_then(Value::as_u64)
            .map_or("?".into(), |ns| format!("{:.0}", ns as f64 / 1e6))
    };
    let seen = lab
        .pointer("/tokio_beats_seen")
        .and_then(Value::as_u64)
        .map_or("?".into(), |n| n.to_string());
    let expected = lab
        .pointer("/tokio_beats_expected")
        .and_then(Value::as_u64)
        .map_or("?".into(), |n| n.to_string());
    format!(
        "tokio max {} p99 {} ms ({seen}/{expected} beats), loop max {} ms, os max {} ms",
        ms("/tokio_heartbeat/max_late_ns"),
        ms("/tokio_heartbeat/p99_late_ns"),
        ms("/event_loop_heartbeat/max_late_ns"),
        ms("/os_heartbeat/max_late_ns"),
    )
}

/// Checks every scenario shares: a clean exit, sched probes attached, and no
/// lost events (a loss makes every number in the report a lower bound).
fn common_problems(report: &Value, rc: i32) -> Vec<String> {
    let mut problems = Vec::new();
    if rc != 0 {
        problems.push(format!("exit {rc}"));
    }
    match report.pointer("/lost_events").and_then(Value::as_u64) {
        Some(0) => {}
        Some(n) => problems.push(format!("lost_events={n}")),
        None => problems.push("no lost_events field".into()),
    }
    let probes = report
        .pointer("/environment/probes")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let sched_switch = probes
        .iter()
        .find(|p| p.get("name").and_then(Value::as_str) == Some("sched_switch"));
    match sched_switch {
        Some(p) if p.get("attached").and_then(Value::as_bool) == Some(true) => {}
        Some(p) => problems.push(format!(
            "sched_switch not attached: {}",
            p.get("detail").and_then(Value::as_str).unwrap_or("?")
        )),
        None => problems.push("no sched_switch in environment.probes".into()),
    }
    problems
}

/// Half of the smoke's `sleep 1`: the trace covers the whole command, so
/// anything less means the sleep was misclassified.
const SMOKE_MIN_SLEEP_NS: u64 = 500_000_000;

struct SmokeFacts {
    threads: usize,
    on_cpu_ns: u64,
    off_cpu_ns: u64,
    sleep_ns: u64,
    sleeping_ns: u64,
    switches: u64,
    records: u64,
    attached: usize,
    probes: usize,
    kernel: String,
}

impl SmokeFacts {
    fn describe(&self) -> String {
        format!(
            "kernel={} threads={} on_cpu_ms={:.1} off_cpu_ms={:.1} sleep_ms={:.1} state_S_ms={:.1} switches={} records={} probes_attached={}/{}",
            self.kernel,
            self.threads,
            self.on_cpu_ns as f64 / 1e6,
            self.off_cpu_ns as f64 / 1e6,
            self.sleep_ns as f64 / 1e6,
            self.sleeping_ns as f64 / 1e6,
            self.switches,
            self.records,
            self.attached,
            self.probes
        )
    }
}

fn smoke_facts(report: &Value) -> SmokeFacts {
    let threads = report
        .pointer("/threads")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let sum = |pointer: &str| -> u64 {
        threads
            .iter()
            .filter_map(|t| t.pointer(pointer).and_then(Value::as_u64))
            .sum()
    };
    let probes = report
        .pointer("/environment/probes")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    SmokeFacts {
        threads: threads.len(),
        on_cpu_ns: sum("/on_cpu_ns"),
        off_cpu_ns: sum("/off_cpu_ns"),
        sleep_ns: sum("/causes/sleep"),
        sleeping_ns: sum("/off_cpu_ns_by_state/sleeping"),
        switches: sum("/switches"),
        records: report
            .pointer("/records")
            .and_then(Value::as_u64)
            .unwrap_or(0),
        attached: probes
            .iter()
            .filter(|p| p.get("attached").and_then(Value::as_bool) == Some(true))
            .count(),
        probes: probes.len(),
        kernel: str_at(report, "/environment/kernel")
            .unwrap_or("?")
            .to_string(),
    }
}

fn str_at<'a>(v: &'a Value, pointer: &str) -> Option<&'a str> {
    v.pointer(pointer).and_then(Value::as_str)
}

/// The last `n` non-empty lines of `text`, joined with " | " for a one-line
/// detail.
pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim_end)
        .filter(|l| !l.is_empty())
        .collect();
    let start = lines.len().saturating_sub(n);
    if lines.is_empty() {
        "(empty)".into()
    } else {
        lines[start..].join(" | ")
    }
}

#[cfg(test)]
mod tests;

/// A `watch` row: the bundle (or its absence), its trigger and verdict, and
/// the trigger latency from the lab's first late heartbeat (its own
/// CLOCK_MONOTONIC) to the trigger.
fn judge_watch(exp: &Expectation, doc: &Value, run: &GuestRun) -> Judgement {
    let mut problems = Vec::new();
    if run.rc != 0 {
        problems.push(format!("exit {}", run.rc));
    }
    let report = doc.get("report").filter(|r| r.is_object());
    let fired = episode_triggers(doc);
    let kinds: Vec<&str> = fired.iter().filter_map(|f| f["kind"].as_str()).collect();
    let outcome = report
        .and_then(|r| str_at(r, "/verdict/outcome"))
        .unwrap_or(if doc["trigger"].is_null() {
            NO_BUNDLE
        } else {
            "-"
        })
        .to_string();
    if !exp.outcomes.contains(&outcome.as_str()) {
        problems.push(format!(
            "outcome {outcome}, expected {}",
            exp.outcomes.join("|")
        ));
    }
    if let Some(r) = report {
        problems.extend(common_problems(r, 0));
        if !kinds.contains(&"blackout") && !kinds.contains(&"stall") {
            problems.push(format!("fired {kinds:?}, expected blackout or stall"));
        }
    }
    let latency = trigger_latency_ms(doc);
    let detail = format!(
        "fired [{}]; blackout/stall trigger latency from the first late tokio beat: {}",
        kinds.join(","),
        latency.map_or("-".into(), |ms| format!("{ms:.0} ms"))
    );
    Judgement {
        pass: problems.is_empty(),
        outcome,
        alternative: report
            .and_then(|r| str_at(r, "/verdict/alternative"))
            .unwrap_or("-")
            .to_string(),
        dominant: report
            .and_then(|r| str_at(r, "/verdict/dominant_memory_cause"))
            .unwrap_or("-")
            .to_string(),
        heartbeat: "-".into(),
        detail: if problems.is_empty() {
            detail
        } else {
            format!("{}; {detail}", problems.join("; "))
        },
    }
}

/// Every trigger of the bundle's episode: those at its tick, then those
/// that started during its capture.
fn episode_triggers(doc: &Value) -> Vec<&Value> {
    ["/trigger/request/fired", "/trigger/fired_during_capture"]
        .iter()
        .filter_map(|p| doc.pointer(p).and_then(Value::as_array))
        .flatten()
        .collect()
}

/// The first blackout or stall trigger's time minus the start of the lab's
/// first tokio beat that came more than 100 ms late (both CLOCK_MONOTONIC
/// in the guest).
pub fn trigger_latency_ms(doc: &Value) -> Option<f64> {
    let started = doc.pointer("/lab/started_monotonic_ns")?.as_u64()?;
    let beat = doc
        .pointer("/lab/tokio_heartbeat/late_beats")?
        .as_array()?
        .iter()
        .find(|b| b["late_ms"].as_u64().is_some_and(|l| l > 100))?;
    let wedge_ns = started + (beat["at_ms"].as_u64()? - beat["late_ms"].as_u64()?) * 1_000_000;
    let fired = episode_triggers(doc)
        .into_iter()
        .filter(|f| matches!(f["kind"].as_str(), Some("blackout" | "stall")))
        .filter_map(|f| f["at_ns"].as_u64())
        .min()?;
    Some((fired as f64 - wedge_ns as f64) / 1e6)
}
