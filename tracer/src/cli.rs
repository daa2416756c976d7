//! Command line. The `record` flags are a contract other tooling relies on:
//! extend them, don't rename them.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "starvetrace",
    version,
    about = "Are this program's async runtime threads being starved, and by what?"
)]
pub struct Cli {
    /// More logging (-v: info and kernel-side diagnostics, -vv: debug).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Trace a process, cgroup or container (or launch a command) and report.
    Record(RecordArgs),
    /// Where every thread of the target is right now.
    Snapshot(SnapshotArgs),
    /// Re-render a saved report.json (no root needed).
    Report(ReportArgs),
    /// Run a starvation lab scenario (the program the demo traces).
    Lab(LabArgs),
    /// Run a lab scenario under `record` and print the verdict.
    Demo(DemoArgs),
    /// Stay attached, cheaply: one line per target per interval, Prometheus
    /// metrics, and an evidence bundle when the runtime stalls.
    Watch(WatchArgs),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Md,
    Json,
    Text,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Stacks {
    /// No kernel stacks (causes from syscalls and reclaim tracepoints only).
    None,
    /// Kernel stack at uninterruptible (D) switch-outs.
    Blocked,
    /// Kernel stack at every sleeping switch-out (costs ~1 µs per switch).
    All,
}

#[derive(Clone, Debug, Args)]
#[group(id = "target_group", multiple = false)]
pub struct TargetArgs {
    /// Trace all threads of this process (and threads it creates later).
    #[arg(long, group = "target_group")]
    pub pid: Option<u32>,
    /// Trace every task in this cgroup (v2 path, v1 controller path, or path
    /// relative to the cgroup root), including ones that start later.
    #[arg(long, group = "target_group")]
    pub cgroup: Option<PathBuf>,
    /// Trace a Docker/containerd/podman container by name or ID prefix.
    #[arg(long, group = "target_group")]
    pub container: Option<String>,
}

#[derive(Clone, Debug, Args)]
pub struct RecordArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Stop after this many seconds (default: until Ctrl-C or the target exits).
    #[arg(long, value_parser = parse_secs)]
    pub duration: Option<f64>,
    /// Seconds between progress rows on stderr.
    #[arg(long, default_value = "5", value_parser = parse_secs)]
    pub interval: f64,
    /// Names (regex) of the runtime's threads, besides tokio's default
    /// worker names: use it when the runtime names its threads. Every thread
    /// is still traced and reported; a pattern that matches no thread is
    /// said in the verdict and on stderr.
    #[arg(long)]
    pub threads: Option<String>,
    /// Period (seconds) of a heartbeat the program should keep, e.g. 10 for
    /// a 10 s tokio interval: the report counts the beats that would have
    /// fallen inside runtime blackouts longer than one period.
    #[arg(long, value_parser = parse_secs)]
    pub heartbeat: Option<f64>,
    /// Off-CPU intervals kept in memory for blackouts (32 bytes each); past
    /// it they are counted, not kept, and the report says how far blackouts
    /// reach.
    #[arg(long, default_value_t = crate::trace::account::DEFAULT_SPAN_BUDGET)]
    pub span_budget: usize,
    #[arg(long, value_enum, default_value = "md")]
    pub format: Format,
    /// Also write report.md, report.json and timeline.svg into this directory.
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "blocked")]
    pub stacks: Stacks,
    /// Ring buffer size in MiB (power of two).
    #[arg(long, default_value = "8", value_parser = parse_ring_mib)]
    pub ring_mib: u32,
    /// Time run-queue waits with a sched_wakeup probe and on-CPU slices on
    /// the tracepoint clock, instead of reading the kernel's own books
    /// (sched_info, se.sum_exec_runtime) at each switch (one more program run
    /// on every wakeup of the host; the default falls back to it when the
    /// kernel lacks CONFIG_SCHED_INFO).
    #[arg(long)]
    pub wakeup_probe: bool,
    /// Also write a Perfetto trace (open it in ui.perfetto.dev): a track per
    /// thread with every on- and off-CPU slice, the cgroup's counters, the
    /// runtime blackouts and the verdict. CLOCK_MONOTONIC timestamps.
    #[arg(long)]
    pub perfetto: Option<PathBuf>,
    /// At most this many thread slices in the Perfetto trace; past it the
    /// shortest are merged into per-cause counters (the trace says so).
    #[arg(long)]
    pub perfetto_max_slices: Option<usize>,
    /// Also take the thread's user-space stack wherever a kernel stack is
    /// taken (`--stacks`): off-CPU flame graphs then show the program's own
    /// frames. Whole only for code built with frame pointers (see README).
    #[arg(long)]
    pub user_stacks: bool,
    /// Write one folded-stack file per cause here (`<cause>.folded`, lines
    /// `thread;user frames;-;kernel frames <ns>`, root first, as BCC's
    /// `offcputime -f -d`), for flamegraph.pl or inferno.
    #[arg(long)]
    pub folded: Option<PathBuf>,
    /// No progress rows on stderr.
    #[arg(long)]
    pub quiet: bool,
    /// Command to launch and trace; it starts after every probe is attached.
    /// A target of its own: not with --pid, --cgroup or --container.
    #[arg(last = true)]
    pub command: Vec<String>,
}

