//! In: what the user asked to trace (a PID, a cgroup, a container, a command).
//! Out: the processes in it now and the cgroup the in-kernel filter uses.

pub mod command;
pub mod container;

use std::{
    collections::BTreeSet,
    fs,
    path::{Path, PathBuf},
};

use serde::{Deserialize, Serialize};

pub use crate::cgroup::Roots;
use crate::{
    cgroup::{CgroupMounts, CgroupPaths, paths_of_pid_in},
    cli::{RecordArgs, TargetArgs},
    error::{Error, Result},
};
pub use container::ContainerInfo;
use container::{Inventory, Miss};

/// What the user asked for (`--pid`, `--cgroup`, `--container`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TargetSpec {
    Pid(u32),
    Cgroup(PathBuf),
    Container(String),
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Target {
    /// The process the user means (the PID given, or the container's init).
    pub main_pid: Option<u32>,
    /// Processes in the target now (sorted). For a cgroup: every process in
    /// it and its descendants.
    pub pids: Vec<u32>,
    pub cgroup: Option<CgroupPaths>,
    pub container: Option<ContainerInfo>,
    /// `pid 123 (zeam)`, `cgroup /system.slice/x.scope`, `container zeam_0 (docker 0a1b2c3d4e5f)`.
    pub label: String,
    /// Things the recorder should know (a v1 path with no cgroup2 twin, ...).
    pub notes: Vec<String>,
}

pub fn resolve(spec: &TargetSpec, roots: &Roots) -> Result<Target> {
    match spec {
        TargetSpec::Pid(pid) => resolve_pid(*pid, roots),
        TargetSpec::Cgroup(path) => resolve_cgroup(path, roots),
        TargetSpec::Container(q) => resolve_container(q, roots),
    }
}

fn comm_of(roots: &Roots, pid: u32) -> Option<String> {
    fs::read_to_string(roots.proc.join(pid.to_string()).join("comm"))
        .ok()
        .map(|s| s.trim_end().to_string())
}

/// `Tgid:` of a task: tells a thread ID apart from a process ID.
fn tgid_of(roots: &Roots, tid: u32) -> Option<u32> {
    let status = fs::read_to_string(roots.proc.join(tid.to_string()).join("status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Tgid:"))
        .and_then(|v| v.trim().parse().ok())
}

/// `PF_KTHREAD` in the `flags` field of /proc/<pid>/stat.
const PF_KTHREAD: u64 = 0x0020_0000;

/// Whether a task is a kernel thread (`PF_KTHREAD`), from field 9 (`flags`)
/// of /proc/<pid>/stat. `false` when the file cannot be read.
fn is_kernel_thread(roots: &Roots, pid: u32) -> bool {
    let Ok(stat) = fs::read_to_string(roots.proc.join(pid.to_string()).join("stat")) else {
        return false;
    };
    // The comm may hold spaces and parentheses: fields resume after the last `)`.
    stat.rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().nth(6))
        .and_then(|f| f.parse::<u64>().ok())
        .is_some_and(|flags| flags & PF_KTHREAD != 0)
}

fn resolve_pid(pid: u32, roots: &Roots) -> Result<Target> {
    if pid == 0 || !roots.proc.join(pid.to_string()).is_dir() {
        return Err(Error::TargetNotFound(format!("no process with PID {pid}")));
    }
    // A kernel thread has no user space, so no runtime to starve: its
    // report would be empty of what starvetrace is for.
    if is_kernel_thread(roots, pid) {
        let name = comm_of(roots, pid).unwrap_or_else(|| "?".into());
        return Err(Error::TargetNotFound(format!(
            "PID {pid} ({name}) is a kernel thread; starvetrace traces user-space processes and their runtime threads"
        )));
    }
    let mut notes = Vec::new();
    let mut main = pid;
    if let Some(tgid) = tgid_of(roots, pid).filter(|t| *t != pid && *t != 0) {
        notes.push(format!(
            "{pid} is a thread of process {tgid}; tracing the process"
        ));
        main = tgid;
    }
    // A process's cgroup is extra information here: tracing by PID works
    // without it, so a failure to read it is a note, not an error.
    let cgroup = match paths_of_pid_in(roots, main) {
        Ok(p) => Some(p),
        Err(Error::TargetNotFound(m)) => return Err(Error::TargetNotFound(m)),
        Err(e) => {
            notes.push(format!("cgroup of PID {main} unknown: {e}"));
            None
        }
    };
    let container = container_of_pid(roots, main);
    let comm = comm_of(roots, main).unwrap_or_default();
    Ok(Target {
        main_pid: Some(main),
        pids: vec![main],
        cgroup,
        container,
        label: format!("pid {main} ({comm})"),
        notes,
    })
}

