#![cfg(feature = "root-tests")]
//! The snapshot against a real target: a Python process in its own PID
//! namespace (`unshare --pid --fork --mount-proc`) and in child cgroups this
//! test creates below its own cgroups (and removes afterwards). Two threads
//! named `tokio-rt-worker` block on one lock (a futex), one thread spins.
//!
//! Run as root: `cargo test -p tracer --features root-tests --test snapshot_root -- --nocapture`

use std::{
    fs,
    io::{BufRead, BufReader},
    os::unix::fs::MetadataExt,
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::Duration,
};

use tracer::{
    cgroup::{Roots, paths_of_pid},
    model::role::Role,
    resolve::{self as target, TargetSpec},
    snapshot,
};

const HELPER: &str = r#"
import threading, time, os
def name(n):
    with open(f"/proc/self/task/{threading.get_native_id()}/comm", "w") as f:
        f.write(n)
lock = threading.Lock()
lock.acquire()
stamps = {}
def blocked():
    name("tokio-rt-worker")
    stamps[threading.get_native_id()] = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
    lock.acquire()
def busy():
    name("busy")
    print(f"BUSY {threading.get_native_id()}", flush=True)
    while True:
        pass
for _ in range(2):
    threading.Thread(target=blocked, daemon=True).start()
threading.Thread(target=busy, daemon=True).start()
time.sleep(0.5)
for tid, t in stamps.items():
    print(f"BLOCKED {tid} {t}", flush=True)
print(f"MAIN {os.getpid()}", flush=True)
print("READY", flush=True)
time.sleep(600)
"#;

/// Child cgroups made by this test; killed and removed on drop.
struct TestCgroups {
    dirs: Vec<PathBuf>,
    child: Option<Child>,
}

