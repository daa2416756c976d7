//! Pull the numbers the verdict rules look at out of a finished recording.

use std::collections::HashMap;

use super::correlate;
pub use crate::model::judgement::{Facts, Pressure};
use crate::model::{Recording, cause::Cause, role::Role};

/// The cgroup's pressure over the window, and how the stalls line up with it.
pub fn pressure(rec: &Recording) -> Pressure {
    let Some(c) = rec.cgroup.as_ref() else {
        return Pressure::default();
    };
    let d = &c.deltas;
    let share = |us: Option<u64>| {
        us.filter(|_| d.window_ns > 0)
            .map(|us| us as f64 * 1000.0 / d.window_ns as f64)
    };
    let limit_hits = match (d.events_high, d.events_max, d.failcnt) {
        (None, None, None) => None,
        (h, m, f) => Some(h.unwrap_or(0) + m.unwrap_or(0) + f.unwrap_or(0)),
    };
    let a = correlate::alignment(rec);
    Pressure {
        psi_some: share(d.memory_some_us),
        psi_full: share(d.memory_full_us),
        limit_hits,
        oom_kills: d.events_oom_kill,
        major_faults: d.pgmajfault,
        aligned_share: a.aligned_share,
        correlation: a.correlation,
        cpu_throttled_ns: d.throttled_usec.map(|us| us * 1000),
        psi_scope: a.scope,
    }
}

/// Pull the facts out of a recording.
pub fn facts(rec: &Recording) -> Facts {
    let workers: Vec<_> = rec
        .threads
        .iter()
        .filter(|t| t.role == Role::TokioWorker)
        .collect();
    let block_on: Vec<_> = rec
        .threads
        .iter()
        .filter(|t| t.role == Role::SameNameAsProcess)
        .collect();
    // The tokio workers are the runtime; threads named like the process
    // (one may drive block_on, like the field report's `zeam`) are listed in
    // the table but left out here: the main thread of most programs sleeps
    // and would water the shares down.
    let (focus, which): (Vec<_>, String) = if workers.is_empty() {
        (
            rec.threads.iter().collect(),
            "all traced threads: no tokio worker names seen".into(),
        )
    } else {
        (
            workers.clone(),
            format!(
                "{} tokio workers; {} threads named like the process (may drive block_on) are in the table",
                workers.len(),
                block_on.len()
            ),
        )
    };
    let mut out = Facts {
        window_ns: rec.duration_ns,
        threads: focus.len(),
        which,
        ..Facts::default()
    };
    let mut cause_of = |name: &str| {
        let c = Cause::from_name(name);
        if c.is_none() {
            out.unknown_causes += 1;
        }
        c
    };
    let (mut by_cause, mut reclaim_on_cpu) = ([0u64; Cause::COUNT], 0u64);
    let (mut longest_memory, mut longest_idle) = (0u64, 0u64);
    let (mut wall, mut on_cpu) = (0u64, 0u64);
    for t in &focus {
        wall += t.observed_ns();
        on_cpu += t.on_cpu_ns;
        let mut off_reclaim = 0;
        for (name, ns) in &t.causes {
            if let Some(c) = cause_of(name) {
                by_cause[c.index()] += ns;
                if c == Cause::MemcgReclaim || c == Cause::DirectReclaim {
                    off_reclaim += ns;
                }
            }
        }
        reclaim_on_cpu += t.reclaim_ns.saturating_sub(off_reclaim);
        let stats = t.cause_stats.iter().map(|(n, s)| (n, s.histogram.max));
        let open = t.ongoing.iter().map(|g| (&g.cause, g.off_cpu_ns));
        for (name, longest) in stats.chain(open) {
            let Some(c) = cause_of(name) else { continue };
            if c.is_memory() {
                longest_memory = longest_memory.max(longest);
            }
            if c == Cause::Futex || c == Cause::Epoll {
                longest_idle = longest_idle.max(longest);
            }
        }
    }
    out.wall_ns = wall;
    out.on_cpu_ns = on_cpu;
    out.by_cause = by_cause;
    out.reclaim_on_cpu_ns = reclaim_on_cpu;
    out.longest_memory_stall_ns = longest_memory;
    out.longest_idle_wait_ns = longest_idle;
    let mut futexes: HashMap<(u32, u64), (usize, u64)> = HashMap::new();
    for t in &focus {
        for w in &t.futex_waits {
            let e = futexes.entry((t.tgid, w.addr)).or_default();
            e.0 += 1;
            e.1 += w.ns;
        }
    }
    for (&(_, addr), &(n, ns)) in futexes.iter().filter(|(_, (n, _))| *n >= 2) {
        out.shared_futex_ns += ns;
        if out.shared_futex.is_none_or(|(_, m)| n > m) {
            out.shared_futex = Some((addr, n));
        }
    }
    out.records = rec.records;
    out.lost = rec.lost_events;
    out.pressure = pressure(rec);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{CauseStat, ThreadReport};

    #[test]
    fn unknown_cause_names_are_counted_not_folded() {
        let t = ThreadReport {
            role: Role::TokioWorker,
            on_cpu_ns: 10,
            off_cpu_ns: 30,
            causes: [
                ("futex".to_string(), 20),
                ("from_the_future".to_string(), 10),
            ]
            .into_iter()
            .collect(),
            cause_stats: [("from_the_future".to_string(), CauseStat::default())]
                .into_iter()
                .collect(),
            ..Default::default()
        };
        let rec = Recording {
            threads: vec![t],
            ..Default::default()
        };
        let f = facts(&rec);
        assert_eq!(f.unknown_causes, 2);
        assert_eq!(f.ns(Cause::Futex), 20);
        assert_eq!(f.ns(Cause::Other), 0);
        assert_eq!(f.by_cause.iter().sum::<u64>(), 20);
    }
}