/// The container a process is in, from its cgroup path alone (no name
/// look-up: cheap enough to do for every `--pid`).
fn container_of_pid(roots: &Roots, pid: u32) -> Option<ContainerInfo> {
    let text = fs::read_to_string(roots.proc.join(pid.to_string()).join("cgroup")).ok()?;
    let (rt, id, _) = text
        .lines()
        .filter_map(|l| l.splitn(3, ':').nth(2))
        .find_map(container::match_path)?;
    Some(ContainerInfo {
        id,
        name: None,
        runtime: rt.to_string(),
    })
}

/// Hierarchy path of a `--cgroup` argument: a directory under any cgroup
/// mount (v2 or a v1 controller), or a path relative to the cgroup roots.
fn hierarchy_path(arg: &Path, mounts: &CgroupMounts) -> Option<String> {
    if arg.is_absolute() && arg.is_dir() {
        let canon = fs::canonicalize(arg).unwrap_or_else(|_| arg.to_path_buf());
        for p in [arg, canon.as_path()] {
            if let Some(h) = mounts.containing(p).and_then(|m| m.path_of(p)) {
                return Some(h);
            }
        }
    }
    let s = arg.to_string_lossy();
    let rel = s.trim_start_matches('/').trim_end_matches('/');
    let h = format!("/{rel}");
    mounts
        .all()
        .any(|m| m.dir_of(&h).is_some_and(|d| d.is_dir()))
        .then_some(h)
}

fn resolve_cgroup(arg: &Path, roots: &Roots) -> Result<Target> {
    let mounts = CgroupMounts::read(roots)?;
    let Some(hier) = hierarchy_path(arg, &mounts) else {
        return Err(Error::TargetNotFound(format!(
            "no cgroup {} (looked for it as a directory and as a path under {})",
            arg.display(),
            mounts.describe()
        )));
    };
    let mut t = from_hierarchy_path(&hier, &mounts, None)?;
    t.label = format!("cgroup {hier}");
    Ok(t)
}

/// Target for a cgroup given by hierarchy path; `fallback_pids` are used
/// when no directory lists processes.
fn from_hierarchy_path(
    hier: &str,
    mounts: &CgroupMounts,
    fallback_pids: Option<&BTreeSet<u32>>,
) -> Result<Target> {
    let paths = mounts.paths_for(Some(hier), Some(hier));
    let mut notes = Vec::new();
    if paths.v2.is_none() && mounts.v2.is_some() {
        notes.push(format!(
            "cgroup2 has no {hier}: no in-kernel cgroup filter and no per-cgroup PSI; the recorder must filter by PID"
        ));
    }
    // Processes are listed from the cgroup2 tree when it has the path
    // (the tree the in-kernel filter uses), else from a v1 hierarchy.
    let listing_dir = paths
        .v2
        .clone()
        .or_else(|| paths.v1_memory.clone())
        .or_else(|| paths.v1_cpu.clone())
        .or_else(|| {
            mounts
                .all()
                .filter_map(|m| m.dir_of(hier))
                .find(|d| d.is_dir())
        });
    let mut pids = listing_dir.as_deref().map(procs_below).unwrap_or_default();
    if pids.is_empty()
        && let Some(f) = fallback_pids
    {
        pids = f.clone();
    }
    let has_any = paths.v2.is_some() || paths.v1_memory.is_some() || paths.v1_cpu.is_some();
    Ok(Target {
        main_pid: None,
        pids: pids.into_iter().collect(),
        cgroup: has_any.then_some(paths),
        container: None,
        label: String::new(),
        notes,
    })
}

