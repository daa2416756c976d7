//! Where the cgroup hierarchies are mounted and which directory a process's
//! cgroup is in each of them. Everything is read through [`Roots`] so tests
//! run against fake layouts in a temp dir.

use std::{
    os::unix::fs::MetadataExt,
    path::{Component, Path, PathBuf},
};

use crate::{
    error::{Error, Result},
    model::cgroup::CgroupPaths,
};
use procfs::{FromRead, ProcessCGroups, process::MountInfos};

/// The filesystem locations starvetrace reads. `Roots::default()` is the
/// live host; tests point them into a temp dir.
#[derive(Clone, Debug)]
pub struct Roots {
    /// procfs mount (`/proc`).
    pub proc: PathBuf,
    /// The mount table that says where cgroup hierarchies are
    /// (`/proc/self/mountinfo`).
    pub mountinfo: PathBuf,
    /// Prefix put before every mount point read from `mountinfo` (`/`).
    pub fs: PathBuf,
    /// Docker's state directory (`/var/lib/docker`).
    pub docker: PathBuf,
    /// Podman/containers-storage roots (`/var/lib/containers/storage`).
    pub podman: Vec<PathBuf>,
    /// containerd's runtime state (`/run/containerd`).
    pub containerd: PathBuf,
}

impl Default for Roots {
    fn default() -> Self {
        Roots::under(Path::new("/"))
    }
}

impl Roots {
    /// Every root below `dir`, laid out like a host (`dir/proc`,
    /// `dir/var/lib/docker`, ...).
    pub fn under(dir: &Path) -> Self {
        Roots {
            proc: dir.join("proc"),
            mountinfo: dir.join("proc/self/mountinfo"),
            fs: dir.to_path_buf(),
            docker: dir.join("var/lib/docker"),
            podman: vec![
                dir.join("var/lib/containers/storage"),
                dir.join("run/containers/storage"),
            ],
            containerd: dir.join("run/containerd"),
        }
    }
}

/// One mounted hierarchy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mount {
    /// Mount point, with [`Roots::fs`] in front.
    pub dir: PathBuf,
    /// The hierarchy path mounted there (`/` unless bind-mounted or seen
    /// from inside a cgroup namespace).
    pub root: String,
    /// v1 controllers on this hierarchy (`memory`, `cpu`, `name=systemd`);
    /// empty for cgroup2.
    pub controllers: Vec<String>,
}

impl Mount {
    /// Directory of hierarchy path `path` (as in /proc/PID/cgroup) under
    /// this mount, if the path is inside the mounted subtree.
    pub fn dir_of(&self, path: &str) -> Option<PathBuf> {
        let rel = if self.root == "/" {
            path
        } else {
            let rest = path.strip_prefix(self.root.as_str())?;
            if !(rest.is_empty() || rest.starts_with('/')) {
                return None;
            }
            rest
        };
        Some(join_rel(&self.dir, rel))
    }

    /// Level of hierarchy path `path` below the hierarchy's root.
    pub fn level_of(path: &str) -> u32 {
        path.split('/').filter(|c| !c.is_empty()).count() as u32
    }

    /// The hierarchy path of a directory below this mount (inverse of
    /// [`Mount::dir_of`]).
    pub fn path_of(&self, dir: &Path) -> Option<String> {
        let rel = dir.strip_prefix(&self.dir).ok()?;
        let mut out = if self.root == "/" {
            String::new()
        } else {
            self.root.trim_end_matches('/').to_string()
        };
        for c in rel.components() {
            match c {
                Component::Normal(s) => {
                    out.push('/');
                    out.push_str(&s.to_string_lossy());
                }
                Component::CurDir => {}
                _ => return None,
            }
        }
        Some(if out.is_empty() { "/".into() } else { out })
    }
}

/// `dir` + hierarchy path, refusing `..` so a path cannot escape the mount.
pub(crate) fn join_rel(dir: &Path, rel: &str) -> PathBuf {
    let mut out = dir.to_path_buf();
    for c in rel.split('/') {
        if !c.is_empty() && c != "." && c != ".." {
            out.push(c);
        }
    }
    out
}

/// v1 controller names as they appear in mountinfo super options.
const V1_CONTROLLERS: &[&str] = &[
    "cpu",
    "cpuacct",
    "cpuset",
    "memory",
    "devices",
    "freezer",
    "net_cls",
    "net_prio",
    "blkio",
    "perf_event",
    "hugetlb",
    "pids",
    "rdma",
    "misc",
];

