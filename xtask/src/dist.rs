//! `cargo xtask dist`: the release artifact. The static binary the VM test
//! runs (`vm::binary::build_static`, the same build, not a second recipe),
//! with `deploy/` and a short README, in
//! `target/dist/starvetrace-<version>-x86_64-linux/`, packed as
//! `….tar.gz` with a `….tar.gz.sha256` that `sha256sum -c` checks.

use std::{
    fs,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context as _, Result};

use crate::{
    cargo_build,
    run::{output, run},
    vm,
};

/// The workspace version (every crate inherits it).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// `starvetrace-<version>-x86_64-linux`: the directory and the tarball's stem.
pub fn dir_name(version: &str) -> String {
    format!("starvetrace-{version}-x86_64-linux")
}

const README: &str = "\
starvetrace {version} (x86_64 Linux, static)
=============================================

Are this program's async runtime threads being starved, and by what?

Install: copy one file.

    install -m 0755 starvetrace /usr/local/bin/starvetrace

It is statically linked (no libc needed) and carries its eBPF object. Run it
as root, or with the capabilities deploy/starvetrace.service grants
(CAP_BPF and CAP_PERFMON to trace at all; CAP_SYSLOG, CAP_SYS_PTRACE,
CAP_SYS_NICE and CAP_SYS_RESOURCE for complete results). Kernel 5.8 or later
with BTF (/sys/kernel/btf/vmlinux).

    starvetrace record --pid 4242 --duration 60 --out /tmp/st
    starvetrace watch --listen 127.0.0.1:9464 --evidence-dir /var/lib/starvetrace/bundles

deploy/ holds a systemd unit, a Dockerfile and a Kubernetes DaemonSet with a
ServiceMonitor. The project README, section \"Run it on a fleet\", explains
them and the metrics.
";

/// Builds everything; returns the tarball's path.
pub fn dist(root: &Path) -> Result<PathBuf> {
    let bin = vm::build_static(root).context("dist step `static build`")?;
    let out = cargo_build::target_dir(root).join("dist");
    let name = dir_name(VERSION);
    let dir = out.join(&name);
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(dir.join("deploy/kubernetes"))
        .with_context(|| format!("create {}", dir.display()))?;
    fs::copy(&bin, dir.join("starvetrace")).with_context(|| format!("copy {}", bin.display()))?;
    fs::write(dir.join("README"), README.replace("{version}", VERSION))?;
    for file in [
        "starvetrace.service",
        "Dockerfile",
        "kubernetes/daemonset.yaml",
        "kubernetes/servicemonitor.yaml",
    ] {
        let from = root.join("deploy").join(file);
        fs::copy(&from, dir.join("deploy").join(file))
            .with_context(|| format!("copy {}", from.display()))?;
    }
    let tarball = format!("{name}.tar.gz");
    // Same bytes for the same inputs: sorted, root-owned, dated by the
    // commit rather than by the build.
    let mtime = output(
        Command::new("git")
            .current_dir(root)
            .args(["log", "-1", "--format=%ct"]),
    )
    .map(|t| format!("@{}", t.trim()))
    .unwrap_or_else(|_| "@0".into());
    run(Command::new("tar")
        .current_dir(&out)
        .args(["--sort=name", "--owner=0", "--group=0", "--numeric-owner"])
        .arg(format!("--mtime={mtime}"))
        // gzip -n: no name or time stamp in the gzip header.
        .args(["--use-compress-program=gzip -n", "-cf", &tarball, &name]))
    .context("dist step `tarball`")?;
    let sum = output(Command::new("sha256sum").current_dir(&out).arg(&tarball))
        .context("dist step `sha256`")?;
    fs::write(
        out.join(format!("{tarball}.sha256")),
        format!("{}\n", sum.trim()),
    )?;
    println!("dist: {}", dir.display());
    println!("dist: {}", out.join(&tarball).display());
    println!("dist: {}", sum.trim());
    Ok(out.join(tarball))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(dir_name("1.2.3"), "starvetrace-1.2.3-x86_64-linux");
        assert!(README.contains("{version}"));
    }

    #[test]
    fn every_deploy_file_is_packed() {
        let deploy = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy");
        let src = include_str!("dist.rs");
        let mut dirs = vec![deploy.clone()];
        while let Some(d) = dirs.pop() {
            for e in fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    dirs.push(p);
                    continue;
                }
                let rel = p.strip_prefix(&deploy).unwrap().display().to_string();
                assert!(
                    src.contains(&format!("\"{rel}\"")),
                    "deploy/{rel} is not in the tarball list"
                );
            }
        }
    }
}
