//! `--on-trigger CMD`: run once per bundle, with a cleared environment plus
//! the documented variables, no shell unless the user wrote one, a timeout,
//! and its output kept in the bundle up to a bound.

use std::{
    io::Read as _,
    os::unix::process::{CommandExt as _, ExitStatusExt as _},
    path::Path,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use serde::Serialize;

/// Append to a file in the bundle (the command's output).
fn append(path: &Path, bytes: &[u8]) {
    use std::io::Write as _;
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        let _ = f.write_all(bytes);
    }
}

/// Output kept per stream; the rest is counted, not kept.
pub const MAX_OUTPUT: usize = 64 * 1024;
/// The only inherited-looking variable: where to find programs.
pub const PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CommandOutcome {
    pub argv: Vec<String>,
    /// Exit code, if it exited.
    pub exit_code: Option<i32>,
    /// Signal that ended it, if one did.
    pub signal: Option<i32>,
    pub timed_out: bool,
    /// It could not be started (with why).
    pub spawn_error: Option<String>,
    pub duration_ms: u64,
    pub output_bytes_dropped: u64,
}

impl CommandOutcome {
    pub fn describe(&self) -> String {
        let what = match (
            &self.spawn_error,
            self.timed_out,
            self.exit_code,
            self.signal,
        ) {
            (Some(e), ..) => format!("could not start: {e}"),
            (None, true, ..) => "timed out and was killed".to_string(),
            (None, false, Some(c), _) => format!("exit status {c}"),
            (None, false, None, Some(s)) => format!("killed by signal {s}"),
            _ => "ended".to_string(),
        };
        format!(
            "`{}`: {what} after {} ms",
            self.argv.join(" "),
            self.duration_ms
        )
    }
}

/// Run `argv` in `bundle` with `env` as its whole environment.
pub fn run(
    argv: &[String],
    env: &[(&'static str, String)],
    bundle: &Path,
    timeout: Duration,
) -> CommandOutcome {
    let started = Instant::now();
    let mut outcome = CommandOutcome {
        argv: argv.to_vec(),
        exit_code: None,
        signal: None,
        timed_out: false,
        spawn_error: None,
        duration_ms: 0,
        output_bytes_dropped: 0,
    };
    let Some((program, args)) = argv.split_first() else {
        outcome.spawn_error = Some("empty command".into());
        return outcome;
    };
    let log = bundle.join("on-trigger.log");
    let mut child = match Command::new(program)
        .args(args)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .current_dir(bundle)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group: a timeout kills what it started too.
        .process_group(0)
        .spawn()
    {
        Ok(c) => c,
        Err(e) => {
            outcome.spawn_error = Some(e.to_string());
            return outcome;
        }
    };
    let readers: Vec<_> = [
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
    ]
    .into_iter()
    .flatten()
    .map(|mut stream| {
        std::thread::spawn(move || {
            let mut kept = Vec::new();
            let mut dropped = 0u64;
            let mut buf = [0u8; 8192];
            while let Ok(n) = stream.read(&mut buf) {
                if n == 0 {
                    break;
                }
                let room = MAX_OUTPUT.saturating_sub(kept.len()).min(n);
                kept.extend_from_slice(&buf[..room]);
                dropped += (n - room) as u64;
            }
            (kept, dropped)
        })
    })
    .collect();
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break Some(s),
            Ok(None) if started.elapsed() >= timeout => {
                outcome.timed_out = true;
                // SAFETY: kill(2) on the child's own process group.
                unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
                break child.wait().ok();
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(_) => break None,
        }
    };
    if let Some(s) = status {
        outcome.exit_code = s.code();
        outcome.signal = s.signal();
    }
    for (i, r) in readers.into_iter().enumerate() {
        if let Ok((kept, dropped)) = r.join() {
            let name = if i == 0 { "stdout" } else { "stderr" };
            append(&log, format!("--- {name} ---\n").as_bytes());
            append(&log, &kept);
            outcome.output_bytes_dropped += dropped;
        }
    }
    outcome.duration_ms = started.elapsed().as_millis() as u64;
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> Vec<(&'static str, String)> {
        vec![
            ("PATH", PATH.to_string()),
            ("STARVETRACE_CONTAINER", "shop".to_string()),
            ("STARVETRACE_PIDS", "41 42".to_string()),
        ]
    }

    #[test]
    fn the_command_sees_only_the_environment_it_is_given() {
        let dir = tempfile::tempdir().unwrap();
        // SAFETY: set before the child is spawned; nothing reads it concurrently.
        unsafe { std::env::set_var("STARVETRACE_SECRET_TEST", "leak") };
        let argv: Vec<String> = ["/usr/bin/env"].map(String::from).to_vec();
        let o = run(&argv, &env(), dir.path(), Duration::from_secs(10));
        assert_eq!(o.exit_code, Some(0), "{o:?}");
        let log = std::fs::read_to_string(dir.path().join("on-trigger.log")).unwrap();
        assert!(log.contains("STARVETRACE_CONTAINER=shop"), "{log}");
        assert!(log.contains("STARVETRACE_PIDS=41 42"), "{log}");
        assert!(!log.contains("STARVETRACE_SECRET_TEST"), "{log}");
        let vars = log.lines().filter(|l| l.contains('=')).count();
        assert_eq!(vars, env().len(), "{log}");
    }

    #[test]
    fn a_slow_command_is_killed_at_the_timeout() {
        let dir = tempfile::tempdir().unwrap();
        let argv: Vec<String> = ["/bin/sleep", "30"].map(String::from).to_vec();
        let o = run(&argv, &env(), dir.path(), Duration::from_millis(300));
        assert!(o.timed_out, "{o:?}");
        assert_eq!(o.signal, Some(libc::SIGKILL));
        assert!(o.duration_ms < 10_000, "{o:?}");
    }

    #[test]
    fn output_is_bounded_and_a_missing_program_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let argv: Vec<String> = ["/bin/sh", "-c", "head -c 200000 /dev/zero"]
            .map(String::from)
            .to_vec();
        let o = run(&argv, &env(), dir.path(), Duration::from_secs(10));
        assert_eq!(o.output_bytes_dropped, 200_000 - MAX_OUTPUT as u64, "{o:?}");
        let missing: Vec<String> = vec!["/nonexistent/program".into()];
        let o = run(&missing, &env(), dir.path(), Duration::from_secs(1));
        assert!(o.spawn_error.is_some(), "{o:?}");
    }
}
