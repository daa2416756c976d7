//! Off-CPU flame graphs with user stacks, on a real program: a small tokio
//! program (`tests/fixtures/coldpages`) that reads a cold file page by page
//! inside `read_cold_pages`, in a memory-limited cgroup this test creates
//! below its own (and removes). Built once with frame pointers and once
//! without, by `cargo build --release` into target/fixtures.
//!
//! Run as root: `cargo test -p tracer --features root-tests --release --test flame_root -- --test-threads=1`
#![cfg(feature = "root-tests")]

use std::{
    fs,
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

/// The memory limit of the fixture's cgroup and its file: the file does not
/// fit, so what the limit reclaims is read from the disk again.
const LIMIT_BYTES: u64 = 48 << 20;
const FILE_MIB: u32 = 96;
const PASSES: u32 = 3;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace root")
        .to_path_buf()
}

/// Build the fixture (`frame_pointers` or not) and return its binary.
fn build_fixture(frame_pointers: bool) -> PathBuf {
    let root = workspace();
    let kind = if frame_pointers { "fp" } else { "nofp" };
    let target = root.join("target/fixtures").join(kind);
    let manifest = root.join("tracer/tests/fixtures/coldpages/Cargo.toml");
    let mut flags = String::from("-C force-frame-pointers=");
    flags.push_str(if frame_pointers { "yes" } else { "no" });
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "--release", "--quiet", "--manifest-path"])
        .arg(&manifest)
        .arg("--target-dir")
        .arg(&target)
        .env("RUSTFLAGS", flags)
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .status()
        .unwrap_or_else(|e| panic!("flame_root: cannot run: starting cargo: {e}"));
    assert!(
        status.success(),
        "flame_root: cannot run: building the fixture ({kind}) failed: {status}"
    );
    target.join("release/coldpages")
}

/// A v1 memory cgroup (or a cgroup2 one with memory.max) below our own,
/// limited to `LIMIT_BYTES`; removed on drop.
struct LimitedCgroup {
    dir: PathBuf,
}

impl LimitedCgroup {
    fn new(name: &str) -> Self {
        // SAFETY: no preconditions.
        assert!(
            unsafe { libc::geteuid() } == 0,
            "flame_root: cannot run: needs root"
        );
        let me = tracer::cgroup::paths_of_pid(std::process::id())
            .unwrap_or_else(|e| panic!("flame_root: cannot run: reading our cgroups: {e}"));
        let name = format!("starvetrace-flame-{name}-{}", std::process::id());
        let (dir, file) = match (&me.v1_memory, &me.v2) {
            (Some(mem), _) => (mem.join(&name), "memory.limit_in_bytes"),
            (None, Some(v2)) => (v2.join(&name), "memory.max"),
            (None, None) => panic!("flame_root: cannot run: no memory cgroup (v1 or v2) to limit"),
        };
        fs::create_dir(&dir)
            .unwrap_or_else(|e| panic!("flame_root: cannot run: creating {}: {e}", dir.display()));
        let made = LimitedCgroup { dir };
        fs::write(made.dir.join(file), LIMIT_BYTES.to_string()).unwrap_or_else(|e| {
            panic!(
                "flame_root: cannot run: {file} in {}: {e}",
                made.dir.display()
            )
        });
        made
    }

    fn procs(&self) -> PathBuf {
        self.dir.join("cgroup.procs")
    }
}

