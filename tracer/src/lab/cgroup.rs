//! The lab's own cgroups: created below the cgroups this process is in, the
//! whole process moved in before any lab thread starts, limits set only in
//! them, and on the way out (including Ctrl-C, SIGTERM and error paths, via
//! `Drop`) the process moved back and the directories removed. Nothing else
//! is ever written: other cgroups are only read.

use std::{
    fs, io,
    path::{Path, PathBuf},
    thread,
    time::{Duration, Instant},
};

use super::LabError;

/// Names of lab cgroups: `starvetrace-lab-<pid>`.
pub const PREFIX: &str = "starvetrace-lab-";

/// One line of /proc/self/cgroup.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Membership {
    /// Controllers of a v1 hierarchy (`memory`, `cpu,cpuacct`, `name=systemd`); empty for v2.
    pub controllers: Vec<String>,
    pub path: String,
}

pub fn parse_proc_cgroup(text: &str) -> Vec<Membership> {
    text.lines()
        .filter_map(|l| {
            let mut it = l.splitn(3, ':');
            let _id = it.next()?;
            let ctrl = it.next()?;
            let path = it.next()?;
            Some(Membership {
                controllers: ctrl
                    .split(',')
                    .filter(|c| !c.is_empty())
                    .map(str::to_string)
                    .collect(),
                path: path.to_string(),
            })
        })
        .collect()
}

/// A cgroup mount from /proc/self/mountinfo.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mount {
    pub root: String,
    pub mount_point: PathBuf,
    pub v2: bool,
    /// For v1: the controllers in the super options.
    pub controllers: Vec<String>,
}

pub fn parse_mountinfo(text: &str) -> Vec<Mount> {
    text.lines()
        .filter_map(|l| {
            let (pre, post) = l.split_once(" - ")?;
            let pre: Vec<&str> = pre.split_whitespace().collect();
            let mut post = post.split_whitespace();
            let fstype = post.next()?;
            let _source = post.next()?;
            let sopts = post.next().unwrap_or("");
            let v2 = match fstype {
                "cgroup2" => true,
                "cgroup" => false,
                _ => return None,
            };
            let known = [
                "cpu",
                "cpuacct",
                "cpuset",
                "memory",
                "devices",
                "freezer",
                "blkio",
                "pids",
                "net_cls",
                "net_prio",
                "perf_event",
                "hugetlb",
                "rdma",
                "misc",
            ];
            let controllers = sopts
                .split(',')
                .filter(|o| known.contains(o) || o.starts_with("name="))
                .map(str::to_string)
                .collect();
            Some(Mount {
                root: (*pre.get(3)?).to_string(),
                mount_point: PathBuf::from(unescape(pre.get(4)?)),
                v2,
                controllers,
            })
        })
        .collect()
}

/// mountinfo escapes space, tab, newline and backslash as \ooo.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The directory of the cgroup `path` within a mount (paths in /proc/self/cgroup
/// are relative to the hierarchy root; the mount may expose a sub-tree).
fn dir_in_mount(m: &Mount, path: &str) -> PathBuf {
    let rel = if m.root == "/" {
        path
    } else {
        path.strip_prefix(m.root.as_str()).unwrap_or(path)
    };
    m.mount_point.join(rel.trim_start_matches('/'))
}

/// Which hierarchy a lab cgroup goes into.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hierarchy {
    /// The cgroup2 (unified) hierarchy.
    V2,
    /// The v1 hierarchy carrying this controller.
    V1(&'static str),
}

/// Where this process is in each hierarchy.
#[derive(Clone, Debug)]
pub struct Layout {
    memberships: Vec<Membership>,
    mounts: Vec<Mount>,
}

impl Layout {
    pub fn read() -> Result<Self, LabError> {
        let cg = fs::read_to_string("/proc/self/cgroup")
            .map_err(|e| LabError::io("reading /proc/self/cgroup", e))?;
        let mi = fs::read_to_string("/proc/self/mountinfo")
            .map_err(|e| LabError::io("reading /proc/self/mountinfo", e))?;
        Ok(Self::parse(&cg, &mi))
    }

    pub fn parse(proc_cgroup: &str, mountinfo: &str) -> Self {
        Layout {
            memberships: parse_proc_cgroup(proc_cgroup),
            mounts: parse_mountinfo(mountinfo),
        }
    }

    /// The directory of the cgroup this process is in, in that hierarchy.
    pub fn current(&self, h: Hierarchy) -> Option<PathBuf> {
        match h {
            Hierarchy::V2 => {
                let m = self.memberships.iter().find(|m| m.controllers.is_empty())?;
                let mount = self.mounts.iter().find(|mt| mt.v2)?;
                Some(dir_in_mount(mount, &m.path))
            }
            Hierarchy::V1(c) => {
                let m = self
                    .memberships
                    .iter()
                    .find(|m| m.controllers.iter().any(|x| x == c))?;
                let mount = self
                    .mounts
                    .iter()
                    .find(|mt| !mt.v2 && mt.controllers.iter().any(|x| x == c))?;
                Some(dir_in_mount(mount, &m.path))
            }
        }
    }

