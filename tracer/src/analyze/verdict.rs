//! The verdict on the hypothesis "the traced runtime threads are starved
//! because of memory pressure". Pure rules over numbers pulled from the
//! recording; every threshold is a named constant, documented in the README.

pub use crate::model::verdict::Verdict;
use crate::{
    model::{Recording, cause::Cause},
    report::fmt::dur,
};

/// Memory stalls at least this share of the runtime threads' wall time
/// are "substantial".
pub const MEMORY_SHARE_SUBSTANTIAL: f64 = 0.10;
/// A single memory stall this long is "long" whatever the share.
pub const LONG_MEMORY_STALL_NS: u64 = 100_000_000;
/// Below this share (and with no long stall) memory stalls are negligible.
pub const MEMORY_SHARE_NEGLIGIBLE: f64 = 0.02;
/// Run-queue waits at least this share of wall time: CPU starvation.
pub const RUNQUEUE_SHARE_SIGNIFICANT: f64 = 0.10;
/// A futex/epoll wait this long with no wakeup is called out: if the
/// program should be busy, nothing is waking its runtime (a lost wakeup).
pub const BLOCKED_WAIT_NS: u64 = 1_000_000_000;
/// Futex waits on an address shared by several runtime threads, at least
/// this share of wall time: lock contention, not idle parking (tokio
/// parks each worker on its own futex).
pub const SHARED_FUTEX_SHARE: f64 = 0.25;
/// Shorter traces are too short to judge.
pub const MIN_WINDOW_NS: u64 = 2_000_000_000;
/// Losing more than this share of records makes the numbers unreliable.
pub const MAX_LOSS_SHARE: f64 = 0.01;
/// Share of memory-stall time inside pressure buckets that counts as "lines up".
pub const ALIGNED_SHARE: f64 = 0.5;

/// The cgroup's pressure signals over the trace window, where available.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Pressure {
    /// PSI memory "some" stall as a share of the window.
    pub psi_some: Option<f64>,
    pub psi_full: Option<f64>,
    /// memory.events high + max deltas (v2), or memory.failcnt delta (v1).
    pub limit_hits: Option<u64>,
    pub oom_kills: Option<u64>,
    pub major_faults: Option<u64>,
    /// Share of the threads' memory-stall time in 100 ms buckets where the
    /// cgroup's PSI memory was non-zero, and the correlation of the series.
    pub aligned_share: Option<f64>,
    pub correlation: Option<f64>,
    /// cpu.stat throttled time delta (ns), for the CPU alternative.
    pub cpu_throttled_ns: Option<u64>,
    /// Whose PSI this is (the target's cgroup, or host-wide).
    pub psi_scope: String,
}

/// What the rules look at, summed over the runtime threads.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Facts {
    pub window_ns: u64,
    pub threads: usize,
    /// Which threads these are (e.g. "2 tokio workers + 1 block_on thread").
    pub which: String,
    pub wall_ns: u64,
    pub on_cpu_ns: u64,
    pub by_cause: [u64; Cause::COUNT],
    /// Reclaim done on-CPU (vmscan begin/end time not spent off-CPU).
    pub reclaim_on_cpu_ns: u64,
    pub longest_memory_stall_ns: u64,
    /// Longest futex/epoll wait, closed or still open.
    pub longest_idle_wait_ns: u64,
    /// Futex wait time on addresses that two or more runtime threads waited
    /// on, and the busiest such address with how many threads shared it.
    pub shared_futex_ns: u64,
    pub shared_futex: Option<(u64, usize)>,
    pub records: u64,
    pub lost: u64,
    pub pressure: Pressure,
}

impl Facts {
    fn share(&self, ns: u64) -> f64 {
        if self.wall_ns == 0 {
            0.0
        } else {
            ns as f64 / self.wall_ns as f64
        }
    }

    pub fn memory_ns(&self) -> u64 {
        Cause::ALL
            .into_iter()
            .filter(|c| c.is_memory())
            .map(|c| self.by_cause[c.index()])
            .sum::<u64>()
            + self.reclaim_on_cpu_ns
    }
}

fn pc(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
}

