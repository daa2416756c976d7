//! The finished recording: everything a report is rendered from. It is what
//! `--format json` prints and what `starvetrace report FILE` reads back.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::hist::HistSummary;

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Recording {
    pub tool: String,
    pub started_at_unix_ms: u64,
    pub duration_ns: u64,
    /// Records that never reached user space (ring buffer full) plus failed
    /// map updates: every loss counter summed.
    pub lost_events: u64,
    /// Records received from the kernel.
    #[serde(default)]
    pub records: u64,
    pub target: TargetInfo,
    pub environment: Environment,
    /// Every non-zero kernel-side diagnostic counter, by name.
    pub diagnostics: BTreeMap<String, u64>,
    pub threads: Vec<ThreadReport>,
    /// Closed off-CPU intervals by cause over all traced threads.
    #[serde(default)]
    pub cause_totals: BTreeMap<String, CauseStat>,
    /// Per-interval progress rows, as printed live on stderr.
    pub intervals: Vec<IntervalRow>,
    #[serde(default)]
    pub timeline: Option<crate::timeline::TimelineReport>,
    #[serde(default)]
    pub snapshot: Option<crate::snapshot::Snapshot>,
    #[serde(default)]
    pub cgroup: Option<crate::cgroup::CgroupReport>,
    #[serde(default)]
    pub verdict: Option<crate::verdict::Verdict>,
    /// The lab's own ground truth when the target was a lab scenario (demo).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lab: Option<serde_json::Value>,
    /// Things the reader must know: exited target, missing files, fallbacks.
    pub notes: Vec<String>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct TargetInfo {
    pub pid: Option<u32>,
    pub cgroup: Option<String>,
    pub container: Option<String>,
    pub command: Option<Vec<String>>,
    pub comm: String,
    /// The target process exited before the trace ended.
    pub exited: bool,
    pub exit_status: Option<i32>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Environment {
    pub kernel: String,
    pub hostname: String,
    pub cpus: usize,
    pub btf: bool,
    pub psi: bool,
    pub cgroup_layout: String,
    pub swap_total_bytes: u64,
    pub probes: Vec<ProbeStatus>,
    pub stack_policy: String,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ProbeStatus {
    pub name: String,
    pub kind: String,
    pub attached: bool,
    pub detail: String,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct StateSplit {
    pub running: u64,
    pub sleeping: u64,
    pub disk: u64,
    pub other: u64,
}

impl StateSplit {
    pub fn add(&mut self, state: u32, ns: u64) {
        let slot = match state {
            tracer_common::state::OFF_RUNNING => &mut self.running,
            tracer_common::state::OFF_SLEEPING => &mut self.sleeping,
            tracer_common::state::OFF_DISK => &mut self.disk,
            _ => &mut self.other,
        };
        *slot = slot.saturating_add(ns);
    }
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct CauseStat {
    pub ns: u64,
    pub count: u64,
    pub histogram: HistSummary,
    /// The most frequent top kernel frames seen for this cause (for `other`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub top_frames: Vec<String>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Histograms {
    pub off_cpu: HistSummary,
    pub runqueue: HistSummary,
    pub on_cpu: HistSummary,
}

/// An off-CPU interval still open when the trace ended.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Ongoing {
    pub state: String,
    pub cause: String,
    /// How long it has been off-CPU so far.
    pub off_cpu_ns: u64,
    /// False when it went off-CPU before the trace began, so the length is
    /// a lower bound measured from the attach.
    pub start_known: bool,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ThreadReport {
    pub tid: u32,
    pub tgid: u32,
    pub comm: String,
    pub role: String,
    /// Thread id inside the target's PID namespace, when it differs.
    pub ns_tid: Option<u32>,
    pub on_cpu_ns: u64,
    /// Runnable and waiting for a CPU: `runqueue_wakeup_ns + runqueue_preempted_ns`.
    pub runqueue_ns: u64,
    pub runqueue_wakeup_ns: u64,
    pub runqueue_preempted_ns: u64,
    pub off_cpu_ns: u64,
    pub off_cpu_ns_by_state: StateSplit,
    pub switches: u64,
    pub voluntary_switches: u64,
    pub involuntary_switches: u64,
    pub minor_faults: u64,
    pub major_faults: u64,
    pub fault_entries: u64,
    /// Time inside memcg/direct reclaim (on and off CPU), from vmscan tracepoints.
    pub reclaim_ns: u64,
    pub reclaim_count: u64,
    pub ongoing_off_cpu_ns: u64,
    pub ongoing: Option<Ongoing>,
    pub exited: bool,
    /// The futex addresses it waited on longest (futex(2) sleeps).
    #[serde(default)]
    pub futex_waits: Vec<FutexWait>,
    /// Off-CPU time by cause (runqueue included), cause name → ns.
    pub causes: BTreeMap<String, u64>,
    pub cause_stats: BTreeMap<String, CauseStat>,
    pub histograms: Histograms,
}

impl ThreadReport {
    /// Wall time this thread was observed for (on + off CPU).
    pub fn observed_ns(&self) -> u64 {
        self.on_cpu_ns + self.off_cpu_ns
    }
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct FutexWait {
    pub addr: u64,
    pub ns: u64,
}

/// One `--interval` row: totals over the traced threads in that interval.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct IntervalRow {
    pub end_ns: u64,
    pub threads: usize,
    pub on_cpu_ns: u64,
    pub runqueue_ns: u64,
    pub off_cpu_ns: u64,
    pub memory_stall_ns: u64,
    pub switches: u64,
    pub lost: u64,
}

#[cfg(test)]
pub(crate) mod keys_tests {
    //! The JSON a recording serializes to is read back by `report FILE` and
    //! by scripts: its key paths (and enum-like string values) must not move.

    use super::*;

    /// A recording with every optional part filled in.
    pub(crate) fn representative() -> Recording {
        let hist = crate::hist::HistSummary {
            count: 2,
            log2: vec![crate::hist::Log2Bucket {
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
            role: crate::roles::Role::TokioWorker.to_string(),
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
        let psi = crate::cgroup::Psi {
            some_total_us: Some(1),
            full_total_us: Some(1),
            some_avg10: Some(0.5),
            full_avg10: Some(0.5),
        };
        let sample = crate::cgroup::CgroupSample {
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
        let cgroup = crate::cgroup::CgroupReport {
            layout: "v2".into(),
            limits: crate::cgroup::CgroupLimits {
                memory_max: Some(crate::cgroup::Limit::Bytes(1)),
                memory_high: Some(crate::cgroup::Limit::Unlimited),
                v1_limit: None,
                changed: false,
            },
            samples: vec![sample],
            ..Default::default()
        };
        let snapshot = crate::snapshot::Snapshot {
            threads: vec![crate::snapshot::ThreadSnapshot {
                role: crate::roles::Role::SameNameAsProcess,
                syscall: Some(crate::snapshot::SyscallNow {
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
            futex_groups: vec![crate::snapshot::FutexGroup::default()],
            memory_pressure: Some(crate::snapshot::PressureNow::default()),
            summary: vec!["line".into()],
            notes: vec!["note".into()],
            ..Default::default()
        };
        let mut timeline = crate::timeline::TimelineReport::default();
        timeline.bucket_ns = 100_000_000;
        timeline.buckets = 2;
        timeline.series.insert("futex".into(), vec![50_000_000, 1]);
        timeline.series.insert("page_fault_io".into(), vec![0, 60_000_000]);
        Recording {
            diagnostics: [("malformed_records".to_string(), 1)].into_iter().collect(),
            threads: vec![thread],
            cause_totals: [("futex".to_string(), stat)].into_iter().collect(),
            intervals: vec![IntervalRow::default()],
            timeline: Some(timeline),
            snapshot: Some(snapshot),
            cgroup: Some(cgroup),
            verdict: Some(crate::verdict::Verdict {
                outcome: "refuted".into(),
                summary: "s".into(),
                alternative: Some("idle".into()),
                dominant_memory_cause: Some("page_fault_io".into()),
                evidence: vec!["e".into()],
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

    #[test]
    fn json_key_paths_are_unchanged() {
        let json = serde_json::to_value(representative()).unwrap();
        let mut set = std::collections::BTreeSet::new();
        paths("", &json, &mut set);
        let got: String = set.into_iter().map(|p| p + "\n").collect();
        let file = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/recording-keys.txt");
        if std::env::var_os("STARVETRACE_WRITE_KEYS").is_some() {
            std::fs::write(file, &got).unwrap();
        }
        let want = std::fs::read_to_string(file).unwrap();
        assert_eq!(got, want, "the JSON key paths changed");
        // `report FILE` reads it back.
        let text = serde_json::to_string(&representative()).unwrap();
        let back: Recording = serde_json::from_str(&text).unwrap();
        assert_eq!(serde_json::to_value(back).unwrap(), json);
    }
}