/// The v1 controllers (and `name=` of a named hierarchy) in a cgroup
/// mount's super options (`rw,memory` or `rw,name=systemd`), sorted.
pub fn v1_controllers<'a>(
    super_options: impl IntoIterator<Item = (&'a str, Option<&'a str>)>,
) -> Vec<String> {
    let mut controllers: Vec<String> = super_options
        .into_iter()
        .filter_map(|(k, v)| match (k, v) {
            ("name", Some(n)) => Some(format!("name={n}")),
            (k, None) if V1_CONTROLLERS.contains(&k) => Some(k.to_string()),
            _ => None,
        })
        .collect();
    controllers.sort();
    controllers
}

/// Every cgroup hierarchy mounted in our mount namespace.
#[derive(Clone, Debug, Default)]
pub struct CgroupMounts {
    pub v2: Option<Mount>,
    pub v1: Vec<Mount>,
}

impl CgroupMounts {
    pub fn read(roots: &Roots) -> Result<Self> {
        let infos = MountInfos::from_file(&roots.mountinfo).map_err(|e| Error::Input {
            path: roots.mountinfo.clone(),
            reason: e.to_string(),
        })?;
        Ok(Self::from_infos(&infos, &roots.fs))
    }

    /// The hierarchies in a mountinfo text (`/proc/self/mountinfo`), mount
    /// points put under `fs` (`/` on the live host).
    pub fn parse(mountinfo: &str, fs: &Path) -> Result<Self> {
        let infos = MountInfos::from_read(mountinfo.as_bytes()).map_err(|e| Error::Input {
            path: "mountinfo".into(),
            reason: e.to_string(),
        })?;
        Ok(Self::from_infos(&infos, fs))
    }

    fn from_infos(infos: &MountInfos, fs: &Path) -> Self {
        let mut out = CgroupMounts::default();
        for m in infos.iter() {
            let dir = join_rel(fs, &m.mount_point.to_string_lossy());
            match m.fs_type.as_str() {
                "cgroup2" => {
                    // Several mounts of the same hierarchy (bind mounts): the
                    // one with the widest view (root `/`) wins.
                    let better = out.v2.as_ref().is_none_or(|cur| cur.root != "/");
                    if better {
                        out.v2 = Some(Mount {
                            dir,
                            root: m.root.clone(),
                            controllers: Vec::new(),
                        });
                    }
                }
                "cgroup" => {
                    let controllers = v1_controllers(
                        m.super_options
                            .iter()
                            .map(|(k, v)| (k.as_str(), v.as_deref())),
                    );
                    let dup = out.v1.iter().position(|x| x.controllers == controllers);
                    let mount = Mount {
                        dir,
                        root: m.root.clone(),
                        controllers,
                    };
                    match dup {
                        Some(i) if out.v1[i].root != "/" && mount.root == "/" => out.v1[i] = mount,
                        Some(_) => {}
                        None => out.v1.push(mount),
                    }
                }
                _ => {}
            }
        }
        out
    }

    /// The v1 hierarchy carrying `controller`.
    pub fn v1_for(&self, controller: &str) -> Option<&Mount> {
        self.v1
            .iter()
            .find(|m| m.controllers.iter().any(|c| c == controller))
    }

    /// Every mount, v2 first.
    pub fn all(&self) -> impl Iterator<Item = &Mount> {
        self.v2.iter().chain(self.v1.iter())
    }

    /// The mount a directory lies under (the deepest mount point wins, so
    /// `/sys/fs/cgroup/unified` beats a tmpfs-less `/sys/fs/cgroup` v2).
    pub fn containing(&self, dir: &Path) -> Option<&Mount> {
        self.all()
            .filter(|m| dir.starts_with(&m.dir))
            .max_by_key(|m| m.dir.components().count())
    }

    /// Paths of one hierarchy path in every hierarchy where it exists:
    /// the same relative path is looked up in cgroup2 and in the v1 memory
    /// and cpu hierarchies (on hybrid hosts systemd and container runtimes
    /// mirror the tree in all of them).
    pub fn paths_for(&self, v2_path: Option<&str>, v1_path: Option<&str>) -> CgroupPaths {
        let mut out = CgroupPaths::default();
        if let (Some(m), Some(p)) = (&self.v2, v2_path)
            && let Some(dir) = m.dir_of(p).filter(|d| d.is_dir())
        {
            out.v2_id = std::fs::metadata(&dir).ok().map(|md| md.ino());
            // `p` is a hierarchy path (it includes the mount's root), so
            // its depth is the level the kernel counts. Inside a cgroup
            // namespace it would be relative to the namespace root.
            out.v2_level = Some(Mount::level_of(p));
            out.v2 = Some(dir);
        }
        if let Some(p) = v1_path {
            out.v1_memory = self
                .v1_for("memory")
                .and_then(|m| m.dir_of(p))
                .filter(|d| d.is_dir());
            out.v1_cpu = self
                .v1_for("cpu")
                .and_then(|m| m.dir_of(p))
                .filter(|d| d.is_dir());
        }
        out
    }

