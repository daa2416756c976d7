//! Root tests: load, attach, trace a real workload, and compare with the
//! kernel's own per-thread accounting (/proc/.../schedstat and stat).
#![cfg(feature = "root-tests")]

use std::{path::Path, process::Command, time::Duration};

#[path = "common/ground_truth.rs"]
mod ground_truth;
use ground_truth::{Truths, busy_threads, monotonic_ns, own_ground_truth, pin_to_cpu};

const CHILD_ENV: &str = "STARVETRACE_TEST_WORKLOAD";
/// Which workload the child runs (see `Workload`); the three busy threads
/// when unset.
const MODE_ENV: &str = "STARVETRACE_TEST_MODE";

/// The workloads the traced child runs, each for `secs` seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Workload {
    /// Three busy threads pinned to one CPU (so each waits on the run queue
    /// about two thirds of the time), touching fresh pages as they go.
    Busy,
    /// One thread sleeping 1 ms at a time pinned beside three spinners: a
    /// few thousand slices of a few µs, each started by a wakeup preemption.
    BesideSpinners,
    /// Two threads on one CPU bouncing a byte through two pipes: hundreds of
    /// thousands of µs slices each.
    PipePingPong,
    /// A current-thread tokio runtime awaiting a channel fed by an OS
    /// thread, yielding after every message: many tiny polls and parks.
    TokioTinyPolls,
}

impl Workload {
    fn name(self) -> &'static str {
        match self {
            Workload::Busy => "busy",
            Workload::BesideSpinners => "beside-spinners",
            Workload::PipePingPong => "pipe-ping-pong",
            Workload::TokioTinyPolls => "tokio-tiny-polls",
        }
    }

    fn from_name(name: &str) -> Self {
        [
            Workload::Busy,
            Workload::BesideSpinners,
            Workload::PipePingPong,
            Workload::TokioTinyPolls,
        ]
        .into_iter()
        .find(|w| w.name() == name)
        .unwrap_or_else(|| panic!("unknown workload {name}"))
    }

    /// How many threads report their ground truth.
    fn threads(self) -> usize {
        match self {
            Workload::Busy => 3,
            Workload::BesideSpinners => 4,
            Workload::PipePingPong | Workload::TokioTinyPolls => 2,
        }
    }
}

fn workload(out: &Path, mode: Workload, secs: f64) {
    let deadline = std::time::Instant::now() + Duration::from_secs_f64(secs);
    let handles = match mode {
        Workload::Busy => busy_threads(deadline),
        Workload::BesideSpinners => beside_spinners(deadline),
        Workload::PipePingPong => pipe_ping_pong(deadline),
        Workload::TokioTinyPolls => tokio_tiny_polls(deadline),
    };
    let truth: String = handles.into_iter().map(|h| h.join().unwrap()).collect();
    std::fs::write(out, truth).unwrap();
}

fn beside_spinners(deadline: std::time::Instant) -> Truths {
    let mut handles: Truths = (0..3)
        .map(|_| {
            std::thread::spawn(move || {
                let started = monotonic_ns();
                pin_to_cpu(1);
                let mut x = 0u64;
                while std::time::Instant::now() < deadline {
                    for i in 0..1_000u64 {
                        x = x.wrapping_mul(31).wrapping_add(i);
                    }
                }
                std::hint::black_box(x);
                own_ground_truth("spinner", started)
            })
        })
        .collect();
    handles.push(std::thread::spawn(move || {
        let started = monotonic_ns();
        pin_to_cpu(1);
        while std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        own_ground_truth("sleeper", started)
    }));
    handles
}

fn pipe_ping_pong(deadline: std::time::Instant) -> Truths {
    use std::io::{Read as _, Write as _};
    let (mut ping_rx, mut ping_tx) = std::io::pipe().unwrap();
    let (mut pong_rx, mut pong_tx) = std::io::pipe().unwrap();
    let server = std::thread::spawn(move || {
        let started = monotonic_ns();
        pin_to_cpu(1);
        let mut b = [0u8; 1];
        loop {
            ping_rx.read_exact(&mut b).unwrap();
            if b[0] == 0 {
                break;
            }
            pong_tx.write_all(&b).unwrap();
        }
        own_ground_truth("pong", started)
    });
    let client = std::thread::spawn(move || {
        let started = monotonic_ns();
        pin_to_cpu(1);
        let mut b = [1u8; 1];
        while std::time::Instant::now() < deadline {
            // Check the clock once per 64 round trips: the loop is the point.
            for _ in 0..64 {
                ping_tx.write_all(&[1]).unwrap();
                pong_rx.read_exact(&mut b).unwrap();
            }
        }
        ping_tx.write_all(&[0]).unwrap();
        own_ground_truth("ping", started)
    });
    vec![server, client]
}

