//! Root tests: load, attach, trace a real workload, and compare with the
//! kernel's own per-thread accounting (/proc/.../schedstat and stat).
#![cfg(feature = "root-tests")]

use std::{path::Path, process::Command, time::Duration};

const CHILD_ENV: &str = "STARVETRACE_TEST_WORKLOAD";

fn pin_to_cpu(cpu: usize) {
    // SAFETY: a zeroed cpu_set_t is valid; we pass its exact size.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set);
    }
}

/// One line per thread: tid on_cpu_ns run_delay_ns minflt, read by the thread
/// itself just before it ends.
fn own_ground_truth() -> String {
    let schedstat = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap();
    let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .collect();
    // After the comm: state is field 3, minflt is field 10.
    let minflt = fields[7];
    let mut s = schedstat.split_whitespace();
    // SAFETY: gettid has no preconditions.
    let tid = unsafe { libc::gettid() };
    format!(
        "{tid} {} {} {minflt}\n",
        s.next().unwrap(),
        s.next().unwrap()
    )
}

/// The workload: three busy threads pinned to one CPU (so each waits on the
/// run queue about two thirds of the time), touching fresh pages as they go.
fn workload(out: &Path, secs: f64) {
    let deadline = std::time::Instant::now() + Duration::from_secs_f64(secs);
    let handles: Vec<_> = (0..3)
        .map(|_| {
            std::thread::spawn(move || {
                pin_to_cpu(1);
                let mut pages: Vec<Vec<u8>> = Vec::new();
                let mut x = 0u64;
                while std::time::Instant::now() < deadline {
                    for i in 0..200_000u64 {
                        x = x.wrapping_mul(31).wrapping_add(i);
                    }
                    // Fresh anonymous pages: minor faults the kernel counts.
                    let mut page = vec![0u8; 64 * 4096];
                    for p in page.iter_mut().step_by(4096) {
                        *p = x as u8;
                    }
                    pages.push(page);
                    if pages.len() > 64 {
                        pages.clear();
                    }
                    std::thread::sleep(Duration::from_micros(200));
                }
                std::hint::black_box(x);
                own_ground_truth()
            })
        })
        .collect();
    let truth: String = handles.into_iter().map(|h| h.join().unwrap()).collect();
    std::fs::write(out, truth).unwrap();
}

#[test]
fn workload_child() {
    // Only does something when re-executed by a test below.
    if let Ok(out) = std::env::var(CHILD_ENV) {
        workload(Path::new(&out), 3.0);
    }
}

