//! The release build of the tracer binary.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Result, bail};

use crate::run::run;

/// Where cargo puts artifacts (CARGO_TARGET_DIR wins, as for cargo itself).
pub fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|d| if d.is_absolute() { d } else { root.join(d) })
        .unwrap_or_else(|| root.join("target"))
}

/// `cargo build --release` of `starvetrace`; returns the binary's path.
pub fn release(root: &Path) -> Result<PathBuf> {
    run(Command::new("cargo").current_dir(root).args([
        "build",
        "--release",
        "-p",
        "tracer",
        "--bin",
        "starvetrace",
    ]))?;
    let bin = target_dir(root).join("release/starvetrace");
    if !bin.is_file() {
        bail!("cargo built, but {} is not there", bin.display());
    }
    Ok(bin)
}
