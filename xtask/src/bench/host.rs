//! The machine: privileges, building what we measure, installing peers,
//! and the facts the report is stamped with.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context as _, Result, bail};

use super::tools::{find_libbpf_tool, which};
use crate::{
    apt,
    cargo_build::target_dir,
    run::{is_root, run},
};

pub fn require_root() -> Result<()> {
    if !is_root() {
        bail!("the benchmarks load BPF programs and read other processes' fdinfo: run as root");
    }
    Ok(())
}

/// The binaries a run needs, freshly built in release.
#[derive(Clone, Debug)]
pub struct Bins {
    pub starvetrace: PathBuf,
    pub pingpong: PathBuf,
    /// starvetrace built with the `dispatch-floor` feature (an empty
    /// `sched_switch`): the overhead rows' calibration, if built.
    pub floor: Option<PathBuf>,
}

/// Where the calibration build is kept beside the real one.
const FLOOR_BIN: &str = "release/starvetrace-dispatch-floor";

/// Build (unless `skip`) what the bench runs; with `floor`, the
/// calibration build too.
pub fn build(root: &Path, skip: bool, floor: bool) -> Result<Bins> {
    let target = target_dir(root);
    if floor && !skip {
        // First, so the real build below is the one left at
        // target/release/starvetrace.
        cargo_release(
            root,
            "tracer",
            "starvetrace",
            &["--features", "dispatch-floor"],
        )?;
        std::fs::copy(target.join("release/starvetrace"), target.join(FLOOR_BIN))
            .context("keeping the dispatch-floor build")?;
    }
    // The workload is built in release too: a debug build would spend its
    // time in its own code and make every tracer look cheaper.
    for (package, bin) in [("tracer", "starvetrace"), ("xtask", "pingpong")]
        .into_iter()
        .filter(|_| !skip)
    {
        cargo_release(root, package, bin, &[])?;
    }
    let bins = Bins {
        starvetrace: target.join("release/starvetrace"),
        pingpong: target.join("release/pingpong"),
        floor: Some(target.join(FLOOR_BIN)).filter(|p| floor && p.exists()),
    };
    for b in [&bins.starvetrace, &bins.pingpong] {
        if !b.exists() {
            bail!("{} is missing (build it, or drop --no-build)", b.display());
        }
    }
    if floor && bins.floor.is_none() {
        eprintln!("bench: no dispatch-floor build (drop --no-build to make one): no floor rows");
    }
    Ok(bins)
}

fn cargo_release(root: &Path, package: &str, bin: &str, extra: &[&str]) -> Result<()> {
    run(
        Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .current_dir(root)
            .args(["build", "--release", "--quiet", "-p", package, "--bin", bin])
            .args(extra),
    )
    .with_context(|| format!("building {bin} {}", extra.join(" ")))
}

/// apt-get the peer tools that are missing. Failure is not fatal: the
/// report says which peers were not measured.
pub fn install_peers() {
    let missing: Vec<&str> = [
        ("libbpf-tools", find_libbpf_tool("runqlat").is_some()),
        ("bpftrace", which("bpftrace").is_some()),
        ("linux-perf", which("perf").is_some()),
    ]
    .into_iter()
    .filter(|(_, present)| !present)
    .map(|(pkg, _)| pkg)
    .collect();
    if missing.is_empty() {
        return;
    }
    eprintln!("bench: installing {}", missing.join(" "));
    if let Err(e) = apt::install(&missing) {
        eprintln!(
            "bench: warning: could not install {} ({e:#}); those peers are skipped",
            missing.join(" ")
        );
    }
}

/// What the report is stamped with.
#[derive(Clone, Debug, Default)]
pub struct Host {
    pub date: String,
    pub kernel: String,
    pub cpu_model: String,
    pub cpus: usize,
    pub loadavg: String,
}

impl Host {
    pub fn capture() -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu_model = cpuinfo
            .lines()
            .find_map(|l| {
                l.strip_prefix("model name")
                    .and_then(|r| r.split_once(':'))
                    .map(|(_, v)| v.trim().to_string())
            })
            .unwrap_or_else(|| "unknown".into());
        Host {
            date: utc_now(),
            kernel: read_trim("/proc/sys/kernel/osrelease"),
            cpu_model,
            cpus: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            // The 1, 5 and 15 minute averages.
            loadavg: read_trim("/proc/loadavg")
                .split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" "),
        }
    }
}

fn read_trim(path: &str) -> String {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// `YYYY-MM-DD HH:MM UTC`, without pulling in a date crate.
fn utc_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (y, m, d) = civil_from_days((secs / 86_400) as i64);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02} UTC",
        secs % 86_400 / 3600,
        secs % 3600 / 60
    )
}

/// The tracer's own date arithmetic (std only), not a copy of it.
#[path = "../../../tracer/src/sys/civil.rs"]
mod civil;
use civil::civil_from_days;

/// Busy CPU seconds of the whole host so far (all CPUs; idle and iowait
/// excluded), from /proc/stat.
pub fn busy_secs() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let cpu = stat.lines().next()?.strip_prefix("cpu ")?;
    let f: Vec<u64> = cpu
        .split_whitespace()
        .filter_map(|v| v.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest time is
    // already inside user).
    let busy = f.first()? + f.get(1)? + f.get(2)? + f.get(5)? + f.get(6)? + f.get(7)?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    Some(busy as f64 / if hz > 0 { hz as f64 } else { 100.0 })
}

#[cfg(test)]
mod tests {
    #[test]
    fn utc_now_is_a_date_and_time() {
        let now = super::utc_now();
        assert!(
            now.ends_with(" UTC") && now.len() == "2026-11-30 05:00 UTC".len(),
            "{now}"
        );
    }
}
