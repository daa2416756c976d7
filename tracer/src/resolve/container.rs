//! Find a container's cgroup without asking a daemon: Docker, containerd
//! (Kubernetes) and podman all put each container in a cgroup whose name
//! carries the 64-hex-digit container ID, and leave their names on disk.
//!
//! Sources, all optional (a host has some of them):
//! - cgroupfs: every mounted hierarchy walked for ID-named directories;
//! - `/proc/*/cgroup`: the same names in each process's cgroup paths (works
//!   when cgroupfs is not mounted where we run);
//! - Docker `containers/<id>/config.v2.json` (`Name`, `State.Pid`);
//! - podman `*-containers/containers.json` (`id`, `names`);
//! - containerd `io.containerd.runtime.v2.task/<ns>/<id>/config.json`
//!   (CRI annotations: container and pod names) and `init.pid`.

use std::{
    collections::{BTreeMap, BTreeSet},
    fs,
    path::Path,
};

use serde::{Deserialize, Serialize};

use crate::cgroup::{CgroupMounts, Roots};

/// What is known about the selected container.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerInfo {
    /// Full 64-hex-digit ID.
    pub id: String,
    /// Name as the runtime shows it (`zeam_0`), when its state was readable.
    pub name: Option<String>,
    /// "docker", "containerd", "podman", "cri-o" or "kubernetes".
    pub runtime: String,
}

impl ContainerInfo {
    /// `zeam_0 (docker 0123456789ab)`.
    pub fn label(&self) -> String {
        let short = &self.id[..self.id.len().min(12)];
        match &self.name {
            Some(n) => format!("{n} ({} {short})", self.runtime),
            None => format!("{} {short}", self.runtime),
        }
    }
}

/// A container seen in any source, merged by ID.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Candidate {
    pub id: String,
    pub runtime: String,
    /// Every name it answers to (Docker name, CRI `pod/container`, ...).
    pub names: Vec<String>,
    /// Its cgroup's hierarchy path (`/system.slice/docker-<id>.scope`).
    pub cgroup: Option<String>,
    /// Processes seen in it through /proc/*/cgroup.
    pub pids: BTreeSet<u32>,
    /// The init process's PID from the runtime's state, if recorded.
    pub state_pid: Option<u32>,
}

impl Candidate {
    /// Running = something on the host shows it exists now.
    pub fn running(&self) -> bool {
        self.cgroup.is_some() || !self.pids.is_empty()
    }

    pub fn info(&self) -> ContainerInfo {
        ContainerInfo {
            id: self.id.clone(),
            name: self.names.first().cloned(),
            runtime: self.runtime.clone(),
        }
    }

    pub fn label(&self) -> String {
        self.info().label()
    }
}

