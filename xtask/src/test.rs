//! `cargo xtask test`: everything CI runs. Every step runs even after a
//! failure so the summary is complete; the very last line is the count.

use std::{
    io::Write as _,
    path::Path,
    process::Command,
    time::{Duration, Instant},
};

use anyhow::Result;

use crate::{
    bootstrap, lint,
    run::{euid, is_root, run},
    vm,
};

enum Outcome {
    Pass,
    Fail(String),
    Skipped(&'static str),
}

struct Step {
    name: &'static str,
    outcome: Outcome,
    took: Duration,
}

#[derive(Default)]
struct Steps(Vec<Step>);

impl Steps {
    fn run(&mut self, name: &'static str, f: impl FnOnce() -> Result<()>) {
        eprintln!("\n=== xtask test: {name} ===");
        let t = Instant::now();
        let outcome = match f() {
            Ok(()) => Outcome::Pass,
            Err(e) => {
                eprintln!("=== xtask test: {name} FAILED: {e:#}");
                Outcome::Fail(format!("{e:#}"))
            }
        };
        self.0.push(Step {
            name,
            outcome,
            took: t.elapsed(),
        });
    }

    fn skip(&mut self, name: &'static str, why: &'static str) {
        self.0.push(Step {
            name,
            outcome: Outcome::Skipped(why),
            took: Duration::ZERO,
        });
    }

    fn failed(&self) -> usize {
        self.0
            .iter()
            .filter(|s| matches!(s.outcome, Outcome::Fail(_)))
            .count()
    }

    fn passed(&self) -> usize {
        self.0
            .iter()
            .filter(|s| matches!(s.outcome, Outcome::Pass))
            .count()
    }

    /// The table, then `xtask: N passed, N failed` as the last line.
    fn summary(&self, total: Duration) -> String {
        let mut out = String::from("\n| step | result | time |\n|---|---|---:|\n");
        for s in &self.0 {
            let result = match &s.outcome {
                Outcome::Pass => "pass".to_string(),
                Outcome::Fail(e) => format!("FAIL: {}", first_line(e)),
                Outcome::Skipped(why) => format!("SKIPPED: {why}"),
            };
            out += &format!("| {} | {} | {} |\n", s.name, result, mmss(s.took));
        }
        out += &format!("| total | | {} |\n", mmss(total));
        out += &format!("xtask: {} passed, {} failed", self.passed(), self.failed());
        out
    }
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or_default()
}

fn mmss(d: Duration) -> String {
    let s = d.as_secs();
    format!("{}:{:02}", s / 60, s % 60)
}

const NOT_ROOT: &str = "needs root (CAP_BPF, CAP_PERFMON, cgroups); run as root (CI does)";

/// Runs every step; returns whether all passed.
pub fn test(root: &Path) -> bool {
    let started = Instant::now();
    let mut steps = Steps::default();
    steps.run("bootstrap", || bootstrap::bootstrap(root));
    steps.run("lint", || lint::lint(root));
    steps.run("unit tests", || {
        // The eBPF crate cannot build for the host; lint covers it.
        run(Command::new("cargo").current_dir(root).args([
            "test",
            "--workspace",
            "--exclude",
            "tracer-ebpf",
        ]))
    });
    if is_root() {
        steps.run("root integration tests", || {
            run(Command::new("cargo").current_dir(root).args([
                "test",
                "-p",
                "tracer",
                "--features",
                "root-tests",
                "--release",
                "--",
                "--test-threads=1",
            ]))
        });
    } else {
        eprintln!(
            "\n!!! xtask test: root integration tests SKIPPED: not root (euid {}). They {NOT_ROOT}. !!!",
            euid()
        );
        steps.skip("root integration tests", NOT_ROOT);
    }
    if vm::READY {
        steps.run("vm-test", || vm::run(&[]));
    } else {
        eprintln!("\nvm-test: not wired yet");
        steps.skip("vm-test", "not wired yet");
    }
    let summary = steps.summary(started.elapsed());
    // stdout, flushed after the step logs on stderr, so the count is the
    // last line in a combined log as well.
    let _ = std::io::stderr().flush();
    println!("{summary}");
    steps.failed() == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_ends_with_the_count() {
        let mut steps = Steps::default();
        steps.run("a", || Ok(()));
        steps.run("b", || anyhow::bail!("broke\nsecond line"));
        steps.skip("c", "why");
        let s = steps.summary(Duration::from_secs(61));
        assert_eq!(s.lines().last(), Some("xtask: 1 passed, 1 failed"));
        assert!(s.contains("| b | FAIL: broke |"), "{s}");
        assert!(s.contains("| c | SKIPPED: why |"), "{s}");
        assert!(s.contains("| total | | 1:01 |"), "{s}");
    }
}
