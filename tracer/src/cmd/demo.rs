//! `starvetrace demo`: run a lab scenario under `record` and report, with
//! the lab's own ground truth (heartbeat lateness) beside the verdict.

use crate::{
    cli::{DemoArgs, RecordArgs, Stacks, TargetArgs},
    error::{Error, Result},
    lab::Scenario,
    model::Recording,
};

/// Extra time `record` allows past the lab's duration before it stops.
const GRACE_SECS: f64 = 15.0;

/// `starvetrace demo`: run the lab under `record`, then print the report.
pub fn run(args: &DemoArgs) -> Result<()> {
    let rec = demo(args)?;
    super::report::show(&rec, args.format, args.out.as_deref())
}

pub fn demo(args: &DemoArgs) -> Result<Recording> {
    let (scenario, why) = match &args.scenario {
        Some(name) => {
            let s: Scenario = name
                .parse()
                .map_err(|e| Error::Usage(format!("--scenario: {e}")))?;
            (s, "chosen with --scenario".to_string())
        }
        None => crate::lab::host_memory_scenario(),
    };
    eprintln!(
        "starvetrace demo: scenario `{}` ({why}), {} s",
        scenario.name(),
        args.duration
    );
    let exe = std::env::current_exe().map_err(|e| {
        Error::Other(anyhow::Error::new(e).context("locating the starvetrace binary"))
    })?;
    let result = std::env::temp_dir().join(format!("starvetrace-demo-{}.json", std::process::id()));
    let record = RecordArgs {
        target: TargetArgs {
            pid: None,
            cgroup: None,
            container: None,
        },
        duration: Some(args.duration + GRACE_SECS),
        interval: 5.0,
        threads: None,
        heartbeat: None,
        span_budget: crate::trace::account::DEFAULT_SPAN_BUDGET,
        format: args.format,
        out: args.out.clone(),
        stacks: Stacks::Blocked,
        ring_mib: 8,
        wakeup_probe: false,
        perfetto: args.perfetto.clone(),
        perfetto_max_slices: args.perfetto_max_slices,
        user_stacks: args.user_stacks,
        folded: args.folded.clone(),
        quiet: false,
        command: vec![
            exe.display().to_string(),
            "lab".into(),
            scenario.name().into(),
            "--duration".into(),
            args.duration.to_string(),
            "--result".into(),
            result.display().to_string(),
        ],
    };
    let mut rec = crate::cmd::record::record(&record)?;
    if rec.target.exited && rec.target.exit_status != Some(0) {
        let _ = std::fs::remove_file(&result);
        return Err(Error::Other(anyhow::anyhow!(
            "the lab scenario `{}` failed (exit status {}); its error is above",
            scenario.name(),
            rec.target
                .exit_status
                .map_or_else(|| "unknown".into(), |s| s.to_string())
        )));
    }
    match std::fs::read_to_string(&result).map(|t| serde_json::from_str::<serde_json::Value>(&t)) {
        Ok(Ok(lab)) => rec.lab = Some(lab),
        Ok(Err(e)) => rec
            .notes
            .push(format!("the lab's result file was not valid JSON: {e}")),
        Err(e) => rec.notes.push(format!(
            "the lab wrote no result ({e}); it may have failed — see its stderr above"
        )),
    }
    let _ = std::fs::remove_file(&result);
    Ok(rec)
}