impl Drop for TestCgroups {
    fn drop(&mut self) {
        if let Some(c) = &mut self.child {
            let _ = c.kill();
            let _ = c.wait();
        }
        for d in &self.dirs {
            for _ in 0..50 {
                let procs = fs::read_to_string(d.join("cgroup.procs")).unwrap_or_default();
                let pids: Vec<i32> = procs.lines().filter_map(|l| l.parse().ok()).collect();
                if pids.is_empty() {
                    break;
                }
                for p in pids {
                    // SAFETY: plain syscall; these processes were started by this test.
                    unsafe { libc::kill(p, libc::SIGKILL) };
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            // A killed process leaves its cgroup only once reaped (EBUSY
            // until then), so retry for a while.
            let mut result = fs::remove_dir(d);
            for _ in 0..50 {
                if result.is_ok() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
                result = fs::remove_dir(d);
            }
            if let Err(e) = result {
                eprintln!("could not remove {}: {e}", d.display());
            }
        }
    }
}

fn is_root() -> bool {
    // SAFETY: no preconditions.
    unsafe { libc::geteuid() == 0 }
}

#[test]
fn snapshot_of_threads_blocked_in_a_pid_namespace() {
    if !is_root() {
        panic!("snapshot_of_threads_blocked_in_a_pid_namespace: cannot run: needs root");
    }
    let me = paths_of_pid(std::process::id()).expect("own cgroup");
    let name = format!("starvetrace-snap-{}", std::process::id());
    let mut cg = TestCgroups {
        dirs: Vec::new(),
        child: None,
    };
    let v2 = me
        .v2
        .clone()
        .expect("this test needs a cgroup2 hierarchy")
        .join(&name);
    fs::create_dir(&v2).expect("create v2 child cgroup");
    cg.dirs.push(v2.clone());
    let mut procs_files = vec![v2.join("cgroup.procs")];
    if let Some(m) = &me.v1_memory {
        let d = m.join(&name);
        fs::create_dir(&d).expect("create v1 memory child cgroup");
        cg.dirs.push(d.clone());
        procs_files.push(d.join("cgroup.procs"));
    }

    let script = tempfile::NamedTempFile::new().unwrap();
    fs::write(script.path(), HELPER).unwrap();
    // The shell joins the cgroups, then becomes unshare; unshare's child
    // (PID 1 of the new namespace) runs Python and inherits the cgroups.
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(r#"s="$1"; shift; for f in "$@"; do echo $$ > "$f" || exit 1; done; exec unshare --pid --fork --kill-child --mount-proc python3 "$s""#)
        .arg("sh")
        .arg(script.path())
        .args(&procs_files)
        .stdout(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn helper");
    let stdout = child.stdout.take().unwrap();
    cg.child = Some(child);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut blocked: Vec<(u32, u64)> = Vec::new();
    let mut busy_ns_tid = 0u32;
    loop {
        let line = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("helper did not get ready");
        let w: Vec<&str> = line.split_whitespace().collect();
        match w.as_slice() {
            ["BLOCKED", tid, t] => blocked.push((tid.parse().unwrap(), t.parse().unwrap())),
            ["BUSY", tid] => busy_ns_tid = tid.parse().unwrap(),
            ["MAIN", pid] => assert_eq!(*pid, "1", "python is PID 1 of its namespace"),
            ["READY"] => break,
            _ => {}
        }
    }
    assert_eq!(blocked.len(), 2);

    // The cgroup selects the helper: unshare (outside) and Python (PID 1 inside).
    let roots = Roots::default();
    let by_cgroup = target::resolve(&TargetSpec::Cgroup(v2.clone()), &roots).unwrap();
    let tc = by_cgroup.cgroup.clone().unwrap();
    assert_eq!(tc.v2.as_deref(), Some(v2.as_path()));
    assert_eq!(tc.v2_id, Some(fs::metadata(&v2).unwrap().ino()));
    assert_eq!(tc.v2_level, me.v2_level.map(|l| l + 1));
    assert_eq!(by_cgroup.pids.len(), 2, "{:?}", by_cgroup.pids);
    let py = *by_cgroup
        .pids
        .iter()
        .find(|&&p| target::ns_tids(p).is_some_and(|ids| ids.len() == 2 && ids[1] == 1))
        .expect("a process that is PID 1 in a nested namespace");
    assert_eq!(
        by_cgroup.main_pid, None,
        "no main PID is guessed for --cgroup"
    );
    let by_pid = target::resolve(&TargetSpec::Pid(py), &roots).unwrap();
    assert_eq!(by_pid.main_pid, Some(py));
    assert_eq!(by_pid.cgroup.unwrap().v2_id, tc.v2_id);
    assert_eq!(by_pid.label, format!("pid {py} (python3)"));

    std::thread::sleep(Duration::from_secs(3));
    let mut snap = snapshot::take(&by_cgroup.pids);
    // The command fills the summary from the report's words, as `snapshot` does.
    snap.summary = tracer::report::snapshot::summarize(&snap);
    eprintln!("{}", snap.summary.join("\n"));
    for n in &snap.notes {
        eprintln!("note: {n}");
    }
    assert_eq!(snap.source, snapshot::AGE_SOURCE);

    let workers: Vec<_> = snap
        .threads
        .iter()
        .filter(|t| t.pid == py && t.comm == "tokio-rt-worker")
        .collect();
    assert_eq!(workers.len(), 2, "{:#?}", snap.threads);
    let mut addrs = Vec::new();
    for t in &workers {
        let ns_tid = t.ns_tid.expect("ns tid differs from host tid");
        let (_, stamp) = *blocked
            .iter()
            .find(|(tid, _)| *tid == ns_tid)
            .unwrap_or_else(|| panic!("ns tid {ns_tid} not one the helper printed: {blocked:?}"));
        // Host and namespace TIDs: the host TID is a task of the host PID,
        // whose NSpid ends in the namespace TID.
        assert!(PathBuf::from(format!("/proc/{py}/task/{}", t.tid)).exists());
        assert_eq!(target::ns_tids(t.tid).unwrap(), vec![t.tid, ns_tid]);
        assert_eq!(t.role, Role::TokioWorker);
        assert_eq!(t.state, "S");
        assert_eq!(t.cause, "futex", "{t:#?}");
        assert_eq!(t.cause_from, "kernel stack", "root reads kernel stacks");
        let sys = t.syscall.as_ref().unwrap();
        assert_eq!(sys.name.as_deref(), Some("futex"));
        addrs.push(sys.futex_addr.unwrap());
        // Went off-CPU after the helper stamped the time, by little.
        let off = t.off_since_monotonic_ns.unwrap();
        let age = t.since_last_ran_ns.unwrap();
        let since_stamp = snap.taken_at_monotonic_ns - stamp;
        let err_ms = (off as f64 - stamp as f64) / 1e6;
        eprintln!(
            "tid {} (ns {ns_tid}): age {:.3} s, since stamp {:.3} s, off-CPU {err_ms:+.3} ms after the stamp",
            t.tid,
            age as f64 / 1e9,
            since_stamp as f64 / 1e9
        );
        assert!(
            age >= 3_000_000_000,
            "blocked for at least the 3 s we slept"
        );
        assert!(
            (-5.0..1000.0).contains(&err_ms),
            "off-CPU time {err_ms} ms from the stamp"
        );
    }
    assert_eq!(addrs[0], addrs[1], "both wait on the same lock");
    let group = snap
        .futex_groups
        .iter()
        .find(|g| g.addr == addrs[0] && g.pid == py)
        .expect("futex group");
    assert_eq!(group.tids.len(), 2);
    assert!(
        snap.summary[0].starts_with("2 of 2 tokio workers have been in futex wait for")
            && snap.summary[0].contains(&format!("on the same address {:#x}", addrs[0])),
        "{:?}",
        snap.summary
    );

    let busy = snap
        .threads
        .iter()
        .find(|t| t.pid == py && t.comm == "busy")
        .expect("busy thread");
    assert_eq!(busy.ns_tid, Some(busy_ns_tid));
    assert_eq!(busy.state, "R");
    assert_eq!(busy.cause, snapshot::RUNQUEUE_OR_RUNNING);
    let main = snap.threads.iter().find(|t| t.tid == py).unwrap();
    assert_eq!(main.role, Role::SameNameAsProcess);
    assert_eq!(main.ns_tid, Some(1));
    let dirs = cg.dirs.clone();
    drop(cg);
    for d in dirs {
        assert!(!d.exists(), "{} removed", d.display());
    }
}
