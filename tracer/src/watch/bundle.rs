//! Evidence bundles: when a trigger fires, `watch` records the target in
//! full for `--capture` seconds (the same trace as `record`) and writes the
//! report, the snapshot, the Perfetto trace, what it saw before the trigger
//! and the `--on-trigger` command's outcome into one directory, readable by
//! root only. Bundles are bounded in number and bytes, oldest removed first.

use std::{
    fs,
    os::unix::fs::{DirBuilderExt as _, PermissionsExt as _},
    path::{Path, PathBuf},
    time::Duration,
};

use clap::Parser as _;
use serde::Serialize;

use super::{
    monitor::CoarseRow,
    on_trigger::{self, CommandOutcome},
    triggers::Fired,
};
use crate::{
    analyze::correlate::alignment,
    cli::{Cli, Command},
    error::{Error, Result},
    model::{Recording, blackouts::Blackout, watch::Health, watch::TargetId},
    report::{markdown, timeline_svg, write_files},
};

#[derive(Clone, Debug)]
pub struct BundleConfig {
    pub dir: PathBuf,
    pub max_bundles: usize,
    pub max_bytes: u64,
    pub capture_secs: f64,
    pub threads: Option<String>,
    pub on_trigger: Option<Vec<String>>,
    pub on_trigger_timeout: Duration,
}

/// What the watcher hands over when a trigger fires.
#[derive(Clone, Debug, Serialize)]
pub struct Request {
    pub target: TargetId,
    pub pids: Vec<u32>,
    pub cgroup: Option<PathBuf>,
    pub fired: Vec<Fired>,
    /// Triggers of the same target that started while the capture ran
    /// (filled by the watch loop; read once the capture is over).
    #[serde(skip)]
    pub fired_during_capture: std::sync::Arc<std::sync::Mutex<Vec<Fired>>>,
    pub health: Health,
    /// The coarse books of the rolling window, oldest first.
    pub before: Vec<CoarseRow>,
    /// Blackouts of the detail window at the trigger (longest first).
    pub blackouts: Vec<Blackout>,
    /// Run `--on-trigger` (false while it is rate-limited for the target).
    pub run_command: bool,
}

#[derive(Serialize)]
struct TriggerFile<'a> {
    request: &'a Request,
    fired_during_capture: Vec<Fired>,
    capture_error: Option<String>,
    on_trigger: Option<CommandOutcome>,
    on_trigger_skipped: Option<&'static str>,
}

/// The environment the command gets, and nothing else.
pub fn environment(req: &Request, bundle: &Path) -> Vec<(&'static str, String)> {
    let container = req.target.key.strip_prefix("container:").unwrap_or("");
    let kinds: Vec<&str> = req.fired.iter().map(|f| f.kind.as_str()).collect();
    vec![
        ("PATH", on_trigger::PATH.to_string()),
        ("STARVETRACE_TARGET", req.target.key.clone()),
        ("STARVETRACE_PROCESS", req.target.process.clone()),
        (
            "STARVETRACE_PID",
            req.pids.first().map(u32::to_string).unwrap_or_default(),
        ),
        (
            "STARVETRACE_PIDS",
            req.pids
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(" "),
        ),
        ("STARVETRACE_CONTAINER", container.to_string()),
        (
            "STARVETRACE_CGROUP",
            req.cgroup
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
        ),
        ("STARVETRACE_TRIGGER", kinds.join(",")),
        ("STARVETRACE_BUNDLE", bundle.display().to_string()),
    ]
}

/// Create the evidence directory (0700) or tighten it; an unwritable path
/// is an error before anything is attached.
pub fn prepare_dir(dir: &Path) -> Result<()> {
    let out = |e| Error::Output {
        path: dir.to_path_buf(),
        source: e,
    };
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(out)?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(out)?;
    let probe = dir.join(".starvetrace-write-check");
    fs::write(&probe, b"").map_err(out)?;
    let _ = fs::remove_file(probe);
    Ok(())
}