    /// One line for error messages: where the hierarchies are.
    pub fn describe(&self) -> String {
        let mut parts: Vec<String> = Vec::new();
        if let Some(m) = &self.v2 {
            parts.push(format!("cgroup2 at {}", m.dir.display()));
        }
        for m in &self.v1 {
            parts.push(format!(
                "{} at {}",
                m.controllers.join(","),
                m.dir.display()
            ));
        }
        if parts.is_empty() {
            "no cgroup filesystem is mounted".into()
        } else {
            parts.join(", ")
        }
    }
}

/// The cgroup lines of /proc/PID/cgroup: the cgroup2 path and per-v1
/// controller paths.
#[derive(Clone, Debug, Default)]
pub struct ProcCgroups {
    pub v2: Option<String>,
    /// (controllers, path) per v1 hierarchy.
    pub v1: Vec<(Vec<String>, String)>,
}

impl ProcCgroups {
    /// The lines of a /proc/PID/cgroup text.
    pub fn parse(text: &str) -> Result<Self> {
        let groups = ProcessCGroups::from_read(text.as_bytes()).map_err(|e| Error::Input {
            path: "/proc/PID/cgroup".into(),
            reason: e.to_string(),
        })?;
        Ok(Self::from_groups(groups))
    }

    pub fn read(roots: &Roots, pid: u32) -> Result<Self> {
        let path = roots.proc.join(pid.to_string()).join("cgroup");
        let groups = ProcessCGroups::from_file(&path).map_err(|e| {
            if !roots.proc.join(pid.to_string()).exists() {
                Error::TargetNotFound(format!("no process with PID {pid}"))
            } else {
                Error::Input {
                    path: path.clone(),
                    reason: e.to_string(),
                }
            }
        })?;
        Ok(Self::from_groups(groups))
    }

    fn from_groups(groups: ProcessCGroups) -> Self {
        let mut out = ProcCgroups::default();
        for g in groups {
            if g.hierarchy == 0 && g.controllers.is_empty() {
                out.v2 = Some(g.pathname);
            } else {
                out.v1.push((g.controllers, g.pathname));
            }
        }
        out
    }

    pub fn v1_path(&self, controller: &str) -> Option<&str> {
        self.v1
            .iter()
            .find(|(cs, _)| cs.iter().any(|c| c == controller))
            .map(|(_, p)| p.as_str())
    }
}

/// The cgroup directories of a running process.
pub fn paths_of_pid(pid: u32) -> Result<CgroupPaths> {
    paths_of_pid_in(&Roots::default(), pid)
}

