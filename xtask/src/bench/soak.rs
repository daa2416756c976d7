//! `cargo xtask bench soak [--minutes N]`: host-wide `watch` (no target)
//! for N minutes (default 30) while tokio processes come and go, sampling
//! its VmRSS and open fds every 10 s. The verdict (flatness rule) is in
//! soak_rule.rs, the Markdown there too.

use std::{
    path::PathBuf,
    time::{Duration, Instant},
};

use anyhow::{Result, bail};

use super::{
    ctl::Conn,
    lab::Lab,
    proc::{self, Proc},
    soak_rule::{Phase, SOAK_TRIGGER_BLACKOUT, Sample, Soak},
    watch::{self, LabSet},
};

const SAMPLE_EVERY: Duration = Duration::from_secs(10);
/// Targets alive at once during churn.
const CONCURRENT: usize = 3;
/// What starts next, in turn: lab scenarios (each its own tokio process
/// and cgroup) and the bench's tokio ping-pong. Lifetimes rotate
/// separately (co-prime lengths), so the set of live targets keeps changing.
/// `cpu` keeps its runtime off the CPUs most of the time; with
/// [`SOAK_TRIGGER_BLACKOUT`] `watch` fires for it and writes a bundle, so the
/// capture path is soaked too (and, past `--max-bundles`, the rotation).
const KINDS: [&str; 6] = [
    "healthy",
    "tokio",
    "cpu",
    "lock",
    "lost-wakeup",
    "blocking-pool-idle",
];
const LIFETIMES: [f64; 5] = [15.0, 40.0, 25.0, 60.0, 30.0];
/// After the churn stops, time for `watch` to notice every target has gone
/// (several of its default intervals) before the quiet sample.
const QUIET: Duration = Duration::from_secs(20);

/// One churned target.
enum Churned {
    Lab(LabSet),
    PingPong(Proc, Conn, PathBuf),
}

struct Live {
    target: Churned,
    until: Instant,
}

impl Live {
    fn pid(&self) -> u32 {
        match &self.target {
            Churned::Lab(l) => l.pids().first().copied().unwrap_or(0),
            Churned::PingPong(p, _, _) => p.pid(),
        }
    }

    /// Stop it (SIGINT for the lab, so it removes its cgroup).
    fn stop(self) {
        match self.target {
            Churned::Lab(mut l) => l.stop(),
            Churned::PingPong(mut p, conn, dir) => {
                drop(conn);
                p.interrupt();
                let _ = p.finish(Duration::from_secs(10));
                let _ = std::fs::remove_dir_all(dir);
            }
        }
    }
}

struct Churn<'a> {
    lab: &'a Lab,
    live: Vec<Live>,
    next: usize,
    started: usize,
}

impl Churn<'_> {
    /// Stop what has outlived its time and start new targets up to
    /// `CONCURRENT`.
    fn tick(&mut self) -> Result<()> {
        let now = Instant::now();
        let (done, keep): (Vec<Live>, Vec<Live>) =
            self.live.drain(..).partition(|l| l.until <= now);
        self.live = keep;
        done.into_iter().for_each(Live::stop);
        while self.live.len() < CONCURRENT {
            let kind = KINDS[self.next % KINDS.len()];
            let secs = LIFETIMES[self.next % LIFETIMES.len()];
            self.next += 1;
            let dir = self.lab.scratch()?;
            let target = if kind == "tokio" {
                // Runs until the bench closes its socket: a live target
                // with the pingpong's tokio-named workers.
                let argv = self.lab.pingpong("tokio", &[], secs + 30.0);
                let (p, mut conn) = self.lab.spawn_plain("tokio", &argv, &dir)?;
                conn.go()?;
                Churned::PingPong(p, conn, dir)
            } else {
                let mut l = LabSet::new();
                // The lab ends itself; the margin covers its set-up.
                l.start(&self.lab.bins.starvetrace, kind, secs + 30.0, dir)?;
                Churned::Lab(l)
            };
            self.started += 1;
            self.live.push(Live {
                target,
                until: now + Duration::from_secs_f64(secs),
            });
        }
        Ok(())
    }

    fn stop_all(&mut self) {
        self.live.drain(..).for_each(Live::stop);
    }
}

