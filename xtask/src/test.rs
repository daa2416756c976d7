//! `cargo xtask test`: everything CI runs. Every step runs even after a
//! failure so the summary is complete; the last line is the count.

use std::{path::Path, process::Command, time::Instant};

use anyhow::Result;

use crate::{bootstrap, lint, run::is_root, run::run, vm};

struct Step {
    name: &'static str,
    result: Result<()>,
    secs: f64,
}

fn step(steps: &mut Vec<Step>, name: &'static str, f: impl FnOnce() -> Result<()>) {
    eprintln!("\n=== xtask test: {name} ===");
    let t = Instant::now();
    let result = f();
    if let Err(e) = &result {
        eprintln!("=== {name} FAILED: {e:#}");
    }
    steps.push(Step {
        name,
        result,
        secs: t.elapsed().as_secs_f64(),
    });
}

pub fn test(root: &Path) -> Result<()> {
    let mut steps = Vec::new();
    step(&mut steps, "bootstrap", || bootstrap::bootstrap(root));
    step(&mut steps, "lint", || lint::lint(root));
    step(&mut steps, "unit tests (no root)", || {
        run(Command::new("cargo").args(["test"]))
    });
    if is_root() {
        step(&mut steps, "root integration tests", || {
            run(Command::new("cargo").args([
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
        if vm::READY {
            step(&mut steps, "VM tests (6.1, cgroup v2)", || vm::run(&[]));
        }
    } else {
        eprintln!(
            "\n!!! NOT ROOT: root integration tests and VM tests were SKIPPED (run as root; CI does) !!!"
        );
    }
    eprintln!("\n| step | result | seconds |\n|---|---|---:|");
    for s in &steps {
        eprintln!(
            "| {} | {} | {:.0} |",
            s.name,
            if s.result.is_ok() { "pass" } else { "FAIL" },
            s.secs
        );
    }
    let failed = steps.iter().filter(|s| s.result.is_err()).count();
    println!("xtask: {} passed, {} failed", steps.len() - failed, failed);
    if failed > 0 {
        anyhow::bail!("{failed} step(s) failed");
    }
    Ok(())
}
