//! The verdict on "the runtime threads are starved because of memory
//! pressure": pure rules over [`Facts`], every threshold a named constant
//! (the README's table lists them all). Rules return typed values; the
//! report turns them into words.

use crate::model::{
    cause::Cause,
    judgement::{
        AlternativeWhy, Blindness, Facts, Judgement, Mechanism, MemoryWeight, Reason, Thresholds,
        ratio,
    },
    verdict::{Alternative, Outcome},
};

/// Shorter traces are too short to judge.
pub const MIN_WINDOW_NS: u64 = 2_000_000_000;
/// Losing more than this share of records makes the numbers unreliable.
pub const MAX_LOSS_SHARE: f64 = 0.01;
/// Memory-caused runtime blackouts at least this share of the window are substantial.
pub const BLACKOUT_MEMORY_SUBSTANTIAL: f64 = 0.05;
/// Memory stalls at least this share of the runtime threads' busy
/// (non-idle) time are substantial ...
pub const MEMORY_BUSY_SUBSTANTIAL: f64 = 0.25;
/// ... provided they are also at least this share of their wall time (a
/// runtime idle 99% of the time is not starved by its few faults).
pub const MEMORY_WALL_FLOOR: f64 = 0.02;
/// Below this share of wall time (and of the window, in blackouts) memory
/// stalls are negligible.
pub const MEMORY_NEGLIGIBLE: f64 = 0.02;
/// Share of the throttle sleeps that must fall in sample windows where
/// `memory.events high` moved.
pub const THROTTLE_EVIDENCE_SHARE: f64 = 0.5;
/// Blackouts at least this share of the window name the alternative.
pub const BLACKOUT_SIGNIFICANT: f64 = 0.05;
/// Run-queue waits at least this share of wall time: CPU starvation.
pub const RUNQUEUE_SHARE_SIGNIFICANT: f64 = 0.10;
/// I/O waits at least this share of wall time: the threads wait for I/O.
pub const IO_SHARE_SIGNIFICANT: f64 = 0.25;
/// Futex waits on one address shared by runtime threads, at least this
/// share of wall time: lock contention, not idle parking.
pub const SHARED_FUTEX_SHARE: f64 = 0.25;
/// A futex/epoll wait this long with no wakeup is called out.
pub const BLOCKED_WAIT_NS: u64 = 1_000_000_000;
/// More failed stack lookups than this share of blocked intervals is blindness.
pub const MAX_STACK_LOSS_SHARE: f64 = 0.05;
/// Blackouts must be computed over at least this share of the window.
pub const MIN_SPAN_COVERAGE: f64 = 0.9;

/// The thresholds above that the evidence lines quote.
pub const THRESHOLDS: Thresholds = Thresholds {
    blackout_memory_substantial: BLACKOUT_MEMORY_SUBSTANTIAL,
    memory_busy_substantial: MEMORY_BUSY_SUBSTANTIAL,
    memory_wall_floor: MEMORY_WALL_FLOOR,
    memory_negligible: MEMORY_NEGLIGIBLE,
    throttle_evidence_share: THROTTLE_EVIDENCE_SHARE,
    long_blackout_ns: super::blackouts::LONG_BLACKOUT_NS,
};

/// Backed and unbacked memory stall time, per mechanism.
fn mechanisms(f: &Facts) -> [(Mechanism, u64, u64); 4] {
    let reclaim = f.reclaim.off_cpu_ns + f.reclaim.on_cpu_ns;
    let reclaim_backed = if f.reclaim.tracepoint_hits > 0 {
        reclaim
    } else {
        0
    };
    let high_backed =
        if ratio(f.throttle.in_high_windows_ns, f.throttle.total_ns) >= THROTTLE_EVIDENCE_SHARE {
            f.throttle.total_ns
        } else {
            0
        };
    [
        (
            Mechanism::HighThrottle,
            high_backed,
            f.throttle.total_ns - high_backed,
        ),
        (Mechanism::Reclaim, reclaim_backed, reclaim - reclaim_backed),
        (
            Mechanism::Refault,
            f.faults.memory_ns(),
            f.faults.no_counters_ns,
        ),
        (Mechanism::Compaction, 0, f.ns(Cause::Compaction)),
    ]
}

/// The memory picture: backed and unbacked stall time, blackouts, mechanism.
pub fn memory(f: &Facts) -> MemoryWeight {
    let m = mechanisms(f);
    let backed: u64 = m.iter().map(|x| x.1).sum();
    let unbacked: u64 = m.iter().map(|x| x.2).sum();
    let mechanism = m
        .iter()
        .filter(|x| x.1 > 0)
        .max_by_key(|x| x.1)
        .or_else(|| m.iter().filter(|x| x.2 > 0).max_by_key(|x| x.2))
        .map(|x| x.0);
    let blackout_ns = f.blackouts.memory_ns();
    let dominant_cause = Cause::ALL
        .iter()
        .filter(|c| c.is_memory() && f.ns(**c) > 0)
        .max_by_key(|c| f.ns(**c))
        .copied();
    MemoryWeight {
        backed_ns: backed,
        unbacked_ns: unbacked,
        backed_share_of_wall: f.share(backed),
        backed_share_of_busy: ratio(backed, f.busy_ns()),
        blackout_ns,
        blackout_share_of_window: ratio(blackout_ns, f.window_ns),
        mechanism,
        dominant_cause,
    }
}

/// Memory stalls of `ns` (with `blackout_ns` of runtime blackouts) would be substantial.
fn substantial(f: &Facts, ns: u64, blackout_ns: u64) -> bool {
    ratio(blackout_ns, f.window_ns) >= BLACKOUT_MEMORY_SUBSTANTIAL
        || (ratio(ns, f.busy_ns()) >= MEMORY_BUSY_SUBSTANTIAL && f.share(ns) >= MEMORY_WALL_FLOOR)
}