/// Capture, write and prune; the bundle's path.
pub fn write(cfg: &BundleConfig, req: &Request) -> Result<PathBuf> {
    let first = req.fired.first().map_or("trigger", |f| f.kind.as_str());
    let at = req.fired.first().map_or(0, |f| f.at_unix_ms);
    let name = format!("{}-{}-{first}", stamp(at), sanitize(&req.target.key));
    let dir = cfg.dir.join(name);
    let out = |path: &Path| {
        let path = path.to_path_buf();
        move |e| Error::Output { path, source: e }
    };
    fs::DirBuilder::new()
        .mode(0o700)
        .create(&dir)
        .map_err(out(&dir))?;
    let capture = capture(cfg, req, &dir);
    let (outcome, skipped) = match (&cfg.on_trigger, req.run_command) {
        (None, _) => (None, None),
        (Some(_), false) => (None, Some("rate-limited for this target")),
        (Some(argv), true) => (
            Some(on_trigger::run(
                argv,
                &environment(req, &dir),
                &dir,
                cfg.on_trigger_timeout,
            )),
            None,
        ),
    };
    let file = TriggerFile {
        request: req,
        fired_during_capture: req
            .fired_during_capture
            .lock()
            .map(|v| v.clone())
            .unwrap_or_default(),
        capture_error: capture.as_ref().err().map(ToString::to_string),
        on_trigger: outcome,
        on_trigger_skipped: skipped,
    };
    let json = serde_json::to_string_pretty(&file).map_err(|e| Error::Other(e.into()))?;
    let path = dir.join("trigger.json");
    fs::write(&path, json).map_err(out(&path))?;
    let head = trigger_section(&file);
    match capture {
        Ok(rec) => {
            let psi = alignment(&rec);
            let md = format!("{head}\n{}", markdown::render(&rec, &psi));
            let rec_json =
                serde_json::to_string_pretty(&rec).map_err(|e| Error::Other(e.into()))?;
            write_files(&dir, &rec_json, &md, &timeline_svg(&rec, &psi))?;
        }
        Err(_) => {
            let path = dir.join("report.md");
            fs::write(&path, head).map_err(out(&path))?;
        }
    }
    restrict(&dir);
    prune(&cfg.dir, cfg.max_bundles, cfg.max_bytes, &dir);
    Ok(dir)
}

/// The full trace after the trigger, as `record` takes it.
fn capture(cfg: &BundleConfig, req: &Request, dir: &Path) -> Result<Recording> {
    let mut argv: Vec<String> = vec!["starvetrace".into(), "record".into()];
    match (&req.cgroup, req.pids.as_slice()) {
        (_, [pid]) => argv.extend(["--pid".into(), pid.to_string()]),
        (Some(cg), _) => argv.extend(["--cgroup".into(), cg.display().to_string()]),
        (None, [pid, ..]) => argv.extend(["--pid".into(), pid.to_string()]),
        (None, []) => {
            return Err(Error::TargetNotFound(
                "the target has no process left".into(),
            ));
        }
    }
    argv.extend([
        "--duration".into(),
        cfg.capture_secs.to_string(),
        "--quiet".into(),
        "--perfetto".into(),
        dir.join("trace.perfetto-trace").display().to_string(),
    ]);
    if let Some(t) = &cfg.threads {
        argv.extend(["--threads".into(), t.clone()]);
    }
    let cli = Cli::try_parse_from(&argv).map_err(|e| Error::Usage(e.to_string()))?;
    let Command::Record(args) = cli.command else {
        return Err(Error::Usage(
            "capture arguments did not parse as record".into(),
        ));
    };
    crate::cmd::record::record(&args)
}

/// One trigger as a list item: kind, both clocks, and what made it fire.
fn fired_line(s: &mut String, t: &Fired) {
    let _ = writeln!(
        s,
        "- **{}** at {} (unix ms {}, CLOCK_MONOTONIC {} ns): {}",
        t.kind,
        stamp(t.at_unix_ms),
        t.at_unix_ms,
        t.at_ns,
        t.detail
    );
}

