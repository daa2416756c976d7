//! `cargo xtask test`: everything CI runs. Every step runs even after a
//! failure so the summary is complete; the very last line is
//! `xtask: N passed, N failed, N skipped`.
//!
//! Passed and failed count steps. Skipped counts whole steps skipped plus
//! each case a step could not run: lines root integration tests append to
//! `$STARVETRACE_SKIP_LOG` (protocol in skips.rs and in the README, "What
//! `cargo xtask test` counts") and vm-test scenarios reported SKIP. Each is
//! a row `SKIPPED: <name>: <reason>` in the table. With `CI=true` a skip that
//! README.md's "Allowed skips" table does not list for this machine kind
//! fails the run.

use std::{
    fs,
    io::Write as _,
    path::Path,
    process::Command,
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, bail};

use crate::{
    bootstrap, cargo_build, lint,
    run::{euid, is_root, run},
    skips::{self, Allowed, Skip},
    vm,
};

enum Outcome {
    Pass,
    Fail(String),
    Skipped(String),
}

struct Step {
    name: &'static str,
    outcome: Outcome,
    took: Duration,
    /// Cases the step could not run (it may still pass).
    skips: Vec<Skip>,
}

#[derive(Default)]
struct Steps(Vec<Step>);

impl Steps {
    /// Runs one step; `f` adds the cases it skipped, even when it fails.
    fn run(&mut self, name: &'static str, f: impl FnOnce(&mut Vec<Skip>) -> Result<()>) {
        eprintln!("\n=== xtask test: {name} ===");
        let t = Instant::now();
        let mut skips = Vec::new();
        let outcome = match f(&mut skips) {
            Ok(()) => Outcome::Pass,
            Err(e) => {
                eprintln!("=== xtask test: {name} FAILED: {e:#}");
                Outcome::Fail(format!("{e:#}"))
            }
        };
        for s in &skips {
            eprintln!("=== xtask test: {name}: SKIPPED {}: {}", s.name, s.reason);
        }
        self.0.push(Step {
            name,
            outcome,
            took: t.elapsed(),
            skips,
        });
    }

    fn skip(&mut self, name: &'static str, why: &str) {
        eprintln!("\n!!! xtask test: {name} SKIPPED: {why} !!!");
        self.0.push(Step {
            name,
            outcome: Outcome::Skipped(why.to_string()),
            took: Duration::ZERO,
            skips: Vec::new(),
        });
    }

    fn count(&self, f: impl Fn(&Outcome) -> bool) -> usize {
        self.0.iter().filter(|s| f(&s.outcome)).count()
    }

    /// Whole steps skipped (named after the step) and cases skipped inside.
    fn skips(&self) -> Vec<Skip> {
        self.0
            .iter()
            .flat_map(|s| {
                let whole = match &s.outcome {
                    Outcome::Skipped(why) => Some(Skip::new(s.name, why)),
                    _ => None,
                };
                whole.into_iter().chain(s.skips.iter().cloned())
            })
            .collect()
    }

    /// The CI rule as one more step: every skip must be allowed for `kind`
    /// by README.md's table.
    fn check_allowed(&mut self, readme: &Path, kind: &str) {
        let skips = self.skips();
        self.run("skips allowed (CI=true)", |_| {
            let allowed = Allowed::read(readme)?;
            let unlisted = unlisted(&skips, &allowed, kind);
            if !unlisted.is_empty() {
                bail!(
                    "CI=true and {} of {} skips are not in README.md's \"Allowed skips\" for \
                     machine kind `{kind}`: {}",
                    unlisted.len(),
                    skips.len(),
                    unlisted.join(", ")
                );
            }
            Ok(())
        });
    }

    /// The table, then `xtask: N passed, N failed, N skipped` as the last line.
    fn summary(&self, total: Duration) -> String {
        let mut out = String::from("\n| step | result | time |\n|---|---|---:|\n");
        for s in &self.0 {
            let result = match &s.outcome {
                Outcome::Pass => "pass".to_string(),
                Outcome::Fail(e) => format!("FAIL: {}", cell(first_line(e))),
                Outcome::Skipped(why) => format!("SKIPPED: {}: {}", s.name, cell(why)),
            };
            out += &format!("| {} | {} | {} |\n", s.name, result, mmss(s.took));
            for k in &s.skips {
                out += &format!(
                    "| {} | SKIPPED: {}: {} | |\n",
                    s.name,
                    cell(&k.name),
                    cell(&k.reason)
                );
            }
        }
        out += &format!("| total | | {} |\n", mmss(total));
        out += &format!(
            "xtask: {} passed, {} failed, {} skipped",
            self.count(|o| matches!(o, Outcome::Pass)),
            self.count(|o| matches!(o, Outcome::Fail(_))),
            self.skips().len()
        );
        out
    }
}

