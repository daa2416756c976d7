//! Debian packages: what is installed, and installing what is not. Used by
//! bootstrap, vm-test (qemu, busybox) and bench (the peer tracers).

use std::process::Command;

use anyhow::{Context as _, Result, bail};

use crate::run::{is_root, output, probe, run, show};

/// The installed version of a Debian package, or None.
pub fn installed_version(package: &str) -> Option<String> {
    let text = probe(Command::new("dpkg-query").args(["-W", "-f=${Status}\t${Version}", package]))?;
    let (status, version) = text.split_once('\t')?;
    (status == "install ok installed").then(|| version.to_string())
}

/// The packages of `packages` that are not installed.
pub fn missing<'a>(packages: &[&'a str]) -> Vec<&'a str> {
    packages
        .iter()
        .copied()
        .filter(|p| installed_version(p).is_none())
        .collect()
}

/// `apt-get install`s `packages`; when that fails, runs `apt-get update`
/// once and tries again (a fresh machine may have no package lists, a
/// stale one may name versions the mirror no longer has).
pub fn install(packages: &[&str]) -> Result<()> {
    if packages.is_empty() {
        return Ok(());
    }
    let mut install = Command::new("apt-get");
    install
        .args(["install", "-y", "-q", "--no-install-recommends"])
        .args(packages)
        .env("DEBIAN_FRONTEND", "noninteractive");
    if !is_root() {
        bail!(
            "missing apt packages {}; installing them needs root: run `{}` as root, \
             or run this command as root",
            packages.join(" "),
            show(&install)
        );
    }
    if run(&mut install).is_ok() {
        return Ok(());
    }
    output(
        Command::new("apt-get")
            .args(["update", "-q"])
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )
    .context("apt-get update")?;
    run(&mut install)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bogus_package_is_not_installed() {
        assert_eq!(installed_version("starvetrace-no-such-package"), None);
        assert_eq!(
            missing(&["starvetrace-no-such-package"]),
            ["starvetrace-no-such-package"]
        );
    }
}
