//! What `watch` costs itself while watching the lab: its own CPU (utime +
//! stime from /proc/<pid>/stat over a measured span, after start-up) and
//! its memory (VmRSS, VmHWM) against the number of threads it watches.
//!
//! The lab processes run throughout; each repeat starts a fresh `watch
//! --pid ...` on all of them, so the repeats are independent samples of
//! the steady state. A last run adds a process of 1000 threads to the
//! watched set, so memory can be stated per watched thread.

use std::{fmt::Write as _, time::Duration};

use anyhow::{Result, bail};

use super::{
    capacity::MANY_THREADS,
    lab::Lab,
    opts::Opts,
    proc::{self, Proc},
    stats::{Ci, Verdict},
    text::first_line,
    thresholds::{PER_THREAD_GOAL_KIB, RSS_GOAL_MIB, WATCH_CPU_GOAL_PCT},
    watch::{self, LabSet},
};

/// The lab scenarios watched: a healthy runtime, two refuted starvations
/// (idle and blocked workers) and memory-max, the busiest in events (a
/// major fault per page read). All run on any host.
pub const LAB_SCENARIOS: [&str; 4] = ["healthy", "lock", "lost-wakeup", "memory-max"];
/// memory-max writes its data set before its run starts (~5 s).
const LAB_WARMUP: Duration = Duration::from_secs(8);
/// After `watch` attached: its start-up (BTF, first scan) is not steady state.
const WATCH_WARMUP: Duration = Duration::from_secs(1);
const ATTACH_TIMEOUT: Duration = Duration::from_secs(30);

/// One `watch` process, measured over its span.
#[derive(Clone, Debug, Default)]
pub struct CostRun {
    /// utime + stime over the span, % of one core.
    pub cpu_pct: f64,
    pub rss_kib: u64,
    pub hwm_kib: u64,
    /// Threads of the watched processes at the end of the span.
    pub threads: usize,
    pub processes: usize,
}

#[derive(Clone, Debug, Default)]
pub struct WatchCost {
    pub runs: Vec<CostRun>,
    /// The lab set plus `MANY_THREADS` threads.
    pub many: Option<CostRun>,
    pub span_secs: f64,
    pub error: Option<String>,
}

impl WatchCost {
    pub fn cpu(&self) -> Option<Ci> {
        Ci::of(&self.runs.iter().map(|r| r.cpu_pct).collect::<Vec<_>>())
    }

    /// Highest VmHWM of any run, KiB, with that run's thread count.
    pub fn peak(&self) -> Option<(u64, usize)> {
        self.runs
            .iter()
            .chain(&self.many)
            .map(|r| (r.hwm_kib, r.threads))
            .max()
    }

    /// KiB of VmHWM per extra watched thread, from the lab-only runs to
    /// the many-threads run.
    pub fn kib_per_thread(&self) -> Option<f64> {
        let many = self.many.as_ref()?;
        let base = self.runs.iter().max_by_key(|r| r.hwm_kib)?;
        let extra = many.threads.checked_sub(base.threads).filter(|&n| n > 0)?;
        Some((many.hwm_kib as f64 - base.hwm_kib as f64) / extra as f64)
    }
}

