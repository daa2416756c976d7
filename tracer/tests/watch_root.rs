#![cfg(feature = "root-tests")]
//! `watch` leaves nothing behind: killed with SIGKILL, the kernel drops
//! every program and map it loaded (nothing is pinned), and it creates no
//! cgroup. Checked against the kernel's own list of loaded programs (what
//! `bpftool prog show` prints), through the same BPF syscalls.
//!
//! Run: `cargo test -p tracer --features root-tests --test watch_root`

use std::{
    collections::BTreeSet,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

/// Programs our object defines (the names the kernel keeps, 15 bytes at most).
const OURS: [&str; 3] = ["sched_switch", "sched_wakeup_ne", "sched_process_e"];

fn loaded() -> BTreeSet<(u32, String)> {
    aya::programs::loaded_programs()
        .filter_map(Result::ok)
        .filter_map(|p| Some((p.id(), p.name_as_str()?.to_string())))
        .filter(|(_, n)| OURS.iter().any(|o| n.starts_with(o)))
        .collect()
}

fn cgroups() -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut stack = vec![std::path::PathBuf::from("/sys/fs/cgroup")];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                out.insert(e.path().display().to_string());
                if out.len() < 20_000 {
                    stack.push(e.path());
                }
            }
        }
    }
    out
}

#[test]
fn sigkill_leaves_no_program_pin_or_cgroup() {
    let before = loaded();
    let cgroups_before = cgroups();
    let evidence = tempfile::tempdir().unwrap();
    let mut watch = Command::new(env!("CARGO_BIN_EXE_starvetrace"))
        .args(["watch", "--evidence-dir"])
        .arg(evidence.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("watch starts");
    let t0 = Instant::now();
    let mut ours = BTreeSet::new();
    while t0.elapsed() < Duration::from_secs(60) {
        ours = loaded().difference(&before).cloned().collect();
        if ours.iter().any(|(_, n)| n == "sched_switch") {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        ours.iter().any(|(_, n)| n == "sched_switch"),
        "watch never attached (programs: {ours:?})"
    );
    // SIGKILL: no destructor runs; only the kernel can clean up.
    watch.kill().unwrap();
    watch.wait().unwrap();
    let t1 = Instant::now();
    let mut left = ours.clone();
    while !left.is_empty() && t1.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(100));
        let now = loaded();
        left = ours.intersection(&now).cloned().collect();
    }
    assert!(
        left.is_empty(),
        "programs still loaded after SIGKILL: {left:?}"
    );
    let pins: Vec<_> = std::fs::read_dir("/sys/fs/bpf")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(pins.is_empty(), "pinned objects in /sys/fs/bpf: {pins:?}");
    let new_cgroups: Vec<_> = cgroups().difference(&cgroups_before).cloned().collect();
    assert!(
        new_cgroups.iter().all(|c| !c.contains("starvetrace")),
        "cgroups left behind: {new_cgroups:?}"
    );
}
