//! Ground-truth counters the lab reads about itself: page faults from
//! /proc/self/stat, the lab cgroup's memory and CPU counters, and PSI.
//! Read-only; sampled at the start, during and at the end of a run.

use std::{
    collections::BTreeMap,
    fs,
    path::{Path, PathBuf},
    time::Duration,
};

use serde::{Deserialize, Serialize};

use crate::cgroup::files::{PsiLines, parse_flat, parse_psi};

/// (minor, major) faults of the whole process: /proc/self/stat fields 10 and
/// 12, which the kernel sums over all threads.
pub fn process_faults() -> Option<(u64, u64)> {
    parse_stat_faults(&fs::read_to_string("/proc/self/stat").ok()?)
}

pub fn parse_stat_faults(stat: &str) -> Option<(u64, u64)> {
    // comm (field 2) may contain spaces and parentheses: split after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // f[0] is field 3 (state), so field n is f[n - 3].
    Some((f.get(7)?.parse().ok()?, f.get(9)?.parse().ok()?))
}

/// One PSI file, parsed by the tracer's own parser; `None` without a `some`
/// line (no such file, or not PSI). Only the text parsing is shared: the lab
/// samples on its own clock, independent of the tracer it checks.
pub fn read_psi(path: &Path) -> Option<PsiLines> {
    Some(parse_psi(&fs::read_to_string(path).ok()?)).filter(|p| p.some_total_us.is_some())
}

fn read_keyed(path: &Path) -> Option<BTreeMap<String, u64>> {
    Some(parse_flat(&fs::read_to_string(path).ok()?))
}

fn read_u64(path: &Path) -> Option<u64> {
    fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// A PSI file's share of the run: how much of the wall time some (or all)
/// non-idle tasks were stalled, from the `total=` counters, and the highest
/// avg10 sampled during the run.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PsiShare {
    pub path: String,
    pub some_pct: f64,
    pub full_pct: f64,
    pub some_total_us: u64,
    pub full_total_us: u64,
    /// Highest avg10 sampled during the run (every 200 ms). avg10 decays over
    /// ~10 s, so early samples still carry some of what came before the run.
    pub max_some_avg10: f64,
    pub max_full_avg10: f64,
}

/// What the kernel saw while the lab ran (deltas over the run unless named otherwise).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    pub major_faults: u64,
    pub major_faults_per_sec: f64,
    pub minor_faults: u64,
    /// v1 `memory.failcnt`: charges that hit the limit (each one reclaims).
    pub memcg_failcnt: Option<u64>,
    pub memcg_failcnt_per_sec: Option<f64>,
    /// v2 `memory.events` deltas (high, max, oom, oom_kill).
    pub memory_events: Option<BTreeMap<String, u64>>,
    /// Peak memory usage of the lab cgroup during the run (v1
    /// max_usage_in_bytes, else the highest memory.current sampled every 200 ms).
    pub memory_peak_bytes: Option<u64>,
    /// File pages read back after being evicted (memory.stat workingset refaults).
    pub workingset_refaults: Option<u64>,
    /// The lab cgroup's CPU throttling (cpu.stat nr_throttled / throttled time).
    pub cpu_nr_throttled: Option<u64>,
    pub cpu_throttled_ns: Option<u64>,
    /// PSI for the lab cgroup (cgroup2 `memory.pressure` / `cpu.pressure`) and the host.
    pub psi_memory_cgroup: Option<PsiShare>,
    pub psi_memory_host: Option<PsiShare>,
    pub psi_cpu_cgroup: Option<PsiShare>,
    pub psi_cpu_host: Option<PsiShare>,
    /// Refault reads wait on I/O: most of memory-max's stall shows up here.
    pub psi_io_cgroup: Option<PsiShare>,
    pub psi_io_host: Option<PsiShare>,
    /// OOM kills in the lab cgroup during the run (must stay 0).
    pub oom_kills: Option<u64>,
}

/// Where the counters live for this run.
#[derive(Clone, Debug, Default)]
pub struct Sources {
    /// The lab's memory cgroup and whether it is cgroup v2.
    pub memory: Option<(PathBuf, bool)>,
    /// The lab's cpu cgroup and whether it is cgroup v2.
    pub cpu: Option<(PathBuf, bool)>,
    /// The lab's cgroup2 directory (PSI files), if any.
    pub unified: Option<PathBuf>,
}

#[derive(Clone, Debug, Default)]
struct Snapshot {
    faults: Option<(u64, u64)>,
    failcnt: Option<u64>,
    events: Option<BTreeMap<String, u64>>,
    mem_stat: Option<BTreeMap<String, u64>>,
    cpu_stat: Option<BTreeMap<String, u64>>,
    oom: Option<BTreeMap<String, u64>>,
    psi: [Option<PsiLines>; PSI_FILES],
}