pub fn judge(f: &Facts) -> Verdict {
    let mut ev = Vec::new();
    let mem = f.memory_ns();
    let mem_share = f.share(mem);
    let runq_share = f.share(f.by_cause[Cause::Runqueue.index()]);
    let idle_ns = f.by_cause[Cause::Futex.index()]
        + f.by_cause[Cause::Epoll.index()]
        + f.by_cause[Cause::Sleep.index()];
    let idle_share = f.share(idle_ns);
    let io_share =
        f.share(f.by_cause[Cause::Io.index()] + f.by_cause[Cause::WritebackThrottle.index()]);
    let on_share = f.share(f.on_cpu_ns);
    // Only name a dominant memory cause when memory stalls matter at all:
    // one stray fault must not read as a finding.
    let dominant_memory = Cause::ALL
        .into_iter()
        .filter(|c| c.is_memory() && f.by_cause[c.index()] > 0)
        .max_by_key(|c| f.by_cause[c.index()])
        .map(|c| c.name().to_string())
        .filter(|_| {
            mem_share >= MEMORY_SHARE_NEGLIGIBLE
                || f.longest_memory_stall_ns >= LONG_MEMORY_STALL_NS
        });

    ev.push(format!(
        "{} runtime threads ({}) observed for {} of wall time in a {} window",
        f.threads,
        f.which,
        dur(f.wall_ns),
        dur(f.window_ns)
    ));
    ev.push(format!(
        "memory stalls {} = {} of wall time (substantial ≥ {}, negligible < {}); longest single memory stall {} (long ≥ {})",
        dur(mem),
        pc(mem_share),
        pc(MEMORY_SHARE_SUBSTANTIAL),
        pc(MEMORY_SHARE_NEGLIGIBLE),
        dur(f.longest_memory_stall_ns),
        dur(LONG_MEMORY_STALL_NS)
    ));
    let mut parts: Vec<String> = Cause::ALL
        .into_iter()
        .filter(|c| c.is_memory() && f.by_cause[c.index()] > 0)
        .map(|c| format!("{} {}", c.name(), dur(f.by_cause[c.index()])))
        .collect();
    if f.reclaim_on_cpu_ns > 0 {
        parts.push(format!("reclaim on-CPU {}", dur(f.reclaim_on_cpu_ns)));
    }
    if !parts.is_empty() {
        ev.push(format!("memory stall breakdown: {}", parts.join(", ")));
    }
    ev.push(format!(
        "on-CPU {}, run queue {}, idle/lock waits (futex/epoll/sleep) {}, I/O {}",
        pc(on_share),
        pc(runq_share),
        pc(idle_share),
        pc(io_share)
    ));
    pressure_evidence(&f.pressure, &mut ev);

    let verdict =
        |outcome: &str, summary: String, alternative: Option<&str>, ev: Vec<String>| Verdict {
            outcome: outcome.into(),
            summary,
            alternative: alternative.map(str::to_string),
            dominant_memory_cause: dominant_memory.clone(),
            evidence: ev,
        };

    // Evidence too thin to judge at all.
    if f.window_ns < MIN_WINDOW_NS {
        return verdict(
            "inconclusive",
            format!(
                "the trace is too short ({} < {}); trace longer",
                dur(f.window_ns),
                dur(MIN_WINDOW_NS)
            ),
            None,
            ev,
        );
    }
    if f.threads == 0 || f.wall_ns == 0 {
        return verdict(
            "inconclusive",
            "no runtime thread was observed".into(),
            None,
            ev,
        );
    }
    let total = f.records + f.lost;
    if total > 0 && f.lost as f64 / total as f64 > MAX_LOSS_SHARE {
        return verdict(
            "inconclusive",
            format!(
                "{} of {} records were lost (> {}); the numbers undercount",
                f.lost,
                total,
                pc(MAX_LOSS_SHARE)
            ),
            None,
            ev,
        );
    }

    let substantial =
        mem_share >= MEMORY_SHARE_SUBSTANTIAL || f.longest_memory_stall_ns >= LONG_MEMORY_STALL_NS;
    let negligible =
        mem_share < MEMORY_SHARE_NEGLIGIBLE && f.longest_memory_stall_ns < LONG_MEMORY_STALL_NS;
    if substantial {
        return match pressure_agrees(&f.pressure) {
            Some(true) => verdict(
                "confirmed",
                format!(
                    "the runtime threads lost {} of their wall time to memory stalls{}, and the cgroup's pressure signals moved with them",
                    pc(mem_share),
                    dominant_memory
                        .as_deref()
                        .map(|d| format!(" (mostly {d})"))
                        .unwrap_or_default()
                ),
                None,
                ev,
            ),
            Some(false) => verdict(
                "inconclusive",
                format!(
                    "the runtime threads lost {} to memory stalls, but the cgroup's pressure signals did not move with them (another cgroup's pressure, or global reclaim?)",
                    pc(mem_share)
                ),
                None,
                ev,
            ),
            None => verdict(
                "inconclusive",
                format!(
                    "the runtime threads lost {} to memory stalls, but no cgroup pressure signal (PSI, memory.events, failcnt) is available to line them up with",
                    pc(mem_share)
                ),
                None,
                ev,
            ),
        };
    }
    if negligible {
        let (alt, why) = alternative(f, runq_share, idle_share, io_share, on_share);
        return verdict(
            "refuted",
            format!("memory stalls are negligible ({}); {why}", pc(mem_share)),
            Some(alt),
            ev,
        );
    }
    verdict(
        "inconclusive",
        format!(
            "memory stalls take {} of wall time: more than negligible, less than substantial; trace through a wedge for a clearer answer",
            pc(mem_share)
        ),
        None,
        ev,
    )
}