fn trigger_section(f: &TriggerFile) -> String {
    let r = f.request;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "# Evidence bundle: {} ({})\n",
        r.target.key, r.target.process
    );
    let _ = writeln!(s, "`starvetrace watch` wrote this bundle because:\n");
    for t in &r.fired {
        fired_line(&mut s, t);
    }
    if !f.fired_during_capture.is_empty() {
        let _ = writeln!(s, "\nThen, during the capture:\n");
        for t in &f.fired_during_capture {
            fired_line(&mut s, t);
        }
    }
    let _ = writeln!(s, "\nHealth at the trigger: {}.", r.health);
    if !r.blackouts.is_empty() {
        let _ = writeln!(s, "\nLongest runtime blackouts seen before the trigger:\n");
        let _ = writeln!(s, "| start (monotonic ns) | length | main cause |");
        let _ = writeln!(s, "|---|---|---|");
        for b in r.blackouts.iter().take(10) {
            let cause = b.cause.map_or("—".to_string(), |c| c.to_string());
            let _ = writeln!(
                s,
                "| {} | {:.3} s | {cause} |",
                b.start_ns,
                b.len_ns() as f64 / 1e9
            );
        }
    }
    if !r.before.is_empty() {
        let _ = writeln!(
            s,
            "\nThe {} intervals before the trigger, from the kernel-side books (on-CPU and off-CPU seconds of the whole target, per interval; `trigger.json` has every row and cause):\n",
            r.before.len()
        );
        let _ = writeln!(
            s,
            "| unix ms | on-CPU s | off-CPU s (non-idle) | blackout s | health |"
        );
        let _ = writeln!(s, "|---|---|---|---|---|");
        for row in r.before.iter().rev().take(15).rev() {
            let busy: u64 = row
                .off_ns
                .iter()
                .filter(|(c, _)| !c.is_idle())
                .map(|(_, n)| n)
                .sum();
            let _ = writeln!(
                s,
                "| {} | {:.3} | {:.3} | {:.3} | {} |",
                row.at_unix_ms,
                row.on_cpu_ns as f64 / 1e9,
                busy as f64 / 1e9,
                row.blackout_ns as f64 / 1e9,
                row.health
            );
        }
    }
    match (&f.on_trigger, f.on_trigger_skipped) {
        (Some(o), _) => {
            let _ = writeln!(
                s,
                "\n`--on-trigger` ran: {} (output in `on-trigger.log`).",
                o.describe()
            );
        }
        (None, Some(why)) => {
            let _ = writeln!(s, "\n`--on-trigger` did not run: {why}.");
        }
        (None, None) => {}
    }
    if let Some(e) = &f.capture_error {
        let _ = writeln!(s, "\n**The capture after the trigger failed:** {e}");
    } else {
        let _ = writeln!(
            s,
            "\nWhat follows is the full report of the capture taken right after the trigger.\n\n---\n"
        );
    }
    s
}

use std::fmt::Write as _;

/// Files 0600 and directories 0700, whatever created them.
fn restrict(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        let mode = if p.is_dir() { 0o700 } else { 0o600 };
        let _ = fs::set_permissions(&p, fs::Permissions::from_mode(mode));
        if p.is_dir() {
            restrict(&p);
        }
    }
}

