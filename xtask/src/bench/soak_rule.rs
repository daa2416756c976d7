//! The soak's samples, its flatness rule and its Markdown section.
//!
//! The rule compares two *quiet* samples: one after the warm-up, one at the
//! end, each taken after every target the bench started was stopped and
//! `watch` had time to notice. Both see the same set of our targets (none),
//! so whatever per-target state `watch` keeps (books, BPF map entries,
//! pidfds, /proc and cgroup fds) should be gone at both; what differs is
//! what leaked.
//!
//! - RSS: end ≤ start × 1.1 + 4 MiB. The allocator keeps freed pages in its
//!   arenas and hash maps keep the capacity they grew to at the churn's
//!   peak, so a one-off rise is not a leak; 10% covers that, 4 MiB the
//!   allocator's granularity (a new arena, a trimmed heap not returned).
//!   Growth per target does not hide in it: 30 minutes of churn start about
//!   130 targets, so a leak of ~50 KiB per target exceeds the allowance
//!   at a 20 MiB start.
//! - fds: end within ±2 of start. Any fd held per target is a leak once it
//!   has gone; 2 allows for one transiently open at the instant of the
//!   sample (a /proc file being read, a `--listen` client).
//!
//! The least-squares slopes over every sample after the warm-up are
//! reported beside the rule, not judged: mid-churn samples move with the
//! number of live targets.

use std::{fmt::Write as _, time::Duration};

use super::stats;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Phase {
    /// Targets come and go; not part of the verdict.
    #[default]
    Warmup,
    /// Targets come and go.
    Churn,
    /// None of the bench's targets alive: a reference point.
    Quiet,
    /// Marker: the soak is over (never on a sample).
    End,
}

#[derive(Clone, Debug, Default)]
pub struct Sample {
    /// Since the soak started.
    pub secs: f64,
    pub phase: Phase,
    pub rss_kib: u64,
    pub fds: usize,
    /// Targets the bench had alive at the time.
    pub live: usize,
}

impl Sample {
    pub fn show(&self) -> String {
        format!(
            "{:>6.0} s {:?}: VmRSS {:.1} MiB, {} fds, {} targets",
            self.secs,
            self.phase,
            self.rss_kib as f64 / 1024.0,
            self.fds,
            self.live
        )
    }
}

#[derive(Clone, Debug, Default)]
pub struct Soak {
    pub minutes: f64,
    pub samples: Vec<Sample>,
    pub targets_started: usize,
    /// Evidence bundles `watch` said it wrote (the `cpu` lab's stalls fire
    /// its blackout trigger): the capture path is soaked too.
    pub bundles_written: usize,
}

/// The soak's blackout trigger, seconds. The default (1 s) does not fire
/// for the `cpu` lab on a 2-CPU host: its runtime stalls for 0.27–0.37 s at
/// a time (measured), while blacked out most of the window.
pub const SOAK_TRIGGER_BLACKOUT: &str = "0.2";

const RSS_FACTOR: f64 = 1.1;
const RSS_SLACK_MIB: f64 = 4.0;
const FD_SLACK: i64 = 2;

/// Warm-up: a sixth of the soak, at least 10 s, at most 5 min.
pub fn warmup(total: Duration) -> Duration {
    (total / 6).clamp(Duration::from_secs(10), Duration::from_secs(300))
}

/// The rule's figures.
#[derive(Clone, Debug, PartialEq)]
pub struct Flatness {
    pub start_rss_mib: f64,
    pub end_rss_mib: f64,
    pub max_rss_mib: f64,
    pub rss_slope_mib_h: f64,
    pub start_fds: usize,
    pub end_fds: usize,
    pub max_fds: usize,
    pub fd_slope_h: f64,
    pub rss_ok: bool,
    pub fds_ok: bool,
}

impl Soak {
    /// None without the two quiet samples (the soak did not finish).
    pub fn flatness(&self) -> Option<Flatness> {
        let quiet: Vec<&Sample> = self
            .samples
            .iter()
            .filter(|s| s.phase == Phase::Quiet)
            .collect();
        let (start, end) = (*quiet.first()?, *quiet.last()?);
        if quiet.len() < 2 {
            return None;
        }
        let after: Vec<&Sample> = self
            .samples
            .iter()
            .filter(|s| s.secs >= start.secs)
            .collect();
        let x: Vec<f64> = after.iter().map(|s| s.secs / 3600.0).collect();
        let mib = |k: u64| k as f64 / 1024.0;
        let rss: Vec<f64> = after.iter().map(|s| mib(s.rss_kib)).collect();
        let fds: Vec<f64> = after.iter().map(|s| s.fds as f64).collect();
        let (s_rss, e_rss) = (mib(start.rss_kib), mib(end.rss_kib));
        Some(Flatness {
            start_rss_mib: s_rss,
            end_rss_mib: e_rss,
            max_rss_mib: stats::max(&rss),
            rss_slope_mib_h: stats::slope(&x, &rss),
            start_fds: start.fds,
            end_fds: end.fds,
            max_fds: after.iter().map(|s| s.fds).max().unwrap_or(0),
            fd_slope_h: stats::slope(&x, &fds),
            rss_ok: e_rss <= s_rss * RSS_FACTOR + RSS_SLACK_MIB,
            fds_ok: (end.fds as i64 - start.fds as i64).abs() <= FD_SLACK,
        })
    }
}