/// Name the most likely alternative to memory starvation.
fn alternative(f: &Facts, runq: f64, idle: f64, io: f64, on: f64) -> (&'static str, String) {
    if runq >= RUNQUEUE_SHARE_SIGNIFICANT && runq >= io {
        let throttled = f
            .pressure
            .cpu_throttled_ns
            .filter(|&t| t > 0)
            .map(|t| format!("; the cgroup's CPU quota throttled it for {} of CPU time (cpu.stat throttled_usec, summed over CPUs)", dur(t)))
            .unwrap_or_default();
        return (
            "cpu",
            format!(
                "the likely cause is CPU starvation: {} of wall time runnable but waiting for a CPU{throttled}",
                pc(runq)
            ),
        );
    }
    if io >= 0.25 && io > idle {
        return (
            "io",
            format!("the threads mostly wait for I/O ({})", pc(io)),
        );
    }
    let shared = f.share(f.shared_futex_ns);
    if shared >= SHARED_FUTEX_SHARE {
        let (addr, n) = f.shared_futex.unwrap_or_default();
        return (
            "blocked",
            format!(
                "lock contention: {n} runtime threads wait on the same futex {addr:#x} for {} of wall time (a lock held elsewhere; ≥ {} counts)",
                pc(shared),
                pc(SHARED_FUTEX_SHARE)
            ),
        );
    }
    if idle >= on && f.longest_idle_wait_ns >= BLOCKED_WAIT_NS {
        return (
            "idle",
            format!(
                "the threads are parked ({}) on their own futexes/epoll with waits up to {} and no wakeup: idle — or, if the program should be busy, every task is pending and nothing wakes them (a lost wakeup)",
                pc(idle),
                dur(f.longest_idle_wait_ns)
            ),
        );
    }
    if idle >= on {
        return (
            "idle",
            format!(
                "no starvation: the threads are idle-parked waiting for work ({}), waking often (longest wait {})",
                pc(idle),
                dur(f.longest_idle_wait_ns)
            ),
        );
    }
    (
        "busy",
        format!(
            "the threads are busy on a CPU ({}), not kept from one",
            pc(on)
        ),
    )
}

fn pressure_agrees(p: &Pressure) -> Option<bool> {
    if let Some(a) = p.aligned_share {
        // Lined up in time, and the cgroup really was under memory pressure
        // (PSI memory, or its limit being hit), not just busy with I/O.
        let memory_moved =
            p.psi_some.is_some_and(|s| s > 0.0) || p.limit_hits.is_some_and(|h| h > 0);
        return Some(a >= ALIGNED_SHARE && memory_moved);
    }
    let signals = [p.psi_some.map(|s| s > 0.0), p.limit_hits.map(|h| h > 0)];
    let known: Vec<bool> = signals.into_iter().flatten().collect();
    if known.is_empty() {
        None
    } else {
        Some(known.iter().any(|&b| b))
    }
}