/// Remove the oldest bundles past `max` in number or `max_bytes` in size,
/// never `keep` (the one just written).
pub fn prune(root: &Path, max: usize, max_bytes: u64, keep: &Path) {
    let Ok(entries) = fs::read_dir(root) else {
        return;
    };
    let mut bundles: Vec<(PathBuf, u64)> = entries
        .flatten()
        .filter(|e| e.path().is_dir())
        .map(|e| (e.path(), size_of_dir(&e.path())))
        .collect();
    // Names start with a UTC stamp: name order is age order.
    bundles.sort();
    let mut total: u64 = bundles.iter().map(|b| b.1).sum();
    let mut count = bundles.len();
    for (path, bytes) in bundles {
        if count <= max && total <= max_bytes {
            break;
        }
        if path == keep {
            continue;
        }
        match fs::remove_dir_all(&path) {
            Ok(()) => {
                count -= 1;
                total -= bytes;
                tracing::info!(bundle = %path.display(), "removed the oldest evidence bundle");
            }
            Err(e) => tracing::warn!(bundle = %path.display(), "cannot remove old bundle: {e}"),
        }
    }
}

fn size_of_dir(dir: &Path) -> u64 {
    fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => size_of_dir(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

/// `20261130T041503Z`: sortable, and safe in a file name.
pub fn stamp(unix_ms: u64) -> String {
    let secs = (unix_ms / 1000) as i64;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = crate::sys::civil::civil_from_days(days);
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn sanitize(key: &str) -> String {
    key.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(80)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_environment_names_the_target_and_bundle() {
        use crate::model::watch::TriggerKind;
        let req = Request {
            target: TargetId {
                key: "container:shop".into(),
                process: "shopd".into(),
            },
            pids: vec![41, 42],
            cgroup: Some("/sys/fs/cgroup/shop".into()),
            fired: vec![Fired {
                kind: TriggerKind::Blackout,
                at_ns: 1,
                at_unix_ms: 2,
                detail: String::new(),
            }],
            fired_during_capture: Default::default(),
            health: Health::StarvedMemory,
            before: Vec::new(),
            blackouts: Vec::new(),
            run_command: true,
        };
        let env: std::collections::BTreeMap<_, _> =
            environment(&req, Path::new("/b")).into_iter().collect();
        assert_eq!(env["STARVETRACE_CONTAINER"], "shop");
        assert_eq!(env["STARVETRACE_PID"], "41");
        assert_eq!(env["STARVETRACE_PIDS"], "41 42");
        assert_eq!(env["STARVETRACE_TRIGGER"], "blackout");
        assert_eq!(env["STARVETRACE_BUNDLE"], "/b");
        assert_eq!(env["STARVETRACE_CGROUP"], "/sys/fs/cgroup/shop");
        assert_eq!(env.len(), 9);
    }

    #[test]
    fn stamps_sort_as_time() {
        assert_eq!(stamp(0), "19700101T000000Z");
        assert_eq!(stamp(1_796_011_200_000), "20261130T040000Z");
        assert_eq!(stamp(951_782_400_000), "20000229T000000Z");
        assert!(stamp(1_000) < stamp(60_000));
    }

    #[test]
    fn pruning_removes_oldest_first_and_keeps_the_new_one() {
        let root = tempfile::tempdir().unwrap();
        let mk = |name: &str, bytes: usize| {
            let d = root.path().join(name);
            fs::create_dir(&d).unwrap();
            fs::write(d.join("report.md"), vec![b'x'; bytes]).unwrap();
            d
        };
        mk("20260101T000000Z-a", 100);
        mk("20260102T000000Z-b", 100);
        let newest = mk("20260103T000000Z-c", 100);
        prune(root.path(), 2, u64::MAX, &newest);
        let left: Vec<String> = fs::read_dir(root.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(left.len(), 2);
        assert!(!left.iter().any(|n| n.ends_with("-a")));
        prune(root.path(), 10, 150, &newest);
        let left = fs::read_dir(root.path()).unwrap().count();
        assert_eq!(left, 1, "by size only the newest fits");
    }

    #[test]
    fn the_evidence_dir_is_root_only() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("a/b");
        prepare_dir(&dir).unwrap();
        let mode = fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        fs::write(dir.join("f"), b"x").unwrap();
        fs::set_permissions(dir.join("f"), fs::Permissions::from_mode(0o644)).unwrap();
        restrict(&dir);
        let mode = fs::metadata(dir.join("f")).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
}