fn tokio_tiny_polls(deadline: std::time::Instant) -> Truths {
    let (to_rt, mut from_feeder) = tokio::sync::mpsc::unbounded_channel::<u64>();
    let (to_feeder, from_rt) = std::sync::mpsc::channel::<u64>();
    let runtime = std::thread::Builder::new()
        .name("tokio-rt-worker".into())
        .spawn(move || {
            let started = monotonic_ns();
            pin_to_cpu(1);
            let rt = tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap();
            rt.block_on(async move {
                while let Some(v) = from_feeder.recv().await {
                    tokio::task::yield_now().await;
                    if to_feeder.send(v + 1).is_err() {
                        break;
                    }
                }
            });
            drop(rt);
            own_ground_truth("tokio-worker", started)
        })
        .unwrap();
    let feeder = std::thread::spawn(move || {
        let started = monotonic_ns();
        pin_to_cpu(1);
        let mut v = 0;
        while std::time::Instant::now() < deadline {
            to_rt.send(v).unwrap();
            v = from_rt.recv().unwrap();
        }
        drop(to_rt);
        own_ground_truth("tokio-feeder", started)
    });
    vec![runtime, feeder]
}

#[test]
fn workload_child() {
    // Only does something when re-executed by a test below.
    if let Ok(out) = std::env::var(CHILD_ENV) {
        let mode = std::env::var(MODE_ENV).map_or(Workload::Busy, |m| Workload::from_name(&m));
        workload(Path::new(&out), mode, 3.0);
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
    check_against_kernel(&[], 0.005, Workload::Busy);
}

/// The fallback for kernels without CONFIG_SCHED_INFO times waits from a
/// wakeup probe: a different clock path, a looser bound.
#[test]
fn wakeup_probe_waits_match_schedstat() {
    check_against_kernel(&["--wakeup-probe"], 0.02, Workload::Busy);
}

/// Short slices started by wakeup preemption: the kernel books the gap
/// between the wakeup and the switch as the woken thread's run time, so a
/// tracepoint-clock slice undercounts the sleeper and overcounts the
/// spinners. The same bound as the busy threads.
#[test]
fn short_slices_beside_spinners_match_schedstat() {
    check_against_kernel(&[], 0.005, Workload::BesideSpinners);
}

#[test]
fn pipe_ping_pong_matches_schedstat() {
    check_against_kernel(&[], 0.005, Workload::PipePingPong);
}

#[test]
fn tokio_tiny_polls_match_schedstat() {
    check_against_kernel(&[], 0.005, Workload::TokioTinyPolls);
}

/// Each workload is traced (root) and pins its threads to CPU 1.
fn needs_root_and_two_cpus(case: &str) {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        panic!("record_root/{case}: cannot run: needs root");
    }
    // SAFETY: sysconf has no preconditions.
    let cpus = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    assert!(
        cpus >= 2,
        "record_root/{case}: cannot run: the workload pins to CPU 1 and this machine has {cpus} CPU(s) online"
    );
}

/// The kernel's own numbers for one thread, as the thread read them.
struct Truth {
    tid: u64,
    kind: String,
    on_cpu: f64,
    run_delay: f64,
    minflt: u64,
    wall: f64,
}

fn parse_truth(text: &str) -> Vec<Truth> {
    text.lines()
        .map(|line| {
            let v: Vec<&str> = line.split_whitespace().collect();
            let n = |i: usize| v[i].parse::<u64>().unwrap();
            Truth {
                tid: n(0),
                kind: v[1].to_string(),
                on_cpu: n(2) as f64,
                run_delay: n(3) as f64,
                minflt: n(4),
                wall: n(5) as f64,
            }
        })
        .collect()
}