/// PIDs in `dir` and every cgroup below it, from `cgroup.procs`.
pub fn procs_below(dir: &Path) -> BTreeSet<u32> {
    let mut out = BTreeSet::new();
    let mut stack = vec![(dir.to_path_buf(), 0u32)];
    while let Some((d, depth)) = stack.pop() {
        if let Ok(text) = fs::read_to_string(d.join("cgroup.procs")) {
            out.extend(text.lines().filter_map(|l| l.trim().parse::<u32>().ok()));
        }
        // Depth bound: a container's subtree is shallow; this only guards
        // against pathological trees.
        if depth >= 32 {
            continue;
        }
        let Ok(rd) = fs::read_dir(&d) else { continue };
        for e in rd.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push((e.path(), depth + 1));
            }
        }
    }
    out
}

/// The root of the process tree among `pids`: the one whose parent is not
/// in the set (the lowest such PID if several).
fn tree_root(roots: &Roots, pids: &[u32]) -> Option<u32> {
    let set: BTreeSet<u32> = pids.iter().copied().collect();
    pids.iter().copied().find(|&p| {
        let ppid = fs::read_to_string(roots.proc.join(p.to_string()).join("status"))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("PPid:"))
                    .and_then(|v| v.trim().parse::<u32>().ok())
            });
        ppid.is_none_or(|pp| !set.contains(&pp))
    })
}

fn resolve_container(query: &str, roots: &Roots) -> Result<Target> {
    let mounts = CgroupMounts::read(roots)?;
    let inv = Inventory::scan(roots, &mounts);
    let cand = match container::select(&inv, query) {
        Ok(c) => c,
        Err(Miss::Ambiguous(labels)) => {
            return Err(Error::TargetNotFound(format!(
                "container `{query}` is ambiguous; it matches: {}",
                labels.join(", ")
            )));
        }
        Err(Miss::None) => {
            let running: Vec<String> = inv
                .by_id
                .values()
                .filter(|c| c.running())
                .map(|c| c.label())
                .collect();
            let found = if running.is_empty() {
                format!(
                    "no running containers found (looked in {})",
                    inv.looked.join(", ")
                )
            } else {
                format!("running containers: {}", running.join(", "))
            };
            return Err(Error::TargetNotFound(format!(
                "no container named or with ID `{query}`; {found}"
            )));
        }
    };
    let info = cand.info();
    let label = format!("container {}", info.label());
    let mut target = if let Some(hier) = &cand.cgroup {
        from_hierarchy_path(hier, &mounts, Some(&cand.pids))?
    } else if let Some(pid) = cand
        .state_pid
        .filter(|p| roots.proc.join(p.to_string()).is_dir())
    {
        // The runtime recorded an init PID but its cgroup has an unusual
        // name (a custom --cgroup-parent): follow the process.
        let mut t = resolve_pid(pid, roots)?;
        t.notes.push(format!(
            "no cgroup named after {}; using the cgroup of its init process {pid}",
            info.label()
        ));
        t
    } else {
        return Err(Error::TargetNotFound(format!(
            "{} is known to {} but not running (no cgroup and no process found for it)",
            info.label(),
            info.runtime
        )));
    };
    let main = cand
        .state_pid
        .filter(|p| target.pids.contains(p))
        .or_else(|| tree_root(roots, &target.pids));
    target.main_pid = main;
    target.container = Some(info);
    target.label = label;
    if target.pids.is_empty() {
        target
            .notes
            .push("the container's cgroup has no processes right now".into());
    }
    Ok(target)
}

/// A thread's IDs in every PID namespace it is in, outermost (host) first,
/// from `NSpid:` in /proc/<tid>/task/<tid>/status. One entry = no nested
/// namespace.
pub fn ns_tids(tid: u32) -> Option<Vec<u32>> {
    ns_tids_in(Path::new("/proc"), tid)
}

