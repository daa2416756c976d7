//! `cargo xtask vm-test [--scenario NAME]... [--duration SECS] [--kernel-series 6.1|6.12]
//! [--kernel PATH] [--bin PATH] [--keep]`
//!
//! Boots Debian's 6.1 (default) or 6.12 cloud kernel (cgroup v2, memory.high) under qemu TCG
//! with an initramfs holding busybox and a static build of the very same
//! starvetrace (same eBPF object) that runs on the host's 6.18 kernel, runs
//! each scenario there and judges its JSON report against the table in
//! `vm/scenarios.rs`. Rust eBPF has no CO-RE, so this is the check that the
//! BTF-resolved offsets, tracepoints and verifier acceptance carry over to
//! another kernel. `cargo xtask test` runs it once per series in
//! [`Series::ALL`].
//!
//! Steps (each failure names its step, each is timed): tools -> kernel ->
//! static build -> initramfs -> scratch disk -> boot -> judge. Logs stay in
//! target/vm-test/ for 6.1 and target/vm-test-6.12/ for 6.12 (console.log,
//! data.log, one <scenario>.json per report);
//! `--keep` also keeps the initramfs tree and the disk image and prints the
//! qemu command line to re-run it by hand.

mod binary;
mod deps;
mod disk;
mod initramfs;
mod outcome;
mod progress;
mod qemu;
mod scenarios;
mod serial;
mod steps;

use std::{
    fs,
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use anyhow::{Context, Result, bail};

pub use binary::build_static;
pub use deps::Series;
pub use outcome::Suite;
use scenarios::{Expectation, Kind};
use steps::Steps;

use crate::run::output;

/// Default `demo --duration`: TCG runs the guest several times slower than
/// the host, and six scenarios must fit the 10-minute budget.
const DEFAULT_DEMO_SECS: u32 = 10;
/// Cap for the smoke's trace, which ends when its command (a busy loop of
/// ~1.5 s under TCG, then `sleep 1`) exits.
const SMOKE_SECS: u32 = 20;
/// Boot to /init is ~2 s under TCG; the rest is slack for a slow host.
const BOOT_BUDGET_SECS: u64 = 90;
const MEMORY_MIB: u32 = 2048;
const CPUS: u32 = 2;

const USAGE: &str = "usage: cargo xtask vm-test [--scenario NAME]... [--duration SECS] \
                     [--kernel-series 6.1|6.12] [--kernel VMLINUZ] [--bin STATIC_STARVETRACE] \
                     [--timeout SECS] [--keep]";

#[derive(Debug, Default)]
struct Options {
    scenarios: Vec<String>,
    duration: Option<u32>,
    /// Which Debian cloud kernel to fetch (6.1 unless given).
    series: Option<Series>,
    kernel: Option<PathBuf>,
    /// A prebuilt static starvetrace instead of building one (a release
    /// artifact, or while the working tree does not compile).
    bin: Option<PathBuf>,
    timeout: Option<u64>,
    keep: bool,
}

fn parse_args(args: &[String]) -> Result<Option<Options>> {
    let mut o = Options::default();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v.to_string())),
            _ => (arg.as_str(), None),
        };
        let mut value = |name: &str| -> Result<String> {
            inline
                .clone()
                .or_else(|| it.next().cloned())
                .with_context(|| format!("{name} needs a value\n{USAGE}"))
        };
        match flag {
            "--scenario" => o.scenarios.push(value("--scenario")?),
            "--duration" => {
                let v = value("--duration")?;
                o.duration = Some(
                    v.parse()
                        .ok()
                        .filter(|d| *d > 0)
                        .with_context(|| format!("--duration {v}: whole seconds > 0"))?,
                );
            }
            "--kernel-series" => {
                let v = value("--kernel-series")?;
                o.series =
                    Some(Series::parse(&v).with_context(|| {
                        format!("--kernel-series {v}: one of 6.1, 6.12\n{USAGE}")
                    })?);
            }
            "--kernel" => o.kernel = Some(PathBuf::from(value("--kernel")?)),
            "--bin" => o.bin = Some(PathBuf::from(value("--bin")?)),
            "--timeout" => {
                let v = value("--timeout")?;
                o.timeout = Some(
                    v.parse()
                        .with_context(|| format!("--timeout {v}: seconds"))?,
                );
            }
            "--keep" => o.keep = true,
            "-h" | "--help" => {
                println!("{USAGE}\nscenarios: {}", scenarios::names());
                return Ok(None);
            }
            other => bail!("unknown argument `{other}`\n{USAGE}"),
        }
    }
    if o.series.is_some() && o.kernel.is_some() {
        bail!("--kernel-series and --kernel are two kernels: give one\n{USAGE}");
    }
    for s in &o.scenarios {
        if scenarios::find(s).is_none() {
            bail!("unknown scenario `{s}` (known: {})", scenarios::names());
        }
    }
    Ok(Some(o))
}

