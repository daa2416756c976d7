//! The static `starvetrace` for the guest: the same source, the same eBPF
//! object (built by tracer/build.rs) as on the host, linked with a static
//! glibc so it runs in an initramfs that holds nothing but busybox.

use std::{
    fs,
    path::{Path, PathBuf},
    process::Command,
    time::SystemTime,
};

use anyhow::{Context, Result, bail};

use super::deps::is_static;
use crate::run::{output, run};

const TARGET: &str = "x86_64-unknown-linux-gnu";

/// Builds it into `target/vm-static` (its own target dir: the RUSTFLAGS
/// differ, and sharing target/ would rebuild the host binary every time).
pub fn build_static(root: &Path) -> Result<PathBuf> {
    let target_dir = root.join("target/vm-static");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    // Keep the user's RUSTFLAGS, add crt-static. CARGO_ENCODED_RUSTFLAGS
    // would win over RUSTFLAGS, so it is dropped.
    let rustflags = match std::env::var("RUSTFLAGS") {
        Ok(f) if !f.trim().is_empty() => format!("{f} -C target-feature=+crt-static"),
        _ => "-C target-feature=+crt-static".to_string(),
    };
    println!("vm-test: building a static starvetrace (RUSTFLAGS=\"{rustflags}\")");
    run(Command::new(&cargo)
        .current_dir(root)
        .args(["build", "--release", "-p", "tracer", "--bin", "starvetrace"])
        .args(["--target", TARGET])
        .arg("--target-dir")
        .arg(&target_dir)
        .env("RUSTFLAGS", &rustflags)
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        // A missing eBPF toolchain must fail the build, not produce a
        // binary that cannot trace.
        .env("STARVETRACE_REQUIRE_EBPF", "1"))
    .context("static build of starvetrace")?;
    let bin = check_static(&target_dir.join(TARGET).join("release/starvetrace"))?;
    report_ebpf_object(root, &target_dir);
    Ok(bin)
}

/// The guest has no libc or loader: only a static binary runs there.
pub fn check_static(bin: &Path) -> Result<PathBuf> {
    let file = output(Command::new("file").arg(bin))?;
    if !is_static(&file) {
        bail!("{} is not a static executable: {file}", bin.display());
    }
    println!("vm-test: {}: static, {} KiB", bin.display(), size_kib(bin));
    Ok(bin.to_path_buf())
}

/// Says whether the embedded eBPF object is byte-identical to the one in the
/// host's release build: the VM is meant to prove the same kernel-side code
/// works on 6.1. Informational only (the host build may be stale or absent).
fn report_ebpf_object(root: &Path, static_dir: &Path) {
    let Some(ours) = newest_object(&static_dir.join(TARGET).join("release/build")) else {
        println!(
            "vm-test: warning: cannot find the embedded eBPF object under {}",
            static_dir.display()
        );
        return;
    };
    let bytes = fs::read(&ours).unwrap_or_default();
    let host = newest_object(&root.join("target/release/build"));
    let same = host
        .as_ref()
        .and_then(|h| fs::read(h).ok())
        .map(|h| h == bytes);
    let relation = match same {
        Some(true) => "identical to the host release build's",
        Some(false) => "differs from the host release build's (stale host build?)",
        None => "no host release build to compare with",
    };
    println!("vm-test: eBPF object {} bytes, {relation}", bytes.len());
}

/// The newest `tracer-*/out/tracer` (the object tracer/build.rs leaves).
fn newest_object(build_dir: &Path) -> Option<PathBuf> {
    fs::read_dir(build_dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("tracer-"))
        })
        .map(|p| p.join("out/tracer"))
        .filter(|p| p.is_file())
        .max_by_key(|p| {
            fs::metadata(p)
                .and_then(|m| m.modified())
                .unwrap_or(SystemTime::UNIX_EPOCH)
        })
}

pub fn size_kib(path: &Path) -> u64 {
    fs::metadata(path).map(|m| m.len() / 1024).unwrap_or(0)
}
