//! Running tally of the samples: whole-window deltas, maxima and limits,
//! exact however many samples the bounded store dropped.

use crate::model::cgroup::{CgroupDeltas, CgroupLimits, CgroupSample, Limit, Psi};

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::cgroup::{UNLIMITED, tests::sample};

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