pub fn run(lab: &Lab, opts: &Opts) -> Result<WatchCost> {
    // CPU time moves in 10 ms ticks: 1% of a core needs spans of seconds.
    let span_secs = if opts.quick {
        2.0
    } else {
        (opts.duration * 5.0).max(10.0)
    };
    let mut out = WatchCost {
        span_secs,
        ..Default::default()
    };
    let bin = &lab.bins.starvetrace;
    if let Some(why) = watch::missing(bin) {
        eprintln!("bench: watch cost: skipped: {why}");
        out.error = Some(why);
        return Ok(out);
    }
    // Long enough for every repeat, with room; stopped by SIGINT after.
    let per_run = span_secs + WATCH_WARMUP.as_secs_f64() + 10.0;
    let lab_secs = LAB_WARMUP.as_secs_f64() + per_run * (opts.pairs + 1) as f64 + 60.0;
    let mut labs = LabSet::new();
    for sc in LAB_SCENARIOS {
        labs.start(bin, sc, lab_secs, lab.scratch()?)?;
    }
    std::thread::sleep(LAB_WARMUP);
    for i in 1..=opts.pairs {
        if let Some(why) = labs.exited()? {
            bail!("the watched lab stopped: {why}");
        }
        // `watch` failing is a result (reported), not a harness fault.
        let r = match measure(lab, &labs.pids(), span_secs, || Ok(())) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("bench: watch cost {i}/{}: watch failed: {e:#}", opts.pairs);
                out.error = Some(format!("{e:#}"));
                return Ok(out);
            }
        };
        eprintln!(
            "bench: watch cost {i}/{}: cpu {:.2}% of a core, VmRSS {} KiB, VmHWM {} KiB, {} threads in {} processes",
            opts.pairs, r.cpu_pct, r.rss_kib, r.hwm_kib, r.threads, r.processes
        );
        out.runs.push(r);
    }
    let argv = {
        let mut a = lab.pingpong("threads", &[], span_secs + per_run);
        a.extend(["--tasks".into(), MANY_THREADS.to_string()]);
        a
    };
    let dir = lab.scratch()?;
    let (mut busy, mut conn) = lab.spawn_plain("threads", &argv, &dir)?;
    let mut pids = labs.pids();
    pids.push(busy.pid());
    // Its threads exist (waiting on a barrier) but start only once `watch`
    // has attached: a thousand of them spinning and sleeping load the host
    // so that a process starting beside them gets a sliver of a CPU (watch
    // took ~60 s to attach under that load average of ~300), and start-up
    // is not what this row measures.
    let many = match measure(lab, &pids, span_secs, || conn.go()) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("bench: watch cost, +{MANY_THREADS} threads: watch failed: {e:#}");
            out.error = Some(format!("{e:#}"));
            return Ok(out);
        }
    };
    eprintln!(
        "bench: watch cost, +{MANY_THREADS} threads: cpu {:.2}%, VmHWM {} KiB, {} threads",
        many.cpu_pct, many.hwm_kib, many.threads
    );
    out.many = Some(many);
    drop(conn);
    busy.interrupt();
    let _ = busy.finish(Duration::from_secs(10));
    labs.stop();
    Ok(out)
}

/// A fresh `watch` on `pids`: attach, run `attached`, settle, measure its
/// own CPU over `span_secs`, read its memory, stop it with SIGINT.
fn measure(
    lab: &Lab,
    pids: &[u32],
    span_secs: f64,
    attached: impl FnOnce() -> Result<()>,
) -> Result<CostRun> {
    let dir = lab.scratch()?;
    let tracer = watch::pid_tracer(&lab.bins.starvetrace);
    let mut p = Proc::spawn(
        "watch",
        &mut watch::pids_command(&lab.bins.starvetrace, pids, &dir),
        &dir,
    )?;
    tracer.wait_attached(&mut p, ATTACH_TIMEOUT)?;
    attached()?;
    std::thread::sleep(WATCH_WARMUP);
    let t0 = std::time::Instant::now();
    let c0 = proc::cpu_secs(p.pid());
    std::thread::sleep(Duration::from_secs_f64(span_secs));
    let c1 = proc::cpu_secs(p.pid());
    let wall = t0.elapsed().as_secs_f64();
    let (rss, hwm) = (proc::vm_rss_kib(p.pid()), proc::vm_hwm_kib(p.pid()));
    let threads = pids.iter().filter_map(|&q| proc::thread_count(q)).sum();
    let processes = pids
        .iter()
        .filter(|&&q| !proc::is_gone_or_zombie(q))
        .count();
    p.interrupt();
    let status = p.finish(Duration::from_secs(30))?;
    if !proc::stopped_cleanly(status) {
        bail!("watch failed ({status}){}", p.stderr_tail());
    }
    let (Some(c0), Some(c1), Some(rss_kib), Some(hwm_kib)) = (c0, c1, rss, hwm) else {
        bail!("watch exited during the measured span{}", p.stderr_tail());
    };
    let _ = std::fs::remove_dir_all(&dir);
    Ok(CostRun {
        cpu_pct: (c1 - c0) / wall * 100.0,
        rss_kib,
        hwm_kib,
        threads,
        processes,
    })
}

/// The heading of the "watch's own cost" section.
pub const HEADING: &str = "## `watch`: its own CPU and memory";

