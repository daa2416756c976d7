//! `record -- CMD`: start the command held just before its `exec`, so the
//! probes are attached before its first instruction runs.

use std::os::{fd::AsRawFd as _, unix::process::CommandExt as _};

use crate::error::{Error, Result};

/// A command held just before `exec` until the probes are attached.
pub struct HeldCommand {
    pub child: std::process::Child,
    /// One byte written here lets the command exec.
    pub release: std::os::unix::net::UnixStream,
}

pub fn spawn_held(argv: &[String]) -> Result<HeldCommand> {
    let (release, hold) = std::os::unix::net::UnixStream::pair()
        .map_err(|e| Error::Other(anyhow::Error::new(e).context("socketpair")))?;
    let hold_fd = hold.as_raw_fd();
    // The child end must survive exec into the holding trampoline.
    // SAFETY: fcntl on a descriptor we own.
    unsafe { libc::fcntl(hold_fd, libc::F_SETFD, 0) };
    let exe = std::env::current_exe().map_err(|e| {
        Error::Other(anyhow::Error::new(e).context("locating the starvetrace binary"))
    })?;
    // `starvetrace __hold FD -- CMD` waits for one byte, then execs CMD in
    // the same process: the PID we trace is the command's PID from birth.
    let child = std::process::Command::new(exe)
        .arg(HOLD_SUBCOMMAND)
        .arg(hold_fd.to_string())
        .arg("--")
        .args(argv)
        .spawn()
        .map_err(|e| Error::Other(anyhow::Error::new(e).context("starting the command")))?;
    drop(hold);
    Ok(HeldCommand { child, release })
}

/// Name of the hidden trampoline subcommand.
pub const HOLD_SUBCOMMAND: &str = "__hold";

/// The trampoline: block until the tracer releases us, then become `argv`.
pub fn hold_then_exec(fd: i32, argv: &[String]) -> Error {
    let mut byte = 0u8;
    // SAFETY: reading one byte from a descriptor our parent passed us.
    let n = unsafe { libc::read(fd, (&raw mut byte).cast(), 1) };
    // SAFETY: closing that descriptor; the command must not inherit it.
    unsafe { libc::close(fd) };
    if n != 1 {
        return Error::Other(anyhow::anyhow!(
            "the tracer went away before the probes were attached"
        ));
    }
    let Some((program, args)) = argv.split_first() else {
        return Error::Usage("no command given".into());
    };
    let err = std::process::Command::new(program).args(args).exec();
    Error::TargetNotFound(format!("cannot run `{program}`: {err}"))
}
