//! rustfmt and clippy for both sides; the eBPF crate is linted separately
//! with its own nightly and target.

use std::{path::Path, process::Command};

use anyhow::Result;

use crate::{run::run, toolchain};

pub fn lint(root: &Path) -> Result<()> {
    run(Command::new("cargo").args(["fmt", "--all", "--", "--check"]))?;
    run(Command::new("cargo").args([
        "clippy",
        "--all-targets",
        "--features",
        "tracer/root-tests",
        "--",
        "-D",
        "warnings",
    ]))?;
    let nightly = toolchain::read(&root.join("tracer-ebpf/rust-toolchain.toml"))?.channel;
    run(Command::new("cargo").args([
        &format!("+{nightly}"),
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
    ]))
}
