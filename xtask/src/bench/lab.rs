//! One measured run: start the workload (and a tracer, on it or on an idle
//! bystander), wait until the tracer is attached, release the workload,
//! collect its result and what the tracer cost, stop everything.

use std::{
    path::PathBuf,
    process::Command,
    sync::atomic::{AtomicUsize, Ordering},
    time::Duration,
};

use anyhow::{Context as _, Result, bail};

use super::{
    bpf::{self, ProgStat},
    ctl::{Conn, Listener, Outcome},
    host::{self, Bins},
    proc::{self, Proc},
    tracers::{Scope, Tracer},
};

/// A tracer's target must exist and announce itself within this long.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// perf writes its whole buffer at SIGINT; give it time.
const STOP_TIMEOUT: Duration = Duration::from_secs(60);
/// Quiet time before every release. Detaching and freeing the previous
/// run's tracer (RCU callbacks, ring buffer and map frees) is deferred
/// kernel work; without a pause it lands in the next run, which is usually
/// an untraced one, and makes tracers look cheaper than they are.
const SETTLE: Duration = Duration::from_millis(300);

/// What the measured program does: a `pingpong` mode and its options.
#[derive(Clone, Debug)]
pub struct Workload {
    pub mode: &'static str,
    pub extra: Vec<String>,
}

impl Workload {
    pub fn new(mode: &'static str) -> Self {
        Workload {
            mode,
            extra: Vec::new(),
        }
    }
}

/// Whom the tracer traces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// The measured workload itself.
    Workload,
    /// An idle process next to it: the workload pays only for the filter.
    Bystander,
}

#[derive(Clone, Debug, Default)]
pub struct TracerRun {
    /// User + system CPU of the tracer process from `go` to the result.
    pub cpu_secs: Option<f64>,
    pub peak_rss_kib: Option<u64>,
    /// starvetrace's JSON report.
    pub report: Option<serde_json::Value>,
    /// Per-program run counts and times, when asked for.
    pub progs: Vec<ProgStat>,
}

#[derive(Clone, Debug)]
pub struct Measured {
    pub outcome: Outcome,
    pub tracer: Option<TracerRun>,
}

