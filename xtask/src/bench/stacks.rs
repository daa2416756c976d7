//! What `record --user-stacks` costs: the pinned ping-pong with and without
//! it (pairs like the overhead phase), and the memory-max lab's event rate
//! (page reads per second, each a major fault, i.e. a blocked switch-out
//! where stacks are taken) untraced, traced, and traced with user stacks,
//! runs interleaved; and what `sched_switch` costs per run with and without
//! user stacks (BPF statistics) in that lab and in the `coldpages` test
//! fixture built with frame pointers, whose stacks are whole (~20 frames).

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use anyhow::{Context as _, Result, bail};

use super::{
    bpf::{self, ProgStat},
    lab::{Lab, Target, Workload},
    opts::Opts,
    overhead::{self, Scenario, ScenarioResult},
    proc::{self, Proc},
    stats,
    tracers::Tracer,
};

pub const USER_STACKS: &str = "starvetrace --user-stacks";
/// Lab configurations, in the order each round runs them.
pub const LAB_CONFIGS: [&str; 3] = ["untraced", "starvetrace", USER_STACKS];
/// Rounds of the three lab configurations.
const LAB_ROUNDS: usize = 5;
/// The lab writes its data set first (~5 s); then it runs this long.
const LAB_SECS: f64 = 8.0;

#[derive(Clone, Debug, Default)]
pub struct LabRun {
    pub config: &'static str,
    /// Pages the lab's runtime read per second of its measured run.
    pub pages_per_sec: f64,
    /// starvetrace's records and user stacks per second of the trace.
    pub records_per_sec: Option<f64>,
    pub user_stacks_per_sec: Option<f64>,
    pub lost: u64,
}

#[derive(Clone, Debug)]
pub struct StackCost {
    pub pinned: ScenarioResult,
    pub lab: Vec<LabRun>,
    pub lab_secs: f64,
    /// `sched_switch` per run (workload, configuration) with kernel BPF
    /// statistics on: what taking the stacks costs in the kernel, free of
    /// the workload's own noise.
    pub switch_cost: Vec<(&'static str, &'static str, Option<ProgStat>)>,
}

impl StackCost {
    pub fn lab_runs(&self, config: &str) -> Vec<&LabRun> {
        self.lab.iter().filter(|r| r.config == config).collect()
    }

    /// Median pages/s of a configuration.
    pub fn lab_rate(&self, config: &str) -> Option<f64> {
        let v: Vec<f64> = self
            .lab_runs(config)
            .iter()
            .map(|r| r.pages_per_sec)
            .collect();
        (!v.is_empty()).then(|| stats::median(&v))
    }
}

pub fn user_stacks_tracer(bin: &Path) -> Tracer {
    let mut t = Tracer::starvetrace(bin);
    t.label = USER_STACKS;
    t.args.push("--user-stacks".into());
    t
}

/// The workloads of the BPF-cost rows.
pub const LAB_WORKLOAD: &str = "memory-max lab (no frame pointers)";
pub const FIXTURE_WORKLOAD: &str = "coldpages fixture (frame pointers)";

pub fn run(root: &Path, lab: &Lab, opts: &Opts) -> Result<StackCost> {
    let tracers = [
        Tracer::starvetrace(&lab.bins.starvetrace),
        user_stacks_tracer(&lab.bins.starvetrace),
    ];
    let pinned = overhead::run_scenario(
        lab,
        Scenario {
            key: "pinned",
            title: "pipe ping-pong, both threads on one CPU, with and without --user-stacks",
            workload: Workload::new("pinned"),
            goals: vec![(super::tracers::STARVETRACE, 0.80), (USER_STACKS, 0.80)],
            note: "The ping-pong sleeps in S (pipe reads), so with the default `--stacks blocked` no stack \
                   is taken here: this row is the cost of the larger records and the extra branch.",
        },
        &tracers,
        Target::Workload,
        opts,
    )?;
    let lab_secs = if opts.quick { 3.0 } else { LAB_SECS };
    let mut runs = Vec::new();
    for round in 1..=LAB_ROUNDS {
        for config in LAB_CONFIGS {
            let r = lab_run(lab, config, lab_secs)
                .with_context(|| format!("memory-max lab, {config}"))?;
            eprintln!(
                "bench: user stacks, memory-max {round}/{LAB_ROUNDS}: {config:<26} {:>8.0} pages/s  records/s {}  user stacks/s {}  lost {}",
                r.pages_per_sec,
                r.records_per_sec.map_or("—".into(), |v| format!("{v:.0}")),
                r.user_stacks_per_sec
                    .map_or("—".into(), |v| format!("{v:.0}")),
                r.lost
            );
            runs.push(r);
        }
    }
    let fixture = build_fixture(root)?;
    let mut switch_cost = Vec::new();
    for (workload, config) in [
        (LAB_WORKLOAD, LAB_CONFIGS[1]),
        (LAB_WORKLOAD, LAB_CONFIGS[2]),
        (FIXTURE_WORKLOAD, LAB_CONFIGS[1]),
        (FIXTURE_WORKLOAD, LAB_CONFIGS[2]),
    ] {
        let dir = lab.scratch()?;
        let mut cmd = if workload == LAB_WORKLOAD {
            lab_command(lab, config, lab_secs, &dir.join("lab.json"))
        } else {
            let mut c = traced(lab, config);
            // On disk: the bench's scratch dir is tmpfs, whose pages
            // cannot be dropped, so reads there would not block.
            c.arg(&fixture)
                .args(["--mib", "64", "--passes", "4", "--dir"])
                .arg(std::env::temp_dir());
            c
        };
        let stat = switch_cost_of(&mut cmd, &dir, lab_secs)
            .with_context(|| format!("BPF cost, {workload}, {config}"))?;
        eprintln!(
            "bench: user stacks, BPF cost: {workload}, {config}: sched_switch {} runs, {} ns per run",
            stat.as_ref().map_or(0, |s| s.run_cnt),
            stat.as_ref()
                .and_then(ProgStat::ns_per_run)
                .map_or("—".into(), |v| format!("{v:.0}"))
        );
        switch_cost.push((workload, config, stat));
    }
    Ok(StackCost {
        pinned,
        lab: runs,
        lab_secs,
        switch_cost,
    })
}

