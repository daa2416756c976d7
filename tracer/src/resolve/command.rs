//! `record -- CMD`: start the command held just before its `exec`, so the
//! probes are attached before its first instruction runs.
//!
//! A command that cannot be started is an error (exit code 4), never a
//! report: [`find_program`] checks it before any probe is loaded, and what
//! only `exec` can tell (a missing `#!` interpreter or ELF loader, a file
//! busy being written) comes back over the holding socket — the trampoline
//! sends `exec`'s errno, or the socket closes on a successful `exec`.

use std::{
    ffi::{OsStr, OsString},
    io::{Read as _, Write as _},
    os::{
        fd::AsRawFd as _,
        unix::{ffi::OsStrExt as _, fs::PermissionsExt as _, process::CommandExt as _},
    },
    path::{Path, PathBuf},
};

use crate::error::{Error, Result, exit};

/// A command held just before `exec` until the probes are attached.
pub struct HeldCommand {
    pub child: std::process::Child,
    /// One byte written here lets the command exec; then it carries back
    /// `exec`'s errno, or closes when `exec` succeeded.
    pub socket: std::os::unix::net::UnixStream,
    /// The command line, for messages.
    pub argv: Vec<String>,
}

/// Where `execvp` looks when PATH is unset (glibc's default).
const DEFAULT_PATH: &str = "/bin:/usr/bin";

/// The file `execvp` would run for `program`, with PATH as the trampoline
/// will see it (ours: it inherits our environment). Errors say why the
/// command cannot be started, as one line.
pub fn find_program(program: &str) -> Result<PathBuf> {
    let path = std::env::var_os("PATH");
    find_program_in(program, path.as_deref())
}

pub fn find_program_in(program: &str, path_var: Option<&OsStr>) -> Result<PathBuf> {
    let cannot = |why: String| Error::TargetNotFound(format!("cannot run `{program}`: {why}"));
    if program.is_empty() {
        return Err(cannot("the command name is empty".into()));
    }
    if program.contains('/') {
        let p = Path::new(program);
        return match runnable(p) {
            Ok(()) => Ok(p.to_path_buf()),
            Err(why) => Err(cannot(why)),
        };
    }
    let dirs: OsString = path_var
        .map(OsStr::to_os_string)
        .unwrap_or_else(|| DEFAULT_PATH.into());
    let mut not_executable = None;
    for dir in std::env::split_paths(&dirs) {
        // An empty PATH entry means the current directory, as for execvp.
        let dir = if dir.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            dir
        };
        let candidate = dir.join(program);
        match runnable(&candidate) {
            Ok(()) => return Ok(candidate),
            // execvp skips a file it may not run and goes on looking; if
            // nothing else is found, that file is the reason.
            Err(why) if candidate.exists() && not_executable.is_none() => {
                not_executable = Some(format!("{}: {why}", candidate.display()));
            }
            Err(_) => {}
        }
    }
    if let Some(why) = not_executable {
        return Err(cannot(why));
    }
    let here = if Path::new(program).is_file() {
        format!(" (to run the file in the current directory, write ./{program})")
    } else {
        String::new()
    };
    Err(cannot(format!(
        "not found in PATH ({}){here}",
        dirs.to_string_lossy()
    )))
}

/// Whether `exec` could start this file, as far as it can be told without
/// running it: it exists, is a regular file (after symlinks) and we may
/// execute it.
fn runnable(p: &Path) -> std::result::Result<(), String> {
    let meta = std::fs::metadata(p).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".to_string(),
        _ => short_io(&e),
    })?;
    if meta.is_dir() {
        return Err("it is a directory".into());
    }
    if !meta.is_file() {
        return Err("it is not a regular file".into());
    }
    let Ok(c) = std::ffi::CString::new(p.as_os_str().as_bytes()) else {
        return Err("the path contains a NUL byte".into());
    };
    // SAFETY: `c` is a valid NUL-terminated path.
    if unsafe { libc::access(c.as_ptr(), libc::X_OK) } != 0 {
        return Err(format!(
            "it is not executable (mode {:o})",
            meta.permissions().mode() & 0o7777
        ));
    }
    Ok(())
}