fn negligible(f: &Facts, ns: u64, blackout_ns: u64) -> bool {
    f.share(ns) < MEMORY_NEGLIGIBLE && ratio(blackout_ns, f.window_ns) < MEMORY_NEGLIGIBLE
}

pub fn judge(f: &Facts) -> Judgement {
    let memory = memory(f);
    let verdict = |outcome, alternative, reason| Judgement {
        outcome,
        alternative,
        reason,
        memory: memory.clone(),
        facts: f.clone(),
        thresholds: THRESHOLDS,
    };
    let inconclusive = |reason| verdict(Outcome::Inconclusive, None, reason);
    if f.window_ns < MIN_WINDOW_NS {
        return inconclusive(Reason::TooShort {
            window_ns: f.window_ns,
        });
    }
    // A `--threads` pattern that matched nothing: the user named the
    // runtime and it is not there, so whatever else is judged is not it.
    if f.runtime.count() == 0 || f.wall_ns == 0 || f.runtime.pattern_matched_nothing {
        return inconclusive(Reason::NoRuntimeThreads {
            pattern_matched_nothing: f.runtime.pattern_matched_nothing,
        });
    }
    let total = f.records + f.lost;
    if ratio(f.lost, total) > MAX_LOSS_SHARE {
        return inconclusive(Reason::Lost {
            lost: f.lost,
            total,
        });
    }
    let b = &f.blackouts;
    let covered = ratio(
        b.complete_until_ns
            .min(b.window_end_ns)
            .saturating_sub(b.window_start_ns),
        b.window_end_ns.saturating_sub(b.window_start_ns),
    );
    if covered < MIN_SPAN_COVERAGE {
        return inconclusive(Reason::SpansIncomplete {
            covered_share: covered,
        });
    }
    let all_memory = memory.backed_ns + memory.unbacked_ns;
    // Blackout time counts as backed in proportion to the backed stall time.
    let backed_blackout = (memory.blackout_ns as f64 * ratio(memory.backed_ns, all_memory)) as u64;
    if substantial(f, memory.backed_ns, backed_blackout) && memory.backed_ns > 0 {
        let mechanism = memory.mechanism.unwrap_or(Mechanism::Refault);
        return verdict(Outcome::Confirmed, None, Reason::Starved { mechanism });
    }
    if substantial(f, all_memory, memory.blackout_ns) {
        return inconclusive(Reason::NoEvidence {
            mechanism: memory.mechanism.unwrap_or(Mechanism::Refault),
            unbacked_ns: memory.unbacked_ns,
        });
    }
    if !negligible(f, all_memory, memory.blackout_ns) {
        return inconclusive(Reason::Middling);
    }
    // Refuted, unless what we could not see could have made it substantial.
    if let Some((blindness, blind_ns)) = blindness(f)
        && !negligible(f, all_memory + blind_ns, memory.blackout_ns + blind_ns)
    {
        return inconclusive(Reason::Blind {
            blindness,
            blind_ns,
        });
    }
    let (alternative, why) = alternative(f);
    verdict(
        Outcome::Refuted,
        Some(alternative),
        Reason::Negligible { alternative, why },
    )
}

/// Uninterruptible sleep time the classifier could not attribute.
fn blindness(f: &Facts) -> Option<(Blindness, u64)> {
    if f.stacks_off && f.disk_ns > 0 {
        return Some((Blindness::StacksOff, f.disk_ns));
    }
    let lost = ratio(f.stack_failures, f.blocked_intervals);
    (lost > MAX_STACK_LOSS_SHARE).then(|| {
        (
            Blindness::StacksLost,
            (f.disk_ns as f64 * lost.min(1.0)) as u64,
        )
    })
}

/// The most likely alternative to memory starvation.
fn alternative(f: &Facts) -> (Alternative, AlternativeWhy) {
    let b = &f.blackouts;
    if ratio(b.total_ns, f.window_ns) >= BLACKOUT_SIGNIFICANT
        && let Some((&cause, _)) = b.by_cause.iter().max_by_key(|(_, ns)| **ns)
    {
        let share = ratio(b.total_ns, f.window_ns);
        let alt = match cause {
            Cause::Runqueue => Alternative::Cpu,
            _ => Alternative::Io,
        };
        return (alt, AlternativeWhy::Blackouts { cause, share });
    }
    let runq = f.share(f.ns(Cause::Runqueue));
    let io = f.share(f.io_ns());
    let idle = f.share(f.idle_ns());
    let on = f.share(f.on_cpu_ns);
    if runq >= RUNQUEUE_SHARE_SIGNIFICANT && runq >= io {
        return (
            Alternative::Cpu,
            AlternativeWhy::RunQueue {
                share: runq,
                cpu_throttled_ns: f.cpu_throttled_ns,
            },
        );
    }
    if io >= IO_SHARE_SIGNIFICANT && io > idle {
        return (Alternative::Io, AlternativeWhy::Io { share: io });
    }
    if let Some(s) = &f.shared_futex
        && f.share(s.ns) >= SHARED_FUTEX_SHARE
    {
        let why = AlternativeWhy::SharedFutex {
            addr: s.addr,
            threads: s.threads,
            share: f.share(s.ns),
        };
        return (Alternative::Blocked, why);
    }
    if idle >= on {
        let why = AlternativeWhy::Parked {
            share: idle,
            longest_wait_ns: f.longest_idle_wait_ns,
        };
        return (Alternative::Idle, why);
    }
    (Alternative::Busy, AlternativeWhy::OnCpu { share: on })
}

#[cfg(test)]
mod tests;