fn is_id(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

/// Runtime and ID a cgroup directory name stands for.
pub fn match_component(parent: Option<&str>, name: &str) -> Option<(&'static str, String)> {
    let scoped = |prefix: &str| {
        name.strip_prefix(prefix)
            .and_then(|r| r.strip_suffix(".scope"))
            .filter(|id| is_id(id))
            .map(str::to_string)
    };
    if let Some(id) = scoped("docker-") {
        return Some(("docker", id));
    }
    if let Some(id) = scoped("cri-containerd-") {
        return Some(("containerd", id));
    }
    if let Some(id) = scoped("crio-") {
        return Some(("cri-o", id));
    }
    if let Some(id) = scoped("libpod-") {
        return Some(("podman", id));
    }
    // podman with the cgroupfs manager: /libpod_parent/libpod-<id>.
    if let Some(id) = name.strip_prefix("libpod-").filter(|id| is_id(id)) {
        return Some(("podman", id.to_string()));
    }
    if is_id(name) {
        match parent {
            // Docker with the cgroupfs driver: /docker/<id>.
            Some("docker") => return Some(("docker", name.to_string())),
            // Kubernetes with the cgroupfs driver: /kubepods/<qos>/pod<uid>/<id>.
            Some(p) if p.starts_with("pod") => return Some(("kubernetes", name.to_string())),
            _ => {}
        }
    }
    None
}

/// The first container component of a hierarchy path, and the path up to it.
pub fn match_path(path: &str) -> Option<(&'static str, String, String)> {
    let mut prefix = String::new();
    let mut parent: Option<&str> = None;
    for comp in path.split('/').filter(|c| !c.is_empty()) {
        prefix.push('/');
        prefix.push_str(comp);
        if let Some((rt, id)) = match_component(parent, comp) {
            return Some((rt, id, prefix));
        }
        parent = Some(comp);
    }
    None
}

/// Every container found on this host, by ID.
#[derive(Debug, Default)]
pub struct Inventory {
    pub by_id: BTreeMap<String, Candidate>,
    /// Where we looked, for "nothing found" messages.
    pub looked: Vec<String>,
}

impl Inventory {
    pub fn scan(roots: &Roots, mounts: &CgroupMounts) -> Self {
        let mut inv = Inventory::default();
        inv.scan_cgroupfs(mounts);
        inv.scan_proc(roots);
        inv.scan_docker(&roots.docker);
        for p in &roots.podman {
            inv.scan_podman(p);
        }
        inv.scan_containerd(&roots.containerd);
        inv
    }

    fn entry(&mut self, id: &str, runtime: &str) -> &mut Candidate {
        let c = self
            .by_id
            .entry(id.to_string())
            .or_insert_with(|| Candidate {
                id: id.to_string(),
                runtime: runtime.to_string(),
                ..Default::default()
            });
        // A runtime's own state beats the generic "kubernetes" guess.
        if c.runtime == "kubernetes" && runtime != "kubernetes" {
            c.runtime = runtime.to_string();
        }
        c
    }

    fn add_name(&mut self, id: &str, runtime: &str, name: &str) {
        let c = self.entry(id, runtime);
        if !name.is_empty() && !c.names.iter().any(|n| n == name) {
            c.names.push(name.to_string());
        }
    }

    fn scan_cgroupfs(&mut self, mounts: &CgroupMounts) {
        // cgroup2 first: its path is the one the in-kernel filter needs.
        // Of v1, only the hierarchies we read from are walked (runtimes
        // mirror the tree in all of them).
        let walked = mounts
            .v2
            .iter()
            .chain(mounts.v1_for("memory"))
            .chain(mounts.v1_for("cpu"));
        for m in walked {
            self.looked.push(m.dir.display().to_string());
            let mut stack = vec![(m.dir.clone(), 0u32)];
            while let Some((dir, depth)) = stack.pop() {
                let Ok(rd) = fs::read_dir(&dir) else { continue };
                let parent = dir.file_name().map(|s| s.to_string_lossy().into_owned());
                for e in rd.flatten() {
                    if !e.file_type().is_ok_and(|t| t.is_dir()) {
                        continue;
                    }
                    let name = e.file_name().to_string_lossy().into_owned();
                    if let Some((rt, id)) = match_component(parent.as_deref(), &name) {
                        if let Some(hier) = m.path_of(&e.path()) {
                            let c = self.entry(&id, rt);
                            c.cgroup.get_or_insert(hier);
                        }
                        continue;
                    }
                    // Containers sit a few levels down (kubepods.slice/
                    // kubepods-burstable.slice/...pod.slice/...): 8 is ample
                    // and bounds the walk on hosts with deep trees.
                    if depth < 8 {
                        stack.push((e.path(), depth + 1));
                    }
                }
            }
        }
    }

    fn scan_proc(&mut self, roots: &Roots) {
        self.looked
            .push(format!("{}/*/cgroup", roots.proc.display()));
        let Ok(rd) = fs::read_dir(&roots.proc) else {
            return;
        };
        for e in rd.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
                continue;
            };
            let Ok(text) = fs::read_to_string(e.path().join("cgroup")) else {
                continue;
            };
            for line in text.lines() {
                let path = line.splitn(3, ':').nth(2).unwrap_or("");
                if let Some((rt, id, prefix)) = match_path(path) {
                    let v2 = line.starts_with("0::");
                    let c = self.entry(&id, rt);
                    c.pids.insert(pid);
                    if v2 || c.cgroup.is_none() {
                        c.cgroup = Some(prefix);
                    }
                }
            }
        }
    }

    fn scan_docker(&mut self, docker: &Path) {
        let dir = docker.join("containers");
        self.looked.push(dir.display().to_string());
        let Ok(rd) = fs::read_dir(&dir) else { return };
        for e in rd.flatten() {
            let id = e.file_name().to_string_lossy().into_owned();
            if !is_id(&id) {
                continue;
            }
            let Some(v) = read_json(&e.path().join("config.v2.json")) else {
                self.entry(&id, "docker");
                continue;
            };
            let name = v["Name"].as_str().unwrap_or("").trim_start_matches('/');
            self.add_name(&id, "docker", name);
            let c = self.entry(&id, "docker");
            c.runtime = "docker".into();
            let running = v["State"]["Running"].as_bool().unwrap_or(false);
            if let Some(pid) = v["State"]["Pid"].as_u64().filter(|p| running && *p > 0) {
                c.state_pid = u32::try_from(pid).ok();
            }
        }
    }

    fn scan_podman(&mut self, storage: &Path) {
        self.looked.push(storage.display().to_string());
        let Ok(rd) = fs::read_dir(storage) else {
            return;
        };
        for e in rd.flatten() {
            let dirname = e.file_name().to_string_lossy().into_owned();
            if !dirname.ends_with("-containers") {
                continue;
            }
            let Some(v) = read_json(&e.path().join("containers.json")) else {
                continue;
            };
            for c in v.as_array().into_iter().flatten() {
                let Some(id) = c["id"].as_str().filter(|id| is_id(id)) else {
                    continue;
                };
                let names = c["names"].as_array().cloned().unwrap_or_default();
                self.entry(id, "podman").runtime = "podman".into();
                for n in names.iter().filter_map(|n| n.as_str()) {
                    self.add_name(id, "podman", n);
                }
            }
        }
    }

    fn scan_containerd(&mut self, run: &Path) {
        let tasks = run.join("io.containerd.runtime.v2.task");
        self.looked.push(tasks.display().to_string());
        let Ok(namespaces) = fs::read_dir(&tasks) else {
            return;
        };
        for ns in namespaces.flatten() {
            // Docker's own containers live in the `moby` namespace; the
            // Docker state already names them.
            let docker_ns = ns.file_name() == "moby";
            let Ok(rd) = fs::read_dir(ns.path()) else {
                continue;
            };
            for e in rd.flatten() {
                let id = e.file_name().to_string_lossy().into_owned();
                if !is_id(&id) {
                    continue;
                }
                let rt = if docker_ns { "docker" } else { "containerd" };
                let pid = fs::read_to_string(e.path().join("init.pid"))
                    .ok()
                    .and_then(|s| s.trim().parse::<u32>().ok());
                let c = self.entry(&id, rt);
                if c.state_pid.is_none() {
                    c.state_pid = pid;
                }
                if docker_ns {
                    continue;
                }
                c.runtime = "containerd".into();
                let Some(v) = read_json(&e.path().join("config.json")) else {
                    continue;
                };
                let a = &v["annotations"];
                let cname = a["io.kubernetes.cri.container-name"].as_str();
                let pod = a["io.kubernetes.cri.sandbox-name"].as_str();
                let is_sandbox = a["io.kubernetes.cri.container-type"].as_str() == Some("sandbox");
                match (cname, pod) {
                    (Some(cn), Some(p)) => {
                        self.add_name(&id, rt, cn);
                        self.add_name(&id, rt, &format!("{p}/{cn}"));
                    }
                    (Some(cn), None) => self.add_name(&id, rt, cn),
                    (None, Some(p)) if is_sandbox => self.add_name(&id, rt, &format!("{p}/POD")),
                    _ => {}
                }
            }
        }
    }
}