/// An I/O error without the `(os error N)` tail.
fn short_io(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.rfind(" (os error ") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

/// Start `argv` held before its `exec`. Check it with [`find_program`]
/// first, before any probe is loaded.
pub fn spawn_held(argv: &[String]) -> Result<HeldCommand> {
    if argv.is_empty() {
        return Err(Error::Usage("no command given after --".into()));
    }
    let (socket, hold) = std::os::unix::net::UnixStream::pair()
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
    Ok(HeldCommand {
        child,
        socket,
        argv: argv.to_vec(),
    })
}

impl HeldCommand {
    /// Let the command exec, and wait until it has: `Ok` once the program
    /// runs (or the trampoline died, which the caller sees as its exit),
    /// an error (exit code 4) if `exec` failed; the trampoline is reaped.
    pub fn release(&mut self) -> Result<()> {
        self.socket
            .write_all(&[1])
            .map_err(|e| Error::Other(anyhow::Error::new(e).context("releasing the command")))?;
        // The trampoline's end is close-on-exec: a successful exec closes
        // it (EOF); a failed one sends the errno first. No timeout: every
        // path of the trampoline ends in one or the other.
        let mut errno = [0u8; 4];
        let mut got = 0;
        while got < errno.len() {
            match self.socket.read(&mut errno[got..]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        if got < errno.len() {
            return Ok(());
        }
        let _ = self.child.wait();
        let err = std::io::Error::from_raw_os_error(i32::from_le_bytes(errno));
        Err(exec_failed(&self.argv[0], &err))
    }
}

/// The one-line error for an `exec` that failed, with the likely reason
/// when the kernel's own is misleading (ENOENT for a file that exists).
fn exec_failed(program: &str, err: &std::io::Error) -> Error {
    let mut why = short_io(err);
    if err.raw_os_error() == Some(libc::ENOENT)
        && let Ok(file) = find_program(program)
    {
        why = match interpreter(&file) {
            Some(interp) => format!(
                "its #! interpreter {interp} is missing ({} exists; exec said: {why})",
                file.display()
            ),
            None => format!(
                "its ELF interpreter (dynamic loader) is missing ({} exists; exec said: {why})",
                file.display()
            ),
        };
    }
    Error::TargetNotFound(format!("cannot run `{program}`: {why}"))
}

/// The interpreter named on a script's `#!` line.
fn interpreter(file: &Path) -> Option<String> {
    let mut head = [0u8; 256];
    let n = std::fs::File::open(file).ok()?.read(&mut head).ok()?;
    let line = head[..n].strip_prefix(b"#!")?;
    let line = line.split(|&b| b == b'\n').next()?;
    let interp = String::from_utf8_lossy(line)
        .split_whitespace()
        .next()?
        .to_string();
    Some(interp)
}

/// Name of the hidden trampoline subcommand.
pub const HOLD_SUBCOMMAND: &str = "__hold";

/// Exit status of a trampoline whose `exec` failed after it told the
/// tracer why (the shell's "command not found").
pub const EXEC_FAILED: i32 = 127;

/// The trampoline: block until the tracer releases us, then become `argv`.
/// Returns the exit code when that cannot happen; it prints nothing when
/// the tracer reports the failure itself.
pub fn hold_then_exec(fd: i32, argv: &[String]) -> i32 {
    let mut byte = 0u8;
    // SAFETY: reading one byte from a descriptor our parent passed us.
    let n = unsafe { libc::read(fd, (&raw mut byte).cast(), 1) };
    if n != 1 {
        // The tracer failed before the probes were attached (and said why)
        // or was killed: nothing to run, nothing to add.
        // SAFETY: closing the descriptor our parent passed us.
        unsafe { libc::close(fd) };
        return exit::OTHER;
    }
    // The command must not inherit the descriptor, and a successful exec
    // closing it is what tells the tracer the command runs.
    // SAFETY: fcntl on the descriptor our parent passed us.
    unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
    let Some((program, args)) = argv.split_first() else {
        eprintln!("starvetrace: error: no command given");
        return exit::USAGE;
    };
    let err = std::process::Command::new(program).args(args).exec();
    let errno = err.raw_os_error().unwrap_or(libc::ENOEXEC).to_le_bytes();
    // SAFETY: writing a 4-byte buffer to the descriptor our parent passed us.
    let sent = unsafe { libc::write(fd, errno.as_ptr().cast(), errno.len()) };
    if sent == errno.len() as isize {
        EXEC_FAILED
    } else {
        eprintln!(
            "starvetrace: error: cannot run `{program}`: {}",
            short_io(&err)
        );
        exit::TARGET_NOT_FOUND
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(r: Result<PathBuf>) -> String {
        match r {
            Err(e @ Error::TargetNotFound(_)) => e.to_string(),
            other => panic!("expected a target-not-found error, got {other:?}"),
        }
    }

    #[test]
    fn programs_are_found_like_execvp_finds_them() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        let tool = bin.join("tool");
        std::fs::write(&tool, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o755)).unwrap();
        let plain = bin.join("plain");
        std::fs::write(&plain, "data").unwrap();
        std::fs::set_permissions(&plain, std::fs::Permissions::from_mode(0o644)).unwrap();
        let path = std::env::join_paths([dir.path(), &bin]).unwrap();

        assert_eq!(find_program_in("tool", Some(&path)).unwrap(), tool);
        assert_eq!(find_program_in(tool.to_str().unwrap(), None).unwrap(), tool);
        assert_eq!(
            msg(find_program_in("/nonexistent/binary", None)),
            "cannot run `/nonexistent/binary`: no such file or directory"
        );
        assert_eq!(
            msg(find_program_in(bin.to_str().unwrap(), None)),
            format!("cannot run `{}`: it is a directory", bin.display())
        );
        assert_eq!(
            msg(find_program_in("no-such-tool", Some(&path))),
            format!(
                "cannot run `no-such-tool`: not found in PATH ({})",
                path.to_string_lossy()
            )
        );
        assert_eq!(
            msg(find_program_in("", None)),
            "cannot run ``: the command name is empty"
        );
        // Root may execute any file with one x bit; none here.
        assert_eq!(
            msg(find_program_in("plain", Some(&path))),
            format!(
                "cannot run `plain`: {}: it is not executable (mode 644)",
                plain.display()
            )
        );
    }

    #[test]
    fn an_existing_file_that_exec_cannot_start_names_its_interpreter() {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("script");
        std::fs::write(&script, "#!/nonexistent/interp -x\necho\n").unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let e = exec_failed(
            script.to_str().unwrap(),
            &std::io::Error::from_raw_os_error(libc::ENOENT),
        );
        assert_eq!(e.exit_code(), exit::TARGET_NOT_FOUND);
        let text = e.to_string();
        assert!(
            text.contains("its #! interpreter /nonexistent/interp is missing"),
            "{text}"
        );
        let e = exec_failed(
            "/nonexistent/binary",
            &std::io::Error::from_raw_os_error(libc::ENOENT),
        );
        assert_eq!(
            e.to_string(),
            "cannot run `/nonexistent/binary`: No such file or directory"
        );
    }
}
