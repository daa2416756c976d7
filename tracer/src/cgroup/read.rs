//! One reading of every cgroup and host file the sampler watches.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
};

use super::files::{self, Value};
use crate::model::cgroup::{CgroupPaths, CgroupSample, Psi, UNLIMITED};

impl From<files::PsiLines> for Psi {
    fn from(p: files::PsiLines) -> Self {
        Psi {
            some_total_us: p.some_total_us,
            full_total_us: p.full_total_us,
            some_avg10: p.some_avg10,
            full_avg10: p.full_avg10,
        }
    }
}

/// Knows which files exist for one cgroup and reads them. Remembers every
/// file it found absent so the report can say "not available here".
#[derive(Debug)]
pub struct Reader {
    paths: CgroupPaths,
    host_pressure: PathBuf,
    missing: BTreeSet<String>,
    /// Files read successfully at least once.
    seen: BTreeSet<PathBuf>,
}

impl Reader {
    /// `proc_root` is normally `/proc` (host PSI lives in `/proc/pressure`).
    pub fn new(paths: CgroupPaths, proc_root: &Path) -> Self {
        let mut missing = BTreeSet::new();
        if paths.v2.is_none() {
            missing.insert(
                "cgroup2 directory of the target (per-cgroup PSI: memory.pressure, cpu.pressure, io.pressure)"
                    .to_string(),
            );
        }
        Reader {
            paths,
            host_pressure: proc_root.join("pressure"),
            missing,
            seen: BTreeSet::new(),
        }
    }

    pub fn paths(&self) -> &CgroupPaths {
        &self.paths
    }

    /// Every absent file seen so far, sorted.
    pub fn missing(&self) -> Vec<String> {
        self.missing.iter().cloned().collect()
    }

    fn text(&mut self, path: &Path) -> Option<String> {
        match files::read_opt(path) {
            Ok(Some(s)) => {
                self.seen.insert(path.to_path_buf());
                Some(s)
            }
            // Read before, gone now: the cgroup itself was removed (a lab
            // or a container that exited), not a file this host lacks.
            Ok(None) if self.seen.contains(path) => {
                let dir = path.parent().unwrap_or(path);
                self.missing.insert(format!(
                    "{}: removed during the trace (its samples end there)",
                    dir.display()
                ));
                None
            }
            Ok(None) => {
                self.missing.insert(path.display().to_string());
                None
            }
            // EACCES and the like: report it once as missing with the reason.
            Err(e) => {
                self.missing.insert(format!("{} ({e})", path.display()));
                None
            }
        }
    }

    fn psi(&mut self, path: &Path) -> Psi {
        self.text(path)
            .map(|t| files::parse_psi(&t).into())
            .unwrap_or_default()
    }

    fn flat(&mut self, path: &Path) -> Option<BTreeMap<String, u64>> {
        self.text(path).map(|t| files::parse_flat(&t))
    }

    fn value(&mut self, path: &Path) -> Option<Value> {
        self.text(path).and_then(|t| files::parse_value(&t))
    }