/// Runs the suite; None when only help was asked for. An error is a
/// harness failure (a step, the boot, a timeout); failed and skipped
/// scenarios are in the [`Suite`] (see [`Suite::check`]).
pub fn run(root: &Path, args: &[String]) -> Result<Option<Suite>> {
    let Some(opts) = parse_args(args)? else {
        return Ok(None);
    };
    let mut steps = Steps::new();
    let series = opts.series.unwrap_or(Series::V6_1);
    let work = root.join(work_dir(series));
    fs::create_dir_all(&work).with_context(|| format!("create {}", work.display()))?;
    println!("vm-test: source {}", source_state(root));

    steps.run("tools", deps::ensure_tools)?;
    let kernel = steps.run("kernel", || match &opts.kernel {
        Some(path) => Ok(deps::Kernel {
            vmlinuz: path.clone(),
            package: format!("{} (given with --kernel)", path.display()),
        }),
        None => deps::ensure_kernel(&root.join("target/vm-cache"), series),
    })?;
    let bin = steps.run("static build", || match &opts.bin {
        Some(path) => binary::check_static(path).context("--bin"),
        None => binary::build_static(root),
    })?;
    let plan = plan(&opts);
    let lines = plan_lines(&plan, &opts);
    let image = steps.run("initramfs", || initramfs::build(&work, &bin, &lines))?;
    println!(
        "vm-test: initramfs {} ({} KiB), plan: {}",
        image.display(),
        binary::size_kib(&image),
        lines
            .iter()
            .map(|l| format!("{}({}, {}s)", l.name, l.kind, l.duration_secs))
            .collect::<Vec<_>>()
            .join(" ")
    );
    let disk = work.join("data.img");
    steps.run("scratch disk", || disk::create(&disk))?;
    println!(
        "vm-test: scratch disk {} ({} MiB sparse, ext4) -> guest /data = TMPDIR",
        disk.display(),
        disk::SIZE_MIB
    );

    let timeout = opts.timeout.unwrap_or_else(|| {
        BOOT_BUDGET_SECS
            + lines
                .iter()
                .map(|l| u64::from(l.limit_secs) + 10)
                .sum::<u64>()
    });
    let boot = qemu::Boot {
        kernel: &kernel.vmlinuz,
        initramfs: &image,
        disk: &disk,
        memory_mib: MEMORY_MIB,
        cpus: CPUS,
        timeout: Duration::from_secs(timeout),
        console_log: work.join("console.log"),
        data_log: work.join("data.log"),
    };
    println!(
        "vm-test: booting {} under TCG (-m {MEMORY_MIB} -smp {CPUS}), timeout {timeout}s",
        kernel.package
    );
    if opts.keep {
        println!("vm-test: qemu command: {:?}", boot.command());
    }
    let mut progress = progress::Progress::new(&lines);
    let (ended, vm_time) = steps.run("boot", || boot.run(&mut progress))?;
    let data_text = fs::read_to_string(&boot.data_log).unwrap_or_default();
    let data = serial::parse(&data_text);
    if !opts.keep {
        let _ = fs::remove_dir_all(work.join("root"));
        let _ = fs::remove_file(&image);
        let _ = fs::remove_file(&disk);
    }

    let suite = steps.run("judge", || {
        save_reports(&work, &data);
        Ok(outcome::judge_all(&plan, &data))
    })?;
    outcome::print_table(&suite);
    println!(
        "vm-test: guest kernel {} ({}), VM {:.1}s (scenarios {:.1}s, boot and the rest {:.1}s)",
        data.kernel.as_deref().unwrap_or("?"),
        kernel.package,
        vm_time.as_secs_f64(),
        suite.scenario_secs(),
        vm_time.as_secs_f64() - suite.scenario_secs()
    );
    println!("vm-test: timings: {}", steps.summary());
    println!(
        "vm-test: logs and reports in {} (console.log, data.log, <scenario>.json)",
        work.display()
    );

    if let Some(why) = &data.boot_failure {
        bail!("vm-test step boot: guest /init failed before the scenarios: {why}");
    }
    match ended {
        qemu::Ended::TimedOut(whereabouts) => bail!(
            "vm-test step boot: the VM did not finish within {timeout}s and was killed: \
             {whereabouts} (see {})",
            boot.console_log.display()
        ),
        qemu::Ended::Stalled(why) => bail!(
            "vm-test step boot: {why}; the VM was killed (see {})",
            boot.console_log.display()
        ),
        qemu::Ended::Exited(status) if !data.done => bail!(
            "vm-test step boot: qemu exited ({status}) before the guest wrote VMTEST-DONE \
             (kernel panic or /init died? see {})",
            boot.console_log.display()
        ),
        qemu::Ended::Exited(_) => {}
    }
    Ok(Some(suite))
}

/// Per series, so that running both keeps both sets of logs and reports.
fn work_dir(series: Series) -> String {
    match series {
        Series::V6_1 => "target/vm-test".into(),
        other => format!("target/vm-test-{}", other.as_str()),
    }
}

