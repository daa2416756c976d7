//! Install what building and testing need on a fresh Debian 12 machine,
//! skipping what is already there: LLVM 22 dev packages (for bpf-linker),
//! the pinned toolchains, and bpf-linker built against LLVM 22.

use std::{path::Path, process::Command};

use anyhow::{Context as _, Result};

use crate::{
    run::{run, succeeds},
    toolchain,
};

const APT_PACKAGES: &[&str] = &[
    "llvm-22-dev",
    "libpolly-22-dev",
    "libzstd-dev",
    "zlib1g-dev",
];
const BPF_LINKER_VERSION: &str = "0.13.0";

pub fn apt_missing(packages: &[&str]) -> Vec<String> {
    packages
        .iter()
        .filter(|p| {
            let out = Command::new("dpkg-query")
                .args(["-W", "-f=${Status}", p])
                .output();
            !out.is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
        })
        .map(|p| p.to_string())
        .collect()
}

/// apt-get install what is missing (one `apt-get update` first).
pub fn apt_install(packages: &[&str]) -> Result<()> {
    let missing = apt_missing(packages);
    if missing.is_empty() {
        eprintln!("bootstrap: apt packages present: {}", packages.join(" "));
        return Ok(());
    }
    eprintln!("bootstrap: installing apt packages: {}", missing.join(" "));
    run(Command::new("apt-get").args(["update", "-q"])).context("apt-get update")?;
    run(Command::new("apt-get")
        .args(["install", "-y", "-q"])
        .args(&missing)
        .env("DEBIAN_FRONTEND", "noninteractive"))
    .context("apt-get install")
}

fn toolchain(root: &Path, file: &str) -> Result<()> {
    let t = toolchain::read(&root.join(file))?;
    if succeeds(Command::new("rustup").args(["run", &t.channel, "rustc", "--version"])) {
        eprintln!("bootstrap: toolchain {} present", t.channel);
        // Components may be missing from an older install.
        if !t.components.is_empty() {
            run(Command::new("rustup")
                .args(["component", "add", "--toolchain", &t.channel])
                .args(&t.components))
            .with_context(|| format!("adding components to {}", t.channel))?;
        }
        return Ok(());
    }
    eprintln!("bootstrap: installing toolchain {}", t.channel);
    let mut cmd = Command::new("rustup");
    cmd.args(["toolchain", "install", &t.channel, "--profile", "minimal"]);
    for c in &t.components {
        cmd.args(["--component", c]);
    }
    run(&mut cmd).with_context(|| format!("installing toolchain {}", t.channel))
}

fn bpf_linker() -> Result<()> {
    let out = Command::new("bpf-linker").arg("--version").output();
    if let Ok(o) = &out
        && String::from_utf8_lossy(&o.stdout).contains(BPF_LINKER_VERSION)
    {
        eprintln!("bootstrap: bpf-linker {BPF_LINKER_VERSION} present");
        return Ok(());
    }
    eprintln!("bootstrap: building bpf-linker {BPF_LINKER_VERSION} against LLVM 22");
    let path = format!(
        "/usr/lib/llvm-22/bin:{}",
        std::env::var("PATH").unwrap_or_default()
    );
    run(Command::new("cargo")
        .args([
            "install",
            "bpf-linker",
            "--version",
            BPF_LINKER_VERSION,
            "--no-default-features",
            "--features",
            "llvm-22",
            "--force",
        ])
        .env("PATH", path)
        .env("LLVM_SYS_221_PREFIX", "/usr/lib/llvm-22"))
    .context("building bpf-linker")
}

pub fn bootstrap(root: &Path) -> Result<()> {
    apt_install(APT_PACKAGES).context("bootstrap step: apt packages")?;
    toolchain(root, "rust-toolchain.toml").context("bootstrap step: user-side toolchain")?;
    toolchain(root, "tracer-ebpf/rust-toolchain.toml").context("bootstrap step: eBPF nightly")?;
    bpf_linker().context("bootstrap step: bpf-linker")?;
    Ok(())
}
