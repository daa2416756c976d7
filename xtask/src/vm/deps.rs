//! Host tools (qemu, busybox-static, cpio, file, e2fsprogs) and the guest kernel: Debian's
//! newest cloud image of a series (6.1 or 6.12), downloaded once and cached under
//! target/vm-cache/.

use std::{
    fs,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context, Result, bail};

use crate::{
    apt,
    run::{output, run_quiet},
};

/// Debian packages the harness runs, with the program each provides.
const TOOLS: &[(&str, &str)] = &[
    ("qemu-system-x86", "/usr/bin/qemu-system-x86_64"),
    ("busybox-static", "/bin/busybox"),
    ("cpio", "/usr/bin/cpio"),
    ("file", "/usr/bin/file"),
    // mkfs.ext4 for the guest's scratch disk (vm/disk.rs).
    ("e2fsprogs", "/sbin/mkfs.ext4"),
];

/// Installs the missing tools; prints what it found.
pub fn ensure_tools() -> Result<()> {
    let packages: Vec<&str> = TOOLS.iter().map(|(pkg, _)| *pkg).collect();
    let missing = apt::missing(&packages);
    if !missing.is_empty() {
        println!("vm-test: installing {}", missing.join(" "));
        apt::install(&missing)?;
    }
    for (pkg, prog) in TOOLS {
        let version = apt::installed_version(pkg)
            .with_context(|| format!("{pkg} is still not installed after apt-get install"))?;
        if !Path::new(prog).exists() {
            bail!("{pkg} {version} is installed but {prog} is missing");
        }
        println!("vm-test: tool {pkg} {version}");
    }
    // busybox runs as /init before anything is mounted: a dynamic one
    // would need its loader and libc in the initramfs.
    let busybox = output(Command::new("file").args(["-L", "/bin/busybox"]))?;
    if !is_static(&busybox) {
        bail!("/bin/busybox is not statically linked ({busybox}); install busybox-static");
    }
    Ok(())
}

pub fn is_static(file_output: &str) -> bool {
    file_output.contains("statically linked") || file_output.contains("static-pie linked")
}

/// A Debian cloud kernel series the VM suite runs on. Both have NVMe, ext4,
/// BTF, PSI and SCHED_INFO built in; they differ in what the suite exists to
/// catch (struct offsets, `prev_state` encoding, BTF function names).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Series {
    /// bookworm's own kernel: `linux-image-6.1.0-N-cloud-amd64-unsigned`.
    V6_1,
    /// bookworm-updates' newer one: `linux-image-6.12.N+deb12-cloud-amd64-unsigned`.
    V6_12,
}

impl Series {
    /// Every series `cargo xtask test` runs, in order.
    pub const ALL: [Series; 2] = [Series::V6_1, Series::V6_12];

    pub const fn as_str(self) -> &'static str {
        match self {
            Series::V6_1 => "6.1",
            Series::V6_12 => "6.12",
        }
    }

    pub fn parse(s: &str) -> Option<Series> {
        Series::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The package name around N: (prefix, suffix).
    const fn package_shape(self) -> (&'static str, &'static str) {
        match self {
            Series::V6_1 => ("linux-image-6.1.0-", "-cloud-amd64-unsigned"),
            Series::V6_12 => ("linux-image-6.12.", "+deb12-cloud-amd64-unsigned"),
        }
    }

    /// `linux-image-6.1.0-*-cloud-amd64-unsigned`, for messages.
    fn pattern(self) -> String {
        let (prefix, suffix) = self.package_shape();
        format!("{prefix}*{suffix}")
    }

    /// N in the package name (the ABI number for 6.1, the upstream patch
    /// level for 6.12): what "newest" is ordered by.
    fn number(self, name: &str) -> Option<u32> {
        let (prefix, suffix) = self.package_shape();
        name.strip_prefix(prefix)?
            .strip_suffix(suffix)?
            .parse()
            .ok()
    }
}

/// The guest kernel: a vmlinuz and the Debian package it came from.
pub struct Kernel {
    pub vmlinuz: PathBuf,
    pub package: String,
}

