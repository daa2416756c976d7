//! The target cgroup over the window: its directories, the samples taken,
//! limits, whole-window deltas, and per-bucket PSI stall fractions.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// The cgroup directories of one target.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CgroupPaths {
    /// The cgroup2 directory (PSI lives here, and on pure v2 everything else).
    pub v2: Option<PathBuf>,
    /// Inode of the cgroup2 directory: what `bpf_get_current_cgroup_id`
    /// returns for a task directly in it.
    pub v2_id: Option<u64>,
    /// Depth below the cgroup2 root (root = 0): the `ancestor_level` to pass
    /// to `bpf_get_current_ancestor_cgroup_id`.
    pub v2_level: Option<u32>,
    /// The v1 memory controller directory (hybrid and v1 hosts).
    pub v1_memory: Option<PathBuf>,
    /// The v1 cpu controller directory (CFS throttling on v1).
    pub v1_cpu: Option<PathBuf>,
}

impl CgroupPaths {
    /// "v2", "hybrid (v1 memory + v2 PSI)", "v1", or "none".
    pub fn layout(&self) -> &'static str {
        match (self.v2.is_some(), self.v1_memory.is_some()) {
            (true, true) => "hybrid (v1 memory + v2 PSI)",
            (true, false) => "v2",
            (false, true) => "v1",
            (false, false) => "none",
        }
    }
}

/// One PSI file's numbers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Psi {
    /// Cumulative time (µs) at least one task was stalled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub some_total_us: Option<u64>,
    /// Cumulative time (µs) all non-idle tasks were stalled at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full_total_us: Option<u64>,
    /// The kernel's 10 s running average, percent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub some_avg10: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full_avg10: Option<f64>,
}

impl Psi {
    pub fn is_empty(&self) -> bool {
        *self == Psi::default()
    }
}

/// `u64::MAX` in a sampled limit field means "max" (no limit).
pub const UNLIMITED: u64 = u64::MAX;

/// One reading, timestamped with CLOCK_MONOTONIC (the clock of
/// `bpf_ktime_get_ns`). Every field is `None` when its file is absent on
/// this host (see `CgroupReport::missing`), never a made-up zero.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CgroupSample {
    pub t_ns: u64,
    /// The target cgroup's PSI (cgroup2 `*.pressure`).
    #[serde(default, skip_serializing_if = "Psi::is_empty")]
    pub memory_psi: Psi,
    #[serde(default, skip_serializing_if = "Psi::is_empty")]
    pub cpu_psi: Psi,
    #[serde(default, skip_serializing_if = "Psi::is_empty")]
    pub io_psi: Psi,
    /// Host-wide PSI (`/proc/pressure/*`): a separate series, not the cgroup's.
    #[serde(default, skip_serializing_if = "Psi::is_empty")]
    pub host_memory_psi: Psi,
    #[serde(default, skip_serializing_if = "Psi::is_empty")]
    pub host_cpu_psi: Psi,
    #[serde(default, skip_serializing_if = "Psi::is_empty")]
    pub host_io_psi: Psi,
    /// v2 `memory.events` (hierarchical counts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events_high: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events_max: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events_oom: Option<u64>,
    /// v2 `memory.events` oom_kill, or v1 `memory.oom_control` oom_kill.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events_oom_kill: Option<u64>,
    /// v2 `memory.current`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_current: Option<u64>,
    /// v2 `memory.high` / `memory.max` ([`UNLIMITED`] = "max").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_high: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_max: Option<u64>,
    /// v1 `memory.usage_in_bytes`, `memory.limit_in_bytes` ([`UNLIMITED`]
    /// for the no-limit sentinel), `memory.failcnt`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub v1_usage_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub v1_limit_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub v1_failcnt: Option<u64>,
    /// `memory.stat` (v2 names, or v1 `total_*` hierarchical names).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pgmajfault: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refault_anon: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refault_file: Option<u64>,
    /// Kernels before 5.9 have one `workingset_refault` counter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refault: Option<u64>,
    /// CFS bandwidth throttling: `cpu.stat` nr_throttled and throttled
    /// time (v2 `throttled_usec`, v1 `throttled_time` ns / 1000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nr_throttled: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub throttled_usec: Option<u64>,
}