/// The `coldpages` test fixture, built with frame pointers as its root
/// test builds it.
fn build_fixture(root: &Path) -> Result<PathBuf> {
    let target = crate::cargo_build::target_dir(root).join("fixtures/fp");
    crate::run::run(
        Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .current_dir(root)
            .args(["build", "--release", "--quiet", "--manifest-path"])
            .arg(root.join("tracer/tests/fixtures/coldpages/Cargo.toml"))
            .arg("--target-dir")
            .arg(&target)
            .env("RUSTFLAGS", "-C force-frame-pointers=yes"),
    )
    .context("building the coldpages fixture")?;
    Ok(target.join("release/coldpages"))
}

/// `cmd` (a traced run) with kernel BPF statistics on: `sched_switch`'s
/// counters as last read before the tracer exited.
fn switch_cost_of(cmd: &mut Command, dir: &Path, secs: f64) -> Result<Option<ProgStat>> {
    let _stats = bpf::enable_stats()?;
    let mut p = Proc::spawn("traced", cmd, dir)?;
    let mut last = None;
    let deadline = std::time::Instant::now() + Duration::from_secs_f64(secs + 120.0);
    while p.poll()?.is_none() {
        if std::time::Instant::now() >= deadline {
            bail!("the lab run did not end{}", p.stderr_tail());
        }
        if let Ok(stats) = bpf::prog_stats(p.pid())
            && let Some(s) = stats.into_iter().find(|s| s.name == "sched_switch")
        {
            last = Some(s);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    Ok(last)
}

/// `starvetrace record [--user-stacks] --`, to be followed by a command.
fn traced(lab: &Lab, config: &'static str) -> Command {
    let mut cmd = Command::new(&lab.bins.starvetrace);
    cmd.args(["record", "--format", "json", "--quiet"]);
    if config == USER_STACKS {
        cmd.arg("--user-stacks");
    }
    cmd.arg("--");
    cmd
}

/// `starvetrace lab memory-max ...`, under `record` unless untraced.
fn lab_command(lab: &Lab, config: &'static str, secs: f64, result: &Path) -> Command {
    let bin = &lab.bins.starvetrace;
    let mut cmd = if config == "untraced" {
        Command::new(bin)
    } else {
        let mut c = traced(lab, config);
        c.arg(bin);
        c
    };
    cmd.args([
        "lab",
        "memory-max",
        "--duration",
        &secs.to_string(),
        "--result",
    ])
    .arg(result);
    cmd
}

/// One run of `starvetrace lab memory-max`, untraced or under `record`.
fn lab_run(lab: &Lab, config: &'static str, secs: f64) -> Result<LabRun> {
    let dir = lab.scratch()?;
    let result = dir.join("lab.json");
    let mut cmd = lab_command(lab, config, secs, &result);
    let mut p = Proc::spawn("memory-max", &mut cmd, &dir)?;
    let status = p.finish(Duration::from_secs_f64(secs + 120.0))?;
    if !proc::stopped_cleanly(status) {
        bail!("the lab run failed ({status}){}", p.stderr_tail());
    }
    let lab_json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(&result).context("reading the lab's result")?,
    )
    .context("the lab's result is not JSON")?;
    let run_secs = lab_json["duration_ns"].as_u64().unwrap_or(0) as f64 / 1e9;
    let pages = lab_json["workload"]["pages_read"].as_u64().unwrap_or(0) as f64;
    if run_secs <= 0.0 || pages <= 0.0 {
        bail!("the lab read no pages{}", p.stderr_tail());
    }
    let mut out = LabRun {
        config,
        pages_per_sec: pages / run_secs,
        ..LabRun::default()
    };
    if config != "untraced" {
        let report: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&p.stdout).unwrap_or_default())
                .with_context(|| format!("starvetrace printed no JSON{}", p.stderr_tail()))?;
        let traced_secs = report["duration_ns"].as_u64().unwrap_or(0) as f64 / 1e9;
        let per_sec = |n: Option<u64>| {
            n.filter(|_| traced_secs > 0.0)
                .map(|n| n as f64 / traced_secs)
        };
        out.records_per_sec = per_sec(report["records"].as_u64());
        out.user_stacks_per_sec = per_sec(report["flame"]["user_stack_intervals"].as_u64());
        out.lost = report["lost_events"].as_u64().unwrap_or(0);
    }
    Ok(out)
}