pub const SOAK_HEADING: &str = "## Soak (`watch`, host-wide, targets coming and going)";

pub fn section(soak: &Soak, when: &str) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{SOAK_HEADING}\n\nFrom `cargo xtask bench soak --minutes {}` on {when}: `starvetrace watch \
         --trigger-blackout {SOAK_TRIGGER_BLACKOUT}` with no target (a trigger the `cpu` lab fires, so bundles are \
         written) while lab scenarios and tokio ping-pong processes start and stop ({} targets started, up to 3 \
         alive at once; {} evidence bundles written), its VmRSS and open fds sampled every 10 s ({} samples). Start and end are quiet \
         samples (every target stopped, `watch` given 20 s to notice) after a warm-up and at the end. Rule: \
         end VmRSS ≤ start × {RSS_FACTOR} + {RSS_SLACK_MIB} MiB and end fds within ±{FD_SLACK} of start \
         (why: xtask/src/bench/soak_rule.rs). Slopes are least squares over every sample after the warm-up, \
         reported, not judged.\n",
        soak.minutes,
        soak.targets_started,
        soak.bundles_written,
        soak.samples.len()
    );
    let Some(f) = soak.flatness() else {
        let _ = writeln!(s, "The soak did not reach its end sample: no verdict.\n");
        return s;
    };
    let _ = writeln!(
        s,
        "| | start | end | max | slope per hour | rule | |\n|---|---|---|---|---|---|---|"
    );
    let _ = writeln!(
        s,
        "| VmRSS | {:.1} MiB | {:.1} MiB | {:.1} MiB | {:+.2} MiB | ≤ {:.1} MiB | {} |",
        f.start_rss_mib,
        f.end_rss_mib,
        f.max_rss_mib,
        f.rss_slope_mib_h,
        f.start_rss_mib * RSS_FACTOR + RSS_SLACK_MIB,
        stats::Verdict::from_bool(f.rss_ok).mark()
    );
    let _ = writeln!(
        s,
        "| open fds | {} | {} | {} | {:+.1} | {}–{} | {} |\n",
        f.start_fds,
        f.end_fds,
        f.max_fds,
        f.fd_slope_h,
        f.start_fds.saturating_sub(FD_SLACK as usize),
        f.start_fds + FD_SLACK as usize,
        stats::Verdict::from_bool(f.fds_ok).mark()
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(secs: f64, phase: Phase, rss_mib: u64, fds: usize) -> Sample {
        Sample {
            secs,
            phase,
            rss_kib: rss_mib * 1024,
            fds,
            live: 0,
        }
    }

    fn soak(end_rss: u64, end_fds: usize) -> Soak {
        Soak {
            minutes: 1.0,
            targets_started: 9,
            bundles_written: 2,
            samples: vec![
                s(0.0, Phase::Warmup, 10, 30),
                s(20.0, Phase::Quiet, 20, 40),
                s(30.0, Phase::Churn, 30, 46),
                s(40.0, Phase::Churn, 26, 44),
                s(60.0, Phase::Quiet, end_rss, end_fds),
            ],
        }
    }

    #[test]
    fn flat_within_the_allowance() {
        // 20 MiB × 1.1 + 4 = 26 MiB allowed.
        let f = soak(26, 42).flatness().unwrap();
        assert!(f.rss_ok && f.fds_ok, "{f:?}");
        assert_eq!(
            (f.start_rss_mib, f.end_rss_mib, f.max_rss_mib),
            (20.0, 26.0, 30.0)
        );
        assert_eq!((f.start_fds, f.end_fds, f.max_fds), (40, 42, 46));
        assert!(f.rss_slope_mib_h > 0.0);
        let md = section(&soak(26, 42), "today");
        assert!(
            md.contains("| VmRSS | 20.0 MiB | 26.0 MiB | 30.0 MiB |"),
            "{md}"
        );
        assert!(md.contains("| open fds | 40 | 42 | 46 |"), "{md}");
    }

    #[test]
    fn growth_fails() {
        let f = soak(27, 40).flatness().unwrap();
        assert!(!f.rss_ok && f.fds_ok);
        let f = soak(20, 43).flatness().unwrap();
        assert!(f.rss_ok && !f.fds_ok);
        let f = soak(20, 37).flatness().unwrap();
        assert!(!f.fds_ok);
    }

    #[test]
    fn unfinished_soak_has_no_verdict() {
        let mut x = soak(20, 40);
        x.samples.pop();
        assert!(x.flatness().is_none());
        assert!(section(&x, "today").contains("no verdict"));
    }

    #[test]
    fn warmup_bounds() {
        assert_eq!(warmup(Duration::from_secs(60)), Duration::from_secs(10));
        assert_eq!(
            warmup(Duration::from_secs(30 * 60)),
            Duration::from_secs(300)
        );
        assert_eq!(warmup(Duration::from_secs(600)), Duration::from_secs(100));
    }
}
