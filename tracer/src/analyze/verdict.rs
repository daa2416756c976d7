//! The rules on the hypothesis "the traced runtime threads are starved
//! because of memory pressure": pure, over the facts pulled from the
//! recording, returning typed values (`report::verdict` words them). Every
//! threshold is a named constant, documented in the README.

use crate::model::{
    cause::Cause,
    judgement::{AltReason, Facts, Judgement, Pressure, Reason, Thresholds},
    verdict::Outcome,
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

/// The thresholds above that the evidence lines quote.
pub const THRESHOLDS: Thresholds = Thresholds {
    memory_substantial: MEMORY_SHARE_SUBSTANTIAL,
    memory_negligible: MEMORY_SHARE_NEGLIGIBLE,
    long_memory_stall_ns: LONG_MEMORY_STALL_NS,
    aligned_share: ALIGNED_SHARE,
};

pub fn judge(f: &Facts) -> Judgement {
    let mem_share = f.memory_share();
    // Only name a dominant memory cause when memory stalls matter at all:
    // one stray fault must not read as a finding.
    let dominant = Cause::ALL
        .into_iter()
        .filter(|c| c.is_memory() && f.ns(*c) > 0)
        .max_by_key(|c| f.ns(*c))
        .filter(|_| {
            mem_share >= MEMORY_SHARE_NEGLIGIBLE
                || f.longest_memory_stall_ns >= LONG_MEMORY_STALL_NS
        });
    let (outcome, reason) = decide(f, mem_share, dominant);
    let alternative = match &reason {
        Reason::Negligible { alt, .. } => Some(alt.alternative()),
        _ => None,
    };
    Judgement {
        outcome,
        alternative,
        dominant_memory_cause: dominant,
        reason,
        facts: f.clone(),
        thresholds: THRESHOLDS,
    }
}

fn decide(f: &Facts, share: f64, dominant: Option<Cause>) -> (Outcome, Reason) {
    // Evidence too thin to judge at all.
    if f.window_ns < MIN_WINDOW_NS {
        let reason = Reason::TooShort {
            window_ns: f.window_ns,
            min_ns: MIN_WINDOW_NS,
        };
        return (Outcome::Inconclusive, reason);
    }
    if f.threads == 0 || f.wall_ns == 0 {
        return (Outcome::Inconclusive, Reason::NoRuntimeThreads);
    }
    let total = f.records + f.lost;
    if total > 0 && f.lost as f64 / total as f64 > MAX_LOSS_SHARE {
        let reason = Reason::Lost {
            lost: f.lost,
            total,
            max_share: MAX_LOSS_SHARE,
        };
        return (Outcome::Inconclusive, reason);
    }
    let long = f.longest_memory_stall_ns >= LONG_MEMORY_STALL_NS;
    if share >= MEMORY_SHARE_SUBSTANTIAL || long {
        return match pressure_agrees(&f.pressure) {
            Some(true) => (
                Outcome::Confirmed,
                Reason::MemoryConfirmed { share, dominant },
            ),
            Some(false) => (Outcome::Inconclusive, Reason::PressureDisagrees { share }),
            None => (Outcome::Inconclusive, Reason::NoPressureSignal { share }),
        };
    }
    if share < MEMORY_SHARE_NEGLIGIBLE {
        let alt = alternative(f);
        return (Outcome::Refuted, Reason::Negligible { share, alt });
    }
    (Outcome::Inconclusive, Reason::Middling { share })
}

/// The most likely alternative to memory starvation.
fn alternative(f: &Facts) -> AltReason {
    let (runq, idle, io, on) = (
        f.runqueue_share(),
        f.idle_share(),
        f.io_share(),
        f.on_cpu_share(),
    );
    if runq >= RUNQUEUE_SHARE_SIGNIFICANT && runq >= io {
        return AltReason::Cpu {
            runqueue_share: runq,
            throttled_ns: f.pressure.cpu_throttled_ns.filter(|&t| t > 0),
        };
    }
    if io >= 0.25 && io > idle {
        return AltReason::Io { io_share: io };
    }
    let shared = f.share(f.shared_futex_ns);
    if shared >= SHARED_FUTEX_SHARE {
        let (addr, threads) = f.shared_futex.unwrap_or_default();
        return AltReason::Lock {
            threads,
            addr,
            share: shared,
            min_share: SHARED_FUTEX_SHARE,
        };
    }
    let (idle_share, longest_wait_ns) = (idle, f.longest_idle_wait_ns);
    if idle >= on && longest_wait_ns >= BLOCKED_WAIT_NS {
        return AltReason::Parked {
            idle_share,
            longest_wait_ns,
        };
    }
    if idle >= on {
        return AltReason::Waking {
            idle_share,
            longest_wait_ns,
        };
    }
    AltReason::Busy { on_cpu_share: on }
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

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::model::verdict::Alternative;

    /// A synthetic timeline: 20 s of wall time for 2 threads, with the
    /// given shares per cause and on-CPU.
    pub(crate) fn facts_with(shares: &[(Cause, f64)], on: f64, pressure: Pressure) -> Facts {
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

    pub(crate) fn psi(aligned: f64) -> Pressure {
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
        let j = judge(&f);
        assert_eq!(j.outcome, Outcome::Confirmed);
        assert_eq!(j.dominant_memory_cause, Some(Cause::MemcgHighThrottle));
        assert!(matches!(
            j.reason,
            Reason::MemoryConfirmed { share, dominant: Some(Cause::MemcgHighThrottle) }
                if (share - 0.6).abs() < 1e-9
        ));
        // The PSI evidence line has its number.
        assert_eq!(j.facts.pressure.psi_some, Some(0.3));
    }

    #[test]
    fn memory_stalls_without_matching_pressure_are_inconclusive() {
        let f = facts_with(&[(Cause::PageFaultIo, 0.3)], 0.2, psi(0.1));
        let j = judge(&f);
        assert_eq!(j.outcome, Outcome::Inconclusive);
        assert!(matches!(j.reason, Reason::PressureDisagrees { .. }));
        let f = facts_with(&[(Cause::PageFaultIo, 0.3)], 0.2, Pressure::default());
        let j = judge(&f);
        assert_eq!(j.outcome, Outcome::Inconclusive);
        assert!(
            matches!(j.reason, Reason::NoPressureSignal { share } if (share - 0.3).abs() < 1e-9)
        );
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
        assert_eq!(judge(&f).outcome, Outcome::Inconclusive);
    }

    #[test]
    fn one_long_stall_is_enough_when_pressure_agrees() {
        let mut f = facts_with(
            &[(Cause::PageFaultIo, 0.03), (Cause::Epoll, 0.8)],
            0.17,
            psi(0.8),
        );
        f.longest_memory_stall_ns = 2 * LONG_MEMORY_STALL_NS;
        assert_eq!(judge(&f).outcome, Outcome::Confirmed);
    }

    #[test]
    fn cpu_starvation_refutes_and_names_cpu() {
        let f = facts_with(
            &[(Cause::Runqueue, 0.6), (Cause::Epoll, 0.1)],
            0.3,
            Pressure::default(),
        );
        let j = judge(&f);
        assert_eq!(j.outcome, Outcome::Refuted);
        assert_eq!(j.alternative, Some(Alternative::Cpu));
    }

    #[test]
    fn shared_futex_is_a_lock_own_futexes_are_idle() {
        let mut f = facts_with(&[(Cause::Futex, 0.95)], 0.05, Pressure::default());
        f.shared_futex_ns = f.wall_ns / 2;
        f.shared_futex = Some((0x7f00, 2));
        let j = judge(&f);
        assert_eq!(
            (j.outcome, j.alternative),
            (Outcome::Refuted, Some(Alternative::Blocked))
        );
        assert!(matches!(
            j.reason,
            Reason::Negligible {
                alt: AltReason::Lock {
                    addr: 0x7f00,
                    threads: 2,
                    ..
                },
                ..
            }
        ));
        f.shared_futex_ns = 0;
        f.longest_idle_wait_ns = 8 * BLOCKED_WAIT_NS;
        let j = judge(&f);
        assert_eq!(j.alternative, Some(Alternative::Idle));
        // Long waits with no wakeup: possibly a lost wakeup.
        assert!(matches!(
            j.reason,
            Reason::Negligible { alt: AltReason::Parked { longest_wait_ns, .. }, .. }
                if longest_wait_ns == 8 * BLOCKED_WAIT_NS
        ));
        f.longest_idle_wait_ns = BLOCKED_WAIT_NS / 10;
        assert!(matches!(
            judge(&f).reason,
            Reason::Negligible {
                alt: AltReason::Waking { .. },
                ..
            }
        ));
    }

    #[test]
    fn io_and_busy_alternatives() {
        let f = facts_with(&[(Cause::Io, 0.6)], 0.3, Pressure::default());
        assert_eq!(judge(&f).alternative, Some(Alternative::Io));
        let f = facts_with(&[(Cause::Futex, 0.05)], 0.95, Pressure::default());
        assert_eq!(judge(&f).alternative, Some(Alternative::Busy));
    }

    #[test]
    fn middling_memory_short_window_and_loss_are_inconclusive() {
        let f = facts_with(
            &[(Cause::PageFaultIo, 0.05), (Cause::Futex, 0.5)],
            0.45,
            psi(0.9),
        );
        let j = judge(&f);
        assert_eq!(j.outcome, Outcome::Inconclusive);
        assert!(matches!(j.reason, Reason::Middling { .. }));
        let mut f = facts_with(&[(Cause::Futex, 0.9)], 0.1, Pressure::default());
        f.window_ns = MIN_WINDOW_NS / 2;
        assert_eq!(
            judge(&f).reason,
            Reason::TooShort {
                window_ns: MIN_WINDOW_NS / 2,
                min_ns: MIN_WINDOW_NS
            }
        );
        let mut f = facts_with(&[(Cause::Futex, 0.9)], 0.1, Pressure::default());
        f.lost = 1_000;
        assert!(matches!(
            judge(&f).reason,
            Reason::Lost {
                lost: 1_000,
                total: 11_000,
                ..
            }
        ));
    }

    #[test]
    fn on_cpu_reclaim_counts_as_memory() {
        let mut f = facts_with(&[(Cause::Futex, 0.5)], 0.5, psi(0.9));
        f.reclaim_on_cpu_ns = f.wall_ns / 4;
        assert_eq!(judge(&f).outcome, Outcome::Confirmed);
    }
}