    /// Whether a cgroup v2 child of the current cgroup can get `controller`:
    /// it must be enabled in the current cgroup's `cgroup.subtree_control`
    /// (we do not enable it: that would write to a cgroup we did not create).
    pub fn v2_child_can_have(&self, controller: &str) -> Result<(), String> {
        let Some(cur) = self.current(Hierarchy::V2) else {
            return Err("no cgroup v2 (unified) hierarchy is mounted".into());
        };
        let has = |file: &str| {
            fs::read_to_string(cur.join(file))
                .map(|s| s.split_whitespace().any(|c| c == controller))
                .unwrap_or(false)
        };
        if !has("cgroup.controllers") {
            return Err(format!(
                "the cgroup v2 hierarchy has no `{controller}` controller at {} (on a hybrid host it is a v1 controller)",
                cur.display()
            ));
        }
        if !has("cgroup.subtree_control") {
            return Err(format!(
                "`{controller}` is not enabled for children of {} (echo +{controller} > {}/cgroup.subtree_control, if that cgroup has no processes of its own)",
                cur.display(),
                cur.display()
            ));
        }
        Ok(())
    }
}

/// A lab cgroup this run created.
#[derive(Debug)]
struct Created {
    hierarchy: Hierarchy,
    dir: PathBuf,
    /// Where the process was before; it goes back there on cleanup.
    back_to: PathBuf,
    moved: bool,
}

/// The lab's cgroups. Dropping it moves the process back and removes them.
#[derive(Debug, Default)]
pub struct LabCgroups {
    created: Vec<Created>,
    limits: Vec<String>,
    notes: Vec<String>,
    cleaned: bool,
}

impl LabCgroups {
    pub fn new() -> Self {
        Self::default()
    }

    /// Creates `starvetrace-lab-<pid>` below the current cgroup of `h` and
    /// moves the whole process (every thread) into it.
    pub fn join(&mut self, layout: &Layout, h: Hierarchy) -> Result<PathBuf, LabError> {
        let cur = layout.current(h).ok_or_else(|| LabError::Unsupported {
            scenario: String::new(),
            why: match h {
                Hierarchy::V2 => "no cgroup v2 hierarchy is mounted".into(),
                Hierarchy::V1(c) => format!("no v1 `{c}` controller is mounted"),
            },
        })?;
        self.remove_stale(&cur);
        let dir = cur.join(format!("{PREFIX}{}", std::process::id()));
        fs::create_dir(&dir).map_err(|e| LabError::cgroup("creating the lab cgroup", &dir, e))?;
        self.created.push(Created {
            hierarchy: h,
            dir: dir.clone(),
            back_to: cur,
            moved: false,
        });
        write(&dir.join("cgroup.procs"), &std::process::id().to_string())
            .map_err(|e| LabError::cgroup("moving the process into the lab cgroup", &dir, e))?;
        if let Some(c) = self.created.last_mut() {
            c.moved = true;
        }
        Ok(dir)
    }

    /// The lab cgroup in hierarchy `h`, if this run created one.
    pub fn dir(&self, h: Hierarchy) -> Option<&Path> {
        self.created
            .iter()
            .find(|c| c.hierarchy == h)
            .map(|c| c.dir.as_path())
    }

    pub fn all(&self) -> Vec<String> {
        self.created
            .iter()
            .map(|c| c.dir.display().to_string())
            .collect()
    }

    /// Writes a limit file in a lab cgroup (only ever in one we created).
    pub fn set(&mut self, h: Hierarchy, file: &str, value: &str) -> Result<(), LabError> {
        let dir = self
            .dir(h)
            .ok_or_else(|| {
                LabError::cgroup(
                    format!("setting {file}: no lab cgroup in that hierarchy"),
                    PathBuf::new(),
                    io::Error::from(io::ErrorKind::NotFound),
                )
            })?
            .to_path_buf();
        let path = dir.join(file);
        write(&path, value)
            .map_err(|e| LabError::cgroup(format!("setting {file}={value}"), &path, e))?;
        self.limits.push(format!("{}={value}", path.display()));
        Ok(())
    }

    pub fn limits(&self) -> &[String] {
        &self.limits
    }

