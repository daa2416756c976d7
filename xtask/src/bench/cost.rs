//! Cost of one run of each BPF program, from the kernel's own accounting
//! (run_time_ns / run_cnt in the tracer's fdinfo), on the pinned ping-pong:
//! starvetrace tracing it, starvetrace tracing an idle bystander (the
//! in-kernel filter path every other task on the host pays), and the
//! BPF-based peers on the same workload.

use anyhow::Result;

use super::{
    bpf::{self, ProgStat},
    lab::{Lab, Target, Workload},
    overhead::floor_of,
    tracers::{Scope, Tracer},
    watch,
};

#[derive(Clone, Debug, Default)]
pub struct CostRow {
    pub tracer: String,
    /// What the programs saw: the workload itself or a bystander.
    pub target: &'static str,
    pub progs: Vec<ProgStat>,
    pub error: Option<String>,
}

pub fn run(lab: &Lab, peers: &[Tracer]) -> Result<Vec<CostRow>> {
    let stats = bpf::enable_stats()?;
    let st = Tracer::starvetrace(&lab.bins.starvetrace);
    let watch = watch::pid_tracer(&lab.bins.starvetrace);
    // The calibration build's empty `sched_switch`: what one run costs
    // when the program does nothing (the stats' own clock reads included).
    let floor = lab.bins.floor.as_ref().map(|bin| floor_of(&watch, bin));
    let mut runs: Vec<(&Tracer, Target)> = vec![
        (&st, Target::Workload),
        (&st, Target::Bystander),
        (&watch, Target::Workload),
        (&watch, Target::Bystander),
    ];
    runs.extend(floor.iter().map(|t| (t, Target::Workload)));
    // perf does not run BPF programs.
    runs.extend(
        peers
            .iter()
            .filter(|p| p.package != "linux-perf")
            .map(|p| (p, Target::Workload)),
    );
    // The other per-process filter on the bystander path, for comparison.
    runs.extend(
        peers
            .iter()
            .filter(|p| p.label == "runqlat -p")
            .map(|p| (p, Target::Bystander)),
    );
    // For scale: an empty program on the same tracepoint shows what the
    // measurement itself (two clock reads per run) and the dispatch add.
    let empty = peers
        .iter()
        .find(|p| p.label == "bpftrace runqlat")
        .map(|b| Tracer {
            label: "empty program (bpftrace)",
            args: vec![
                "-e".into(),
                "BEGIN { printf(\"bench-attached\\n\"); } tracepoint:sched:sched_switch { }".into(),
            ],
            ..b.clone()
        });
    runs.extend(empty.iter().map(|t| (t, Target::Workload)));
    let w = Workload::new("pinned");
    let mut rows = Vec::new();
    for (t, target) in runs {
        let label = if target == Target::Bystander {
            "idle bystander (workload untraced)"
        } else {
            "the workload"
        };
        let target_label = if t.scope == Scope::Host {
            "whole host (incl. the workload)"
        } else {
            label
        };
        let row = match lab.measure(&w, Some((t, target)), true, lab.duration) {
            Ok(m) => CostRow {
                tracer: t.label.into(),
                target: target_label,
                progs: m.tracer.map(|r| r.progs).unwrap_or_default(),
                error: None,
            },
            Err(e) => CostRow {
                tracer: t.label.into(),
                target: target_label,
                progs: Vec::new(),
                error: Some(format!("{e:#}")),
            },
        };
        for p in &row.progs {
            eprintln!(
                "bench: cost {} ({}): {} {} runs, {:.0} ns/run",
                row.tracer,
                row.target,
                p.name,
                p.run_cnt,
                p.ns_per_run().unwrap_or(f64::NAN)
            );
        }
        if let Some(e) = &row.error {
            eprintln!("bench: cost {}: {e}", row.tracer);
        }
        rows.push(row);
    }
    drop(stats);
    Ok(rows)
}
