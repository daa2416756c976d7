//! Which processes `watch` follows, and under which name: the targets the
//! user gave (`--pid`, `--cgroup`, `--container`), or with none, every
//! process on the host with tokio-named threads, grouped by container.

use std::{
    collections::{BTreeMap, HashMap},
    path::PathBuf,
    time::{Duration, Instant},
};

use regex::Regex;

use crate::{
    analyze::roles::is_worker,
    cgroup::{CgroupMounts, Roots},
    model::watch::TargetId,
    resolve::{
        TargetSpec,
        container::{Inventory, match_path},
        procs_below, resolve,
    },
    sys,
};

/// A process without runtime threads is looked at again after this long
/// (it may start its runtime late).
const RECHECK_OTHERS: Duration = Duration::from_secs(30);
/// A named target with no live process is resolved again this often.
const RERESOLVE: Duration = Duration::from_secs(5);
/// Container names remembered at most (forgotten all at once past it).
const MAX_NAMES: usize = 4096;

/// What the user asked to watch.
#[derive(Clone, Debug)]
pub enum Wanted {
    Pid(u32),
    Cgroup(PathBuf),
    Container(String),
}

pub struct Discovery {
    wanted: Vec<Wanted>,
    threads: Option<Regex>,
    roots: Roots,
    /// Host-wide: processes seen without runtime threads, and when.
    others: HashMap<u32, Instant>,
    /// Host-wide: what each followed process was named as.
    known: HashMap<u32, TargetId>,
    /// Container names by ID (an inventory scan is costly; once per new ID).
    names: HashMap<String, Option<String>>,
    /// Named targets: their processes, and when they were last resolved.
    resolved: HashMap<usize, (Vec<u32>, Option<PathBuf>, Instant)>,
    /// Targets already said to be unreadable (logged once).
    pub complaints: Vec<String>,
}

impl Discovery {
    pub fn new(wanted: Vec<Wanted>, threads: Option<Regex>) -> Self {
        Self {
            wanted,
            threads,
            roots: Roots::default(),
            others: HashMap::new(),
            known: HashMap::new(),
            names: HashMap::new(),
            resolved: HashMap::new(),
            complaints: Vec::new(),
        }
    }

    /// Every process to follow now, with the target it belongs to.
    pub fn scan(&mut self) -> BTreeMap<u32, TargetId> {
        if self.wanted.is_empty() {
            return self.host_wide();
        }
        let mut out = BTreeMap::new();
        for i in 0..self.wanted.len() {
            let wanted = self.wanted[i].clone();
            match wanted {
                Wanted::Pid(pid) => {
                    if sys::process_state(pid).is_some_and(|s| !matches!(s, 'Z' | 'X')) {
                        out.insert(pid, pid_target(pid));
                    } else {
                        self.complain(format!("pid {pid} is gone; no longer watched"));
                    }
                }
                Wanted::Cgroup(path) => {
                    let key = format!("cgroup:{}", path.display());
                    self.named(i, &TargetSpec::Cgroup(path), &key, &mut out);
                }
                Wanted::Container(name) => {
                    let key = format!("container:{name}");
                    self.named(i, &TargetSpec::Container(name), &key, &mut out);
                }
            }
        }
        out
    }

    /// A cgroup or container: its processes now, re-resolved while it has
    /// none (a container recreated under its name gets a new cgroup).
    fn named(&mut self, i: usize, spec: &TargetSpec, key: &str, out: &mut BTreeMap<u32, TargetId>) {
        let now = Instant::now();
        let stale = match self.resolved.get(&i) {
            None => true,
            Some((pids, _, at)) => {
                pids.iter().all(|&p| sys::process_state(p).is_none())
                    && now.duration_since(*at) >= RERESOLVE
            }
        };
        if stale {
            match resolve(spec, &self.roots) {
                Ok(t) => {
                    let dir = t.cgroup.as_ref().and_then(|c| c.v2.clone());
                    self.resolved.insert(i, (t.pids, dir, now));
                }
                Err(e) => {
                    self.resolved.insert(i, (Vec::new(), None, now));
                    self.complain(format!("{key}: {e}"));
                    return;
                }
            }
        }
        let Some((pids, dir, _)) = self.resolved.get_mut(&i) else {
            return;
        };
        if let Some(dir) = dir {
            // Processes that started in it since.
            *pids = procs_below(dir).into_iter().collect();
        }
        for &pid in pids.iter() {
            let process = sys::comm_of(pid, pid);
            out.insert(
                pid,
                TargetId {
                    key: key.to_string(),
                    process,
                },
            );
        }
    }

    fn host_wide(&mut self) -> BTreeMap<u32, TargetId> {
        let now = Instant::now();
        let mut out = BTreeMap::new();
        let Ok(dir) = std::fs::read_dir(&self.roots.proc) else {
            return out;
        };
        let pids: Vec<u32> = dir
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
            .collect();
        self.known.retain(|p, _| pids.contains(p));
        self.others.retain(|p, _| pids.contains(p));
        for pid in pids {
            if let Some(t) = self.known.get(&pid) {
                out.insert(pid, t.clone());
                continue;
            }
            if self
                .others
                .get(&pid)
                .is_some_and(|at| now.duration_since(*at) < RECHECK_OTHERS)
            {
                continue;
            }
            let has_runtime = sys::tids_of(pid)
                .into_iter()
                .any(|tid| is_worker(&sys::comm_of(pid, tid), self.threads.as_ref()));
            if !has_runtime {
                self.others.insert(pid, now);
                continue;
            }
            let target = self.name_of(pid);
            self.known.insert(pid, target.clone());
            out.insert(pid, target);
        }
        out
    }

    /// `container:<name>` (or its short ID when no name is on disk) for a
    /// process in a container, else `pid:<pid>`.
    fn name_of(&mut self, pid: u32) -> TargetId {
        let cgroup = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
        let container = cgroup
            .lines()
            .filter_map(|l| l.splitn(3, ':').nth(2))
            .find_map(match_path);
        let Some((_, id, _)) = container else {
            return pid_target(pid);
        };
        // Container churn must not grow this without bound.
        if self.names.len() >= MAX_NAMES {
            self.names.clear();
        }
        if !self.names.contains_key(&id) {
            let inventory = CgroupMounts::read(&self.roots)
                .map(|m| Inventory::scan(&self.roots, &m))
                .unwrap_or_default();
            let name = inventory
                .by_id
                .get(&id)
                .and_then(|c| c.names.first().cloned());
            self.names.insert(id.clone(), name);
        }
        let label = match self.names.get(&id).cloned().flatten() {
            Some(name) => name,
            None => id[..id.len().min(12)].to_string(),
        };
        TargetId {
            key: format!("container:{label}"),
            process: sys::comm_of(pid, pid),
        }
    }

    fn complain(&mut self, what: String) {
        if self.complaints.len() >= MAX_NAMES {
            self.complaints.clear();
        }
        if !self.complaints.contains(&what) {
            tracing::warn!("{what}");
            eprintln!("starvetrace: watch: {what}");
            self.complaints.push(what);
        }
    }
}

fn pid_target(pid: u32) -> TargetId {
    TargetId {
        key: format!("pid:{pid}"),
        process: sys::comm_of(pid, pid),
    }
}
