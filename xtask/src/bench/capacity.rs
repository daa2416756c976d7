//! Capacity: raise the traced process's context-switch rate step by step
//! until starvetrace loses records, and watch what starvetrace's own user
//! space costs on the way (CPU from /proc/<pid>/stat over the measured
//! part, peak RSS from VmHWM sampled until it exits).

use anyhow::Result;

use super::{
    lab::{Lab, Target, Workload},
    opts::Opts,
    tracers::Tracer,
};

/// Target switch rates of the traced process, per second; 0 = flat out
/// (one pinned ping-pong pair per CPU).
const LADDER: [u64; 9] = [
    50_000, 100_000, 200_000, 300_000, 400_000, 500_000, 600_000, 800_000, 0,
];

#[derive(Clone, Debug, Default)]
pub struct Step {
    pub target: u64,
    /// Context switches of the traced process per second (its getrusage).
    pub switches_per_sec: f64,
    /// Switches starvetrace accounted to the traced threads, per second.
    pub seen_per_sec: Option<f64>,
    pub lost: u64,
    pub ringbuf_full: u64,
    /// starvetrace user+system CPU over the measured part, % of one core.
    pub cpu_pct: Option<f64>,
    pub peak_rss_kib: Option<u64>,
}

impl Step {
    pub fn lossless(&self) -> bool {
        self.lost == 0 && self.ringbuf_full == 0
    }
}

#[derive(Clone, Debug, Default)]
pub struct Capacity {
    pub steps: Vec<Step>,
    pub duration: f64,
    pub many_threads: Option<ManyThreads>,
}

/// Threads the many-threads step starts.
pub const MANY_THREADS: usize = 1000;

/// starvetrace tracing `MANY_THREADS` busy threads (sleeps, futex waits and
/// spins of 10 µs..100 ms): what its per-thread books cost.
#[derive(Clone, Debug, Default)]
pub struct ManyThreads {
    pub threads: usize,
    /// Threads of the workload in starvetrace's report.
    pub reported: usize,
    pub switches_per_sec: f64,
    pub lost: u64,
    pub cpu_pct: Option<f64>,
    pub peak_rss_kib: Option<u64>,
}

impl Capacity {
    /// Highest measured switch rate with nothing lost at it or below.
    pub fn max_lossless(&self) -> Option<&Step> {
        self.steps.iter().take_while(|s| s.lossless()).last()
    }

    /// The step whose target is `rate` (to read CPU at 100k/s).
    pub fn at(&self, rate: u64) -> Option<&Step> {
        self.steps.iter().find(|s| s.target == rate)
    }

    pub fn peak_rss_kib(&self) -> Option<u64> {
        self.steps.iter().filter_map(|s| s.peak_rss_kib).max()
    }
}

pub fn run(lab: &Lab, opts: &Opts) -> Result<Capacity> {
    // Longer runs than the overhead pairs: CPU time is counted in 10 ms ticks.
    let duration = if opts.quick {
        1.0
    } else {
        (opts.duration * 2.0).max(3.0)
    };
    let st = Tracer::starvetrace(&lab.bins.starvetrace);
    let mut cap = Capacity {
        steps: Vec::new(),
        duration,
        many_threads: None,
    };
    for target in LADDER {
        let mut w = Workload::new("paced");
        w.extra = vec!["--rate".into(), target.to_string()];
        let m = lab.measure(&w, Some((&st, Target::Workload)), false, duration)?;
        let run = m.tracer.unwrap_or_default();
        let report = run.report.unwrap_or_default();
        let secs = m.outcome.secs;
        let seen: Option<u64> = report["threads"]
            .as_array()
            .map(|ts| ts.iter().filter_map(|t| t["switches"].as_u64()).sum());
        let step = Step {
            target,
            switches_per_sec: m.outcome.switches_per_sec(),
            // starvetrace traced a little longer than the measured part;
            // its count over the measured seconds is an upper bound.
            seen_per_sec: seen.map(|n| n as f64 / secs),
            lost: report["lost_events"].as_u64().unwrap_or(0),
            ringbuf_full: report["diagnostics"]["ringbuf_full"].as_u64().unwrap_or(0),
            cpu_pct: run.cpu_secs.map(|c| c / secs * 100.0),
            peak_rss_kib: run.peak_rss_kib,
        };
        eprintln!(
            "bench: capacity {}: {:.0} switches/s, lost {}, ringbuf_full {}, cpu {:.1}%, rss {} KiB",
            if target == 0 {
                "max".to_string()
            } else {
                target.to_string()
            },
            step.switches_per_sec,
            step.lost,
            step.ringbuf_full,
            step.cpu_pct.unwrap_or(f64::NAN),
            step.peak_rss_kib.unwrap_or(0)
        );
        let lossy = !step.lossless();
        cap.steps.push(step);
        if lossy {
            break;
        }
    }
    cap.many_threads = Some(many_threads(lab, &st, duration)?);
    Ok(cap)
}

fn many_threads(lab: &Lab, st: &Tracer, duration: f64) -> Result<ManyThreads> {
    let mut w = Workload::new("threads");
    w.extra = vec!["--tasks".into(), MANY_THREADS.to_string()];
    let m = lab.measure(&w, Some((st, Target::Workload)), false, duration)?;
    let run = m.tracer.unwrap_or_default();
    let report = run.report.unwrap_or_default();
    let reported = report["threads"].as_array().map_or(0, |ts| {
        ts.iter()
            .filter(|t| t["comm"].as_str().is_some_and(|c| c.starts_with("busy-")))
            .count()
    });
    let r = ManyThreads {
        threads: MANY_THREADS,
        reported,
        switches_per_sec: m.outcome.switches_per_sec(),
        lost: report["lost_events"].as_u64().unwrap_or(0),
        cpu_pct: run.cpu_secs.map(|c| c / m.outcome.secs * 100.0),
        peak_rss_kib: run.peak_rss_kib,
    };
    eprintln!(
        "bench: capacity {} threads: {} reported, {:.0} switches/s, lost {}, rss {} KiB",
        r.threads,
        r.reported,
        r.switches_per_sec,
        r.lost,
        r.peak_rss_kib.unwrap_or(0)
    );
    Ok(r)
}