    /// Read everything once, stamped `t_ns`.
    pub fn read(&mut self, t_ns: u64) -> CgroupSample {
        let mut s = CgroupSample {
            t_ns,
            ..Default::default()
        };
        let hp = self.host_pressure.clone();
        s.host_memory_psi = self.psi(&hp.join("memory"));
        s.host_cpu_psi = self.psi(&hp.join("cpu"));
        s.host_io_psi = self.psi(&hp.join("io"));

        let mut stat_v2 = None;
        let mut cpu_v2 = None;
        if let Some(d) = self.paths.v2.clone() {
            s.memory_psi = self.psi(&d.join("memory.pressure"));
            s.cpu_psi = self.psi(&d.join("cpu.pressure"));
            s.io_psi = self.psi(&d.join("io.pressure"));
            // The memory controller files exist only when it is enabled for
            // this cgroup (never on hybrid hosts, where memory is v1).
            let has_memcg = d.join("memory.current").exists();
            if has_memcg || self.paths.v1_memory.is_none() {
                if let Some(ev) = self.flat(&d.join("memory.events")) {
                    s.events_high = ev.get("high").copied();
                    s.events_max = ev.get("max").copied();
                    s.events_oom = ev.get("oom").copied();
                    s.events_oom_kill = ev.get("oom_kill").copied();
                }
                s.memory_current = self.value(&d.join("memory.current")).and_then(num);
                s.memory_high = self.value(&d.join("memory.high")).map(max_as_unlimited);
                s.memory_max = self.value(&d.join("memory.max")).map(max_as_unlimited);
                stat_v2 = self.flat(&d.join("memory.stat"));
            }
            // cpu.stat exists without the cpu controller too, but then it has
            // no throttling lines; fall back to v1 in that case.
            if d.join("cpu.stat").exists() {
                cpu_v2 = self
                    .flat(&d.join("cpu.stat"))
                    .filter(|m| m.contains_key("nr_throttled"));
            }
        }

        if let Some(st) = stat_v2 {
            s.pgmajfault = st.get("pgmajfault").copied();
            s.refault_anon = st.get("workingset_refault_anon").copied();
            s.refault_file = st.get("workingset_refault_file").copied();
            s.refault = st.get("workingset_refault").copied();
        } else if let Some(d) = self.paths.v1_memory.clone() {
            s.v1_usage_bytes = self.value(&d.join("memory.usage_in_bytes")).and_then(num);
            s.v1_limit_bytes = self
                .value(&d.join("memory.limit_in_bytes"))
                .map(|v| files::limit_bytes(v).unwrap_or(UNLIMITED));
            s.v1_failcnt = self.value(&d.join("memory.failcnt")).and_then(num);
            if let Some(oc) = self.flat(&d.join("memory.oom_control")) {
                s.events_oom_kill = oc.get("oom_kill").copied();
            }
            if let Some(st) = self.flat(&d.join("memory.stat")) {
                // `total_*` counts the whole subtree, like v2's memory.stat.
                let get = |k: &str| st.get(&format!("total_{k}")).or_else(|| st.get(k)).copied();
                s.pgmajfault = get("pgmajfault");
                s.refault_anon = get("workingset_refault_anon");
                s.refault_file = get("workingset_refault_file");
                s.refault = get("workingset_refault");
            }
        }

        if let Some(c) = cpu_v2 {
            s.nr_throttled = c.get("nr_throttled").copied();
            s.throttled_usec = c.get("throttled_usec").copied();
        } else if let Some(d) = self.paths.v1_cpu.clone() {
            if let Some(c) = self.flat(&d.join("cpu.stat")) {
                s.nr_throttled = c.get("nr_throttled").copied();
                s.throttled_usec = c.get("throttled_time").map(|ns| ns / 1000);
            }
        } else if self.paths.v2.is_some() {
            self.missing.insert(
                "cpu.stat nr_throttled/throttled_usec (no cpu controller for this cgroup)".into(),
            );
        }
        s
    }
}

fn num(v: Value) -> Option<u64> {
    match v {
        Value::Num(n) => Some(n),
        Value::Max => None,
    }
}