#[derive(Clone, Debug, Args)]
pub struct WatchArgs {
    /// Watch this process (repeatable). With no --pid, --cgroup or
    /// --container: every process on the host with tokio-named threads,
    /// including ones that start later.
    #[arg(long)]
    pub pid: Vec<u32>,
    /// Watch every process in this cgroup (repeatable).
    #[arg(long)]
    pub cgroup: Vec<PathBuf>,
    /// Watch a Docker/containerd/podman container by name or ID prefix
    /// (repeatable); a container recreated under the name is followed.
    #[arg(long)]
    pub container: Vec<String>,
    /// Seconds between status lines, book reads and trigger checks.
    #[arg(long, default_value = "1", value_parser = parse_secs)]
    pub interval: f64,
    /// Minutes of per-interval books kept for the bundles.
    #[arg(long, default_value = "10", value_parser = parse_secs)]
    pub window: f64,
    /// Seconds of full-detail intervals kept for blackouts.
    #[arg(long, default_value = "30", value_parser = parse_secs)]
    pub detail: f64,
    /// Off-CPU intervals at least this long (ms) cross the ring buffer;
    /// shorter ones are only counted in the kernel. Blackouts shorter than
    /// this are not seen.
    #[arg(long, default_value = "10", value_parser = parse_secs)]
    pub emit_min_ms: f64,
    /// Names (regex) of the runtime's threads, besides tokio's defaults.
    #[arg(long)]
    pub threads: Option<String>,
    /// Where evidence bundles go (created 0700; files 0600).
    #[arg(long, default_value = "/var/lib/starvetrace/bundles")]
    pub evidence_dir: PathBuf,
    /// Trigger: a runtime blackout at least this many seconds long (0: off).
    #[arg(long, default_value = "1", value_parser = parse_threshold)]
    pub trigger_blackout: f64,
    /// Trigger: a runtime thread that has not run for this many seconds
    /// while runnable or in D state (0: off).
    #[arg(long, default_value = "2", value_parser = parse_threshold)]
    pub trigger_stall: f64,
    /// Trigger: memory.events high+max growing this fast, per second (0: off).
    #[arg(long, default_value = "1000", value_parser = parse_threshold)]
    pub trigger_memory_events: f64,
    /// Trigger: the cgroup's memory.pressure full avg10 at or above this
    /// percentage (0: off).
    #[arg(long, default_value = "20", value_parser = parse_threshold)]
    pub trigger_psi: f64,
    /// Seconds recorded in full after a trigger, for the bundle's report.
    #[arg(long, default_value = "10", value_parser = parse_secs)]
    pub capture: f64,
    /// Seconds before the same target can write another bundle.
    #[arg(long, default_value = "300", value_parser = parse_secs)]
    pub cooldown: f64,
    /// Bundles kept at most (oldest removed first).
    #[arg(long, default_value = "20")]
    pub max_bundles: usize,
    /// MiB of bundles kept at most (oldest removed first).
    #[arg(long, default_value = "512")]
    pub max_bundle_mib: u64,
    /// Command run once per bundle (no shell unless you write one), with
    /// STARVETRACE_TARGET, _PROCESS, _PID, _PIDS, _CONTAINER, _CGROUP,
    /// _TRIGGER and _BUNDLE (and PATH) as its only environment.
    #[arg(long)]
    pub on_trigger: Option<String>,
    /// Seconds before --on-trigger is killed.
    #[arg(long, default_value = "30", value_parser = parse_secs)]
    pub on_trigger_timeout: f64,
    /// Seconds before --on-trigger runs again for the same target.
    #[arg(long, default_value = "600", value_parser = parse_secs)]
    pub on_trigger_min_gap: f64,
    /// Serve Prometheus metrics at http://ADDR/metrics: `PORT` binds
    /// 127.0.0.1; give `0.0.0.0:PORT` to let a remote scraper in.
    #[arg(long)]
    pub listen: Option<String>,
    /// Threads the kernel keeps books for at most.
    #[arg(long, default_value = "16384")]
    pub max_threads: u32,
    /// Processes watched at most.
    #[arg(long, default_value = "4096")]
    pub max_processes: u32,
    /// Stop after this many seconds (default: until SIGINT or SIGTERM).
    #[arg(long, value_parser = parse_secs)]
    pub duration: Option<f64>,
}