/// Run `starvetrace record --out DIR ARGS` and read DIR/report.json (the
/// traced command shares our stdout, so stdout is not the report alone).
fn run_record(out: &Path, args: &[&str]) -> serde_json::Value {
    let output = Command::new(env!("CARGO_BIN_EXE_starvetrace"))
        .args(["record", "--quiet", "--out", out.to_str().unwrap()])
        .args(args)
        .output()
        .expect("run starvetrace");
    assert!(
        output.status.success(),
        "starvetrace {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = std::fs::read_to_string(out.join("report.json")).expect("report.json written");
    let mut report: serde_json::Value = serde_json::from_str(&text).expect("JSON report");
    report["stderr"] = String::from_utf8_lossy(&output.stderr).into();
    report
}

/// Run-queue waits read from the kernel's own `sched_info` (the default)
/// are the numbers schedstat reports: tight bound.
#[test]
fn command_threads_match_schedstat_and_fault_counts() {
    check_against_kernel(&[], 0.005);
}

/// The fallback for kernels without CONFIG_SCHED_INFO times waits from a
/// wakeup probe: a different clock path, a looser bound.
#[test]
fn wakeup_probe_waits_match_schedstat() {
    check_against_kernel(&["--wakeup-probe"], 0.02);
}

fn check_against_kernel(extra: &[&str], runq_tolerance: f64) {
    let dir = tempfile::tempdir().unwrap();
    let truth_file = dir.path().join("truth");
    let exe = std::env::current_exe().unwrap();
    let truth_path = truth_file.to_str().unwrap();
    let env_arg = format!("{CHILD_ENV}={truth_path}");
    let mut args = extra.to_vec();
    args.extend([
        "--",
        "env",
        &env_arg,
        exe.to_str().unwrap(),
        "--exact",
        "workload_child",
        "--test-threads=1",
    ]);
    let report = run_record(dir.path(), &args);
    let truth = std::fs::read_to_string(&truth_file).expect("the workload wrote its ground truth");
    assert_eq!(report["lost_events"], 0, "no records may be lost");
    // A switch-out whose switch-in the kernel side never saw is counted,
    // not guessed (its slice is left out). It is rare but not yet zero on
    // this kernel (an open defect; up to ~0.5% of switches on a loaded
    // machine): bound it.
    let switches: u64 = report["threads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["switches"].as_u64().unwrap())
        .sum();
    let unseen = report["diagnostics"]["switch_in_not_seen"]
        .as_u64()
        .unwrap_or(0);
    assert!(
        unseen * 100 <= switches,
        "switch-ins not seen: {unseen} of {switches} switches (> 1%): {}\n{}",
        report["diagnostics"],
        report["stderr"]
    );
    let threads = report["threads"].as_array().unwrap();
    let mut checked = 0;
    for line in truth.lines() {
        let v: Vec<u64> = line
            .split_whitespace()
            .map(|x| x.parse().unwrap())
            .collect();
        let (tid, on_cpu, run_delay, minflt) = (v[0], v[1] as f64, v[2] as f64, v[3]);
        let t = threads
            .iter()
            .find(|t| t["tid"].as_u64() == Some(tid))
            .unwrap_or_else(|| panic!("thread {tid} missing from the report"));
        let ours_on = t["on_cpu_ns"].as_f64().unwrap();
        let ours_rq = t["runqueue_ns"].as_f64().unwrap();
        let ours_flt = t["minor_faults"].as_u64().unwrap();
        eprintln!(
            "tid {tid}: on-cpu ours {ours_on:.0} kernel {on_cpu:.0} ({:+.3}%), runq ours {ours_rq:.0} kernel {run_delay:.0} ({:+.3}%), minflt ours {ours_flt} kernel {minflt}",
            (ours_on - on_cpu) / on_cpu * 100.0,
            (ours_rq - run_delay) / run_delay * 100.0
        );
        assert!(
            run_delay > 0.5e9,
            "the workload must make run-queue waits large (got {run_delay})"
        );
        // The thread reads its own counters just before it exits; what it
        // does after (one last slice or run-queue wait) is in our books only.
        let last_slice = t["histograms"]["on_cpu"]["max"].as_f64().unwrap();
        let last_wait = t["histograms"]["runqueue"]["max"].as_f64().unwrap();
        assert!(
            (ours_on - on_cpu).abs() <= 0.02 * on_cpu + last_slice,
            "on-CPU of {tid}: ours {ours_on}, kernel {on_cpu}"
        );
        assert!(
            (ours_rq - run_delay).abs() <= runq_tolerance * run_delay + last_wait,
            "run queue of {tid}: ours {ours_rq}, kernel {run_delay}"
        );
        // The thread read its counter a moment before exiting: allow the
        // few faults of thread teardown, nothing more.
        assert!(
            ours_flt >= minflt && ours_flt <= minflt + 16,
            "minflt of {tid}: ours {ours_flt}, kernel {minflt}"
        );
        checked += 1;
    }
    assert_eq!(checked, 3);
}

const WEDGED_ENV: &str = "STARVETRACE_TEST_WEDGED";

/// A process whose worker thread blocks on a lock that is never released:
/// it never runs while it is traced.
#[test]
fn wedged_child() {
    // Only does something when re-executed by the test below.
    if std::env::var(WEDGED_ENV).is_err() {
        return;
    }
    let lock = std::sync::Arc::new(std::sync::Mutex::new(()));
    let held = lock.lock().unwrap();
    let l2 = lock.clone();
    std::thread::Builder::new()
        .name("wedged-worker".into())
        .spawn(move || drop(l2.lock()))
        .unwrap();
    std::thread::sleep(Duration::from_secs(30));
    drop(held);
}

#[test]
fn a_thread_that_never_runs_is_reported_as_ongoing() {
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new(exe)
        .args(["--exact", "wedged_child", "--test-threads=1", "--nocapture"])
        .env(WEDGED_ENV, "1")
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Let the worker block well before the trace starts.
    std::thread::sleep(Duration::from_millis(700));
    let dir = tempfile::tempdir().unwrap();
    let pid = child.id().to_string();
    let report = run_record(dir.path(), &["--pid", &pid, "--duration", "2"]);
    let _ = child.kill();
    let _ = child.wait();
    let threads = report["threads"].as_array().unwrap();
    let worker = threads
        .iter()
        .find(|t| t["comm"] == "wedged-worker")
        .unwrap_or_else(|| panic!("the wedged thread is missing: {threads:?}"));
    let ongoing = &worker["ongoing"];
    assert_eq!(ongoing["cause"], "futex", "{worker}");
    assert_eq!(ongoing["state"], "sleeping", "{worker}");
    let window = report["duration_ns"].as_u64().unwrap();
    assert!(
        worker["ongoing_off_cpu_ns"].as_u64().unwrap() >= window,
        "{worker}"
    );
    assert_eq!(worker["switches"], 0, "it never ran: {worker}");
    assert_eq!(worker["on_cpu_ns"], 0, "{worker}");
}

/// One line on stderr, the documented exit code, no panic or backtrace
/// (even with RUST_BACKTRACE=1), and no report on stdout.
fn fails_cleanly(cmd: &mut Command, code: i32, needle: &str) {
    let out = cmd
        .env("RUST_BACKTRACE", "1")
        .output()
        .expect("run starvetrace");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "{stderr}");
    assert!(stderr.contains(needle), "expected `{needle}` in: {stderr}");
    assert!(
        !stderr.contains("panicked") && !stderr.contains("backtrace"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(stderr.starts_with("starvetrace: error: "), "{stderr}");
    assert!(
        out.stdout.is_empty(),
        "no report for bad input: {}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// A kernel thread to name as `--pid`: kthreadd (PID 2) on a host, else
/// any task with PF_KTHREAD in its /proc/<pid>/stat flags.
fn a_kernel_thread() -> Option<(u32, String)> {
    let kthread = |pid: u32| {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        let flags: u64 = stat
            .rsplit_once(')')?
            .1
            .split_whitespace()
            .nth(6)?
            .parse()
            .ok()?;
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
        (flags & 0x0020_0000 != 0).then(|| (pid, comm.trim().to_string()))
    };
    kthread(2).or_else(|| {
        std::fs::read_dir("/proc")
            .ok()?
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
            .find_map(kthread)
    })
}

#[test]
fn bad_input_gets_a_clear_error_and_exit_code() {
    let bin = env!("CARGO_BIN_EXE_starvetrace");
    fails_cleanly(
        Command::new(bin).args(["record", "--pid", "999999999"]),
        4,
        "no process with PID",
    );
    fails_cleanly(
        Command::new(bin).args(["record", "--pid", "1", "--duration", "0"]),
        2,
        "seconds must be > 0",
    );
    fails_cleanly(
        Command::new(bin).args([
            "record",
            "--pid",
            "1",
            "--duration",
            "1",
            "--out",
            "/proc/starvetrace-out",
        ]),
        7,
        "cannot write /proc/starvetrace-out",
    );
    fails_cleanly(
        Command::new(bin).args(["record", "--container", "no-such-container-xyz"]),
        4,
        "no-such-container-xyz",
    );
    fails_cleanly(
        Command::new(bin).args(["report", "/nonexistent.json"]),
        9,
        "cannot read /nonexistent.json",
    );
    // Without privileges: the capability is named.
    fails_cleanly(
        Command::new("setpriv").args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
            bin,
            "record",
            "--pid",
            "1",
        ]),
        3,
        "CAP_BPF",
    );

    // A command that cannot be started: exit 4 before tracing starts, not
    // a report of the holding trampoline.
    fails_cleanly(
        Command::new(bin).args(["record", "--", "/nonexistent/binary"]),
        4,
        "starvetrace: error: cannot run `/nonexistent/binary`: no such file or directory",
    );
    fails_cleanly(
        Command::new(bin).args(["record", "--", "no-such-program-xyz", "--flag"]),
        4,
        "starvetrace: error: cannot run `no-such-program-xyz`: not found in PATH (",
    );
    fails_cleanly(
        Command::new(bin).args(["record", "--", "/etc/passwd"]),
        4,
        "starvetrace: error: cannot run `/etc/passwd`: it is not executable",
    );
    // What only exec can tell (the file exists, its interpreter does not)
    // comes back from the trampoline after the probes are attached.
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("no-interpreter");
    std::fs::write(&script, "#!/nonexistent/interpreter\n").unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    fails_cleanly(
        Command::new(bin)
            .args(["record", "--quiet", "--"])
            .arg(&script),
        4,
        "its #! interpreter /nonexistent/interpreter is missing",
    );

    // Two targets: a running one and a command.
    let me = std::process::id().to_string();
    fails_cleanly(
        Command::new(bin).args(["record", "--pid", &me, "--", "sleep", "1"]),
        2,
        &format!("starvetrace: error: two targets given: --pid {me} and the command `sleep 1`"),
    );
    fails_cleanly(
        Command::new(bin).args(["record", "--container", "x", "--", "true"]),
        2,
        "two targets given: --container x and the command `true`",
    );

    // An invalid --threads regex is a usage error.
    fails_cleanly(
        Command::new(bin).args(["record", "--pid", &me, "--threads", "tokio-("]),
        2,
        "starvetrace: error: --threads 'tokio-(' is not a valid regex: unclosed group",
    );

    // A kernel thread has no user-space runtime to trace.
    match a_kernel_thread() {
        Some((pid, comm)) => {
            let pid = pid.to_string();
            let needle = format!("PID {pid} ({comm}) is a kernel thread");
            fails_cleanly(
                Command::new(bin).args(["record", "--pid", &pid, "--duration", "1"]),
                4,
                &needle,
            );
            fails_cleanly(
                Command::new(bin).args(["snapshot", "--pid", &pid]),
                4,
                &needle,
            );
        }
        None => eprintln!("no kernel thread visible in this PID namespace: case skipped"),
    }

    // --threads that matches no thread: a report (exit 0) whose verdict
    // says so, and one warning line at the end naming the pattern and the
    // threads' names.
    let out = Command::new(bin)
        .args([
            "record",
            "--quiet",
            "--threads",
            "no-such-thread-xyz",
            "--duration",
            "2.5",
            "--out",
            dir.path().to_str().unwrap(),
            "--",
            "sleep",
            "3",
        ])
        .env("RUST_BACKTRACE", "1")
        .output()
        .expect("run starvetrace");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(
        stderr,
        "starvetrace: warning: --threads 'no-such-thread-xyz' matched no thread of the target; its threads are named: sleep\n"
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("report.json")).unwrap())
            .unwrap();
    let summary = report["verdict"]["summary"].as_str().unwrap();
    assert!(
        summary.contains("--threads 'no-such-thread-xyz' matched no thread of the target"),
        "{summary}"
    );
    assert_eq!(
        report["verdict"]["runtime"]["pattern_matched_nothing"], true,
        "{}",
        report["verdict"]
    );
    let md = String::from_utf8_lossy(&out.stdout);
    assert!(
        md.contains("--threads 'no-such-thread-xyz' matched no thread"),
        "{md}"
    );
}