fn read_json(path: &Path) -> Option<serde_json::Value> {
    let text = fs::read_to_string(path).ok()?;
    serde_json::from_str(&text).ok()
}

/// Why a query picked no container.
#[derive(Debug, PartialEq, Eq)]
pub enum Miss {
    None,
    Ambiguous(Vec<String>),
}

/// Select by exact ID, then exact name, then unique ID prefix (Docker's
/// order). A leading `/` on a name is ignored (Docker stores `/zeam_0`).
pub fn select<'a>(inv: &'a Inventory, query: &str) -> Result<&'a Candidate, Miss> {
    let q = query.trim().trim_start_matches('/');
    if q.is_empty() {
        return Err(Miss::None);
    }
    if let Some(c) = inv.by_id.get(q) {
        return Ok(c);
    }
    let by_name: Vec<&Candidate> = inv
        .by_id
        .values()
        .filter(|c| c.names.iter().any(|n| n == q))
        .collect();
    // A stopped container with the same name as a running one (Docker
    // keeps both) should not make the name ambiguous.
    let pick = |v: Vec<&'a Candidate>| -> Result<&'a Candidate, Miss> {
        let running: Vec<&Candidate> = v.iter().copied().filter(|c| c.running()).collect();
        match (v.len(), running.len()) {
            (1, _) => Ok(v[0]),
            (_, 1) => Ok(running[0]),
            _ => Err(Miss::Ambiguous(v.iter().map(|c| c.label()).collect())),
        }
    };
    if !by_name.is_empty() {
        return pick(by_name);
    }
    let lower = q.to_ascii_lowercase();
    if lower.bytes().all(|b| b.is_ascii_hexdigit()) {
        let by_prefix: Vec<&Candidate> = inv
            .by_id
            .values()
            .filter(|c| c.id.starts_with(&lower))
            .collect();
        if !by_prefix.is_empty() {
            return pick(by_prefix);
        }
    }
    Err(Miss::None)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) const ID_A: &str =
        "0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9";
    pub(crate) const ID_B: &str =
        "0a1bffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff";
    pub(crate) const ID_C: &str =
        "c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00";

    #[test]
    fn cgroup_names_of_each_runtime() {
        let cases = [
            (format!("/system.slice/docker-{ID_A}.scope"), "docker"),
            (format!("/docker/{ID_A}"), "docker"),
            (
                format!(
                    "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1.slice/cri-containerd-{ID_A}.scope"
                ),
                "containerd",
            ),
            (format!("/kubepods/burstable/pod1234/{ID_A}"), "kubernetes"),
            (format!("/machine.slice/libpod-{ID_A}.scope"), "podman"),
            (format!("/libpod_parent/libpod-{ID_A}"), "podman"),
            (format!("/system.slice/crio-{ID_A}.scope"), "cri-o"),
        ];
        for (path, rt) in cases {
            let (got_rt, id, prefix) = match_path(&path).unwrap();
            assert_eq!((got_rt, id.as_str()), (rt, ID_A), "{path}");
            assert_eq!(prefix, path);
        }
        // conmon's scope and a sub-cgroup below the container.
        assert!(match_path(&format!("/machine.slice/libpod-conmon-{ID_A}.scope")).is_none());
        let (_, _, prefix) = match_path(&format!("/docker/{ID_A}/child")).unwrap();
        assert_eq!(prefix, format!("/docker/{ID_A}"));
        assert!(match_path("/system.slice/ssh.service").is_none());
        assert!(match_path(&format!("/other/{ID_A}")).is_none());
    }

    fn inv() -> Inventory {
        let mut inv = Inventory::default();
        inv.add_name(ID_A, "docker", "zeam_0");
        inv.entry(ID_A, "docker").cgroup = Some(format!("/docker/{ID_A}"));
        inv.add_name(ID_B, "docker", "zeam_1");
        inv.entry(ID_B, "docker").pids.insert(5);
        inv.add_name(ID_C, "podman", "web");
        inv
    }

    #[test]
    fn select_by_name_id_and_prefix() {
        let inv = inv();
        assert_eq!(select(&inv, "zeam_0").unwrap().id, ID_A);
        assert_eq!(select(&inv, "/zeam_1").unwrap().id, ID_B);
        assert_eq!(select(&inv, ID_C).unwrap().id, ID_C);
        assert_eq!(select(&inv, "c0f").unwrap().id, ID_C);
        assert_eq!(select(&inv, "0A1B2").unwrap().id, ID_A);
        match select(&inv, "0a1b") {
            Err(Miss::Ambiguous(c)) => assert_eq!(c.len(), 2),
            other => panic!("{other:?}"),
        }
        assert_eq!(select(&inv, "nope"), Err(Miss::None));
        assert_eq!(select(&inv, ""), Err(Miss::None));
    }
}