/// How long the lab runs under `watch`.
const WATCH_LAB_SECS: u32 = 25;

fn plan_lines(plan: &[&Expectation], opts: &Options) -> Vec<initramfs::PlanLine> {
    plan.iter()
        .map(|e| {
            let duration = match e.kind {
                Kind::Smoke => SMOKE_SECS,
                Kind::Demo => opts.duration.unwrap_or(DEFAULT_DEMO_SECS),
                // Room for the wedge to build, the trigger and a 5 s capture.
                Kind::Watch => WATCH_LAB_SECS,
            };
            initramfs::PlanLine {
                name: e.name.to_string(),
                kind: e.kind.as_str(),
                duration_secs: duration,
                // Lab setup, probe loading and verification all run emulated.
                limit_secs: 3 * duration + 60,
            }
        })
        .collect()
}

/// Each scenario's report as target/vm-test/<scenario>.json (stale ones
/// removed first), to read or diff without cutting data.log apart.
fn save_reports(work: &Path, data: &serial::DataChannel) {
    if let Ok(entries) = fs::read_dir(work) {
        for p in entries.filter_map(|e| e.ok().map(|e| e.path())) {
            if p.extension().is_some_and(|e| e == "json") {
                let _ = fs::remove_file(p);
            }
        }
    }
    for (name, run) in &data.runs {
        let text = run.stdout.trim();
        if !text.is_empty() {
            let _ = fs::write(work.join(format!("{name}.json")), format!("{text}\n"));
        }
    }
}

/// `HEAD <short hash>` and whether the working tree differs: the guest runs
/// whatever the tree holds, other people's uncommitted edits included.
fn source_state(root: &Path) -> String {
    let head = output(
        Command::new("git")
            .current_dir(root)
            .args(["rev-parse", "--short", "HEAD"]),
    )
    .unwrap_or_else(|_| "?".into());
    let dirty = output(Command::new("git").current_dir(root).args([
        "status",
        "--porcelain",
        "--untracked-files=no",
    ]))
    .map(|s| s.lines().count())
    .unwrap_or(0);
    if dirty == 0 {
        format!("HEAD {head}, clean")
    } else {
        format!("HEAD {head} + {dirty} modified tracked files")
    }
}

/// Every scenario by default, the smoke first; else the named ones, each once.
fn plan(opts: &Options) -> Vec<&'static Expectation> {
    if opts.scenarios.is_empty() {
        return scenarios::TABLE.iter().collect();
    }
    let mut plan: Vec<&'static Expectation> = Vec::new();
    for name in &opts.scenarios {
        let exp = scenarios::find(name).expect("validated in parse_args");
        if !plan.iter().any(|e| e.name == exp.name) {
            plan.push(exp);
        }
    }
    plan
}

/// The suite judged from a guest's data channel text, for other modules'
/// tests (the real one needs a VM).
#[cfg(test)]
pub fn suite_from_guest(data_channel: &str, plan: &[&str]) -> Suite {
    let plan: Vec<&Expectation> = plan
        .iter()
        .map(|n| scenarios::find(n).expect("a scenario in the table"))
        .collect();
    outcome::judge_all(&plan, &serial::parse(data_channel))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parses_flags() {
        let o = parse_args(&args(&[
            "--scenario",
            "cpu",
            "--scenario=lock",
            "--duration",
            "8",
            "--keep",
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(o.scenarios, ["cpu", "lock"]);
        assert_eq!(o.duration, Some(8));
        assert!(o.keep);
        assert!(parse_args(&args(&["--scenario", "nope"])).is_err());
        assert!(parse_args(&args(&["--duration", "0"])).is_err());
        assert!(parse_args(&args(&["--bogus"])).is_err());
        let o = parse_args(&args(&["--kernel-series", "6.12"]))
            .unwrap()
            .unwrap();
        assert_eq!(o.series, Some(Series::V6_12));
        assert_eq!(work_dir(Series::V6_12), "target/vm-test-6.12");
        assert_eq!(work_dir(Series::V6_1), "target/vm-test");
        assert!(parse_args(&args(&["--kernel-series", "6.18"])).is_err());
        assert!(parse_args(&args(&["--kernel-series=6.1", "--kernel", "/x"])).is_err());
    }

    #[test]
    fn default_plan_is_every_scenario_and_names_pick() {
        let names = |p: Vec<&Expectation>| p.iter().map(|e| e.name).collect::<Vec<_>>();
        let all = plan(&Options::default());
        assert_eq!(all.len(), scenarios::TABLE.len());
        assert_eq!(all[0].name, "smoke");
        let o = Options {
            scenarios: vec!["cpu".into(), "smoke".into(), "cpu".into()],
            ..Default::default()
        };
        assert_eq!(names(plan(&o)), ["cpu", "smoke"]);
    }
}
