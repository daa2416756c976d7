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
use crate::cgroup::mounts::{CgroupMounts, ProcCgroups, Roots};

/// Names of lab cgroups: `starvetrace-lab-<pid>`.
pub const PREFIX: &str = "starvetrace-lab-";

/// Which hierarchy a lab cgroup goes into.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hierarchy {
    /// The cgroup2 (unified) hierarchy.
    V2,
    /// The v1 hierarchy carrying this controller.
    V1(&'static str),
}

/// Where this process is in each hierarchy (mount discovery and
/// /proc/PID/cgroup parsing are the tracer's own, `crate::cgroup::mounts`).
#[derive(Clone, Debug)]
pub struct Layout {
    mounts: CgroupMounts,
    procs: ProcCgroups,
}

impl Layout {
    pub fn read() -> Result<Self, LabError> {
        Self::read_in(&Roots::default(), std::process::id())
    }

    /// The layout of process `pid` as seen through `roots` (tests use a fake tree).
    pub fn read_in(roots: &Roots, pid: u32) -> Result<Self, LabError> {
        let shared = |what: &str, e: crate::error::Error| {
            LabError::io(what.to_string(), io::Error::other(e.to_string()))
        };
        Ok(Layout {
            mounts: CgroupMounts::read(roots)
                .map_err(|e| shared("reading the cgroup mounts", e))?,
            procs: ProcCgroups::read(roots, pid)
                .map_err(|e| shared("reading this process's cgroups", e))?,
        })
    }

    /// The directory of the cgroup this process is in, in that hierarchy.
    pub fn current(&self, h: Hierarchy) -> Option<PathBuf> {
        match h {
            Hierarchy::V2 => self.mounts.v2.as_ref()?.dir_of(self.procs.v2.as_deref()?),
            Hierarchy::V1(c) => self.mounts.v1_for(c)?.dir_of(self.procs.v1_path(c)?),
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

    use crate::cgroup::mounts::tests::{fake_hybrid, fake_v2};

    fn layout(roots: &Roots, proc_cgroup: &str) -> Layout {
        let d = roots.proc.join("42");
        fs::create_dir_all(&d).unwrap();
        fs::write(d.join("cgroup"), proc_cgroup).unwrap();
        Layout::read_in(roots, 42).unwrap()
    }

    #[test]
    fn hybrid_layout() {
        let tmp = tempfile::tempdir().unwrap();
        let roots = fake_hybrid(tmp.path());
        let l = layout(
            &roots,
            "9:name=systemd:/\n4:memory:/process_api/b340\n1:cpu,cpuacct:/\n0::/\n",
        );
        let cg = tmp.path().join("sys/fs/cgroup");
        assert_eq!(
            l.current(Hierarchy::V1("memory")).unwrap(),
            cg.join("memory/process_api/b340")
        );
        assert_eq!(
            l.current(Hierarchy::V1("cpu")).unwrap(),
            cg.join("cpu,cpuacct")
        );
        assert_eq!(l.current(Hierarchy::V2).unwrap(), cg.join("unified"));
        assert_eq!(l.current(Hierarchy::V1("pids")), None);
    }

    #[test]
    fn pure_v2_has_no_v1_controllers() {
        let tmp = tempfile::tempdir().unwrap();
        let roots = fake_v2(tmp.path());
        let l = layout(&roots, "0::/system.slice/docker-abc.scope\n");
        assert_eq!(
            l.current(Hierarchy::V2).unwrap(),
            tmp.path()
                .join("sys/fs/cgroup/system.slice/docker-abc.scope")
        );
        assert_eq!(l.current(Hierarchy::V1("memory")), None);
    }

    #[test]
    fn this_process_has_a_layout() {
        // Parsing the real files must not fail (contents depend on the host).
        assert!(Layout::read().is_ok());
    }
}