pub fn run(lab: &Lab, minutes: f64) -> Result<Soak> {
    let bin = &lab.bins.starvetrace;
    if let Some(why) = watch::missing(bin) {
        bail!("soak needs `starvetrace watch`: {why}");
    }
    let total = Duration::from_secs_f64(minutes * 60.0);
    let warmup = super::soak_rule::warmup(total);
    let dir = lab.scratch()?;
    let mut tracer = watch::host_tracer(bin);
    tracer
        .args
        .extend(["--trigger-blackout".into(), SOAK_TRIGGER_BLACKOUT.into()]);
    let mut w = Proc::spawn("watch", &mut tracer.command(0, &dir), &dir)?;
    tracer.wait_attached(&mut w, Duration::from_secs(30))?;
    eprintln!(
        "bench: soak: watch (pid {}) host-wide for {minutes} min; warm-up {:.0} s; a sample every {} s",
        w.pid(),
        warmup.as_secs_f64(),
        SAMPLE_EVERY.as_secs()
    );
    let mut churn = Churn {
        lab,
        live: Vec::new(),
        next: 0,
        started: 0,
    };
    let t0 = Instant::now();
    let mut soak = Soak {
        minutes,
        ..Default::default()
    };
    let result = (|| -> Result<()> {
        let mut phase = Phase::Warmup;
        let mut next_sample = t0;
        loop {
            if let Some(status) = w.poll()? {
                bail!("watch exited during the soak ({status}){}", w.stderr_tail());
            }
            let elapsed = t0.elapsed();
            let quiet_point = match phase {
                Phase::Warmup if elapsed >= warmup => Some(Phase::Churn),
                Phase::Churn if elapsed >= total => Some(Phase::End),
                _ => None,
            };
            if let Some(after) = quiet_point {
                // The same target set (none of ours) at both reference
                // points: stop the churn, let watch notice, sample.
                churn.stop_all();
                std::thread::sleep(QUIET);
                let s = sample(&w, t0, Phase::Quiet, 0)?;
                eprintln!("bench: soak: quiet sample {}", s.show());
                soak.samples.push(s);
                if after == Phase::End {
                    break;
                }
                phase = after;
            }
            churn.tick()?;
            if Instant::now() >= next_sample {
                let s = sample(&w, t0, phase, churn.live.len())?;
                eprintln!(
                    "bench: soak: {} (live pids {:?})",
                    s.show(),
                    churn.live.iter().map(Live::pid).collect::<Vec<_>>()
                );
                soak.samples.push(s);
                // After a quiet pause, resume the cadence instead of
                // catching up with a burst of samples.
                let now = Instant::now();
                next_sample += SAMPLE_EVERY;
                if next_sample <= now {
                    next_sample = now + SAMPLE_EVERY;
                }
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        Ok(())
    })();
    churn.stop_all();
    soak.targets_started = churn.started;
    w.interrupt();
    let status = w.finish(Duration::from_secs(30));
    soak.bundles_written = [&w.stdout, &w.stderr]
        .iter()
        .filter_map(|f| std::fs::read_to_string(f).ok())
        .map(|text| text.matches("evidence bundle written").count())
        .sum();
    result?;
    let status = status?;
    if !proc::stopped_cleanly(status) {
        bail!(
            "watch failed at the end of the soak ({status}){}",
            w.stderr_tail()
        );
    }
    Ok(soak)
}

fn sample(w: &Proc, t0: Instant, phase: Phase, live: usize) -> Result<Sample> {
    let pid = w.pid();
    match (proc::vm_rss_kib(pid), proc::fd_count(pid)) {
        (Some(rss_kib), Some(fds)) => Ok(Sample {
            secs: t0.elapsed().as_secs_f64(),
            phase,
            rss_kib,
            fds,
            live,
        }),
        _ => bail!("watch's /proc entry is gone{}", w.stderr_tail()),
    }
}
