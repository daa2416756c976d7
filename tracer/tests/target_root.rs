#![cfg(feature = "root-tests")]
//! Target resolution and the cgroup sampler against real cgroups this test
//! creates below its own (and removes afterwards), plus a container-shaped
//! cgroup (`docker-<id>.scope`) named through a fake Docker state dir.
//!
//! Run as root: `cargo test -p tracer --features root-tests --test target_root -- --nocapture`

use std::{
    fs,
    os::unix::fs::MetadataExt,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};

use tracer::{
    cgroup::{CgroupMounts, Limit, ProcCgroups, Roots, Sampler, paths_of_pid},
    error::Error,
    resolve::{self as target, TargetSpec},
};

const ID: &str = "5747ae5e0000000000000000000000000000000000000000000000000000beef";

/// Child cgroups and processes made by one test; killed and removed on drop.
#[derive(Default)]
struct Made {
    dirs: Vec<PathBuf>,
    children: Vec<Child>,
}

impl Made {
    fn cgroup(&mut self, dir: PathBuf) -> PathBuf {
        fs::create_dir(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
        self.dirs.push(dir.clone());
        dir
    }

    /// `sh -c SCRIPT` started inside every cgroup in `cgroups`.
    fn spawn_in(&mut self, cgroups: &[&Path], script: &str) -> u32 {
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(r#"s="$1"; shift; for f in "$@"; do echo $$ > "$f" || exit 1; done; exec sh -c "$s""#)
            .arg("sh")
            .arg(script)
            .args(cgroups.iter().map(|d| d.join("cgroup.procs")))
            .stdout(Stdio::null());
        let child = cmd.spawn().expect("spawn");
        let pid = child.id();
        self.children.push(child);
        // Wait until it has moved itself.
        for _ in 0..100 {
            let ok = cgroups.iter().all(|d| {
                fs::read_to_string(d.join("cgroup.procs"))
                    .unwrap_or_default()
                    .lines()
                    .any(|l| l == pid.to_string())
            });
            if ok {
                return pid;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("process {pid} did not join its cgroups");
    }
}

impl Drop for Made {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        // Deepest first.
        for d in self.dirs.iter().rev() {
            let procs = fs::read_to_string(d.join("cgroup.procs")).unwrap_or_default();
            for p in procs.lines().filter_map(|l| l.parse::<i32>().ok()) {
                // SAFETY: plain syscall; these processes were started here.
                unsafe { libc::kill(p, libc::SIGKILL) };
            }
            let mut r = fs::remove_dir(d);
            for _ in 0..50 {
                if r.is_ok() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
                r = fs::remove_dir(d);
            }
            if let Err(e) = r {
                eprintln!("could not remove {}: {e}", d.display());
            }
        }
    }
}

fn is_root() -> bool {
    // SAFETY: no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// A case this machine's cgroup layout cannot have: one line for
/// `$STARVETRACE_SKIP_LOG`, which `cargo xtask test` counts (README, "What
/// `cargo xtask test` counts"); without it, a panic, never a silent pass.
fn skip(case: &str, reason: &str) {
    use std::io::Write as _;
    let name = format!("target_root/{case}");
    let Some(log) = std::env::var_os("STARVETRACE_SKIP_LOG") else {
        panic!("{name}: cannot run: {reason}");
    };
    eprintln!("skipped: {name}: {reason}");
    fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
        .and_then(|mut f| f.write_all(format!("{name}\t{reason}\n").as_bytes()))
        .expect("append to $STARVETRACE_SKIP_LOG");
}

#[test]
fn pid_targets() {
    let me = std::process::id();
    let t = target::resolve(&TargetSpec::Pid(me), &Roots::default()).unwrap();
    assert_eq!(t.main_pid, Some(me));
    assert_eq!(t.cgroup, Some(paths_of_pid(me).unwrap()));
    let err = target::resolve(&TargetSpec::Pid(u32::MAX - 1), &Roots::default()).unwrap_err();
    assert!(
        matches!(&err, Error::TargetNotFound(m) if m == &format!("no process with PID {}", u32::MAX - 1))
    );
    assert_eq!(err.exit_code(), tracer::error::exit::TARGET_NOT_FOUND);
}

#[test]
fn own_cgroup_paths_match_proc() {
    let me = std::process::id();
    let p = paths_of_pid(me).unwrap();
    let pc = ProcCgroups::read(&Roots::default(), me).unwrap();
    let m = CgroupMounts::read(&Roots::default()).unwrap();
    if let (Some(v2), Some(path)) = (&p.v2, &pc.v2) {
        assert_eq!(Some(v2.clone()), m.v2.as_ref().and_then(|m| m.dir_of(path)));
        assert_eq!(p.v2_id, Some(fs::metadata(v2).unwrap().ino()));
        let procs = fs::read_to_string(v2.join("cgroup.procs")).unwrap();
        assert!(procs.lines().any(|l| l == me.to_string()));
    }
    if let Some(mem) = &p.v1_memory {
        let procs = fs::read_to_string(mem.join("cgroup.procs")).unwrap();
        assert!(procs.lines().any(|l| l == me.to_string()));
    }
    eprintln!("own cgroups: {p:?} ({})", p.layout());
}

#[test]
fn v1_path_maps_to_the_same_cgroup2_path() {
    if !is_root() {
        panic!("v1_path_maps_to_the_same_cgroup2_path: cannot run: needs root");
    }
    let me = std::process::id();
    let p = paths_of_pid(me).unwrap();
    let pc = ProcCgroups::read(&Roots::default(), me).unwrap();
    // Needs a v1 cpu hierarchy where we sit at the same path as in cgroup2.
    let (Some(v2), Some(cpu)) = (&p.v2, &p.v1_cpu) else {
        skip(
            "v1_path_maps_to_the_same_cgroup2_path",
            "no v1 cpu hierarchy beside cgroup2 here",
        );
        return;
    };
    if pc.v2.as_deref() != pc.v1_path("cpu") {
        skip(
            "v1_path_maps_to_the_same_cgroup2_path",
            "our v1 cpu and cgroup2 paths differ",
        );
        return;
    }
    let name = format!("starvetrace-tgt-{me}");
    let mut made = Made::default();
    let d2 = made.cgroup(v2.join(&name));
    let d1 = made.cgroup(cpu.join(&name));
    let pid = made.spawn_in(&[&d2, &d1], "exec sleep 60");
    let t = target::resolve(&TargetSpec::Cgroup(d1.clone()), &Roots::default()).unwrap();
    let cg = t.cgroup.unwrap();
    assert_eq!(cg.v2.as_deref(), Some(d2.as_path()));
    assert_eq!(cg.v1_cpu.as_deref(), Some(d1.as_path()));
    assert_eq!(cg.v2_id, Some(fs::metadata(&d2).unwrap().ino()));
    assert_eq!(t.pids, vec![pid]);
    assert!(t.notes.is_empty(), "{:?}", t.notes);
    // The same cgroup by hierarchy path.
    let rel = format!("{}/{name}", pc.v2.as_deref().unwrap().trim_end_matches('/'));
    let t = target::resolve(&TargetSpec::Cgroup(rel.into()), &Roots::default()).unwrap();
    assert_eq!(t.cgroup.unwrap().v2.as_deref(), Some(d2.as_path()));
}

#[test]
fn container_named_from_docker_state_without_a_daemon() {
    if !is_root() {
        panic!("container_named_from_docker_state_without_a_daemon: cannot run: needs root");
    }
    let me = paths_of_pid(std::process::id()).unwrap();
    let Some(v2) = &me.v2 else {
        skip(
            "container_named_from_docker_state_without_a_daemon",
            "no cgroup2 hierarchy",
        );
        return;
    };
    let mut made = Made::default();
    let scope = made.cgroup(v2.join(format!("docker-{ID}.scope")));
    let pid = made.spawn_in(&[&scope], "exec sleep 60");
    let tmp = tempfile::tempdir().unwrap();
    let roots = Roots {
        docker: tmp.path().join("docker"),
        podman: vec![],
        containerd: tmp.path().join("containerd"),
        ..Roots::default()
    };
    let state = roots.docker.join("containers").join(ID);
    fs::create_dir_all(&state).unwrap();
    fs::write(
        state.join("config.v2.json"),
        format!(r#"{{"ID":"{ID}","Name":"/zeam_0","State":{{"Running":true,"Pid":{pid}}}}}"#),
    )
    .unwrap();
    for q in ["zeam_0", "/zeam_0", ID, "5747ae5e"] {
        let t = target::resolve(&TargetSpec::Container(q.into()), &roots).unwrap();
        assert_eq!(t.pids, vec![pid], "{q}");
        assert_eq!(t.main_pid, Some(pid));
        let info = t.container.unwrap();
        assert_eq!(
            (info.id.as_str(), info.name.as_deref()),
            (ID, Some("zeam_0"))
        );
        assert_eq!(info.runtime, "docker");
        assert_eq!(
            t.cgroup.unwrap().v2_id,
            Some(fs::metadata(&scope).unwrap().ino())
        );
        assert_eq!(t.label, "container zeam_0 (docker 5747ae5e0000)");
    }
    let err = target::resolve(&TargetSpec::Container("zeam_7".into()), &roots).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("zeam_0 (docker 5747ae5e0000)"), "{msg}");
    // --pid recognizes the container from the cgroup name alone.
    let t = target::resolve(&TargetSpec::Pid(pid), &Roots::default()).unwrap();
    assert_eq!(t.container.unwrap().id, ID);
}

/// A 64 MiB v1 memory cgroup (or memory.max on v2) and a process that
/// writes and re-reads 192 MiB of page cache: the limit is hit and reclaim
/// runs, which the sampler must see as failcnt (v1) or memory.events max
/// (v2) and as PSI where this host has it.
#[test]
fn sampler_sees_a_memory_limit_being_hit() {
    if !is_root() {
        panic!("sampler_sees_a_memory_limit_being_hit: cannot run: needs root");
    }
    let me = paths_of_pid(std::process::id()).unwrap();
    let name = format!("starvetrace-smp-{}", std::process::id());
    let mut made = Made::default();
    let mut dirs = Vec::new();
    let mut paths = tracer::cgroup::CgroupPaths::default();
    if let Some(v2) = &me.v2 {
        let d = made.cgroup(v2.join(&name));
        paths.v2 = Some(d.clone());
        dirs.push(d);
    }
    if let Some(mem) = &me.v1_memory {
        let d = made.cgroup(mem.join(&name));
        fs::write(d.join("memory.limit_in_bytes"), "67108864").unwrap();
        paths.v1_memory = Some(d.clone());
        dirs.push(d);
    } else if let Some(d) = &paths.v2
        && fs::write(d.join("memory.max"), "67108864").is_err()
    {
        skip(
            "sampler_sees_a_memory_limit_being_hit",
            "no memory controller to limit (neither v1 nor cgroup2 memory.max)",
        );
        return;
    }
    let tmp = tempfile::tempdir_in("/var/tmp").unwrap();
    let file = tmp.path().join("fill");
    let script = format!(
        "dd if=/dev/zero of={f} bs=1M count=192 conv=fsync 2>/dev/null; cat {f} > /dev/null; cat {f} > /dev/null; sleep 60",
        f = file.display()
    );
    let sampler = Sampler::start(paths.clone(), Duration::from_millis(100));
    std::thread::sleep(Duration::from_millis(250));
    let refs: Vec<&Path> = dirs.iter().map(|d| d.as_path()).collect();
    made.spawn_in(&refs, &script);
    std::thread::sleep(Duration::from_secs(4));
    let rep = sampler.stop();
    eprintln!(
        "layout {}, {} samples, limits {:?}\ndeltas {:#?}\nmissing {:#?}",
        rep.layout,
        rep.samples.len(),
        rep.limits,
        rep.deltas,
        rep.missing
    );
    assert!(
        (35..=50).contains(&rep.samples.len()),
        "{} samples in ~4.25 s",
        rep.samples.len()
    );
    let gaps: Vec<u64> = rep
        .samples
        .windows(2)
        .map(|w| w[1].t_ns - w[0].t_ns)
        .collect();
    assert!(
        gaps.iter().all(|&g| (50_000_000..200_000_000).contains(&g)),
        "{gaps:?}"
    );
    assert!(rep.deltas.host_memory_some_us.is_some(), "host PSI is read");
    let used = rep.deltas.max_memory_bytes.expect("usage");
    assert!(used <= 64 << 20, "usage {used} stays under the limit");
    if paths.v1_memory.is_some() {
        assert_eq!(
            rep.layout,
            if paths.v2.is_some() {
                "hybrid (v1 memory + v2 PSI)"
            } else {
                "v1"
            }
        );
        assert_eq!(rep.limits.v1_limit, Some(Limit::Bytes(64 << 20)));
        assert!(rep.deltas.failcnt.unwrap() > 0, "the limit was hit");
        assert!(used > 32 << 20, "page cache filled the cgroup: {used}");
    } else {
        assert_eq!(rep.limits.memory_max, Some(Limit::Bytes(64 << 20)));
        assert!(rep.deltas.events_max.unwrap() > 0);
    }
    if paths.v2.is_some() {
        assert!(rep.deltas.memory_some_us.is_some(), "cgroup PSI is read");
    }
    // Every absent file is named; none of the files we just read is.
    assert!(!rep.missing.iter().any(|m| m.ends_with("memory.failcnt")));
}