pub fn ns_tids_in(proc_root: &Path, tid: u32) -> Option<Vec<u32>> {
    let t = tid.to_string();
    let status =
        fs::read_to_string(proc_root.join(&t).join("task").join(&t).join("status")).ok()?;
    let line = status.lines().find_map(|l| l.strip_prefix("NSpid:"))?;
    let ids: Option<Vec<u32>> = line.split_whitespace().map(|v| v.parse().ok()).collect();
    ids.filter(|v| !v.is_empty())
}

/// What `record` traces, once resolved.
#[derive(Clone, Debug)]
pub enum Resolved {
    Pid(u32),
    Cgroup {
        id: u64,
        level: u32,
        label: String,
        pids: Vec<u32>,
        paths: crate::cgroup::CgroupPaths,
    },
}

/// `record` takes one target: a running one (`--pid`, `--cgroup`,
/// `--container`; clap already keeps those apart) or a command to launch.
/// With both, neither would be traced as meant.
pub fn check_one_target(args: &RecordArgs) -> Result<()> {
    if args.command.is_empty() {
        return Ok(());
    }
    let t = &args.target;
    let flag = match (t.pid, &t.cgroup, &t.container) {
        (Some(pid), _, _) => format!("--pid {pid}"),
        (None, Some(path), _) => format!("--cgroup {}", path.display()),
        (None, None, Some(name)) => format!("--container {name}"),
        (None, None, None) => return Ok(()),
    };
    Err(Error::Usage(format!(
        "two targets given: {flag} and the command `{}`; give one: --pid/--cgroup/--container trace what already runs, -- CMD launches a command and traces it (to trace a running target for a while, use --duration)",
        args.command.join(" ")
    )))
}

/// The target of `record`, or `None` when a command is to be launched.
pub fn resolve_target(args: &RecordArgs) -> Result<Option<Resolved>> {
    check_one_target(args)?;
    if let Some(pid) = args.target.pid {
        let target = resolve_pid(pid, &crate::cgroup::Roots::default())?;
        for n in &target.notes {
            eprintln!("starvetrace: note: {n}");
        }
        return Ok(Some(Resolved::Pid(target.main_pid.unwrap_or(pid))));
    }
    if args.target.cgroup.is_some() || args.target.container.is_some() {
        return resolve_cgroup_target(&args.target).map(Some);
    }
    if args.command.is_empty() {
        return Err(Error::Usage(
            "nothing to trace: give --pid PID, --cgroup PATH, --container NAME, or -- CMD ARGS..."
                .into(),
        ));
    }
    // A command that cannot be started is found out before any probe is
    // loaded; what only exec can tell comes back from the trampoline.
    command::find_program(&args.command[0])?;
    Ok(None)
}

fn resolve_cgroup_target(t: &TargetArgs) -> Result<Resolved> {
    let spec = match (&t.cgroup, &t.container) {
        (Some(path), _) => TargetSpec::Cgroup(path.clone()),
        (None, Some(name)) => TargetSpec::Container(name.clone()),
        (None, None) => return Err(Error::Usage("no cgroup or container given".into())),
    };
    let target = resolve(&spec, &crate::cgroup::Roots::default())?;
    for n in &target.notes {
        eprintln!("starvetrace: note: {n}");
    }
    let paths = target.cgroup.clone().unwrap_or_default();
    match (paths.v2_id, paths.v2_level) {
        // In-kernel filtering by cgroup2 ancestry: processes that start in
        // it later are traced too.
        (Some(id), Some(level)) if level > 0 => Ok(Resolved::Cgroup {
            id,
            level,
            label: target.label,
            pids: target.pids,
            paths,
        }),
        _ => Err(Error::TargetNotFound(format!(
            "{} has no cgroup2 directory of its own to filter on in the kernel (it is the cgroup2 root or only exists in v1); trace its main process with --pid {}",
            target.label,
            target
                .main_pid
                .map_or_else(|| "PID".into(), |p| p.to_string())
        ))),
    }
}

#[cfg(test)]
mod tests;