pub struct Lab {
    pub bins: Bins,
    pub duration: f64,
    dir: PathBuf,
    listener: Listener,
    runs: AtomicUsize,
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Lab {
    pub fn new(bins: &Bins, duration: f64) -> Result<Lab> {
        // tmpfs when there is one: perf.data runs to hundreds of MB per run,
        // and its writeback would disturb the runs that follow.
        let base = Some(PathBuf::from("/dev/shm"))
            .filter(|p| p.is_dir())
            .unwrap_or_else(std::env::temp_dir);
        remove_stale(&base);
        let dir = base.join(format!("starvetrace-bench-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let listener = Listener::bind(&dir)?;
        Ok(Lab {
            bins: bins.clone(),
            duration,
            dir,
            listener,
            runs: AtomicUsize::new(0),
        })
    }

    pub fn pingpong(&self, mode: &str, extra: &[String], duration: f64) -> Vec<String> {
        let mut argv = vec![self.bins.pingpong.display().to_string(), mode.to_string()];
        argv.extend(["--ctl".into(), self.listener.path.display().to_string()]);
        argv.extend(["--duration".into(), format!("{duration}")]);
        argv.extend(extra.iter().cloned());
        argv
    }

    /// Spawn `argv` under starvetrace (`record ... -- argv`) and wait until
    /// it runs: starvetrace starts it only once every probe is attached.
    pub fn spawn_wrapped(
        &self,
        t: &Tracer,
        argv: &[String],
        dir: &std::path::Path,
    ) -> Result<(Proc, Conn)> {
        let mut cmd = t.command(0, dir);
        cmd.arg("--").args(argv);
        self.spawn_ready(t.label, &mut cmd, dir, true)
    }

    pub fn spawn_plain(
        &self,
        label: &str,
        argv: &[String],
        dir: &std::path::Path,
    ) -> Result<(Proc, Conn)> {
        let mut cmd = Command::new(&argv[0]);
        cmd.args(&argv[1..]);
        self.spawn_ready(label, &mut cmd, dir, false)
    }

    /// Starts `cmd` and waits for the workload in it to say `ready`.
    fn spawn_ready(
        &self,
        label: &str,
        cmd: &mut Command,
        dir: &std::path::Path,
        watch_rss: bool,
    ) -> Result<(Proc, Conn)> {
        let mut p = Proc::spawn(label, cmd, dir)?;
        if watch_rss {
            p.watch_rss();
        }
        let conn = self.listener.accept_ready(&mut p, START_TIMEOUT)?;
        Ok((p, conn))
    }

    fn spawn_peer(&self, t: &Tracer, pid: u32, dir: &std::path::Path) -> Result<Proc> {
        let mut p = Proc::spawn(t.label, &mut t.command(pid, dir), dir)?;
        p.watch_rss();
        t.wait_attached(&mut p, START_TIMEOUT)?;
        Ok(p)
    }

    /// One run of `w` for `duration` seconds, untraced or with `tracer`.
    pub fn measure(
        &self,
        w: &Workload,
        tracer: Option<(&Tracer, Target)>,
        want_progs: bool,
        duration: f64,
    ) -> Result<Measured> {
        let n = self.runs.fetch_add(1, Ordering::Relaxed);
        let dir = self.dir.join(format!("run-{n}"));
        std::fs::create_dir_all(&dir).context("creating a run directory")?;
        let result = self.measure_in(w, tracer, want_progs, duration, &dir);
        // perf.data can be hundreds of MB per run.
        let _ = std::fs::remove_dir_all(&dir);
        result
    }

    fn measure_in(
        &self,
        w: &Workload,
        tracer: Option<(&Tracer, Target)>,
        want_progs: bool,
        duration: f64,
        dir: &std::path::Path,
    ) -> Result<Measured> {
        let argv = self.pingpong(w.mode, &w.extra, duration);
        // Declared before the processes so they are dropped (killed) after
        // the connections are closed.
        let mut tracer_proc: Option<Proc> = None;
        let mut bystander: Option<(Option<Proc>, Conn)> = None;

        if let Some((t, Target::Bystander)) = tracer {
            let idle = self.pingpong("idle", &[], duration);
            if t.scope == Scope::WrapsCommand {
                let (p, conn) = self.spawn_wrapped(t, &idle, dir)?;
                tracer_proc = Some(p);
                bystander = Some((None, conn));
            } else {
                let (p, conn) = self.spawn_plain("bystander", &idle, dir)?;
                tracer_proc = Some(self.spawn_peer(t, conn.pid, dir)?);
                bystander = Some((Some(p), conn));
            }
        }

        let (mut workload_proc, mut conn) = match tracer {
            Some((t, Target::Workload)) if t.scope == Scope::WrapsCommand => {
                let (p, conn) = self.spawn_wrapped(t, &argv, dir)?;
                tracer_proc = Some(p);
                (None, conn)
            }
            _ => {
                let (p, conn) = self.spawn_plain("workload", &argv, dir)?;
                if let Some((t, Target::Workload)) = tracer {
                    tracer_proc = Some(self.spawn_peer(t, conn.pid, dir)?);
                }
                (Some(p), conn)
            }
        };

        std::thread::sleep(SETTLE);
        let tracer_pid = tracer_proc.as_ref().map(Proc::pid);
        let cpu_at_go = tracer_pid.and_then(proc::cpu_secs);
        let busy_at_go = host::busy_secs();
        conn.go()?;
        let mut outcome = conn.result(Duration::from_secs_f64(duration) + START_TIMEOUT)?;
        let busy_at_end = host::busy_secs();
        let cpu_at_end = tracer_pid.and_then(proc::cpu_secs);
        let tracer_cpu = cpu_at_go.zip(cpu_at_end).map(|(a, b)| b - a);
        if let Some((a, b)) = busy_at_go.zip(busy_at_end) {
            let foreign = (b - a) - outcome.cpu_secs - tracer_cpu.unwrap_or(0.0);
            outcome.foreign_pct = (foreign / outcome.secs * 100.0).max(0.0);
        }
        let progs = match (want_progs, tracer_pid) {
            (true, Some(pid)) => bpf::prog_stats(pid)?,
            _ => Vec::new(),
        };

        // Closing the connection lets the workload exit.
        drop(conn);
        if let Some(p) = workload_proc.as_mut() {
            let status = p.finish(START_TIMEOUT)?;
            if !status.success() {
                bail!("the workload failed ({status}){}", p.stderr_tail());
            }
        }
        let Some((t, target)) = tracer else {
            return Ok(Measured {
                outcome,
                tracer: None,
            });
        };
        let Some(mut tp) = tracer_proc else {
            bail!("internal: tracer process missing")
        };
        let wraps = t.scope == Scope::WrapsCommand;
        // starvetrace stops by itself when its command exits; peers get the
        // SIGINT a user would send.
        if let Some((idle_proc, idle_conn)) = bystander {
            drop(idle_conn);
            if let Some(mut p) = idle_proc {
                p.finish(START_TIMEOUT)?;
            }
        }
        if !wraps {
            tp.interrupt();
        }
        let status = tp.finish(STOP_TIMEOUT)?;
        if !proc::stopped_cleanly(status) {
            bail!("{} failed ({status}){}", t.label, tp.stderr_tail());
        }
        let report = if t.is_starvetrace() {
            let text =
                std::fs::read_to_string(&tp.stdout).context("reading starvetrace's output")?;
            Some(serde_json::from_str(&text).with_context(|| {
                format!(
                    "starvetrace printed no JSON report (tracing {target:?}){}",
                    tp.stderr_tail()
                )
            })?)
        } else {
            None
        };
        Ok(Measured {
            outcome,
            tracer: Some(TracerRun {
                cpu_secs: tracer_cpu,
                peak_rss_kib: tp.peak_rss_kib(),
                report,
                progs,
            }),
        })
    }
}

impl Lab {
    /// A fresh scratch directory for callers that drive processes themselves.
    pub fn scratch(&self) -> Result<PathBuf> {
        let n = self.runs.fetch_add(1, Ordering::Relaxed);
        let dir = self.dir.join(format!("run-{n}"));
        std::fs::create_dir_all(&dir).context("creating a run directory")?;
        Ok(dir)
    }
}

/// Scratch directories of benches that were interrupted (their Drop never
/// ran): a stale perf.data in tmpfs holds memory until removed.
fn remove_stale(base: &std::path::Path) {
    let Ok(entries) = std::fs::read_dir(base) else {
        return;
    };
    for e in entries.filter_map(|e| e.ok()) {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(pid) = name.strip_prefix("starvetrace-bench-") else {
            continue;
        };
        if !std::path::Path::new("/proc").join(pid).exists() {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}