/// Names of the skips `allowed` does not list for `kind`.
fn unlisted(skips: &[Skip], allowed: &Allowed, kind: &str) -> Vec<String> {
    skips
        .iter()
        .filter(|s| allowed.find(&s.name, kind).is_none())
        .map(|s| s.name.clone())
        .collect()
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or_default()
}

/// A table cell: one line, no column separator.
fn cell(s: &str) -> String {
    first_line(s).replace('|', "/")
}

fn mmss(d: Duration) -> String {
    let s = d.as_secs();
    format!("{}:{:02}", s / 60, s % 60)
}

fn is_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

const NOT_ROOT: &str = "need root (CAP_BPF, CAP_PERFMON, cgroups); run as root (CI does)";

fn cargo(root: &Path, args: &[&str]) -> Command {
    let mut c = Command::new("cargo");
    c.current_dir(root).args(args);
    c
}

/// The root integration tests, with the skip log they append to.
fn root_tests(root: &Path, skipped: &mut Vec<Skip>) -> Result<()> {
    let log = cargo_build::target_dir(root).join("xtask/root-test-skips.tsv");
    let dir = log.parent().expect("a file under target/");
    fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    fs::write(&log, "").with_context(|| format!("cannot empty {}", log.display()))?;
    let result = run(cargo(
        root,
        &[
            "test",
            "-p",
            "tracer",
            "--features",
            "root-tests",
            "--release",
            // Every test binary runs even after one fails: a failure must
            // not hide the binaries after it (it once hid a broken test).
            "--no-fail-fast",
            "--",
            "--test-threads=1",
        ],
    )
    .env(skips::LOG_ENV, &log));
    skipped.extend(skips::read_log(&log));
    result
}

/// The VM suite on one kernel series. A kernel that cannot be fetched (nor
/// found cached) is an error from `vm::run`: the step fails, never skips.
fn vm_test(root: &Path, series: vm::Series, skipped: &mut Vec<Skip>) -> Result<()> {
    let args = ["--kernel-series".to_string(), series.as_str().to_string()];
    let Some(suite) = vm::run(root, &args)? else {
        bail!("vm-test printed its help instead of running");
    };
    skipped.extend(suite.skips_as(vm_step_name(series)));
    suite.check()
}

/// The step's name in the summary, also the prefix of its skips.
fn vm_step_name(series: vm::Series) -> &'static str {
    match series {
        vm::Series::V6_1 => "vm-test-6.1",
        vm::Series::V6_12 => "vm-test-6.12",
    }
}