pub fn paths_of_pid_in(roots: &Roots, pid: u32) -> Result<CgroupPaths> {
    let mounts = CgroupMounts::read(roots)?;
    let pc = ProcCgroups::read(roots, pid)?;
    let mut out = mounts.paths_for(pc.v2.as_deref(), None);
    // v1 controllers can sit at different paths (a process moved in one
    // hierarchy only), so each is looked up with its own path.
    let v1 = |ctl: &str| {
        let m = mounts.v1_for(ctl)?;
        let p = pc.v1_path(ctl)?;
        m.dir_of(p).filter(|d| d.is_dir())
    };
    out.v1_memory = v1("memory");
    out.v1_cpu = v1("cpu");
    Ok(out)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::fs;

    /// A hybrid host like the development machine, under `dir`.
    pub(crate) fn fake_hybrid(dir: &Path) -> Roots {
        let roots = Roots::under(dir);
        fs::create_dir_all(roots.mountinfo.parent().unwrap()).unwrap();
        fs::write(
            &roots.mountinfo,
            "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n\
             32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct\n\
             35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n\
             40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd\n\
             41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw,nsdelegate\n",
        )
        .unwrap();
        for d in ["unified", "memory", "cpu,cpuacct", "systemd"] {
            fs::create_dir_all(dir.join("sys/fs/cgroup").join(d)).unwrap();
        }
        roots
    }

    /// A pure cgroup2 host under `dir`.
    pub(crate) fn fake_v2(dir: &Path) -> Roots {
        let roots = Roots::under(dir);
        fs::create_dir_all(roots.mountinfo.parent().unwrap()).unwrap();
        fs::write(
            &roots.mountinfo,
            "22 1 8:1 / / rw - ext4 /dev/sda1 rw\n\
             30 22 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n",
        )
        .unwrap();
        fs::create_dir_all(dir.join("sys/fs/cgroup")).unwrap();
        roots
    }

    fn write_proc_cgroup(roots: &Roots, pid: u32, text: &str) {
        let d = roots.proc.join(pid.to_string());
        fs::create_dir_all(&d).unwrap();
        fs::write(d.join("cgroup"), text).unwrap();
    }

    #[test]
    fn hybrid_mounts_and_pid_paths() {
        let tmp = tempfile::tempdir().unwrap();
        let roots = fake_hybrid(tmp.path());
        let m = CgroupMounts::read(&roots).unwrap();
        assert_eq!(
            m.v2.as_ref().unwrap().dir,
            tmp.path().join("sys/fs/cgroup/unified")
        );
        assert_eq!(
            m.v1_for("cpu").unwrap().dir,
            tmp.path().join("sys/fs/cgroup/cpu,cpuacct")
        );
        assert_eq!(
            m.v1_for("memory").unwrap().dir,
            tmp.path().join("sys/fs/cgroup/memory")
        );
        assert!(m.v1_for("name=systemd").is_some());
        let cg = "system.slice/docker-abc.scope";
        for d in ["unified", "memory", "cpu,cpuacct"] {
            fs::create_dir_all(tmp.path().join("sys/fs/cgroup").join(d).join(cg)).unwrap();
        }
        write_proc_cgroup(
            &roots,
            42,
            "4:memory:/system.slice/docker-abc.scope\n\
             1:cpu,cpuacct:/system.slice/docker-abc.scope\n\
             0::/system.slice/docker-abc.scope\n",
        );
        let p = paths_of_pid_in(&roots, 42).unwrap();
        assert_eq!(
            p.v2.as_deref(),
            Some(tmp.path().join("sys/fs/cgroup/unified").join(cg).as_path())
        );
        assert_eq!(p.v2_level, Some(2));
        let ino = fs::metadata(p.v2.as_ref().unwrap()).unwrap().ino();
        assert_eq!(p.v2_id, Some(ino));
        assert!(
            p.v1_memory
                .unwrap()
                .ends_with("memory/system.slice/docker-abc.scope")
        );
        assert!(
            p.v1_cpu
                .unwrap()
                .ends_with("cpu,cpuacct/system.slice/docker-abc.scope")
        );
    }

    #[test]
    fn pure_v2_root_cgroup_is_level_zero() {
        let tmp = tempfile::tempdir().unwrap();
        let roots = fake_v2(tmp.path());
        write_proc_cgroup(&roots, 7, "0::/\n");
        let p = paths_of_pid_in(&roots, 7).unwrap();
        assert_eq!(p.v2_level, Some(0));
        assert_eq!(p.layout(), "v2");
        assert!(p.v1_memory.is_none());
    }

    #[test]
    fn missing_pid_is_target_not_found() {
        let tmp = tempfile::tempdir().unwrap();
        let roots = fake_v2(tmp.path());
        let err = paths_of_pid_in(&roots, 999_999).unwrap_err();
        assert!(matches!(err, Error::TargetNotFound(ref m) if m == "no process with PID 999999"));
    }

    #[test]
    fn bind_mounted_subtree_maps_paths() {
        let m = Mount {
            dir: PathBuf::from("/sys/fs/cgroup"),
            root: "/kubepods/pod1".into(),
            controllers: vec![],
        };
        assert_eq!(
            m.dir_of("/kubepods/pod1/c1"),
            Some(PathBuf::from("/sys/fs/cgroup/c1"))
        );
        assert_eq!(m.dir_of("/kubepods/pod10"), None);
        assert_eq!(m.dir_of("/other"), None);
        assert_eq!(
            m.path_of(Path::new("/sys/fs/cgroup/c1")).as_deref(),
            Some("/kubepods/pod1/c1")
        );
        assert_eq!(
            join_rel(Path::new("/a"), "/../../etc"),
            PathBuf::from("/a/etc")
        );
    }

    #[test]
    fn parses_texts_for_other_callers() {
        let mountinfo = "30 23 0:26 / /sys/fs/cgroup/unified rw,nosuid shared:4 - cgroup2 cgroup2 rw,nsdelegate\n\
                         31 23 0:27 / /sys/fs/cgroup/memory rw,nosuid shared:5 - cgroup cgroup rw,memory\n\
                         32 23 0:28 / /sys/fs/cgroup/systemd rw,nosuid shared:6 - cgroup cgroup rw,xattr,name=systemd\n";
        let m = CgroupMounts::parse(mountinfo, Path::new("/")).unwrap();
        assert_eq!(
            m.v2.as_ref().unwrap().dir,
            Path::new("/sys/fs/cgroup/unified")
        );
        assert_eq!(m.v1_for("memory").unwrap().controllers, ["memory"]);
        assert_eq!(m.v1[1].controllers, ["name=systemd"]);
        assert_eq!(
            v1_controllers([("rw", None), ("cpuacct", None), ("cpu", None)]),
            ["cpu", "cpuacct"]
        );
        let pc = ProcCgroups::parse("12:memory:/a\n1:name=systemd:/b\n0::/c\n").unwrap();
        assert_eq!(pc.v2.as_deref(), Some("/c"));
        assert_eq!(pc.v1_path("memory"), Some("/a"));
    }
}
