//! Running commands, one way for every subcommand: errors name the command
//! line, and show what it printed when its output was captured.

use std::process::{Command, Stdio};

use anyhow::{Context as _, Result, bail};

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
        .with_context(|| format!("cannot run `{line}`"))?;
    if !status.success() {
        bail!("`{line}` failed ({status})");
    }
    Ok(())
}

/// Runs `cmd` with stdin closed and returns its stdout (trimmed); fails
/// with its stderr.
pub fn output(cmd: &mut Command) -> Result<String> {
    let line = show(cmd);
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot run `{line}`"))?;
    if !out.status.success() {
        bail!(
            "`{line}` failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Runs `cmd` with its output captured and shown only when it fails.
pub fn run_quiet(cmd: &mut Command) -> Result<()> {
    output(cmd).map(drop)
}

/// A probe's stdout, or None when it cannot start or exits non-zero:
/// probes decide what to install, their failure is an answer.
pub fn probe(cmd: &mut Command) -> Option<String> {
    output(cmd).ok()
}

pub fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

pub fn is_root() -> bool {
    euid() == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_is_trimmed_and_failures_carry_stderr() {
        assert_eq!(output(Command::new("echo").arg(" hi ")).unwrap(), "hi");
        let err = output(Command::new("sh").args(["-c", "echo boom >&2; exit 3"])).unwrap_err();
        let msg = format!("{err:#}");
        assert!(
            msg.contains("`sh -c echo boom >&2; exit 3` failed"),
            "{msg}"
        );
        assert!(msg.ends_with("boom"), "{msg}");
        assert_eq!(probe(&mut Command::new("false")), None);
        assert!(probe(&mut Command::new("starvetrace-no-such-program")).is_none());
    }
}
