//! Target resolution against fake host layouts in a temp dir.

use std::{fs, os::unix::fs::MetadataExt, path::Path};

use super::*;
use crate::cgroup::mounts::tests::{fake_hybrid, fake_v2};
use container::tests::{ID_A, ID_B, ID_C};

const ID_D: &str = "d00dd00dd00dd00dd00dd00dd00dd00dd00dd00dd00dd00dd00dd00dd00dd00d";
const ID_E: &str = "eeee0000eeee0000eeee0000eeee0000eeee0000eeee0000eeee0000eeee0000";

fn write(path: &Path, text: &str) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
}

fn fake_proc(roots: &Roots, pid: u32, ppid: u32, comm: &str, cgroup: &str) {
    let d = roots.proc.join(pid.to_string());
    write(&d.join("comm"), &format!("{comm}\n"));
    write(
        &d.join("status"),
        &format!("Name:\t{comm}\nTgid:\t{pid}\nPid:\t{pid}\nPPid:\t{ppid}\nNSpid:\t{pid}\t1\n"),
    );
    write(&d.join("cgroup"), cgroup);
    write(
        &d.join("task").join(pid.to_string()).join("status"),
        &format!("Name:\t{comm}\nNSpid:\t{pid}\t1\n"),
    );
}

fn docker_state(roots: &Roots, id: &str, name: &str, running: bool, pid: u32) {
    write(
        &roots
            .docker
            .join("containers")
            .join(id)
            .join("config.v2.json"),
        &format!(r#"{{"ID":"{id}","Name":"/{name}","State":{{"Running":{running},"Pid":{pid}}}}}"#),
    );
}

/// A pure-v2 host with two Docker containers, one podman container, one
/// Kubernetes (containerd) container and one stopped Docker container.
fn fake_host(dir: &Path) -> Roots {
    let roots = fake_v2(dir);
    let cg = dir.join("sys/fs/cgroup");
    let a = format!("system.slice/docker-{ID_A}.scope");
    write(&cg.join(&a).join("cgroup.procs"), "100\n");
    // A process in a child cgroup still belongs to the container.
    write(&cg.join(&a).join("sub/cgroup.procs"), "101\n");
    fake_proc(&roots, 100, 50, "zeam", &format!("0::/{a}\n"));
    fake_proc(&roots, 101, 100, "zeam", &format!("0::/{a}/sub\n"));
    docker_state(&roots, ID_A, "zeam_0", true, 100);

    let b = format!("system.slice/docker-{ID_B}.scope");
    write(&cg.join(&b).join("cgroup.procs"), "200\n");
    fake_proc(&roots, 200, 50, "zeam", &format!("0::/{b}\n"));
    docker_state(&roots, ID_B, "zeam_1", true, 200);

    let c = format!("machine.slice/libpod-{ID_C}.scope");
    write(&cg.join(&c).join("cgroup.procs"), "300\n");
    fake_proc(&roots, 300, 1, "nginx", &format!("0::/{c}\n"));
    write(
        &dir.join("var/lib/containers/storage/overlay-containers/containers.json"),
        &format!(r#"[{{"id":"{ID_C}","names":["web"],"image":"x"}}]"#),
    );

    let d = format!(
        "kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1.slice/cri-containerd-{ID_D}.scope"
    );
    write(&cg.join(&d).join("cgroup.procs"), "400\n401\n");
    fake_proc(&roots, 400, 1, "pause-child", &format!("0::/{d}\n"));
    fake_proc(&roots, 401, 400, "app", &format!("0::/{d}\n"));
    let task = dir
        .join("run/containerd/io.containerd.runtime.v2.task/k8s.io")
        .join(ID_D);
    write(
        &task.join("config.json"),
        r#"{"annotations":{"io.kubernetes.cri.container-name":"app","io.kubernetes.cri.sandbox-name":"mypod","io.kubernetes.cri.container-type":"container"}}"#,
    );
    write(&task.join("init.pid"), "401");

    docker_state(&roots, ID_E, "old", false, 0);
    roots
}

fn err_text(r: Result<Target>) -> String {
    match r {
        Err(e @ Error::TargetNotFound(_)) => e.to_string(),
        other => panic!("expected TargetNotFound, got {other:?}"),
    }
}

#[test]
fn container_by_name() {
    let tmp = tempfile::tempdir().unwrap();
    let roots = fake_host(tmp.path());
    let t = resolve(&TargetSpec::Container("zeam_0".into()), &roots).unwrap();
    let info = t.container.clone().unwrap();
    assert_eq!(info.id, ID_A);
    assert_eq!(info.name.as_deref(), Some("zeam_0"));
    assert_eq!(info.runtime, "docker");
    assert_eq!(t.pids, vec![100, 101]);
    assert_eq!(t.main_pid, Some(100));
    let cg = t.cgroup.unwrap();
    let dir = tmp
        .path()
        .join(format!("sys/fs/cgroup/system.slice/docker-{ID_A}.scope"));
    assert_eq!(cg.v2.as_deref(), Some(dir.as_path()));
    assert_eq!(cg.v2_id, Some(fs::metadata(&dir).unwrap().ino()));
    assert_eq!(cg.v2_level, Some(2));
    assert_eq!(t.label, "container zeam_0 (docker 0a1b2c3d4e5f)");
}

#[test]
fn container_by_full_id_and_unique_prefix() {
    let tmp = tempfile::tempdir().unwrap();
    let roots = fake_host(tmp.path());
    let t = resolve(&TargetSpec::Container(ID_B.into()), &roots).unwrap();
    assert_eq!(t.container.unwrap().name.as_deref(), Some("zeam_1"));
    assert_eq!(t.pids, vec![200]);
    let t = resolve(&TargetSpec::Container("c0ffee".into()), &roots).unwrap();
    let info = t.container.unwrap();
    assert_eq!(
        (info.runtime.as_str(), info.name.as_deref()),
        ("podman", Some("web"))
    );
    assert_eq!(t.main_pid, Some(300));
}

#[test]
fn kubernetes_container_by_pod_and_name() {
    let tmp = tempfile::tempdir().unwrap();
    let roots = fake_host(tmp.path());
    let t = resolve(&TargetSpec::Container("mypod/app".into()), &roots).unwrap();
    let info = t.container.unwrap();
    assert_eq!(
        (info.id.as_str(), info.runtime.as_str()),
        (ID_D, "containerd")
    );
    assert_eq!(t.pids, vec![400, 401]);
    // init.pid from containerd's state names the main process.
    assert_eq!(t.main_pid, Some(401));
    assert_eq!(t.cgroup.unwrap().v2_level, Some(4));
}

#[test]
fn ambiguous_prefix_lists_candidates() {
    let tmp = tempfile::tempdir().unwrap();
    let roots = fake_host(tmp.path());
    let msg = err_text(resolve(&TargetSpec::Container("0a1b".into()), &roots));
    assert!(msg.contains("ambiguous"), "{msg}");
    assert!(
        msg.contains("zeam_0 (docker 0a1b2c3d4e5f)") && msg.contains("zeam_1"),
        "{msg}"
    );
}

#[test]
fn missing_container_lists_what_was_found() {
    let tmp = tempfile::tempdir().unwrap();
    let roots = fake_host(tmp.path());
    let msg = err_text(resolve(&TargetSpec::Container("zeam_9".into()), &roots));
    assert!(
        msg.contains("no container named or with ID `zeam_9`"),
        "{msg}"
    );
    for n in ["zeam_0", "zeam_1", "web", "app"] {
        assert!(msg.contains(n), "{msg}");
    }
    // Stopped containers are not offered as running ones...
    assert!(!msg.contains("old"), "{msg}");
    // ...and asking for one says why it cannot be traced.
    let msg = err_text(resolve(&TargetSpec::Container("old".into()), &roots));
    assert!(msg.contains("not running"), "{msg}");
}

#[test]
fn no_containers_at_all() {
    let tmp = tempfile::tempdir().unwrap();
    let roots = fake_v2(tmp.path());
    let msg = err_text(resolve(&TargetSpec::Container("zeam_0".into()), &roots));
    assert!(
        msg.contains("no running containers found (looked in"),
        "{msg}"
    );
}

#[test]
fn cgroup_by_absolute_and_relative_path() {
    let tmp = tempfile::tempdir().unwrap();
    let roots = fake_host(tmp.path());
    let rel = format!("system.slice/docker-{ID_A}.scope");
    let abs = tmp.path().join("sys/fs/cgroup").join(&rel);
    for arg in [
        abs.clone(),
        PathBuf::from(&rel),
        PathBuf::from(format!("/{rel}")),
    ] {
        let t = resolve(&TargetSpec::Cgroup(arg.clone()), &roots).unwrap();
        assert_eq!(t.pids, vec![100, 101], "{arg:?}");
        assert_eq!(
            t.cgroup.as_ref().unwrap().v2.as_deref(),
            Some(abs.as_path())
        );
        assert_eq!(t.label, format!("cgroup /{rel}"));
    }
    let msg = err_text(resolve(&TargetSpec::Cgroup("/no/such".into()), &roots));
    assert!(msg.starts_with("no cgroup /no/such"), "{msg}");
    assert!(msg.contains("cgroup2 at"), "{msg}");
}

#[test]
fn hybrid_v1_path_maps_to_unified() {
    let tmp = tempfile::tempdir().unwrap();
    let roots = fake_hybrid(tmp.path());
    let base = tmp.path().join("sys/fs/cgroup");
    for h in ["memory", "unified", "cpu,cpuacct"] {
        write(&base.join(h).join("app/cgroup.procs"), "77\n");
    }
    write(&base.join("memory/only-v1/cgroup.procs"), "78\n");
    let t = resolve(&TargetSpec::Cgroup(base.join("memory/app")), &roots).unwrap();
    let cg = t.cgroup.unwrap();
    assert_eq!(cg.v2.as_deref(), Some(base.join("unified/app").as_path()));
    assert_eq!(
        cg.v1_memory.as_deref(),
        Some(base.join("memory/app").as_path())
    );
    assert_eq!(
        cg.v1_cpu.as_deref(),
        Some(base.join("cpu,cpuacct/app").as_path())
    );
    assert_eq!(cg.v2_level, Some(1));
    assert_eq!(cg.layout(), "hybrid (v1 memory + v2 PSI)");
    assert_eq!(t.pids, vec![77]);
    assert!(t.notes.is_empty());
    // A v1-only cgroup: processes from v1, and a note that the in-kernel
    // cgroup filter cannot be used.
    let t = resolve(&TargetSpec::Cgroup(base.join("memory/only-v1")), &roots).unwrap();
    assert!(t.cgroup.as_ref().unwrap().v2.is_none());
    assert_eq!(t.pids, vec![78]);
    assert!(
        t.notes[0].contains("cgroup2 has no /only-v1"),
        "{:?}",
        t.notes
    );
}

#[test]
fn pid_target() {
    let tmp = tempfile::tempdir().unwrap();
    let roots = fake_host(tmp.path());
    let t = resolve(&TargetSpec::Pid(100), &roots).unwrap();
    assert_eq!((t.main_pid, t.pids.clone()), (Some(100), vec![100]));
    assert_eq!(t.label, "pid 100 (zeam)");
    // The container is recognized from the cgroup path (ID and runtime).
    let info = t.container.unwrap();
    assert_eq!((info.id.as_str(), info.runtime.as_str()), (ID_A, "docker"));
    assert_eq!(t.cgroup.unwrap().v2_level, Some(2));
    let msg = err_text(resolve(&TargetSpec::Pid(4242), &roots));
    assert_eq!(msg, "no process with PID 4242");
}

#[test]
fn ns_tids_from_status() {
    let tmp = tempfile::tempdir().unwrap();
    let roots = fake_host(tmp.path());
    assert_eq!(ns_tids_in(&roots.proc, 100), Some(vec![100, 1]));
    assert_eq!(ns_tids_in(&roots.proc, 999), None);
    // The live host: our own thread has at least its host TID.
    let me = std::process::id();
    assert_eq!(ns_tids(me).unwrap()[0], me);
}

#[test]
fn kernel_threads_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let roots = fake_host(tmp.path());
    fake_proc(&roots, 2, 0, "kthreadd", "0::/\n");
    // flags (field 9) of kthreadd: PF_KTHREAD | PF_NOFREEZE | ...
    write(
        &roots.proc.join("2/stat"),
        "2 (kthreadd) S 0 0 0 0 -1 2129984 0 0 0 0 0 0 0 0 20 0 1 0 9 0 0 18446744073709551615 0 0 0 0 0 0 0 2147483647 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n",
    );
    let msg = err_text(resolve(&TargetSpec::Pid(2), &roots));
    assert_eq!(
        msg,
        "PID 2 (kthreadd) is a kernel thread; starvetrace traces user-space processes and their runtime threads"
    );
    // A user process whose comm has spaces and parentheses: flags are
    // counted after the last `)`, and PF_KTHREAD is not set.
    write(
        &roots.proc.join("100/stat"),
        "100 (a) b (c) S 50 100 100 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 3 0 9 0 0\n",
    );
    assert!(resolve(&TargetSpec::Pid(100), &roots).is_ok());
    // The live host: kthreadd is PID 2 wherever /proc shows the host's tasks.
    let host = Roots::default();
    if fs::read_to_string("/proc/2/comm").is_ok_and(|c| c.trim() == "kthreadd") {
        assert!(is_kernel_thread(&host, 2));
    }
    assert!(!is_kernel_thread(&host, std::process::id()));
}

#[test]
fn a_running_target_and_a_command_conflict() {
    use clap::Parser as _;
    let parse = |args: &[&str]| {
        let crate::cli::Command::Record(r) = crate::cli::Cli::try_parse_from(args).unwrap().command
        else {
            panic!("record")
        };
        r
    };
    let r = parse(&["starvetrace", "record", "--pid", "42", "--", "sleep", "5"]);
    let e = check_one_target(&r).unwrap_err();
    assert_eq!(e.exit_code(), crate::error::exit::USAGE);
    assert!(
        e.to_string()
            .starts_with("two targets given: --pid 42 and the command `sleep 5`; give one"),
        "{e}"
    );
    let r = parse(&["starvetrace", "record", "--container", "web", "--", "true"]);
    assert!(
        check_one_target(&r)
            .unwrap_err()
            .to_string()
            .starts_with("two targets given: --container web and the command `true`")
    );
    for ok in [
        &["starvetrace", "record", "--pid", "42"][..],
        &["starvetrace", "record", "--", "sleep", "5"],
    ] {
        assert!(check_one_target(&parse(ok)).is_ok(), "{ok:?}");
    }
}