    /// Moves the process back and removes the lab cgroups. Every task in them
    /// (children the lab forked) must be gone first. Returns what went wrong,
    /// if anything; idempotent.
    pub fn cleanup(&mut self) -> Vec<String> {
        if self.cleaned {
            return std::mem::take(&mut self.notes);
        }
        self.cleaned = true;
        let pid = std::process::id().to_string();
        for c in self.created.iter().rev() {
            if c.moved
                && let Err(e) = write(&c.back_to.join("cgroup.procs"), &pid)
            {
                self.notes.push(format!(
                    "could not move back to {}: {e}",
                    c.back_to.display()
                ));
            }
            if let Err(e) = rmdir_patiently(&c.dir) {
                self.notes.push(format!(
                    "could not remove the lab cgroup {}: {e}",
                    c.dir.display()
                ));
            }
        }
        std::mem::take(&mut self.notes)
    }

    /// Removes empty lab cgroups left by a lab run that was SIGKILLed (their
    /// pid is gone). Only directories with our prefix, only when empty.
    fn remove_stale(&mut self, parent: &Path) {
        let Ok(rd) = fs::read_dir(parent) else { return };
        for e in rd.flatten() {
            let name = e.file_name();
            let Some(pid) = name.to_str().and_then(|n| n.strip_prefix(PREFIX)) else {
                continue;
            };
            let Ok(pid) = pid.parse::<u32>() else {
                continue;
            };
            if pid == std::process::id() || Path::new(&format!("/proc/{pid}")).exists() {
                continue;
            }
            let empty = fs::read_to_string(e.path().join("cgroup.procs"))
                .map(|s| s.trim().is_empty())
                .unwrap_or(false);
            if empty && fs::remove_dir(e.path()).is_ok() {
                self.notes.push(format!(
                    "removed a stale lab cgroup from a dead lab run: {}",
                    e.path().display()
                ));
            }
        }
    }
}

impl Drop for LabCgroups {
    fn drop(&mut self) {
        for n in self.cleanup() {
            eprintln!("starvetrace lab: {n}");
        }
    }
}

fn write(path: &Path, value: &str) -> io::Result<()> {
    fs::write(path, value)
}

/// rmdir fails with EBUSY while a task (a just-killed child) is still leaving;
/// retry for a little while.
fn rmdir_patiently(dir: &Path) -> io::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        match fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) if Instant::now() >= deadline => return Err(e),
            Err(_) => thread::sleep(Duration::from_millis(20)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID_CGROUP: &str =
        "9:name=systemd:/\n4:memory:/process_api/b340\n1:cpu:/\n2:cpuacct:/\n0::/\n";
    const HYBRID_MOUNTS: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

    #[test]
    fn hybrid_layout() {
        let l = Layout::parse(HYBRID_CGROUP, HYBRID_MOUNTS);
        assert_eq!(
            l.current(Hierarchy::V1("memory")).unwrap(),
            PathBuf::from("/sys/fs/cgroup/memory/process_api/b340")
        );
        assert_eq!(
            l.current(Hierarchy::V1("cpu")).unwrap(),
            PathBuf::from("/sys/fs/cgroup/cpu")
        );
        assert_eq!(
            l.current(Hierarchy::V2).unwrap(),
            PathBuf::from("/sys/fs/cgroup/unified")
        );
        assert_eq!(l.current(Hierarchy::V1("pids")), None);
    }

    #[test]
    fn comounted_v1_and_pure_v2() {
        let l = Layout::parse(
            "5:cpu,cpuacct:/user.slice\n",
            "25 20 0:22 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n",
        );
        assert_eq!(
            l.current(Hierarchy::V1("cpu")).unwrap(),
            PathBuf::from("/sys/fs/cgroup/cpu,cpuacct/user.slice")
        );
        let l = Layout::parse(
            "0::/system.slice/docker-abc.scope\n",
            "30 25 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n",
        );
        assert_eq!(
            l.current(Hierarchy::V2).unwrap(),
            PathBuf::from("/sys/fs/cgroup/system.slice/docker-abc.scope")
        );
        assert_eq!(l.current(Hierarchy::V1("memory")), None);
    }

    #[test]
    fn a_mount_of_a_subtree() {
        let l = Layout::parse(
            "0::/kubepods/pod1/c1\n",
            "30 25 0:26 /kubepods /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n",
        );
        assert_eq!(
            l.current(Hierarchy::V2).unwrap(),
            PathBuf::from("/sys/fs/cgroup/pod1/c1")
        );
    }

    #[test]
    fn escaped_mount_points() {
        assert_eq!(unescape("/a\\040b"), "/a b");
        assert_eq!(unescape("/plain"), "/plain");
        assert_eq!(unescape("/end\\04"), "/end\\04");
    }

    #[test]
    fn this_process_has_a_layout() {
        // Parsing the real files must not fail (contents depend on the host).
        assert!(Layout::read().is_ok());
    }
}