fn pressure_evidence(p: &Pressure, ev: &mut Vec<String>) {
    let mut parts = Vec::new();
    if let Some(s) = p.psi_some {
        parts.push(format!("PSI memory some {}", pc(s)));
    }
    if let Some(s) = p.psi_full {
        parts.push(format!("full {}", pc(s)));
    }
    if let Some(h) = p.limit_hits {
        parts.push(format!(
            "limit hits (memory.events high+max or failcnt) +{h}"
        ));
    }
    if let Some(m) = p.major_faults {
        parts.push(format!("cgroup major faults +{m}"));
    }
    if let Some(o) = p.oom_kills {
        parts.push(format!("oom kills +{o}"));
    }
    if parts.is_empty() {
        ev.push("cgroup pressure signals: not available".into());
    } else {
        ev.push(format!(
            "cgroup over the window (PSI: {}): {}",
            p.psi_scope,
            parts.join(", ")
        ));
    }
    if let Some(a) = p.aligned_share {
        ev.push(format!(
            "{} of the memory-stall time fell in 100 ms buckets where the cgroup's PSI memory or io was non-zero (lines up ≥ {}){}",
            pc(a),
            pc(ALIGNED_SHARE),
            p.correlation.map(|c| format!("; correlation of the two series {c:.2}")).unwrap_or_default()
        ));
    }
}

/// Pull the facts out of a recording.
pub fn facts(rec: &Recording) -> Facts {
    let workers: Vec<_> = rec
        .threads
        .iter()
        .filter(|t| t.role == "tokio-worker")
        .collect();
    let block_on: Vec<_> = rec
        .threads
        .iter()
        .filter(|t| t.role == "same-name-as-process")
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
    for t in &focus {
        out.wall_ns += t.observed_ns();
        out.on_cpu_ns += t.on_cpu_ns;
        let mut off_reclaim = 0;
        for (name, ns) in &t.causes {
            if let Some(c) = Cause::from_name(name) {
                out.by_cause[c.index()] += ns;
                if c == Cause::MemcgReclaim || c == Cause::DirectReclaim {
                    off_reclaim += ns;
                }
            }
        }
        out.reclaim_on_cpu_ns += t.reclaim_ns.saturating_sub(off_reclaim);
        for (name, s) in &t.cause_stats {
            let c = Cause::from_name(name).unwrap_or(Cause::Other);
            if c.is_memory() {
                out.longest_memory_stall_ns = out.longest_memory_stall_ns.max(s.histogram.max);
            }
            if c == Cause::Futex || c == Cause::Epoll {
                out.longest_idle_wait_ns = out.longest_idle_wait_ns.max(s.histogram.max);
            }
        }
        if let Some(g) = &t.ongoing {
            let c = Cause::from_name(&g.cause).unwrap_or(Cause::Other);
            if c.is_memory() {
                out.longest_memory_stall_ns = out.longest_memory_stall_ns.max(g.off_cpu_ns);
            }
            if c == Cause::Futex || c == Cause::Epoll {
                out.longest_idle_wait_ns = out.longest_idle_wait_ns.max(g.off_cpu_ns);
            }
        }
    }
    let mut futexes: std::collections::HashMap<(u32, u64), (usize, u64)> =
        std::collections::HashMap::new();
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
    out.pressure = crate::analyze::correlate::pressure(rec);
    out
}

