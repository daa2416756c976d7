//! `cargo xtask lint`: rustfmt and clippy (`-D warnings`) for the user side,
//! and clippy for the eBPF crate with its own nightly and target (it cannot
//! build for the host). All three run; the error lists those that failed.

use std::{path::Path, process::Command};

use anyhow::{Result, bail};

use crate::{run::run, toolchain};

pub fn lint(root: &Path) -> Result<()> {
    let nightly = toolchain::ebpf_channel(root)?;
    let checks: [(&str, Command); 3] = [
        ("rustfmt", {
            let mut c = Command::new("cargo");
            c.args(["fmt", "--all", "--", "--check"]);
            c
        }),
        ("clippy (user side)", {
            let mut c = Command::new("cargo");
            c.args([
                "clippy",
                "--workspace",
                "--exclude",
                "tracer-ebpf",
                "--all-targets",
                // So the root-only tests are linted too.
                "--features",
                "tracer/root-tests",
                "--",
                "-D",
                "warnings",
            ]);
            c
        }),
        ("clippy (eBPF)", {
            let mut c = Command::new("cargo");
            c.arg(format!("+{nightly}")).args([
                "clippy",
                "-p",
                "tracer-ebpf",
                "--release",
                "--target",
                "bpfel-unknown-none",
                "-Z",
                "build-std=core",
                "--",
                "-D",
                "warnings",
            ]);
            c
        }),
    ];
    let mut failed = Vec::new();
    for (name, mut cmd) in checks {
        if let Err(e) = run(cmd.current_dir(root)) {
            eprintln!("lint: {name} FAILED: {e:#}");
            failed.push(name);
        }
    }
    if !failed.is_empty() {
        bail!("lint failed: {}", failed.join(", "));
    }
    Ok(())
}
