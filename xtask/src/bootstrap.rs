//! `cargo xtask bootstrap`: install what building and testing need on a
//! fresh Debian 12 machine, skipping what is already there: the LLVM 22 dev
//! packages (for bpf-linker), both pinned toolchains, and bpf-linker built
//! against LLVM 22. Each step says what it found or installed; a failure
//! names its step. Progress goes to stderr, so `$(cargo xtask build)` is
//! just the path.

use std::{path::Path, process::Command};

use anyhow::{Context as _, Result, bail};

use crate::{
    apt,
    run::{probe, run},
    toolchain,
};

/// bpf-linker links against these; it must use the LLVM major of the eBPF
/// nightly (LLVM 22; an LLVM 23 nightly fails with "Invalid record").
const APT_PACKAGES: &[&str] = &[
    "llvm-22-dev",
    "libpolly-22-dev",
    "libzstd-dev",
    "zlib1g-dev",
];
/// What only `cargo xtask test` needs: `promtool` (package `prometheus`,
/// server and promtool) checks the metrics exposition in a root test;
/// PyYAML parses deploy/'s YAML and `systemd-analyze` verifies its unit
/// (xtask/src/deploy.rs).
const TEST_APT_PACKAGES: &[&str] = &["prometheus", "python3-yaml", "systemd"];
const LLVM_PREFIX: &str = "/usr/lib/llvm-22";
const BPF_LINKER_VERSION: &str = "0.13.0";

pub fn bootstrap(root: &Path) -> Result<()> {
    apt(APT_PACKAGES).context("bootstrap step `apt packages` failed")?;
    toolchain(root, toolchain::USER_FILE).context("bootstrap step `user-side toolchain` failed")?;
    toolchain(root, toolchain::EBPF_FILE).context("bootstrap step `eBPF nightly` failed")?;
    bpf_linker().context("bootstrap step `bpf-linker` failed")?;
    Ok(())
}

/// The packages the tests need beyond building: run by `cargo xtask test`
/// after [`bootstrap`], skipped when present like the others.
pub fn test_packages() -> Result<()> {
    apt(TEST_APT_PACKAGES).context("bootstrap step `test apt packages` failed")
}

/// Installs what is missing; says what it found.
fn apt(packages: &[&str]) -> Result<()> {
    let missing = apt::missing(packages);
    if missing.is_empty() {
        eprintln!("bootstrap: present: apt {}", packages.join(" "));
        return Ok(());
    }
    eprintln!("bootstrap: installing: apt {}", missing.join(" "));
    apt::install(&missing)
}

/// Installs the toolchain a rust-toolchain.toml names, or adds the
/// components an older install of it lacks.
fn toolchain(root: &Path, file: &str) -> Result<()> {
    let t = toolchain::read(root, file)?;
    if !toolchain::installed(&t.channel)? {
        eprintln!("bootstrap: installing: toolchain {} ({file})", t.channel);
        let mut cmd = Command::new("rustup");
        cmd.args(["toolchain", "install", &t.channel, "--profile", "minimal"]);
        for c in &t.components {
            cmd.args(["--component", c]);
        }
        return run(&mut cmd);
    }
    let missing = toolchain::components_to_add(&t.channel, &t.components)?;
    if missing.is_empty() {
        eprintln!(
            "bootstrap: present: toolchain {} with {}",
            t.channel,
            t.components.join(", ")
        );
        return Ok(());
    }
    eprintln!(
        "bootstrap: installing: components {} of toolchain {}",
        missing.join(", "),
        t.channel
    );
    run(Command::new("rustup")
        .args(["component", "add", "--toolchain", &t.channel])
        .args(&missing))
}

/// `bpf-linker 0.13.0` from `bpf-linker --version`, if it runs.
fn bpf_linker_version() -> Option<String> {
    probe(Command::new("bpf-linker").arg("--version")).map(|v| v.trim().to_string())
}

fn is_wanted_version(version_line: &str) -> bool {
    version_line.split_whitespace().nth(1) == Some(BPF_LINKER_VERSION)
}

fn bpf_linker() -> Result<()> {
    let found = bpf_linker_version();
    if let Some(v) = &found
        && is_wanted_version(v)
    {
        eprintln!("bootstrap: present: {v}");
        return Ok(());
    }
    eprintln!(
        "bootstrap: installing: bpf-linker {BPF_LINKER_VERSION} built against LLVM 22 \
         (found: {}; takes about a minute)",
        found.as_deref().unwrap_or("none")
    );
    // llvm-sys finds LLVM through llvm-config on PATH and the prefix variable.
    let path = format!(
        "{LLVM_PREFIX}/bin:{}",
        std::env::var("PATH").unwrap_or_default()
    );
    run(Command::new("cargo")
        .args([
            "install",
            "bpf-linker",
            "--locked",
            "--version",
            BPF_LINKER_VERSION,
            "--no-default-features",
            "--features",
            "llvm-22",
            "--force",
        ])
        .env("PATH", path)
        .env("LLVM_SYS_221_PREFIX", LLVM_PREFIX))?;
    // cargo installs into ~/.cargo/bin, which must also be where aya-build
    // looks (PATH); say so instead of failing later inside the eBPF build.
    match bpf_linker_version() {
        Some(v) if is_wanted_version(&v) => {
            eprintln!("bootstrap: installed: {v}");
            Ok(())
        }
        other => bail!(
            "bpf-linker was installed but `bpf-linker --version` gives {:?}; \
             is ~/.cargo/bin on PATH ahead of other bpf-linkers?",
            other.unwrap_or_else(|| "nothing (not found)".into())
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bpf_linker_version_is_matched_exactly() {
        assert!(is_wanted_version("bpf-linker 0.13.0"));
        assert!(!is_wanted_version("bpf-linker 0.13.01"));
        assert!(!is_wanted_version("bpf-linker 0.9.13"));
        assert!(!is_wanted_version(""));
    }
}