/// Takes the first snapshot, samples peaks, and computes the deltas.
#[derive(Debug)]
pub struct Sampler {
    src: Sources,
    start: Snapshot,
    peak_usage: Option<u64>,
    max_avg10: [(f64, f64); PSI_FILES],
}

const HOST_MEMORY_PSI: &str = "/proc/pressure/memory";
const HOST_CPU_PSI: &str = "/proc/pressure/cpu";
const HOST_IO_PSI: &str = "/proc/pressure/io";
/// memory, cpu, io: each for the lab cgroup and the host.
const PSI_FILES: usize = 6;

impl Sampler {
    pub fn start(src: Sources) -> Self {
        let start = snapshot(&src);
        // No avg10 sample yet: at the start it still describes the 10 s before.
        Sampler {
            src,
            start,
            peak_usage: None,
            max_avg10: [(0.0, 0.0); PSI_FILES],
        }
    }

    fn psi_paths(&self) -> [Option<PathBuf>; PSI_FILES] {
        psi_paths(&self.src)
    }

    /// Periodic sample: the running maxima of usage and PSI avg10.
    pub fn sample(&mut self) {
        if let Some((dir, v2)) = &self.src.memory {
            let file = if *v2 {
                "memory.current"
            } else {
                "memory.usage_in_bytes"
            };
            if let Some(u) = read_u64(&dir.join(file)) {
                self.peak_usage = Some(self.peak_usage.unwrap_or(0).max(u));
            }
        }
        for (i, p) in self.psi_paths().iter().enumerate() {
            if let Some(psi) = p.as_deref().and_then(read_psi) {
                let m = &mut self.max_avg10[i];
                m.0 = m.0.max(psi.some_avg10.unwrap_or(0.0));
                m.1 = m.1.max(psi.full_avg10.unwrap_or(0.0));
            }
        }
    }

    /// Call at the end of the run, before the cgroup goes away.
    pub fn finish(mut self, run: Duration) -> Evidence {
        self.sample();
        let end = snapshot(&self.src);
        let secs = run.as_secs_f64().max(1e-9);
        let (minflt, majflt) = match (self.start.faults, end.faults) {
            (Some(a), Some(b)) => (b.0.saturating_sub(a.0), b.1.saturating_sub(a.1)),
            _ => (0, 0),
        };
        let failcnt = delta(self.start.failcnt, end.failcnt);
        let stat_delta =
            |key: &[&str], a: &Option<BTreeMap<String, u64>>, b: &Option<BTreeMap<String, u64>>| {
                let (a, b) = (a.as_ref()?, b.as_ref()?);
                key.iter()
                    .find_map(|k| Some(b.get(*k)?.saturating_sub(*a.get(*k)?)))
            };
        let memory_v2 = self.src.memory.as_ref().is_some_and(|m| m.1);
        // v1 max_usage_in_bytes was reset when the limit was set; v2 memory.peak
        // cannot be reset before 6.12 and still holds the data file's writing,
        // so v2 uses the sampled memory.current.
        let peak_file = self
            .src
            .memory
            .as_ref()
            .filter(|(_, v2)| !v2)
            .map(|(d, _)| d.join("memory.max_usage_in_bytes"));
        let peak = peak_file
            .as_deref()
            .and_then(read_u64)
            .into_iter()
            .chain(self.peak_usage)
            .max();
        let cpu_v2 = self.src.cpu.as_ref().is_some_and(|c| c.1);
        let throttled_ns = if cpu_v2 {
            stat_delta(&["throttled_usec"], &self.start.cpu_stat, &end.cpu_stat).map(|us| us * 1000)
        } else {
            stat_delta(&["throttled_time"], &self.start.cpu_stat, &end.cpu_stat)
        };
        let paths = self.psi_paths();
        let share = |i: usize| -> Option<PsiShare> {
            let (a, b) = (self.start.psi[i]?, end.psi[i]?);
            let run_us = secs * 1e6;
            // cpu.pressure before 5.13 has no `full` line: a zero share.
            let total = |p: &PsiLines| (p.some_total_us.unwrap_or(0), p.full_total_us.unwrap_or(0));
            let ((a_some, a_full), (b_some, b_full)) = (total(&a), total(&b));
            let (some, full) = (b_some.saturating_sub(a_some), b_full.saturating_sub(a_full));
            Some(PsiShare {
                path: paths[i].as_ref()?.display().to_string(),
                // The counters are read just before and after the run, so the
                // share can overshoot 100% by the read skew: clamp.
                some_pct: round2((some as f64 / run_us * 100.0).min(100.0)),
                full_pct: round2((full as f64 / run_us * 100.0).min(100.0)),
                some_total_us: some,
                full_total_us: full,
                max_some_avg10: self.max_avg10[i].0,
                max_full_avg10: self.max_avg10[i].1,
            })
        };
        let events = match (&self.start.events, &end.events) {
            (Some(a), Some(b)) => Some(
                b.iter()
                    .map(|(k, v)| (k.clone(), v.saturating_sub(*a.get(k).unwrap_or(&0))))
                    .collect(),
            ),
            _ => None,
        };
        let oom_kills = if memory_v2 {
            stat_delta(&["oom_kill"], &self.start.events, &end.events)
        } else {
            stat_delta(&["oom_kill"], &self.start.oom, &end.oom)
        };
        Evidence {
            major_faults: majflt,
            major_faults_per_sec: round2(majflt as f64 / secs),
            minor_faults: minflt,
            memcg_failcnt: failcnt,
            memcg_failcnt_per_sec: failcnt.map(|f| round2(f as f64 / secs)),
            memory_events: events,
            memory_peak_bytes: peak,
            workingset_refaults: stat_delta(
                &[
                    "workingset_refault_file",
                    "workingset_refault",
                    "total_workingset_refault",
                ],
                &self.start.mem_stat,
                &end.mem_stat,
            ),
            cpu_nr_throttled: stat_delta(&["nr_throttled"], &self.start.cpu_stat, &end.cpu_stat),
            cpu_throttled_ns: throttled_ns,
            psi_memory_cgroup: share(0),
            psi_memory_host: share(1),
            psi_cpu_cgroup: share(2),
            psi_cpu_host: share(3),
            psi_io_cgroup: share(4),
            psi_io_host: share(5),
            oom_kills,
        }
    }
}

