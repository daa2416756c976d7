//! Running commands: print the command line first, fail with it on error.

use std::process::{Command, Stdio};

use anyhow::{Result, anyhow, bail};

/// The command line as a shell user would type it (for logs and errors).
pub fn show(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

/// Runs `cmd` with its output on the terminal (long builds show progress).
pub fn run(cmd: &mut Command) -> Result<()> {
    let line = show(cmd);
    eprintln!("+ {line}");
    let status = cmd
        .status()
        .map_err(|e| anyhow!("cannot run `{line}`: {e}"))?;
    if !status.success() {
        bail!("`{line}` failed ({status})");
    }
    Ok(())
}

/// Runs a probe (not printed) and returns its stdout, or None when it
/// cannot start or exits non-zero: probes decide what to install.
pub fn probe(cmd: &mut Command) -> Option<String> {
    let out = cmd
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

pub fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

pub fn is_root() -> bool {
    euid() == 0
}