fn check_against_kernel(extra: &[&str], runq_tolerance: f64, mode: Workload) {
    needs_root_and_two_cpus(mode.name());
    let dir = tempfile::tempdir().unwrap();
    let truth_file = dir.path().join("truth");
    let exe = std::env::current_exe().unwrap();
    let truth_path = truth_file.to_str().unwrap();
    let env_arg = format!("{CHILD_ENV}={truth_path}");
    let mode_arg = format!("{MODE_ENV}={}", mode.name());
    let mut args = extra.to_vec();
    args.extend([
        "--",
        "env",
        &env_arg,
        &mode_arg,
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
    eprintln!(
        "{} {extra:?}: diagnostics {}",
        mode.name(),
        report["diagnostics"]
    );
    let threads = report["threads"].as_array().unwrap();
    let truths = parse_truth(&truth);
    // Measure every thread first, then judge: a failing run still prints
    // every thread's errors.
    let mut failures = Vec::new();
    for k in &truths {
        let tid = k.tid;
        let t = threads
            .iter()
            .find(|t| t["tid"].as_u64() == Some(tid))
            .unwrap_or_else(|| panic!("thread {tid} missing from the report"));
        let ours_on = t["on_cpu_ns"].as_f64().unwrap();
        let ours_rq = t["runqueue_ns"].as_f64().unwrap();
        let ours_wall = ours_on + t["off_cpu_ns"].as_f64().unwrap();
        let ours_flt = t["minor_faults"].as_u64().unwrap();
        let slices = t["switches"].as_u64().unwrap();
        let pct = |ours: f64, kernel: f64| (ours - kernel) / kernel * 100.0;
        eprintln!(
            "MEASURED {} {extra:?} {} tid {tid} slices {slices}: on-cpu ours {ours_on:.0} kernel {:.0} ({:+.3}%), runq ours {ours_rq:.0} kernel {:.0} ({:+.3}%), on+off ours {ours_wall:.0} wall {:.0} ({:+.3}%), minflt ours {ours_flt} kernel {}",
            mode.name(),
            k.kind,
            k.on_cpu,
            pct(ours_on, k.on_cpu),
            k.run_delay,
            pct(ours_rq, k.run_delay),
            k.wall,
            pct(ours_wall, k.wall),
            k.minflt,
        );
        // The workload must be what it claims: busy threads wait long on
        // the run queue, short-slice threads switch very often.
        let min_slices = match k.kind.as_str() {
            "sleeper" => 1_500,
            "ping" | "pong" => 100_000,
            "tokio-worker" | "tokio-feeder" => 50_000,
            _ => 0,
        };
        assert!(
            slices >= min_slices,
            "{} thread {tid}: only {slices} slices (the case needs ≥ {min_slices} to test short slices)",
            k.kind
        );
        if mode == Workload::Busy {
            assert!(
                k.run_delay > 0.5e9,
                "the workload must make run-queue waits large (got {})",
                k.run_delay
            );
        }
        // The thread reads its own counters just before it exits; what it
        // does after (one last slice or run-queue wait) is in our books only.
        let last_slice = t["histograms"]["on_cpu"]["max"].as_f64().unwrap();
        let last_wait = t["histograms"]["runqueue"]["max"].as_f64().unwrap();
        if (ours_on - k.on_cpu).abs() > 0.02 * k.on_cpu + last_slice {
            failures.push(format!(
                "on-CPU of {} {tid}: ours {ours_on}, kernel {}",
                k.kind, k.on_cpu
            ));
        }
        if (ours_rq - k.run_delay).abs() > runq_tolerance * k.run_delay + last_wait {
            failures.push(format!(
                "run queue of {} {tid}: ours {ours_rq}, kernel {}",
                k.kind, k.run_delay
            ));
        }
        // Our books run from the thread's creation to its last switch-out;
        // its own clock from its first instruction to the read above.
        if (ours_wall - k.wall).abs() > runq_tolerance * k.wall + last_slice + last_wait {
            failures.push(format!(
                "on+off of {} {tid}: ours {ours_wall}, its own wall clock {}",
                k.kind, k.wall
            ));
        }
        // The thread read its counter a moment before exiting: allow the
        // few faults of thread teardown, nothing more.
        if !(ours_flt >= k.minflt && ours_flt <= k.minflt + 16) {
            failures.push(format!(
                "minflt of {} {tid}: ours {ours_flt}, kernel {}",
                k.kind, k.minflt
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(truths.len(), mode.threads());
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
    assert_eq!(report["verdict"]["outcome"], "inconclusive", "{summary}");
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