impl Drop for LimitedCgroup {
    fn drop(&mut self) {
        for _ in 0..50 {
            if fs::remove_dir(&self.dir).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        eprintln!("could not remove {}", self.dir.display());
    }
}

struct Run {
    report: serde_json::Value,
    /// page_fault_io.folded: (frames, ns) per line.
    folded: Vec<(Vec<String>, u64)>,
    out: tempfile::TempDir,
}

/// `record --user-stacks --folded DIR --out DIR -- coldpages ...` in a
/// memory-limited cgroup.
fn record(fixture: &Path, case: &str) -> Run {
    let cg = LimitedCgroup::new(case);
    let data = tempfile::tempdir_in(std::env::temp_dir()).expect("a temp dir");
    let out = tempfile::tempdir().expect("a temp dir");
    let folded_dir = out.path().join("folded");
    let result = Command::new(env!("CARGO_BIN_EXE_starvetrace"))
        .args(["record", "--user-stacks", "--format", "json", "--quiet"])
        .args(["--duration", "120", "--folded"])
        .arg(&folded_dir)
        .arg("--out")
        .arg(out.path())
        .arg("--")
        .arg(fixture)
        .arg("--cgroup-procs")
        .arg(cg.procs())
        .arg("--dir")
        .arg(data.path())
        .args(["--mib", &FILE_MIB.to_string()])
        .args(["--passes", &PASSES.to_string()])
        .output()
        .expect("running starvetrace");
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(
        result.status.success(),
        "{case}: starvetrace failed ({}): {stderr}",
        result.status
    );
    let report: serde_json::Value = serde_json::from_slice(&result.stdout)
        .unwrap_or_else(|e| panic!("{case}: no JSON report ({e}): {stderr}"));
    let text = fs::read_to_string(folded_dir.join("page_fault_io.folded")).unwrap_or_else(|e| {
        panic!(
            "{case}: no page_fault_io.folded ({e}); causes: {}",
            report["cause_totals"]
        )
    });
    let folded = text
        .lines()
        .map(|l| {
            let (stack, ns) = l.rsplit_once(' ').expect("`stack ns`");
            (
                stack.split(';').map(String::from).collect(),
                ns.parse().expect("ns"),
            )
        })
        .collect();
    Run {
        report,
        folded,
        out,
    }
}

/// Blocked ns by innermost user frame (the one before `-`).
fn by_innermost_user_frame(folded: &[(Vec<String>, u64)]) -> Vec<(String, u64)> {
    let mut by: std::collections::HashMap<String, u64> = Default::default();
    for (frames, ns) in folded {
        let Some(dash) = frames.iter().position(|f| f == "-") else {
            continue;
        };
        if dash >= 2 {
            *by.entry(frames[dash - 1].clone()).or_default() += ns;
        }
    }
    let mut v: Vec<_> = by.into_iter().collect();
    v.sort_by_key(|e| std::cmp::Reverse(e.1));
    v
}

fn check_top_frame(case: &str, run: &Run) {
    let top = by_innermost_user_frame(&run.folded);
    eprintln!("{case}: innermost user frames by page_fault_io time: {top:?}");
    assert!(
        top.first()
            .is_some_and(|(f, _)| f.contains("read_cold_pages")),
        "{case}: read_cold_pages is not the top user frame of page_fault_io: {top:?}"
    );
    let listed = &run.report["flame"]["top_user_frames"]["page_fault_io"][0]["frame"];
    assert!(
        listed
            .as_str()
            .is_some_and(|f| f.contains("read_cold_pages")),
        "{case}: the report's top user frame of page_fault_io is {listed}"
    );
    assert!(
        run.out.path().join("flame-page_fault_io.svg").exists(),
        "{case}: no flame-page_fault_io.svg in --out"
    );
    let pf_ns = run.report["cause_totals"]["page_fault_io"]["ns"]
        .as_u64()
        .unwrap_or(0);
    let folded_ns: u64 = run.folded.iter().map(|(_, ns)| ns).sum();
    assert_eq!(
        folded_ns, pf_ns,
        "{case}: the folded page_fault_io weights add up to the cause's total"
    );
}

#[test]
fn user_frames_with_frame_pointers() {
    let fixture = build_fixture(true);
    let run = record(&fixture, "fp");
    check_top_frame("fp", &run);
    // The frames below it come from the frame-pointer walk: the task's
    // poll and tokio's worker, not just the faulting function.
    let deepest = run
        .folded
        .iter()
        .max_by_key(|(_, ns)| *ns)
        .map(|(f, _)| f.clone())
        .unwrap_or_default();
    eprintln!("fp: heaviest stack: {}", deepest.join(";"));
    assert!(
        deepest.iter().any(|f| f.contains("tokio::")),
        "fp: no tokio frame below read_cold_pages: {deepest:?}"
    );
    if let Ok(dir) = std::env::var("STARVETRACE_KEEP_FLAME") {
        let to = Path::new(&dir);
        fs::create_dir_all(to).unwrap();
        for f in ["flame-page_fault_io.svg", "folded/page_fault_io.folded"] {
            let from = run.out.path().join(f);
            fs::copy(&from, to.join(Path::new(f).file_name().unwrap())).unwrap();
        }
    }
}

#[test]
fn truncation_counted_without_frame_pointers() {
    let fixture = build_fixture(false);
    let run = record(&fixture, "nofp");
    // The faulting instruction is exact even without frame pointers.
    check_top_frame("nofp", &run);
    let truncated = run.report["diagnostics"]["user_stack_truncated"]
        .as_u64()
        .unwrap_or(0);
    let flame = &run.report["flame"];
    eprintln!(
        "nofp: user_stack_truncated {truncated}, shallow {}, of {} user stacks",
        flame["shallow_intervals"], flame["user_stack_intervals"]
    );
    assert!(truncated > 0, "nofp: no truncated user stack counted");
    assert_eq!(flame["truncated_intervals"].as_u64(), Some(truncated));
}