#[derive(Clone, Debug, Args)]
pub struct SnapshotArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    #[arg(long, value_enum, default_value = "md")]
    pub format: Format,
}

#[derive(Clone, Debug, Args)]
pub struct ReportArgs {
    /// A report.json written by `record --out` or `--format json`.
    pub file: PathBuf,
    #[arg(long, value_enum, default_value = "md")]
    pub format: Format,
}

#[derive(Clone, Debug, Args)]
pub struct LabArgs {
    /// memory-high, memory-max, cpu, lost-wakeup, lock, healthy, sidecar-memory,
    /// cold-reads, blockon-memory, blocking-pool-idle or cpu-and-memory.
    pub scenario: String,
    #[arg(long, default_value = "20", value_parser = parse_secs)]
    pub duration: f64,
    /// Write the lab's own ground truth (heartbeat lateness) here as JSON.
    #[arg(long)]
    pub result: Option<PathBuf>,
}

#[derive(Clone, Debug, Args)]
pub struct DemoArgs {
    /// Lab scenario (default: the memory scenario this host supports).
    #[arg(long)]
    pub scenario: Option<String>,
    #[arg(long, default_value = "20", value_parser = parse_secs)]
    pub duration: f64,
    #[arg(long, value_enum, default_value = "md")]
    pub format: Format,
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Also write a Perfetto trace (open it in ui.perfetto.dev): a track per
    /// thread with every on- and off-CPU slice, the cgroup's counters, the
    /// runtime blackouts and the verdict. CLOCK_MONOTONIC timestamps.
    #[arg(long)]
    pub perfetto: Option<PathBuf>,
    /// At most this many thread slices in the Perfetto trace; past it the
    /// shortest are merged into per-cause counters (the trace says so).
    #[arg(long)]
    pub perfetto_max_slices: Option<usize>,
    /// Also take user-space stacks (as `record --user-stacks`).
    #[arg(long)]
    pub user_stacks: bool,
    /// Write folded stacks per cause here (as `record --folded`).
    #[arg(long)]
    pub folded: Option<PathBuf>,
}

fn parse_secs(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .parse()
        .map_err(|_| format!("`{s}` is not a number of seconds"))?;
    if !(v > 0.0 && v.is_finite() && v <= 30.0 * 86400.0) {
        return Err(format!("`{s}`: seconds must be > 0 and at most 30 days"));
    }
    Ok(v)
}

/// A trigger threshold: a number at or above zero (0 turns it off).
fn parse_threshold(s: &str) -> Result<f64, String> {
    let v: f64 = s.parse().map_err(|_| format!("`{s}` is not a number"))?;
    if !(v >= 0.0 && v.is_finite()) {
        return Err(format!("`{s}`: a threshold must be 0 (off) or more"));
    }
    Ok(v)
}

fn parse_ring_mib(s: &str) -> Result<u32, String> {
    let v: u32 = s
        .parse()
        .map_err(|_| format!("`{s}` is not a whole number"))?;
    if !v.is_power_of_two() || v > 1024 {
        return Err(format!(
            "`{s}`: the ring buffer size must be a power of two up to 1024 MiB"
        ));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn record_contract() {
        let cli = Cli::try_parse_from([
            "starvetrace",
            "record",
            "--pid",
            "42",
            "--duration",
            "3",
            "--interval",
            "1",
            "--threads",
            "tokio",
            "--format",
            "json",
            "--out",
            "/tmp/x",
        ])
        .unwrap();
        let Command::Record(r) = cli.command else {
            panic!("record")
        };
        assert_eq!(r.target.pid, Some(42));
        assert_eq!(r.duration, Some(3.0));
        assert_eq!(r.format, Format::Json);
        let cli = Cli::try_parse_from(["starvetrace", "record", "--", "sleep", "1"]).unwrap();
        let Command::Record(r) = cli.command else {
            panic!("record")
        };
        assert_eq!(r.command, vec!["sleep", "1"]);
    }

    #[test]
    fn bad_values_are_rejected() {
        assert!(Cli::try_parse_from(["starvetrace", "record", "--pid", "x"]).is_err());
        assert!(
            Cli::try_parse_from(["starvetrace", "record", "--pid", "1", "--duration", "-1"])
                .is_err()
        );
        assert!(
            Cli::try_parse_from(["starvetrace", "record", "--pid", "1", "--cgroup", "/x"]).is_err()
        );
        assert!(
            Cli::try_parse_from(["starvetrace", "record", "--pid", "1", "--ring-mib", "3"])
                .is_err()
        );
    }
}
