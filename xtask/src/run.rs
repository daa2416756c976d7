//! Running commands: print the command line, fail with it on error.

use std::process::Command;

use anyhow::{Result, bail};

pub fn show(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().to_string();
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

pub fn run(cmd: &mut Command) -> Result<()> {
    let line = show(cmd);
    eprintln!("+ {line}");
    let status = cmd
        .status()
        .map_err(|e| anyhow::anyhow!("cannot run `{line}`: {e}"))?;
    if !status.success() {
        bail!("`{line}` failed with {status}");
    }
    Ok(())
}

/// True when the command runs and exits 0 (output discarded).
pub fn succeeds(cmd: &mut Command) -> bool {
    cmd.stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}