pub fn decide(rec: &Recording) -> Verdict {
    judge(&facts(rec))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A synthetic timeline: `secs` of wall time for `threads` threads,
    /// with the given shares per cause and on-CPU.
    fn facts_with(shares: &[(Cause, f64)], on: f64, pressure: Pressure) -> Facts {
        let wall = 20_000_000_000u64;
        let mut f = Facts {
            window_ns: 10_000_000_000,
            threads: 2,
            which: "2 tokio workers".into(),
            wall_ns: wall,
            on_cpu_ns: (on * wall as f64) as u64,
            records: 10_000,
            pressure,
            ..Facts::default()
        };
        for &(c, s) in shares {
            f.by_cause[c.index()] = (s * wall as f64) as u64;
        }
        f
    }

    fn psi(aligned: f64) -> Pressure {
        Pressure {
            psi_some: Some(0.3),
            limit_hits: Some(1000),
            aligned_share: Some(aligned),
            ..Pressure::default()
        }
    }

    #[test]
    fn memory_stalls_with_pressure_confirm() {
        let mut f = facts_with(
            &[
                (Cause::MemcgHighThrottle, 0.5),
                (Cause::MemcgReclaim, 0.1),
                (Cause::Futex, 0.2),
            ],
            0.2,
            psi(0.9),
        );
        f.longest_memory_stall_ns = 400_000_000;
        let v = judge(&f);
        assert_eq!(v.outcome, "confirmed");
        assert_eq!(
            v.dominant_memory_cause.as_deref(),
            Some("memcg_high_throttle")
        );
        assert!(v.evidence.iter().any(|e| e.contains("PSI memory some")));
    }

    #[test]
    fn memory_stalls_without_matching_pressure_are_inconclusive() {
        let f = facts_with(&[(Cause::PageFaultIo, 0.3)], 0.2, psi(0.1));
        assert_eq!(judge(&f).outcome, "inconclusive");
        let f = facts_with(&[(Cause::PageFaultIo, 0.3)], 0.2, Pressure::default());
        let v = judge(&f);
        assert_eq!(v.outcome, "inconclusive");
        assert!(v.summary.contains("no cgroup pressure signal"));
    }

    #[test]
    fn aligned_with_io_alone_is_not_memory_pressure() {
        let p = Pressure {
            psi_some: Some(0.0),
            limit_hits: Some(0),
            aligned_share: Some(0.9),
            ..Pressure::default()
        };
        let f = facts_with(&[(Cause::PageFaultIo, 0.4)], 0.3, p);
        assert_eq!(judge(&f).outcome, "inconclusive");
    }

    #[test]
    fn one_long_stall_is_enough_when_pressure_agrees() {
        let mut f = facts_with(
            &[(Cause::PageFaultIo, 0.03), (Cause::Epoll, 0.8)],
            0.17,
            psi(0.8),
        );
        f.longest_memory_stall_ns = 2 * LONG_MEMORY_STALL_NS;
        assert_eq!(judge(&f).outcome, "confirmed");
    }

    #[test]
    fn cpu_starvation_refutes_and_names_cpu() {
        let f = facts_with(
            &[(Cause::Runqueue, 0.6), (Cause::Epoll, 0.1)],
            0.3,
            Pressure::default(),
        );
        let v = judge(&f);
        assert_eq!(v.outcome, "refuted");
        assert_eq!(v.alternative.as_deref(), Some("cpu"));
    }

    #[test]
    fn shared_futex_is_a_lock_own_futexes_are_idle() {
        let mut f = facts_with(&[(Cause::Futex, 0.95)], 0.05, Pressure::default());
        f.shared_futex_ns = f.wall_ns / 2;
        f.shared_futex = Some((0x7f00, 2));
        let v = judge(&f);
        assert_eq!(
            (v.outcome.as_str(), v.alternative.as_deref()),
            ("refuted", Some("blocked"))
        );
        assert!(v.summary.contains("0x7f00"), "{}", v.summary);
        f.shared_futex_ns = 0;
        f.longest_idle_wait_ns = 8 * BLOCKED_WAIT_NS;
        let v = judge(&f);
        assert_eq!(v.alternative.as_deref(), Some("idle"));
        assert!(v.summary.contains("lost wakeup"));
        f.longest_idle_wait_ns = BLOCKED_WAIT_NS / 10;
        assert!(judge(&f).summary.contains("waking often"));
    }

    #[test]
    fn io_and_busy_alternatives() {
        let f = facts_with(&[(Cause::Io, 0.6)], 0.3, Pressure::default());
        assert_eq!(judge(&f).alternative.as_deref(), Some("io"));
        let f = facts_with(&[(Cause::Futex, 0.05)], 0.95, Pressure::default());
        assert_eq!(judge(&f).alternative.as_deref(), Some("busy"));
    }

    #[test]
    fn middling_memory_short_window_and_loss_are_inconclusive() {
        let f = facts_with(
            &[(Cause::PageFaultIo, 0.05), (Cause::Futex, 0.5)],
            0.45,
            psi(0.9),
        );
        assert_eq!(judge(&f).outcome, "inconclusive");
        let mut f = facts_with(&[(Cause::Futex, 0.9)], 0.1, Pressure::default());
        f.window_ns = MIN_WINDOW_NS / 2;
        assert!(judge(&f).summary.contains("too short"));
        let mut f = facts_with(&[(Cause::Futex, 0.9)], 0.1, Pressure::default());
        f.lost = 1_000;
        assert!(judge(&f).summary.contains("lost"));
    }

    #[test]
    fn on_cpu_reclaim_counts_as_memory() {
        let mut f = facts_with(&[(Cause::Futex, 0.5)], 0.5, psi(0.9));
        f.reclaim_on_cpu_ns = f.wall_ns / 4;
        assert_eq!(judge(&f).outcome, "confirmed");
    }

    /// One Facts per branch of the rules, with every pressure signal in
    /// one of them: the words they produce are pasted in the README.
    pub(crate) fn word_cases() -> Vec<(&'static str, Facts)> {
        let full = Pressure {
            psi_some: Some(0.3),
            psi_full: Some(0.1),
            limit_hits: Some(1000),
            oom_kills: Some(1),
            major_faults: Some(7),
            aligned_share: Some(0.9),
            correlation: Some(0.75),
            cpu_throttled_ns: Some(3_000_000_000),
            psi_scope: "the target's cgroup".into(),
        };
        let mut confirmed = facts_with(
            &[
                (Cause::MemcgHighThrottle, 0.5),
                (Cause::MemcgReclaim, 0.1),
                (Cause::Futex, 0.2),
            ],
            0.2,
            full.clone(),
        );
        confirmed.longest_memory_stall_ns = 400_000_000;
        confirmed.reclaim_on_cpu_ns = 1_000_000;
        let disagrees = facts_with(&[(Cause::PageFaultIo, 0.3)], 0.2, psi(0.1));
        let no_signal = facts_with(&[(Cause::PageFaultIo, 0.3)], 0.2, Pressure::default());
        let mut short = facts_with(&[(Cause::Futex, 0.9)], 0.1, Pressure::default());
        short.window_ns = MIN_WINDOW_NS / 2;
        let mut nobody = facts_with(&[], 0.0, Pressure::default());
        nobody.threads = 0;
        nobody.wall_ns = 0;
        let mut lost = facts_with(&[(Cause::Futex, 0.9)], 0.1, Pressure::default());
        lost.lost = 1_000;
        let cpu = facts_with(
            &[(Cause::Runqueue, 0.6), (Cause::Epoll, 0.1)],
            0.3,
            full.clone(),
        );
        let cpu_plain = facts_with(
            &[(Cause::Runqueue, 0.6), (Cause::Epoll, 0.1)],
            0.3,
            Pressure::default(),
        );
        let io = facts_with(&[(Cause::Io, 0.6)], 0.3, Pressure::default());
        let mut blocked = facts_with(&[(Cause::Futex, 0.95)], 0.05, Pressure::default());
        blocked.shared_futex_ns = blocked.wall_ns / 2;
        blocked.shared_futex = Some((0x7f00, 2));
        let mut parked = facts_with(&[(Cause::Futex, 0.95)], 0.05, Pressure::default());
        parked.longest_idle_wait_ns = 8 * BLOCKED_WAIT_NS;
        let mut waking = facts_with(&[(Cause::Futex, 0.95)], 0.05, Pressure::default());
        waking.longest_idle_wait_ns = BLOCKED_WAIT_NS / 10;
        let busy = facts_with(&[(Cause::Futex, 0.05)], 0.95, Pressure::default());
        let middling = facts_with(
            &[(Cause::PageFaultIo, 0.05), (Cause::Futex, 0.5)],
            0.45,
            psi(0.9),
        );
        let mut long_stall = facts_with(
            &[(Cause::PageFaultIo, 0.03), (Cause::Epoll, 0.8)],
            0.17,
            psi(0.8),
        );
        long_stall.longest_memory_stall_ns = 2 * LONG_MEMORY_STALL_NS;
        vec![
            ("confirmed", confirmed),
            ("pressure disagrees", disagrees),
            ("no pressure signal", no_signal),
            ("too short", short),
            ("no runtime threads", nobody),
            ("lost", lost),
            ("cpu with throttling", cpu),
            ("cpu", cpu_plain),
            ("io", io),
            ("blocked", blocked),
            ("idle, lost wakeup", parked),
            ("idle, waking often", waking),
            ("busy", busy),
            ("middling", middling),
            ("one long stall", long_stall),
        ]
    }

    pub(crate) fn render_case(name: &str, v: &Verdict) -> String {
        let mut out = format!(
            "## {name}\n{} {:?} {:?}\n{}\n",
            v.outcome, v.alternative, v.dominant_memory_cause, v.summary
        );
        for e in &v.evidence {
            out.push_str(&format!("- {e}\n"));
        }
        out
    }

    #[test]
    fn words_are_unchanged() {
        let got: String = word_cases()
            .iter()
            .map(|(name, f)| render_case(name, &judge(f)))
            .collect();
        let file = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/verdict-words.txt");
        if std::env::var_os("STARVETRACE_WRITE_KEYS").is_some() {
            std::fs::write(file, &got).unwrap();
        }
        assert_eq!(got, std::fs::read_to_string(file).unwrap());
    }
}
