//! Command line of `cargo xtask bench`.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};

pub const HELP: &str = "\
usage: cargo xtask bench [overhead|capacity|attach|cost|user-stacks|all] [options]

  overhead   ping-pong workloads untraced vs traced (starvetrace and peers),
             and an untraced ping-pong while starvetrace traces another process
  capacity   raise the traced event rate until records are lost
  attach     time from `record -- CMD` to CMD running under the probes
  cost       ns per run of each BPF program (kernel BPF stats)
  user-stacks  what `record --user-stacks` costs: the pinned ping-pong with
             and without it, and the memory-max lab's page-read rate
             untraced, traced, and traced with it; alone, it rewrites only
             its own section of docs/BENCHMARKS.md
  all        everything (default); writes docs/BENCHMARKS.md unless --quick

options:
  --pairs N         untraced/traced pairs per configuration (default 5, --quick 3)
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
}

impl Opts {
    pub fn wants(&self, p: Phase) -> bool {
        self.phase == Phase::All || self.phase == p
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
        (self.phase == Phase::All && !self.quick && self.only.is_none())
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
            "--only" => o.only = Some(value("--only")?),
            "--out" => o.out = Some(PathBuf::from(value("--out")?)),
            "-h" | "--help" | "help" => return Ok(None),
            other => bail!("unknown argument `{other}`\n\n{HELP}"),
        }
    }
    o.pairs = pairs.unwrap_or(if o.quick { 3 } else { 5 });
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
        assert_eq!((o.phase, o.pairs, o.duration), (Phase::All, 5, 2.0));
        assert!(o.output(Path::new("/r")).is_some());
        let q = parse(&args("capacity --quick")).unwrap().unwrap();
        assert_eq!((q.phase, q.pairs, q.duration), (Phase::Capacity, 3, 0.5));
        assert!(q.output(Path::new("/r")).is_none());
    }

    #[test]
    fn rejects_bad_values() {
        assert!(parse(&args("--pairs 0")).is_err());
        assert!(parse(&args("--duration")).is_err());
        assert!(parse(&args("bogus")).is_err());
    }
}