fn max_as_unlimited(v: Value) -> u64 {
    match v {
        Value::Num(n) => n,
        Value::Max => UNLIMITED,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::fs;

    pub(crate) const PSI: &str = "some avg10=2.50 avg60=0.00 avg300=0.00 total=1000\n\
                                  full avg10=1.25 avg60=0.00 avg300=0.00 total=400\n";

    /// A pure-v2 cgroup dir with every file the reader looks for.
    pub(crate) fn fake_v2_cgroup(dir: &Path) {
        fs::create_dir_all(dir).unwrap();
        for (f, t) in [
            ("memory.pressure", PSI),
            ("cpu.pressure", PSI),
            ("io.pressure", PSI),
            (
                "memory.events",
                "low 0\nhigh 154\nmax 3\noom 1\noom_kill 1\noom_group_kill 0\n",
            ),
            ("memory.current", "4000000000\n"),
            ("memory.high", "max\n"),
            ("memory.max", "4294967296\n"),
            (
                "memory.stat",
                "anon 1\npgmajfault 600\nworkingset_refault_anon 7\nworkingset_refault_file 9\n",
            ),
            (
                "cpu.stat",
                "usage_usec 10\nnr_periods 5\nnr_throttled 2\nthrottled_usec 300\n",
            ),
        ] {
            fs::write(dir.join(f), t).unwrap();
        }
    }

    #[test]
    fn reads_a_pure_v2_cgroup() {
        let tmp = tempfile::tempdir().unwrap();
        let cg = tmp.path().join("cg");
        fake_v2_cgroup(&cg);
        let proc = tmp.path().join("proc");
        fs::create_dir_all(proc.join("pressure")).unwrap();
        fs::write(proc.join("pressure/memory"), PSI).unwrap();
        let paths = CgroupPaths {
            v2: Some(cg),
            ..Default::default()
        };
        let mut r = Reader::new(paths, &proc);
        let s = r.read(5);
        assert_eq!(s.t_ns, 5);
        assert_eq!(s.memory_psi.some_total_us, Some(1000));
        assert_eq!(s.memory_psi.full_avg10, Some(1.25));
        assert_eq!(s.host_memory_psi.full_total_us, Some(400));
        assert_eq!(s.events_high, Some(154));
        assert_eq!(s.events_oom_kill, Some(1));
        assert_eq!(s.memory_current, Some(4_000_000_000));
        assert_eq!(s.memory_high, Some(UNLIMITED));
        assert_eq!(s.memory_max, Some(4 << 30));
        assert_eq!(s.pgmajfault, Some(600));
        assert_eq!((s.refault_anon, s.refault_file), (Some(7), Some(9)));
        assert_eq!((s.nr_throttled, s.throttled_usec), (Some(2), Some(300)));
        assert_eq!(s.v1_failcnt, None);
        // Host cpu/io PSI files were not created: listed, and left None.
        let missing = r.missing();
        assert!(
            missing.iter().any(|m| m.ends_with("pressure/cpu")),
            "{missing:?}"
        );
        assert!(s.host_cpu_psi.is_empty());
    }

    #[test]
    fn reads_hybrid_v1_memory_and_lists_missing() {
        let tmp = tempfile::tempdir().unwrap();
        let v2 = tmp.path().join("unified/x");
        let mem = tmp.path().join("memory/x");
        let cpu = tmp.path().join("cpu/x");
        for d in [&v2, &mem, &cpu] {
            fs::create_dir_all(d).unwrap();
        }
        // Hybrid cgroup2 dir: PSI, and a cpu.stat without throttling lines.
        fs::write(v2.join("memory.pressure"), PSI).unwrap();
        fs::write(v2.join("cpu.stat"), "usage_usec 5\n").unwrap();
        fs::write(mem.join("memory.usage_in_bytes"), "201326592\n").unwrap();
        fs::write(mem.join("memory.limit_in_bytes"), "9223372036854771712\n").unwrap();
        fs::write(mem.join("memory.failcnt"), "123456\n").unwrap();
        fs::write(
            mem.join("memory.oom_control"),
            "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n",
        )
        .unwrap();
        fs::write(
            mem.join("memory.stat"),
            "pgmajfault 1\ntotal_pgmajfault 372\nworkingset_refault_file 5\ntotal_workingset_refault_file 71055\n",
        )
        .unwrap();
        fs::write(
            cpu.join("cpu.stat"),
            "nr_periods 10\nnr_throttled 4\nthrottled_time 5000000\n",
        )
        .unwrap();
        let paths = CgroupPaths {
            v2: Some(v2.clone()),
            v1_memory: Some(mem),
            v1_cpu: Some(cpu),
            ..Default::default()
        };
        let mut r = Reader::new(paths, &tmp.path().join("proc"));
        let s = r.read(1);
        assert_eq!(s.memory_psi.some_total_us, Some(1000));
        assert!(s.cpu_psi.is_empty());
        assert_eq!(s.v1_usage_bytes, Some(192 << 20));
        assert_eq!(s.v1_limit_bytes, Some(UNLIMITED));
        assert_eq!(s.v1_failcnt, Some(123_456));
        assert_eq!(s.events_oom_kill, Some(2));
        assert_eq!(s.events_high, None);
        assert_eq!(s.pgmajfault, Some(372));
        assert_eq!(s.refault_file, Some(71055));
        assert_eq!(s.refault_anon, None);
        assert_eq!((s.nr_throttled, s.throttled_usec), (Some(4), Some(5000)));
        assert_eq!(s.memory_usage(), Some(192 << 20));
        let missing = r.missing();
        assert!(missing.iter().any(|m| m.ends_with("x/cpu.pressure")));
        assert!(missing.iter().any(|m| m.ends_with("pressure/memory")));
        // v2 memory-controller files are not expected on hybrid hosts.
        assert!(!missing.iter().any(|m| m.ends_with("memory.current")));
    }

    #[test]
    fn a_cgroup_removed_mid_trace_is_not_called_missing_here() {
        let tmp = tempfile::tempdir().unwrap();
        let v1 = tmp.path().join("memory/lab");
        std::fs::create_dir_all(&v1).unwrap();
        std::fs::write(v1.join("memory.usage_in_bytes"), "4096\n").unwrap();
        let paths = CgroupPaths {
            v1_memory: Some(v1.clone()),
            ..Default::default()
        };
        let mut r = Reader::new(paths, &tmp.path().join("proc"));
        assert_eq!(r.read(1).v1_usage_bytes, Some(4096));
        std::fs::remove_dir_all(&v1).unwrap();
        assert_eq!(r.read(2).v1_usage_bytes, None);
        let missing = r.missing();
        assert!(
            !missing.iter().any(|m| m.ends_with("memory.usage_in_bytes")),
            "{missing:?}"
        );
        assert!(
            missing
                .iter()
                .any(|m| m.contains("memory/lab: removed during the trace")),
            "{missing:?}"
        );
    }

    #[test]
    fn no_cgroup2_dir_is_reported() {
        let tmp = tempfile::tempdir().unwrap();
        let mut r = Reader::new(CgroupPaths::default(), tmp.path());
        let s = r.read(1);
        assert!(s.memory_psi.is_empty() && s.memory_usage().is_none());
        assert!(
            r.missing()
                .iter()
                .any(|m| m.starts_with("cgroup2 directory"))
        );
    }
}