fn psi_paths(src: &Sources) -> [Option<PathBuf>; PSI_FILES] {
    [
        src.unified.as_ref().map(|d| d.join("memory.pressure")),
        Some(PathBuf::from(HOST_MEMORY_PSI)),
        src.unified.as_ref().map(|d| d.join("cpu.pressure")),
        Some(PathBuf::from(HOST_CPU_PSI)),
        src.unified.as_ref().map(|d| d.join("io.pressure")),
        Some(PathBuf::from(HOST_IO_PSI)),
    ]
}

fn snapshot(src: &Sources) -> Snapshot {
    let mem = src.memory.as_ref();
    let v1_mem = mem.filter(|m| !m.1).map(|m| m.0.as_path());
    let v2_mem = mem.filter(|m| m.1).map(|m| m.0.as_path());
    let paths = psi_paths(src);
    Snapshot {
        faults: process_faults(),
        // With a memsw limit a failing charge may count there instead.
        failcnt: v1_mem.and_then(|d| {
            let mem = read_u64(&d.join("memory.failcnt"))?;
            Some(mem + read_u64(&d.join("memory.memsw.failcnt")).unwrap_or(0))
        }),
        events: v2_mem.and_then(|d| read_keyed(&d.join("memory.events"))),
        mem_stat: mem.and_then(|m| read_keyed(&m.0.join("memory.stat"))),
        cpu_stat: src
            .cpu
            .as_ref()
            .and_then(|c| read_keyed(&c.0.join("cpu.stat"))),
        oom: v1_mem.and_then(|d| read_keyed(&d.join("memory.oom_control"))),
        psi: paths.map(|p| p.as_deref().and_then(read_psi)),
    }
}

fn delta(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    Some(b?.saturating_sub(a?))
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_from_stat_with_a_nasty_comm() {
        let stat =
            "4242 (a) b (c) S 1 4242 4242 0 -1 4194560 1234 0 56 0 10 5 0 0 20 0 4 0 100 0 0";
        assert_eq!(parse_stat_faults(stat), Some((1234, 56)));
        assert_eq!(parse_stat_faults("garbage"), None);
    }

    #[test]
    fn faults_of_this_process_are_readable() {
        assert!(process_faults().is_some());
    }

    #[test]
    fn psi_files_without_a_some_line_are_absent() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("memory.pressure");
        std::fs::write(&p, "some avg10=1.00 avg60=0.00 avg300=0.00 total=7\n").unwrap();
        let psi = read_psi(&p).unwrap();
        assert_eq!((psi.some_total_us, psi.full_total_us), (Some(7), None));
        std::fs::write(&p, "").unwrap();
        assert_eq!(read_psi(&p), None);
        assert_eq!(read_psi(&dir.path().join("absent")), None);
    }
}
