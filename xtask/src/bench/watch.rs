//! `starvetrace watch`, the always-on mode: how the bench starts it, checks
//! that this build has it, and runs the lab processes it watches.
//!
//! Its command line (issue 12): `starvetrace watch [--pid PID]...
//! [--cgroup PATH]... [--container NAME]... [--interval SECS]
//! [--evidence-dir DIR] [--listen ADDR]`; with no target it watches every
//! process on the host with tokio-named threads, and it runs until SIGINT
//! or SIGTERM.

use std::{
    path::{Path, PathBuf},
    process::Command,
    sync::OnceLock,
    time::Duration,
};

use anyhow::{Context as _, Result};

use super::{
    proc::Proc,
    tracers::{Ready, Scope, Tracer},
};

/// Row labels.
pub const WATCH_PID: &str = "starvetrace watch --pid";
pub const WATCH_HOST: &str = "starvetrace watch (host-wide)";

/// Evidence goes to the run's scratch directory, never the host's default.
fn base_args() -> Vec<String> {
    ["watch", "--evidence-dir", "{dir}/evidence"]
        .map(String::from)
        .to_vec()
}

/// `watch --pid PID`: one process.
pub fn pid_tracer(bin: &Path) -> Tracer {
    let mut args = base_args();
    args.extend(["--pid".into(), "{pid}".into()]);
    Tracer {
        label: WATCH_PID,
        program: bin.to_path_buf(),
        args,
        scope: Scope::Pid,
        // Attaching creates BPF links; their count settles once done.
        ready: Ready::Fds,
        package: "",
    }
}

/// `watch` with no target: every tokio process on the host.
pub fn host_tracer(bin: &Path) -> Tracer {
    Tracer {
        label: WATCH_HOST,
        program: bin.to_path_buf(),
        args: base_args(),
        scope: Scope::Host,
        ready: Ready::Fds,
        package: "",
    }
}

/// `watch` over these processes, each by `--pid`.
pub fn pids_command(bin: &Path, pids: &[u32], dir: &Path) -> Command {
    let mut cmd = Command::new(bin);
    cmd.arg("watch")
        .arg("--evidence-dir")
        .arg(dir.join("evidence"));
    for pid in pids {
        cmd.arg("--pid").arg(pid.to_string());
    }
    cmd
}

/// Why `bin` cannot run `watch`, if it cannot (asked once per run).
pub fn missing(bin: &Path) -> Option<String> {
    static ANSWER: OnceLock<Option<String>> = OnceLock::new();
    ANSWER.get_or_init(|| check(bin)).clone()
}

fn check(bin: &Path) -> Option<String> {
    match Command::new(bin).args(["watch", "--help"]).output() {
        Ok(o) if o.status.success() => None,
        Ok(o) => Some(format!(
            "this starvetrace has no `watch` subcommand (`{} watch --help` failed: {}); \
             build it from a tree with `watch` (branch `watch`)",
            bin.display(),
            String::from_utf8_lossy(&o.stderr)
                .lines()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("no message")
                .trim()
        )),
        Err(e) => Some(format!("cannot run {}: {e}", bin.display())),
    }
}

/// Lab processes (`starvetrace lab SCENARIO`) the bench starts for `watch`
/// to watch. They are stopped with SIGINT, on every path, so each removes
/// the cgroup it made (SIGKILL would leave it behind).
pub struct LabSet {
    pub procs: Vec<Proc>,
    dirs: Vec<PathBuf>,
}

/// How long a lab gets to clean up after SIGINT.
const LAB_STOP: Duration = Duration::from_secs(30);

impl LabSet {
    pub fn new() -> Self {
        LabSet {
            procs: Vec::new(),
            dirs: Vec::new(),
        }
    }

    /// Start `starvetrace lab SCENARIO --duration SECS` with its output in `dir`.
    pub fn start(&mut self, bin: &Path, scenario: &str, secs: f64, dir: PathBuf) -> Result<u32> {
        let mut cmd = Command::new(bin);
        cmd.args(["lab", scenario, "--duration", &format!("{secs:.0}")]);
        let p = Proc::spawn(&format!("lab-{scenario}"), &mut cmd, &dir)
            .with_context(|| format!("starting lab {scenario}"))?;
        let pid = p.pid();
        self.procs.push(p);
        self.dirs.push(dir);
        Ok(pid)
    }

    pub fn pids(&self) -> Vec<u32> {
        self.procs.iter().map(Proc::pid).collect()
    }

    /// Labs that have exited already, with their stderr, as an error text.
    pub fn exited(&mut self) -> Result<Option<String>> {
        for p in &mut self.procs {
            if let Some(status) = p.poll()? {
                return Ok(Some(format!(
                    "{} exited early ({status}){}",
                    p.label,
                    p.stderr_tail()
                )));
            }
        }
        Ok(None)
    }

    /// SIGINT every lab still running and wait for each.
    pub fn stop(&mut self) {
        for p in &self.procs {
            p.interrupt();
        }
        for mut p in self.procs.drain(..) {
            let _ = p.finish(LAB_STOP);
        }
        for d in self.dirs.drain(..) {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

impl Drop for LabSet {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_lines_follow_the_watch_cli() {
        let bin = Path::new("/bin/starvetrace");
        let t = pid_tracer(bin);
        let args: Vec<String> = t
            .command(42, Path::new("/s"))
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            args,
            ["watch", "--evidence-dir", "/s/evidence", "--pid", "42"]
        );
        assert!(t.is_watch() && !t.is_starvetrace());
        let h = host_tracer(bin);
        let args: Vec<String> = h
            .command(42, Path::new("/s"))
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(args, ["watch", "--evidence-dir", "/s/evidence"]);
        let c = pids_command(bin, &[1, 2], Path::new("/s"));
        let args: Vec<String> = c
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            args,
            [
                "watch",
                "--evidence-dir",
                "/s/evidence",
                "--pid",
                "1",
                "--pid",
                "2"
            ]
        );
    }

    #[test]
    fn a_binary_without_watch_is_named_clearly() {
        // `false` stands in for a starvetrace whose `watch --help` fails.
        let why = check(Path::new("/bin/false")).unwrap();
        assert!(why.contains("no `watch` subcommand"), "{why}");
        assert!(check(Path::new("/nonexistent/starvetrace")).is_some());
        // `true` accepts any arguments: a binary that has `watch`.
        assert_eq!(check(Path::new("/bin/true")), None);
    }
}
