//! The tracers measured: starvetrace and the peer tools users would
//! otherwise run, how each is started, and how we know it is attached.

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use anyhow::{Result, bail};

use super::{
    proc::Proc,
    tools::{find_libbpf_tool, which},
};
use crate::apt;

/// How a tracer finds its target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// `starvetrace record ... -- CMD`: it starts the command itself, after
    /// every probe is attached, so "attached" needs no guessing.
    WrapsCommand,
    /// Needs the target's PID on its command line.
    Pid,
    /// Traces the whole host.
    Host,
}

/// How to tell that a peer has attached its probes.
#[derive(Clone, Copy, Debug)]
pub enum Ready {
    /// This text appears on stdout or stderr once attached.
    Says(&'static str),
    /// It holds BPF links or perf events and their count has settled.
    Fds,
}

#[derive(Clone, Debug)]
pub struct Tracer {
    /// Row label in the report.
    pub label: &'static str,
    pub program: PathBuf,
    /// Arguments; `{pid}` is replaced by the target PID, `{dir}` by the
    /// run's scratch directory.
    pub args: Vec<String>,
    pub scope: Scope,
    pub ready: Ready,
    /// Package the peer comes from (for the versions line).
    pub package: &'static str,
}

pub const STARVETRACE: &str = "starvetrace";

/// Run-queue latency in bpftrace, the way people write it: a wakeup
/// timestamp per thread and a histogram of the wait at switch-in. BEGIN
/// runs after every probe is attached, so its line is the ready signal.
const BPFTRACE_RUNQLAT: &str = r#"
BEGIN { printf("bench-attached\n"); }
tracepoint:sched:sched_wakeup, tracepoint:sched:sched_wakeup_new { @qtime[args->pid] = nsecs; }
tracepoint:sched:sched_switch {
  if (args->prev_state == 0) { @qtime[args->prev_pid] = nsecs; }
  $ns = @qtime[args->next_pid];
  if ($ns) { @usecs = hist((nsecs - $ns) / 1000); }
  delete(@qtime[args->next_pid]);
}
END { clear(@qtime); }
"#;

impl Tracer {
    pub fn starvetrace(bin: &Path) -> Tracer {
        Tracer {
            label: STARVETRACE,
            program: bin.to_path_buf(),
            // Stacks at their default (blocked): what a user gets.
            args: ["record", "--format", "json", "--quiet"]
                .map(String::from)
                .to_vec(),
            scope: Scope::WrapsCommand,
            ready: Ready::Fds,
            package: "",
        }
    }

    /// starvetrace `record`, with any flags (its JSON report is read).
    pub fn is_starvetrace(&self) -> bool {
        self.label.starts_with(STARVETRACE) && !self.is_watch()
    }

    /// `starvetrace watch` (no JSON report; stopped with SIGINT).
    pub fn is_watch(&self) -> bool {
        self.args.first().is_some_and(|a| a == "watch")
    }

    pub fn command(&self, pid: u32, dir: &Path) -> Command {
        let mut cmd = Command::new(&self.program);
        for a in &self.args {
            cmd.arg(
                a.replace("{pid}", &pid.to_string())
                    .replace("{dir}", &dir.display().to_string()),
            );
        }
        cmd
    }

    /// Block until `p` (this tracer) has attached, or fail if it exits.
    pub fn wait_attached(&self, p: &mut Proc, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        let mut last = (usize::MAX, Instant::now());
        loop {
            if let Some(status) = p.poll()? {
                bail!(
                    "{} exited ({status}) before attaching{}",
                    self.label,
                    p.stderr_tail()
                );
            }
            let attached = match self.ready {
                Ready::Says(text) => [&p.stdout, &p.stderr]
                    .iter()
                    .any(|f| std::fs::read_to_string(f).is_ok_and(|s| s.contains(text))),
                Ready::Fds => {
                    let n = attach_fds(p.pid());
                    if n != last.0 {
                        last = (n, Instant::now());
                    }
                    n > 0 && last.1.elapsed() >= Duration::from_millis(300)
                }
            };
            if attached {
                // perf and bpftrace enable events just after opening them.
                std::thread::sleep(Duration::from_millis(200));
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!(
                    "{} did not attach within {timeout:?}{}",
                    self.label,
                    p.stderr_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// BPF links and perf events a process holds: what attaching creates.
fn attach_fds(pid: u32) -> usize {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return 0;
    };
    dir.filter_map(|e| e.ok())
        .filter_map(|e| std::fs::read_link(e.path()).ok())
        .filter(|t| {
            let t = t.to_string_lossy();
            t == "anon_inode:bpf_link" || t == "anon_inode:[perf_event]"
        })
        .count()
}

// libbpf-tools print their "Tracing ..." banner through stdio, which is
// block-buffered when stdout is a file: it may not show until exit. Their
// BPF link fds are the reliable sign.

/// Every peer that is installed, in report order.
pub fn discover_peers() -> Vec<Tracer> {
    let mut peers = Vec::new();
    let strings = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    if let Some(runqlat) = find_libbpf_tool("runqlat") {
        peers.push(Tracer {
            label: "runqlat -p",
            program: runqlat.clone(),
            args: strings(&["-p", "{pid}"]),
            scope: Scope::Pid,
            ready: Ready::Fds,
            package: "libbpf-tools",
        });
        peers.push(Tracer {
            label: "runqlat",
            program: runqlat,
            args: Vec::new(),
            scope: Scope::Host,
            ready: Ready::Fds,
            package: "libbpf-tools",
        });
    }
    if let Some(offcputime) = find_libbpf_tool("offcputime") {
        peers.push(Tracer {
            label: "offcputime -p",
            program: offcputime,
            args: strings(&["-p", "{pid}"]),
            scope: Scope::Pid,
            ready: Ready::Fds,
            package: "libbpf-tools",
        });
    }
    if let Some(bpftrace) = which("bpftrace") {
        peers.push(Tracer {
            label: "bpftrace runqlat",
            program: bpftrace,
            args: strings(&["-e", BPFTRACE_RUNQLAT]),
            scope: Scope::Host,
            ready: Ready::Says("bench-attached"),
            package: "bpftrace",
        });
    }
    if let Some(perf) = which("perf") {
        peers.push(Tracer {
            label: "perf sched record",
            program: perf,
            args: strings(&["sched", "record", "-o", "{dir}/perf.data"]),
            scope: Scope::Host,
            ready: Ready::Fds,
            package: "linux-perf",
        });
    }
    peers
}

/// `package version` of each peer's package, from dpkg.
pub fn versions(peers: &[Tracer]) -> Vec<String> {
    let mut pkgs: Vec<&str> = peers
        .iter()
        .map(|p| p.package)
        .filter(|p| !p.is_empty())
        .collect();
    pkgs.dedup();
    pkgs.iter()
        .map(|pkg| {
            let v = apt::installed_version(pkg).unwrap_or_else(|| "?".into());
            format!("{pkg} {v}")
        })
        .collect()
}
