//! What the sampler hands back: limits, absent files, samples, whole-window
//! deltas, and per-bucket PSI stall fractions for the verdict.

use serde::{Deserialize, Serialize};

use super::{
    mounts::CgroupPaths,
    read::{CgroupSample, Psi, UNLIMITED},
};

/// A limit: bytes, or explicitly unlimited. `None` around it = the file
/// does not exist on this host.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Limit {
    Bytes(u64),
    Unlimited,
}

impl Limit {
    fn from_sampled(v: u64) -> Self {
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

fn sub(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(first), Some(last)) if last >= first => Some(last - first),
        _ => None,
    }
}

fn fmax(acc: Option<f64>, v: Option<f64>) -> Option<f64> {
    match (acc, v) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

/// Running summary kept beside the (bounded) sample store, so deltas and
/// maxima stay exact however many samples were dropped.
#[derive(Clone, Debug, Default)]
pub struct Tally {
    first: Option<CgroupSample>,
    last: Option<CgroupSample>,
    max_memory: Option<u64>,
    max_some: Option<f64>,
    max_full: Option<f64>,
    max_host_full: Option<f64>,
    limits_first: Option<(Option<u64>, Option<u64>, Option<u64>)>,
    limits_changed: bool,
}

impl Tally {
    pub fn add(&mut self, s: &CgroupSample) {
        // A reading taken after the cgroup was removed (a target that cleans
        // up its own cgroup on exit) has none of its files: it must not
        // become the window's end, or every delta would read "not available".
        let cgroup_gone = s.memory_usage().is_none() && s.memory_psi.some_total_us.is_none();
        if cgroup_gone
            && self
                .first
                .as_ref()
                .is_some_and(|f| f.memory_usage().is_some() || f.memory_psi.some_total_us.is_some())
        {
            return;
        }
        if self.first.is_none() {
            self.first = Some(s.clone());
        }
        self.max_memory = self.max_memory.max(s.memory_usage());
        self.max_some = fmax(self.max_some, s.memory_psi.some_avg10);
        self.max_full = fmax(self.max_full, s.memory_psi.full_avg10);
        self.max_host_full = fmax(self.max_host_full, s.host_memory_psi.full_avg10);
        let lim = (s.memory_max, s.memory_high, s.v1_limit_bytes);
        match self.limits_first {
            None => self.limits_first = Some(lim),
            Some(f) if f != lim => self.limits_changed = true,
            Some(_) => {}
        }
        self.last = Some(s.clone());
    }

    pub fn limits(&self) -> CgroupLimits {
        let last = self.last.clone().unwrap_or_default();
        CgroupLimits {
            memory_max: last.memory_max.map(Limit::from_sampled),
            memory_high: last.memory_high.map(Limit::from_sampled),
            v1_limit: last.v1_limit_bytes.map(Limit::from_sampled),
            changed: self.limits_changed,
        }
    }

    pub fn deltas(&self) -> CgroupDeltas {
        let (Some(a), Some(b)) = (&self.first, &self.last) else {
            return CgroupDeltas::default();
        };
        let d = |f: fn(&CgroupSample) -> Option<u64>| sub(f(a), f(b));
        let psi = |f: fn(&Psi) -> Option<u64>, p: fn(&CgroupSample) -> &Psi| sub(f(p(a)), f(p(b)));
        let some = |p: &Psi| p.some_total_us;
        let full = |p: &Psi| p.full_total_us;
        CgroupDeltas {
            window_ns: b.t_ns.saturating_sub(a.t_ns),
            memory_some_us: psi(some, |s| &s.memory_psi),
            memory_full_us: psi(full, |s| &s.memory_psi),
            cpu_some_us: psi(some, |s| &s.cpu_psi),
            cpu_full_us: psi(full, |s| &s.cpu_psi),
            io_some_us: psi(some, |s| &s.io_psi),
            io_full_us: psi(full, |s| &s.io_psi),
            host_memory_some_us: psi(some, |s| &s.host_memory_psi),
            host_memory_full_us: psi(full, |s| &s.host_memory_psi),
            host_cpu_some_us: psi(some, |s| &s.host_cpu_psi),
            host_io_some_us: psi(some, |s| &s.host_io_psi),
            host_io_full_us: psi(full, |s| &s.host_io_psi),
            events_high: d(|s| s.events_high),
            events_max: d(|s| s.events_max),
            events_oom: d(|s| s.events_oom),
            events_oom_kill: d(|s| s.events_oom_kill),
            failcnt: d(|s| s.v1_failcnt),
            pgmajfault: d(|s| s.pgmajfault),
            refault_anon: d(|s| s.refault_anon),
            refault_file: d(|s| s.refault_file),
            refault: d(|s| s.refault),
            nr_throttled: d(|s| s.nr_throttled),
            throttled_usec: d(|s| s.throttled_usec),
            max_memory_bytes: self.max_memory,
            max_memory_some_avg10: self.max_some,
            max_memory_full_avg10: self.max_full,
            max_host_memory_full_avg10: self.max_host_full,
        }
    }
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
mod tests {
    use super::*;

    fn sample(t_ms: u64, some_us: u64, full_us: u64) -> CgroupSample {
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

    #[test]
    fn deltas_and_limits() {
        let mut t = Tally::default();
        let mut a = sample(0, 100, 50);
        a.memory_max = Some(4 << 30);
        a.memory_high = Some(UNLIMITED);
        let mut b = sample(1000, 600, 250);
        b.memory_max = Some(4 << 30);
        b.memory_high = Some(3 << 30);
        b.pgmajfault = Some(5);
        t.add(&a);
        t.add(&b);
        let d = t.deltas();
        assert_eq!(d.window_ns, 1_000_000_000);
        assert_eq!(d.memory_some_us, Some(500));
        assert_eq!(d.memory_full_us, Some(200));
        assert_eq!(d.failcnt, Some(1000));
        assert_eq!(d.max_memory_bytes, Some(10_000));
        // Only in the last sample: no delta.
        assert_eq!(d.pgmajfault, None);
        assert_eq!(d.events_high, None);
        let l = t.limits();
        assert_eq!(l.memory_max, Some(Limit::Bytes(4 << 30)));
        assert_eq!(l.memory_high, Some(Limit::Bytes(3 << 30)));
        assert_eq!(l.v1_limit, None);
        assert!(l.changed);
        let json = serde_json::to_string(&l).unwrap();
        assert!(
            json.contains(r#""memory_max":{"bytes":4294967296}"#),
            "{json}"
        );
        assert_eq!(
            serde_json::to_string(&Limit::Unlimited).unwrap(),
            r#""unlimited""#
        );
    }

    #[test]
    fn counter_reset_is_not_a_delta() {
        assert_eq!(sub(Some(10), Some(3)), None);
        assert_eq!(sub(Some(3), Some(10)), Some(7));
        assert_eq!(sub(None, Some(10)), None);
    }
}