/// Runs every step; returns whether all passed.
pub fn test(root: &Path) -> bool {
    let started = Instant::now();
    let mut steps = Steps::default();
    steps.run("bootstrap", |_| {
        bootstrap::bootstrap(root)?;
        bootstrap::test_packages()
    });
    steps.run("lint", |_| lint::lint(root));
    // The eBPF crate cannot build for the host; lint covers it.
    steps.run("unit tests", |_| {
        run(&mut cargo(
            root,
            &[
                "test",
                "--workspace",
                "--exclude",
                "tracer-ebpf",
                "--no-fail-fast",
            ],
        ))
    });
    if is_root() {
        steps.run("root integration tests", |s| root_tests(root, s));
    } else {
        steps.skip(
            "root integration tests",
            &format!("not root (euid {}); they {NOT_ROOT}", euid()),
        );
    }
    // One step per kernel series, each counted on its own; the static build
    // is shared (the second step finds it up to date).
    for series in vm::Series::ALL {
        steps.run(vm_step_name(series), |s| vm_test(root, series, s));
    }
    if is_ci() {
        steps.check_allowed(&root.join("README.md"), &skips::machine_kind());
    }
    let summary = steps.summary(started.elapsed());
    // stdout, flushed after the step logs on stderr, so the count is the
    // last line in a combined log as well.
    let _ = std::io::stderr().flush();
    println!("{summary}");
    let _ = std::io::stdout().flush();
    steps.count(|o| matches!(o, Outcome::Fail(_))) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    const README: &str = "## Allowed skips\n\n| skip | machine kind | reason |\n|---|---|---|\n\
                          | `demo_root/memory-high` | rust | v1 memory controller |\n";

    /// A README of its own per test: tests run in parallel.
    fn readme(test: &str) -> std::path::PathBuf {
        let p = std::env::temp_dir().join(format!("xtask-{test}-{}.md", std::process::id()));
        fs::write(&p, README).unwrap();
        p
    }

    fn last_line(steps: &Steps) -> String {
        let s = steps.summary(Duration::from_secs(61));
        s.lines().last().unwrap().to_string()
    }

    #[test]
    fn summary_ends_with_the_count() {
        let mut steps = Steps::default();
        steps.run("a", |_| Ok(()));
        steps.run("b", |_| bail!("broke\nsecond line"));
        steps.skip("c", "why");
        let s = steps.summary(Duration::from_secs(61));
        assert_eq!(
            s.lines().last(),
            Some("xtask: 1 passed, 1 failed, 1 skipped")
        );
        assert!(s.contains("| b | FAIL: broke |"), "{s}");
        assert!(s.contains("| c | SKIPPED: c: why |"), "{s}");
        assert!(s.contains("| total | | 1:01 |"), "{s}");
    }

    #[test]
    fn cases_skipped_from_the_log_count_even_when_the_step_fails() {
        let log = std::env::temp_dir().join(format!("xtask-test-skips-{}", std::process::id()));
        fs::write(
            &log,
            "demo_root/memory-high\tcgroup v1 | memory\nlab_root/memory-high\tcgroup v1\n",
        )
        .unwrap();
        let mut steps = Steps::default();
        steps.run("root integration tests", |s| {
            s.extend(skips::read_log(&log));
            bail!("one test failed")
        });
        let s = steps.summary(Duration::ZERO);
        assert_eq!(last_line(&steps), "xtask: 0 passed, 1 failed, 2 skipped");
        assert!(
            s.contains(
                "| root integration tests | SKIPPED: demo_root/memory-high: cgroup v1 / memory | |"
            ),
            "{s}"
        );
        let _ = fs::remove_file(log);
    }

    #[test]
    fn vm_skips_count() {
        let suite = vm::suite_from_guest(
            "VMTEST-BEGIN memory-high\nVMTEST-STDERR\nlab: scenario `memory-high` is not \
             supported on this host: no memory.high\nVMTEST-END memory-high rc=1 secs=2.0\n\
             VMTEST-DONE\n",
            &["memory-high"],
        );
        let mut steps = Steps::default();
        for series in vm::Series::ALL {
            steps.run(vm_step_name(series), |s| {
                s.extend(suite.skips_as(vm_step_name(series)));
                suite.check()
            });
        }
        assert_eq!(last_line(&steps), "xtask: 2 passed, 0 failed, 2 skipped");
        assert_eq!(steps.skips()[0].name, "vm-test-6.1/memory-high");
        assert_eq!(steps.skips()[1].name, "vm-test-6.12/memory-high");
    }

    #[test]
    fn ci_fails_on_an_unlisted_skip() {
        let mut steps = Steps::default();
        steps.skip("root integration tests", "not root");
        steps.run("root", |s| {
            s.push(Skip::new("demo_root/memory-high", "v1"));
            Ok(())
        });
        steps.check_allowed(&readme("unlisted"), "rust");
        let s = steps.summary(Duration::ZERO);
        assert_eq!(last_line(&steps), "xtask: 1 passed, 1 failed, 2 skipped");
        assert!(
            s.contains("1 of 2 skips are not in README.md's \"Allowed skips\" for machine kind `rust`: root integration tests"),
            "{s}"
        );
    }

    #[test]
    fn ci_passes_on_listed_skips_for_this_kind_only() {
        let mut steps = Steps::default();
        steps.run("root", |s| {
            s.push(Skip::new("demo_root/memory-high", "v1"));
            Ok(())
        });
        let readme = readme("listed");
        steps.check_allowed(&readme, "rust");
        assert_eq!(last_line(&steps), "xtask: 2 passed, 0 failed, 1 skipped");
        steps.check_allowed(&readme, "other");
        assert_eq!(last_line(&steps), "xtask: 2 passed, 1 failed, 1 skipped");
    }

    #[test]
    fn ci_fails_without_a_readable_table() {
        let mut steps = Steps::default();
        steps.check_allowed(Path::new("/nonexistent/README.md"), "rust");
        assert_eq!(last_line(&steps), "xtask: 0 passed, 1 failed, 0 skipped");
    }

    #[test]
    fn the_readme_allows_the_known_memory_high_skips() {
        let readme = Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md");
        let allowed = Allowed::read(&readme).unwrap();
        for name in ["demo_root/memory-high", "lab_root/memory-high"] {
            assert!(allowed.find(name, "rust").is_some(), "{name}");
        }
        assert!(allowed.find("lab_root/cpu", "rust").is_none());
    }
}