/// The "watch's own cost" section of the report.
pub fn section(w: &WatchCost) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{HEADING}\n\n\
         `starvetrace lab` processes ({}) run throughout; each repeat starts a fresh `starvetrace watch --pid ...` \
         on all of them, waits until it has attached and {} s more, then reads its utime+stime from /proc/PID/stat \
         over {:.0} s and its VmRSS and VmHWM at the end, and stops it with SIGINT. \"threads\" are the threads of \
         the watched processes. The last row adds a process of {MANY_THREADS} threads (sleeps, futex waits and \
         spins, started once `watch` has attached) to the watched set: the VmHWM difference over the thread difference is the memory per watched \
         thread.\n",
        LAB_SCENARIOS.join(", "),
        WATCH_WARMUP.as_secs(),
        w.span_secs
    );
    if let Some(e) = &w.error {
        if w.runs.is_empty() {
            let _ = writeln!(s, "Not measured: {}\n", first_line(e));
            return s;
        }
        let _ = writeln!(s, "Stopped early (no goal is met): {}\n", first_line(e));
    }
    let _ = writeln!(
        s,
        "| run | CPU (% of a core) | VmRSS | VmHWM | threads | processes |\n|---|---|---|---|---|---|"
    );
    let mib = |k: u64| format!("{:.1} MiB", k as f64 / 1024.0);
    let numbered = w
        .runs
        .iter()
        .enumerate()
        .map(|(i, r)| ((i + 1).to_string(), r));
    let many = w
        .many
        .iter()
        .map(|r| (format!("+{MANY_THREADS} threads"), r));
    for (name, r) in numbered.chain(many) {
        let _ = writeln!(
            s,
            "| {name} | {:.2}% | {} | {} | {} | {} |",
            r.cpu_pct,
            mib(r.rss_kib),
            mib(r.hwm_kib),
            r.threads,
            r.processes
        );
    }
    if let Some(ci) = w.cpu() {
        let _ = writeln!(
            s,
            "\nCPU over {} repeats: mean {:.2}% of a core, 90% CI [{:.2}, {:.2}]; goal < {WATCH_CPU_GOAL_PCT:.0}% \
             on the upper end: {}.",
            ci.n,
            ci.mean,
            ci.lo,
            ci.hi,
            Verdict::below(&ci, WATCH_CPU_GOAL_PCT).mark()
        );
    }
    if let Some(k) = w.kib_per_thread() {
        let _ = writeln!(
            s,
            "\nMemory per watched thread: {:.1} KiB ({:.3} MiB); goal {RSS_GOAL_MIB:.0} MiB plus at most \
             {PER_THREAD_GOAL_KIB:.0} KiB per watched thread.",
            k,
            k / 1024.0
        );
    }
    let _ = writeln!(s);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(cpu_pct: f64, hwm_kib: u64, threads: usize) -> CostRun {
        CostRun {
            cpu_pct,
            hwm_kib,
            rss_kib: hwm_kib,
            threads,
            processes: 4,
        }
    }

    #[test]
    fn per_thread_memory_is_a_slope() {
        let c = WatchCost {
            runs: vec![run(0.2, 20_000, 40), run(0.3, 20_480, 40)],
            many: Some(run(0.5, 84_480, 1040)),
            ..Default::default()
        };
        // (84480 − 20480) KiB over 1000 more threads.
        assert_eq!(c.kib_per_thread(), Some(64.0));
        assert_eq!(c.peak(), Some((84_480, 1040)));
        let ci = c.cpu().unwrap();
        assert!((ci.mean - 0.25).abs() < 1e-12 && ci.n == 2);
        let md = section(&c);
        assert!(
            md.contains("| 2 | 0.30% | 20.0 MiB | 20.0 MiB | 40 | 4 |"),
            "{md}"
        );
        assert!(md.contains("| +1000 threads | 0.50% |"), "{md}");
        assert!(md.contains("Memory per watched thread: 64.0 KiB"), "{md}");
        let none = WatchCost {
            runs: vec![run(0.2, 20_000, 40)],
            ..Default::default()
        };
        assert_eq!(none.kib_per_thread(), None);
        let failed = WatchCost {
            error: Some("no `watch` subcommand".into()),
            ..Default::default()
        };
        assert!(section(&failed).contains("Not measured: no `watch` subcommand"));
    }
}
