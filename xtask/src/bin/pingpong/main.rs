//! `pingpong`: the workloads `cargo xtask bench` measures. Built in release
//! (a debug build would spend its time in its own code, not in the context
//! switches the tracers pay for, and understate their overhead).
//!
//! Every mode talks to the bench over a Unix socket so that the bench, not
//! a timer, decides when the measured part starts:
//!   → `ready PID`   threads are set up and waiting
//!   ← `go`          start now (not sent to `idle`)
//!   → `result JSON` ops, seconds, context switches and CPU seconds of the
//!                   measured part
//!   ← EOF           exit (the bench reads tracer state before closing)

mod ctl;
mod pipe;
mod sys;
mod tasks;
mod threads;

use std::time::Duration;

use anyhow::{Context as _, Result, bail};

const USAGE: &str = "usage: pingpong pinned|cross|paced|tokio|threads|idle --ctl SOCKET [--duration SECS] [--rate SWITCHES_PER_SEC] [--tasks N]";

struct Opts {
    mode: String,
    ctl: String,
    duration: Duration,
    /// Paced mode: target context switches per second over all pairs (0: flat out).
    rate: f64,
    /// Tokio mode: tasks the coordinator fans out to; threads mode: threads.
    tasks: usize,
}

fn parse(args: &[String]) -> Result<Opts> {
    let mode = args.first().context(USAGE)?.clone();
    let mut opts = Opts {
        mode,
        ctl: String::new(),
        duration: Duration::from_secs(2),
        rate: 0.0,
        tasks: 16,
    };
    let mut it = args[1..].iter();
    while let Some(flag) = it.next() {
        let value = it
            .next()
            .with_context(|| format!("{flag} needs a value\n{USAGE}"))?;
        match flag.as_str() {
            "--ctl" => opts.ctl = value.clone(),
            "--duration" => {
                opts.duration = Duration::from_secs_f64(value.parse().context("--duration")?)
            }
            "--rate" => opts.rate = value.parse().context("--rate")?,
            "--tasks" => opts.tasks = value.parse().context("--tasks")?,
            _ => bail!("unknown option {flag}\n{USAGE}"),
        }
    }
    if opts.ctl.is_empty() {
        bail!("--ctl is required\n{USAGE}");
    }
    Ok(opts)
}

fn run(opts: &Opts) -> Result<()> {
    let mut ctl = ctl::Ctl::connect(&opts.ctl)?;
    let cpus = sys::allowed_cpus()?;
    let last = *cpus.last().context("no CPU in the affinity mask")?;
    let result = match opts.mode.as_str() {
        "idle" => {
            ctl.ready()?;
            return ctl.wait_eof();
        }
        // Both threads on one CPU: every op is two switches on that CPU.
        "pinned" => pipe::run(&mut ctl, &[[Some(last), Some(last)]], None, opts.duration)?,
        // One thread per CPU: every op is two cross-CPU wakeups.
        "cross" => {
            if cpus.len() < 2 {
                bail!("cross needs two CPUs");
            }
            pipe::run(
                &mut ctl,
                &[[Some(cpus[0]), Some(last)]],
                None,
                opts.duration,
            )?
        }
        // One pinned pair per CPU, paced to a total switch rate.
        "paced" => {
            let pairs: Vec<_> = cpus.iter().map(|&c| [Some(c), Some(c)]).collect();
            // Each op is two switches; the rate is shared between the pairs.
            let per_pair = (opts.rate > 0.0).then(|| opts.rate / 2.0 / pairs.len() as f64);
            pipe::run(&mut ctl, &pairs, per_pair, opts.duration)?
        }
        "tokio" => tasks::run(&mut ctl, opts.tasks.max(1), opts.duration)?,
        // Many threads with several kinds of waits: fills per-thread books.
        "threads" => threads::run(&mut ctl, opts.tasks.max(1), opts.duration)?,
        other => bail!("unknown mode {other}\n{USAGE}"),
    };
    ctl.result(&result)?;
    ctl.wait_eof()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Err(e) = parse(&args).and_then(|o| run(&o)) {
        eprintln!("pingpong: error: {e:#}");
        std::process::exit(1);
    }
}

/// What one measured run did.
pub struct Outcome {
    pub ops: u64,
    pub secs: f64,
    /// Voluntary + involuntary context switches of the whole process.
    pub switches: u64,
    /// CPU time of the whole process (so the bench can tell how busy the
    /// rest of the host was).
    pub cpu_secs: f64,
}

impl Outcome {
    /// `ops` done in `secs`, with the process's usage over the same part.
    pub fn new(ops: u64, secs: f64, used: sys::Usage) -> Self {
        Outcome {
            ops,
            secs,
            switches: used.switches,
            cpu_secs: used.cpu_secs,
        }
    }
}

pub fn elapsed_since(start: std::time::Instant) -> f64 {
    start.elapsed().as_secs_f64()
}