/// Finds the newest cloud kernel of `series` apt knows, downloading and
/// unpacking it into `cache` unless it is already there. Offline (apt knows
/// none), the newest cached one is used; neither is an error, never a skip.
pub fn ensure_kernel(cache: &Path, series: Series) -> Result<Kernel> {
    fs::create_dir_all(cache).with_context(|| format!("create {}", cache.display()))?;
    let mut candidate = newest_in_apt(series);
    if candidate.is_none() {
        println!(
            "vm-test: no {} cloud kernel in the apt lists; running apt-get update",
            series.as_str()
        );
        if run_quiet(Command::new("apt-get").arg("update")).is_ok() {
            candidate = newest_in_apt(series);
        }
    }
    let Some((pkg, version)) = candidate else {
        return newest_cached(cache, series)?.with_context(|| {
            format!(
                "no {} in apt (is bookworm{} in /etc/apt/sources.list?) and none cached under \
                 target/vm-cache",
                series.pattern(),
                if series == Series::V6_12 {
                    " with bookworm-updates"
                } else {
                    ""
                }
            )
        });
    };
    let dir = cache.join(format!("{pkg}_{version}"));
    if let Some(k) = kernel_in(&dir)? {
        println!(
            "vm-test: kernel {pkg} {version} (cached in {})",
            dir.display()
        );
        return Ok(k);
    }
    println!("vm-test: downloading kernel {pkg} {version}");
    let dl = cache.join("download");
    let _ = fs::remove_dir_all(&dl);
    fs::create_dir_all(&dl)?;
    run_quiet(
        Command::new("apt-get")
            .args(["download", &format!("{pkg}={version}")])
            .current_dir(&dl),
    )
    .with_context(|| format!("apt-get download {pkg}={version}"))?;
    let deb = fs::read_dir(&dl)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|e| e == "deb"))
        .with_context(|| format!("apt-get download left no .deb in {}", dl.display()))?;
    let tmp = cache.join(format!("{pkg}_{version}.partial"));
    let _ = fs::remove_dir_all(&tmp);
    run_quiet(Command::new("dpkg").arg("-x").arg(&deb).arg(&tmp))
        .with_context(|| format!("dpkg -x {}", deb.display()))?;
    // Only boot/ is needed (no modules are loaded in the guest): keep the
    // cache small.
    let _ = fs::remove_dir_all(tmp.join("lib"));
    let _ = fs::remove_dir_all(tmp.join("usr"));
    fs::write(tmp.join("PACKAGE"), format!("{pkg} {version}\n"))?;
    let _ = fs::remove_dir_all(&dir);
    fs::rename(&tmp, &dir)?;
    let _ = fs::remove_dir_all(&dl);
    kernel_in(&dir)?.with_context(|| format!("no boot/vmlinuz-* in {pkg} {version}"))
}

/// (package, candidate version) of the newest cloud image of `series` apt knows.
fn newest_in_apt(series: Series) -> Option<(String, String)> {
    let names =
        output(Command::new("apt-cache").args(["pkgnames", series.package_shape().0])).ok()?;
    let pkg = names
        .lines()
        .filter_map(|n| Some((series.number(n)?, n.to_string())))
        .max()?
        .1;
    let policy = output(Command::new("apt-cache").args(["policy", &pkg])).ok()?;
    let version = policy
        .lines()
        .find_map(|l| l.trim().strip_prefix("Candidate: "))
        .filter(|v| *v != "(none)")?
        .to_string();
    Some((pkg, version))
}

fn kernel_in(dir: &Path) -> Result<Option<Kernel>> {
    let boot = dir.join("boot");
    if !boot.is_dir() {
        return Ok(None);
    }
    let vmlinuz = fs::read_dir(&boot)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("vmlinuz-"))
        });
    let package = fs::read_to_string(dir.join("PACKAGE"))
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| dir.file_name().unwrap_or_default().to_string_lossy().into());
    Ok(vmlinuz.map(|vmlinuz| Kernel { vmlinuz, package }))
}

fn newest_cached(cache: &Path, series: Series) -> Result<Option<Kernel>> {
    let mut dirs: Vec<(u32, PathBuf)> = fs::read_dir(cache)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter_map(|p| {
            let name = p.file_name()?.to_str()?.to_string();
            let pkg = name.split('_').next()?;
            Some((series.number(pkg)?, p))
        })
        .collect();
    dirs.sort();
    for (_, dir) in dirs.iter().rev() {
        if let Some(k) = kernel_in(dir)? {
            println!("vm-test: kernel {} (cached; apt offline)", k.package);
            return Ok(Some(k));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_numbers_per_series() {
        let v61 = Series::V6_1;
        assert_eq!(
            v61.number("linux-image-6.1.0-56-cloud-amd64-unsigned"),
            Some(56)
        );
        assert_eq!(v61.number("linux-image-6.1.0-56-cloud-amd64"), None);
        assert_eq!(v61.number("linux-image-6.1.0-56-amd64-unsigned"), None);
        let v612 = Series::V6_12;
        assert_eq!(
            v612.number("linux-image-6.12.113+deb12-cloud-amd64-unsigned"),
            Some(113)
        );
        // Not the signed, debug, rt or generic flavours, nor the other series.
        assert_eq!(v612.number("linux-image-6.12.113+deb12-cloud-amd64"), None);
        assert_eq!(
            v612.number("linux-image-6.12.113+deb12-cloud-amd64-dbg"),
            None
        );
        assert_eq!(
            v612.number("linux-image-6.12.115+deb12-rt-amd64-unsigned"),
            None
        );
        assert_eq!(
            v612.number("linux-image-6.1.0-56-cloud-amd64-unsigned"),
            None
        );
        assert_eq!(
            v61.number("linux-image-6.12.113+deb12-cloud-amd64-unsigned"),
            None
        );
        for s in Series::ALL {
            assert_eq!(Series::parse(s.as_str()), Some(s));
        }
        assert_eq!(Series::parse("6.18"), None);
    }

    #[test]
    fn static_detection() {
        assert!(is_static(
            "ELF 64-bit LSB pie executable, x86-64, static-pie linked, for GNU/Linux"
        ));
        assert!(is_static("ELF 64-bit LSB executable, statically linked"));
        assert!(!is_static(
            "ELF 64-bit LSB pie executable, dynamically linked, interpreter /lib64/ld-linux-x86-64.so.2"
        ));
    }
}