impl CgroupSample {
    /// Memory in use by the cgroup, whichever interface this host has.
    pub fn memory_usage(&self) -> Option<u64> {
        self.memory_current.or(self.v1_usage_bytes)
    }

    /// Workingset refaults, anon + file (or the pre-5.9 single counter);
    /// `None` when none of the counters exists here.
    pub fn refaults(&self) -> Option<u64> {
        match (self.refault_anon, self.refault_file, self.refault) {
            (None, None, None) => None,
            (a, f, r) => Some(a.unwrap_or(0) + f.unwrap_or(0) + r.unwrap_or(0)),
        }
    }
}

/// A limit: bytes, or explicitly unlimited. `None` around it = the file
/// does not exist on this host.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Limit {
    Bytes(u64),
    Unlimited,
}

impl Limit {
    /// A sampled limit field (with [`UNLIMITED`] for "max").
    pub fn from_sampled(v: u64) -> Self {
        if v == UNLIMITED {
            Limit::Unlimited
        } else {
            Limit::Bytes(v)
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CgroupLimits {
    /// v2 `memory.max` (what `docker --memory` sets on v2 hosts).
    pub memory_max: Option<Limit>,
    /// v2 `memory.high` (throttling; set by systemd MemoryHigh= or k8s QoS).
    pub memory_high: Option<Limit>,
    /// v1 `memory.limit_in_bytes` (what `docker --memory` sets on v1/hybrid).
    pub v1_limit: Option<Limit>,
    /// True when a limit changed during the window (the values above are
    /// the last ones seen).
    pub changed: bool,
}

/// Change of every counter from the first to the last sample. `None` when
/// the counter is not available here (or went backwards: a reset).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CgroupDeltas {
    pub window_ns: u64,
    pub memory_some_us: Option<u64>,
    pub memory_full_us: Option<u64>,
    pub cpu_some_us: Option<u64>,
    pub cpu_full_us: Option<u64>,
    pub io_some_us: Option<u64>,
    pub io_full_us: Option<u64>,
    /// Host-wide (`/proc/pressure`), for comparison with the cgroup's.
    pub host_memory_some_us: Option<u64>,
    pub host_memory_full_us: Option<u64>,
    pub host_cpu_some_us: Option<u64>,
    pub host_io_some_us: Option<u64>,
    pub host_io_full_us: Option<u64>,
    pub events_high: Option<u64>,
    pub events_max: Option<u64>,
    pub events_oom: Option<u64>,
    pub events_oom_kill: Option<u64>,
    pub failcnt: Option<u64>,
    pub pgmajfault: Option<u64>,
    pub refault_anon: Option<u64>,
    pub refault_file: Option<u64>,
    pub refault: Option<u64>,
    pub nr_throttled: Option<u64>,
    pub throttled_usec: Option<u64>,
    /// Highest memory usage seen (v2 memory.current or v1 usage_in_bytes).
    pub max_memory_bytes: Option<u64>,
    /// Highest PSI memory avg10 (%) seen, cgroup then host.
    pub max_memory_some_avg10: Option<f64>,
    pub max_memory_full_avg10: Option<f64>,
    pub max_host_memory_full_avg10: Option<f64>,
}

/// Which PSI file a series comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PsiKind {
    Memory,
    Cpu,
    Io,
}

/// Stall fraction (0.0–1.0) per bucket: `some` = at least one task of the
/// cgroup stalled, `full` = all of them at once. `None` for buckets the
/// samples do not cover (or where the file is absent).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PsiSeries {
    /// "cgroup" (the target's own cgroup2 PSI) or "host-wide".
    pub scope: String,
    pub t0_ns: u64,
    pub bucket_ns: u64,
    pub some: Vec<Option<f64>>,
    pub full: Vec<Option<f64>>,
}

