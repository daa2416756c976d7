//! Command line of `cargo xtask bench`.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};

use super::stats::MIN_PAIRS;

pub const HELP: &str = "\
usage: cargo xtask bench [overhead|capacity|attach|cost|user-stacks|watch|all] [options]
       cargo xtask bench soak [--minutes N] [options]

  overhead   ping-pong workloads untraced vs traced (starvetrace record,
             starvetrace watch, and peers), and an untraced ping-pong while
             another process is traced or watched
  capacity   raise the traced event rate until records are lost
  attach     time from `record -- CMD` to CMD running under the probes
  cost       ns per run of each BPF program (kernel BPF stats)
  user-stacks  what `record --user-stacks` costs: the pinned ping-pong with
             and without it, and the memory-max lab's page-read rate
             untraced, traced, and traced with it; alone, it rewrites only
             its own section of docs/BENCHMARKS.md
  watch      `starvetrace watch`'s own CPU and memory while it watches
             `starvetrace lab` processes (--pairs repeats)
  all        everything but soak (default); writes docs/BENCHMARKS.md unless --quick
  soak       host-wide `watch` for --minutes while lab and tokio processes
             come and go; RSS and fds every 10 s, fails unless flat; alone,
             a full-length run rewrites its own section of docs/BENCHMARKS.md

Ratios are judged on at least 9 pairs (fewer are reported, not judged).

options:
  --pairs N         untraced/traced pairs per configuration (default 9, --quick 3)
  --minutes N       soak: how long (default 30; fractions allowed)
  --duration SECS   length of one measured run (default 2, --quick 0.5)
  --quick           fewer and shorter runs, for development (numbers are rough)
  --no-peers        measure starvetrace only
  --no-install      do not apt-get install missing peers
  --no-build        use the binaries already in target/release
  --only KEY        overhead: only the scenario KEY (pinned, cross, tokio)
  --out PATH        write the Markdown report here
  --no-write        print only, even for a full `all`";

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Phase {
    Overhead,
    Capacity,
    Attach,
    Cost,
    UserStacks,
    Watch,
    /// Not part of `all`: it runs for half an hour.
    Soak,
    #[default]
    All,
}

#[derive(Clone, Debug, Default)]
pub struct Opts {
    pub phase: Phase,
    pub pairs: usize,
    pub duration: f64,
    pub quick: bool,
    pub no_peers: bool,
    pub no_install: bool,
    pub no_build: bool,
    pub out: Option<PathBuf>,
    pub no_write: bool,
    pub only: Option<String>,
    /// Soak length.
    pub minutes: f64,
}

/// Default soak length, minutes.
pub const SOAK_MINUTES: f64 = 30.0;

impl Opts {
    pub fn wants(&self, p: Phase) -> bool {
        (self.phase == Phase::All && p != Phase::Soak) || self.phase == p
    }

    /// Where to write the report: `--out`, or docs/BENCHMARKS.md after a
    /// full run (quick or partial runs would overwrite it with rough or
    /// incomplete numbers).
    pub fn output(&self, root: &Path) -> Option<PathBuf> {
        if self.no_write {
            return None;
        }
        if let Some(p) = &self.out {
            // An explicit path is honoured even for partial runs.
            return Some(p.clone());
        }
        // Fewer pairs than the rule needs would publish unjudged goals.
        (self.phase == Phase::All && !self.quick && self.only.is_none() && self.pairs >= MIN_PAIRS)
            .then(|| default_output(root))
    }
}

/// Where a full run publishes its report.
pub fn default_output(root: &Path) -> PathBuf {
    root.join("docs/BENCHMARKS.md")
}

/// `Ok(None)` means help was asked for.
pub fn parse(args: &[String]) -> Result<Option<Opts>> {
    let mut o = Opts::default();
    let mut pairs = None;
    let mut duration = None;
    let mut minutes = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .with_context(|| format!("{name} needs a value\n\n{HELP}"))
                .cloned()
        };
        match a.as_str() {
            "overhead" => o.phase = Phase::Overhead,
            "capacity" => o.phase = Phase::Capacity,
            "attach" => o.phase = Phase::Attach,
            "cost" => o.phase = Phase::Cost,
            "user-stacks" => o.phase = Phase::UserStacks,
            "watch" => o.phase = Phase::Watch,
            "soak" => o.phase = Phase::Soak,
            "all" => o.phase = Phase::All,
            "--quick" => o.quick = true,
            "--no-peers" => o.no_peers = true,
            "--no-install" => o.no_install = true,
            "--no-build" => o.no_build = true,
            "--no-write" => o.no_write = true,
            "--pairs" => {
                let n: usize = value("--pairs")?
                    .parse()
                    .context("--pairs: not a whole number")?;
                if n == 0 {
                    bail!("--pairs must be at least 1");
                }
                pairs = Some(n);
            }
            "--duration" => {
                let d: f64 = value("--duration")?
                    .parse()
                    .context("--duration: not a number")?;
                if !(0.1..=60.0).contains(&d) {
                    bail!("--duration must be between 0.1 and 60 seconds");
                }
                duration = Some(d);
            }
            "--minutes" => {
                let m: f64 = value("--minutes")?
                    .parse()
                    .context("--minutes: not a number")?;
                if !(0.5..=24.0 * 60.0).contains(&m) {
                    bail!("--minutes must be between 0.5 and 1440");
                }
                minutes = Some(m);
            }
            "--only" => o.only = Some(value("--only")?),
            "--out" => o.out = Some(PathBuf::from(value("--out")?)),
            "-h" | "--help" | "help" => return Ok(None),
            other => bail!("unknown argument `{other}`\n\n{HELP}"),
        }
    }
    o.pairs = pairs.unwrap_or(if o.quick { 3 } else { MIN_PAIRS });
    o.minutes = minutes.unwrap_or(SOAK_MINUTES);
    o.duration = duration.unwrap_or(if o.quick { 0.5 } else { 2.0 });
    Ok(Some(o))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn defaults_and_quick() {
        let o = parse(&[]).unwrap().unwrap();
        assert_eq!((o.phase, o.pairs, o.duration), (Phase::All, 9, 2.0));
        assert!(o.wants(Phase::Watch) && !o.wants(Phase::Soak));
        assert!(o.output(Path::new("/r")).is_some());
        let q = parse(&args("capacity --quick")).unwrap().unwrap();
        assert_eq!((q.phase, q.pairs, q.duration), (Phase::Capacity, 3, 0.5));
        assert!(q.output(Path::new("/r")).is_none());
        let few = parse(&args("--pairs 5")).unwrap().unwrap();
        assert!(few.output(Path::new("/r")).is_none());
    }

    #[test]
    fn soak_is_its_own_phase() {
        let o = parse(&args("soak")).unwrap().unwrap();
        assert_eq!((o.phase, o.minutes), (Phase::Soak, 30.0));
        assert!(o.wants(Phase::Soak) && !o.wants(Phase::Overhead));
        let o = parse(&args("soak --minutes 1.5")).unwrap().unwrap();
        assert_eq!(o.minutes, 1.5);
        assert!(parse(&args("soak --minutes 0")).is_err());
        assert!(parse(&args("soak --minutes x")).is_err());
    }

    #[test]
    fn rejects_bad_values() {
        assert!(parse(&args("--pairs 0")).is_err());
        assert!(parse(&args("--duration")).is_err());
        assert!(parse(&args("bogus")).is_err());
    }
}
