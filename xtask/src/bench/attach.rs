//! Time to attach: from spawning `starvetrace record -- CMD` until CMD runs.
//! starvetrace holds the command before `exec` until every probe is
//! attached, so the command's first words mark "attached"; the report must
//! then contain the command's thread (its first sample). A plain spawn of
//! the same command is timed too, so process start-up can be told apart.

use std::time::{Duration, Instant};

use anyhow::{Result, bail};

use super::{lab::Lab, opts::Opts, proc, stats, tracers::Tracer};

pub const RUNS: usize = 5;

#[derive(Clone, Debug, Default)]
pub struct Attach {
    /// Seconds from spawn to the command running, traced.
    pub traced: Vec<f64>,
    /// The same without a tracer.
    pub plain: Vec<f64>,
}

impl Attach {
    pub fn median(&self) -> f64 {
        stats::median(&self.traced)
    }
}

pub fn run(lab: &Lab, _opts: &Opts) -> Result<Attach> {
    let st = Tracer::starvetrace(&lab.bins.starvetrace);
    let mut out = Attach::default();
    for i in 1..=RUNS {
        let dir = lab.scratch()?;
        let argv = lab.pingpong("idle", &[], 1.0);

        let t0 = Instant::now();
        let (mut p, conn) = lab.spawn_plain("plain", &argv, &dir)?;
        out.plain.push(t0.elapsed().as_secs_f64());
        drop(conn);
        p.finish(Duration::from_secs(10))?;

        let t0 = Instant::now();
        let (mut p, conn) = lab.spawn_wrapped(&st, &argv, &dir)?;
        let secs = t0.elapsed().as_secs_f64();
        drop(conn);
        let status = p.finish(Duration::from_secs(30))?;
        if !proc::stopped_cleanly(status) {
            bail!("starvetrace failed ({status}){}", p.stderr_tail());
        }
        let report: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&p.stdout).unwrap_or_default())
                .unwrap_or_default();
        let sampled = report["threads"].as_array().is_some_and(|t| !t.is_empty());
        if !sampled {
            bail!(
                "starvetrace recorded no thread of the command it launched{}",
                p.stderr_tail()
            );
        }
        eprintln!(
            "bench: attach {i}/{RUNS}: {:.0} ms (plain spawn {:.1} ms)",
            secs * 1e3,
            out.plain[i - 1] * 1e3
        );
        out.traced.push(secs);
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok(out)
}