impl PsiSeries {
    pub fn max_some(&self) -> Option<f64> {
        self.some.iter().flatten().copied().reduce(f64::max)
    }
    pub fn max_full(&self) -> Option<f64> {
        self.full.iter().flatten().copied().reduce(f64::max)
    }
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct CgroupReport {
    pub paths: CgroupPaths,
    /// "v2", "hybrid (v1 memory + v2 PSI)", "v1" or "none".
    pub layout: String,
    pub limits: CgroupLimits,
    /// Every file that does not exist (or could not be read) on this host:
    /// the matching numbers are "not available here", not zero.
    pub missing: Vec<String>,
    pub period_ns: u64,
    /// Readings taken; more than `samples.len()` once decimated.
    pub samples_taken: u64,
    /// Kept samples are every `kept_every`-th reading (1 = all).
    pub kept_every: u64,
    pub samples: Vec<CgroupSample>,
    pub deltas: CgroupDeltas,
    pub notes: Vec<String>,
}

/// How the threads' memory stalls line up with the cgroup's PSI, read off
/// a recording by `analyze::correlate` for the report. Not in the JSON:
/// `report FILE` recomputes it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PsiAlignment {
    /// Whose PSI the numbers are ("the target's cgroup", "host-wide", ...).
    pub scope: String,
    /// PSI memory "some" share per timeline bucket (gaps as 0), when the
    /// target's own cgroup has PSI.
    pub memory_some: Option<Vec<f64>>,
}

impl CgroupReport {
    /// PSI memory stall fractions per bucket over `[t0, t1)` (CLOCK_MONOTONIC
    /// ns): the cgroup's own PSI when it has one, else host-wide.
    pub fn psi_series(&self, bucket_ns: u64, t0: u64, t1: u64) -> PsiSeries {
        self.series(PsiKind::Memory, bucket_ns, t0, t1)
    }

    /// Any PSI resource, cgroup scope preferred, host-wide as fallback.
    pub fn series(&self, kind: PsiKind, bucket_ns: u64, t0: u64, t1: u64) -> PsiSeries {
        let pick: fn(&CgroupSample, PsiKind) -> &Psi = |s, k| match k {
            PsiKind::Memory => &s.memory_psi,
            PsiKind::Cpu => &s.cpu_psi,
            PsiKind::Io => &s.io_psi,
        };
        let host: fn(&CgroupSample, PsiKind) -> &Psi = |s, k| match k {
            PsiKind::Memory => &s.host_memory_psi,
            PsiKind::Cpu => &s.host_cpu_psi,
            PsiKind::Io => &s.host_io_psi,
        };
        let cgroup_has = self
            .samples
            .iter()
            .any(|s| pick(s, kind).some_total_us.is_some());
        let (scope, get) = if cgroup_has {
            ("cgroup", pick)
        } else {
            ("host-wide", host)
        };
        let some: Vec<(u64, u64)> = self
            .samples
            .iter()
            .filter_map(|s| Some((s.t_ns, get(s, kind).some_total_us?)))
            .collect();
        let full: Vec<(u64, u64)> = self
            .samples
            .iter()
            .filter_map(|s| Some((s.t_ns, get(s, kind).full_total_us?)))
            .collect();
        PsiSeries {
            scope: scope.into(),
            t0_ns: t0,
            bucket_ns,
            some: stall_fractions(&some, bucket_ns, t0, t1),
            full: stall_fractions(&full, bucket_ns, t0, t1),
        }
    }
}

/// Cumulative µs counter at time `t`, linearly interpolated between the
/// samples around it; `None` outside the sampled span.
fn total_at(points: &[(u64, u64)], t: u64) -> Option<f64> {
    let i = points.partition_point(|&(ts, _)| ts < t);
    if let Some(&(ts, v)) = points.get(i)
        && ts == t
    {
        return Some(v as f64);
    }
    let (t_a, v_a) = *points.get(i.checked_sub(1)?)?;
    let (t_b, v_b) = *points.get(i)?;
    let f = (t - t_a) as f64 / (t_b - t_a) as f64;
    Some(v_a as f64 + f * (v_b as f64 - v_a as f64))
}

/// Stall fraction per bucket: Δtotal (µs) over the bucket length. The last
/// bucket may be shorter than `bucket_ns`.
pub fn stall_fractions(
    points: &[(u64, u64)],
    bucket_ns: u64,
    t0: u64,
    t1: u64,
) -> Vec<Option<f64>> {
    if bucket_ns == 0 || t1 <= t0 {
        return Vec::new();
    }
    let n = (t1 - t0).div_ceil(bucket_ns);
    (0..n)
        .map(|i| {
            let a = t0 + i * bucket_ns;
            let b = (a + bucket_ns).min(t1);
            let stalled_us = total_at(points, b)? - total_at(points, a)?;
            Some((stalled_us * 1000.0 / (b - a) as f64).clamp(0.0, 1.0))
        })
        .collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn sample(t_ms: u64, some_us: u64, full_us: u64) -> CgroupSample {
        CgroupSample {
            t_ns: t_ms * 1_000_000,
            memory_psi: Psi {
                some_total_us: Some(some_us),
                full_total_us: Some(full_us),
                ..Default::default()
            },
            host_memory_psi: Psi {
                some_total_us: Some(0),
                ..Default::default()
            },
            v1_failcnt: Some(t_ms),
            memory_current: Some(t_ms * 10),
            ..Default::default()
        }
    }

    #[test]
    fn fractions_from_interpolated_totals() {
        // 100 ms samples; from 200 ms on, 50 ms of every 100 ms is "some"
        // stall and 25 ms "full".
        let samples: Vec<_> = (0..=10u64)
            .map(|i| {
                let stalled: u64 = i.saturating_sub(2);
                sample(i * 100, stalled * 50_000, stalled * 25_000)
            })
            .collect();
        let rep = CgroupReport {
            samples,
            ..Default::default()
        };
        let s = rep.psi_series(200_000_000, 0, 1_000_000_000);
        assert_eq!(s.scope, "cgroup");
        assert_eq!(s.some.len(), 5);
        assert_eq!(s.some[0], Some(0.0));
        for v in &s.some[1..] {
            assert!((v.unwrap() - 0.5).abs() < 1e-9);
        }
        assert!((s.max_full().unwrap() - 0.25).abs() < 1e-9);
        // A bucket in the middle of a 100 ms sample gap is interpolated.
        let mid = rep.psi_series(50_000_000, 500_000_000, 550_000_000);
        assert!((mid.some[0].unwrap() - 0.5).abs() < 1e-9);
        // Outside the sampled span: unknown, not zero.
        let out = rep.psi_series(100_000_000, 900_000_000, 1_200_000_000);
        assert_eq!(out.some.len(), 3);
        assert!(out.some[0].is_some() && out.some[1].is_none() && out.some[2].is_none());
    }

    #[test]
    fn host_series_when_cgroup_has_no_psi() {
        let mut a = sample(0, 0, 0);
        let mut b = sample(100, 0, 0);
        a.memory_psi = Psi::default();
        b.memory_psi = Psi::default();
        b.host_memory_psi.some_total_us = Some(10_000);
        let rep = CgroupReport {
            samples: vec![a, b],
            ..Default::default()
        };
        let s = rep.psi_series(100_000_000, 0, 100_000_000);
        assert_eq!(s.scope, "host-wide");
        assert!((s.some[0].unwrap() - 0.1).abs() < 1e-9);
        // No full line on the host: unknown.
        assert_eq!(s.full, vec![None]);
    }
}
