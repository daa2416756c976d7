//! The rules on synthetic interval streams: one per outcome and per
//! negative control of the lab.

use super::*;
use crate::{
    analyze::{
        evidence::{Counter, Signals},
        facts::{Context, RuntimeThread, facts},
    },
    model::{
        judgement::RuntimeSet,
        spans::{OffSpan, ThreadSpans},
    },
};

const MS: u64 = 1_000_000;
const WINDOW: u64 = 10_000;

/// A thread present for the whole window with these intervals.
fn thread(off: Vec<OffSpan>) -> RuntimeThread {
    RuntimeThread {
        tgid: 1,
        spans: ThreadSpans {
            first_ns: 0,
            last_ns: WINDOW * MS,
            off: off.into(),
        },
        ..RuntimeThread::default()
    }
}

/// Parked idle (epoll) the whole window.
fn idle() -> RuntimeThread {
    thread(vec![OffSpan::ms(0, WINDOW, 0, Cause::Epoll, false)])
}

/// A repeating pattern: `stall` ms off for `cause` then `run` ms on a CPU.
fn cycling(cause: Cause, stall: u64, run: u64, disk: bool) -> RuntimeThread {
    let mut v = Vec::new();
    let mut t = 0;
    while t + stall <= WINDOW {
        v.push(OffSpan::ms(t, t + stall, 0, cause, disk));
        t += stall + run;
    }
    thread(v)
}

/// A counter sampled every 100 ms that grows in every window (or never).
fn counter(grows: bool) -> Counter {
    Counter::new(
        (0..=WINDOW / 100 + 1)
            .map(|i| (i * 100 * MS, if grows { i } else { 7 }))
            .collect(),
    )
}

fn ctx(signals: Signals) -> Context {
    Context {
        start_ns: 0,
        end_ns: WINDOW * MS,
        complete_until_ns: u64::MAX,
        signals,
        records: 100_000,
        ..Context::default()
    }
}

/// Judge these threads as the runtime (all of them workers).
fn judge_streams(threads: Vec<RuntimeThread>, c: &Context) -> Judgement {
    let mut c = c.clone();
    c.runtime.workers = c.runtime.workers.max(threads.len());
    judge(&facts(threads, &c))
}

fn memory_limit_thrashing() -> Signals {
    Signals {
        limit: counter(true),
        refault: counter(true),
        ..Signals::default()
    }
}

#[test]
fn memory_high_throttle_with_high_events_confirms() {
    let s = Signals {
        high: counter(true),
        ..Signals::default()
    };
    let w = || cycling(Cause::MemcgHighThrottle, 40, 10, true);
    let j = judge_streams(vec![w(), w()], &ctx(s));
    assert_eq!(j.outcome, Outcome::Confirmed);
    assert_eq!(
        j.reason,
        Reason::Starved {
            mechanism: Mechanism::HighThrottle
        }
    );
    assert_eq!(j.memory.dominant_cause, Some(Cause::MemcgHighThrottle));
    assert!(j.memory.blackout_share_of_window > 0.5, "{:?}", j.memory);
}

#[test]
fn throttle_frames_without_high_events_are_not_proof() {
    let s = Signals {
        high: counter(false),
        ..Signals::default()
    };
    let w = || cycling(Cause::MemcgHighThrottle, 40, 10, true);
    let j = judge_streams(vec![w(), w()], &ctx(s));
    assert_eq!(j.outcome, Outcome::Inconclusive);
    assert!(
        matches!(
            j.reason,
            Reason::NoEvidence {
                mechanism: Mechanism::HighThrottle,
                ..
            }
        ),
        "{:?}",
        j.reason
    );
}

#[test]
fn refaults_at_the_limit_confirm() {
    let w = || cycling(Cause::PageFaultIo, 3, 2, true);
    let j = judge_streams(vec![w(), w()], &ctx(memory_limit_thrashing()));
    assert_eq!(
        (j.outcome, j.reason.clone()),
        (
            Outcome::Confirmed,
            Reason::Starved {
                mechanism: Mechanism::Refault
            }
        )
    );
}

#[test]
fn cold_reads_without_a_limit_are_io() {
    let s = Signals {
        limit: counter(false),
        refault: counter(false),
        ..Signals::default()
    };
    let w = || cycling(Cause::PageFaultIo, 3, 1, true);
    let mut c = ctx(s);
    c.runtime.workers = 2;
    let f = facts(vec![w(), w()], &c);
    assert_eq!(f.faults.memory_ns(), 0);
    assert!(f.faults.cold_data_ns > 0);
    let j = judge(&f);
    assert_eq!(
        (j.outcome, j.alternative),
        (Outcome::Refuted, Some(Alternative::Io))
    );
}

#[test]
fn sidecar_pressure_while_the_runtime_idles_is_refuted_idle() {
    // The cgroup thrashes (a sidecar); the runtime wakes every 100 ms and
    // sometimes refaults a code page for 1 ms.
    let beat = || {
        let mut v = Vec::new();
        for i in 0..WINDOW / 100 {
            let t = i * 100;
            v.push(OffSpan::ms(t, t + 98, 0, Cause::Futex, false));
            if i % 4 == 0 {
                v.push(OffSpan::ms(t + 98, t + 99, 0, Cause::PageFaultIo, true));
            }
        }
        thread(v)
    };
    let j = judge_streams(vec![beat(), idle()], &ctx(memory_limit_thrashing()));
    assert_eq!(
        (j.outcome, j.alternative),
        (Outcome::Refuted, Some(Alternative::Idle)),
        "{j:?}"
    );
}

#[test]
fn block_on_thread_starved_while_workers_idle_confirms() {
    let block_on = cycling(Cause::PageFaultIo, 8, 2, true);
    let j = judge_streams(
        vec![idle(), idle(), block_on],
        &ctx(memory_limit_thrashing()),
    );
    assert_eq!(j.outcome, Outcome::Confirmed, "{j:?}");
}

#[test]
fn cpu_starvation_at_a_memory_limit_is_cpu() {
    // The limit was hit once at the start; the workers wait for a CPU.
    let s = Signals {
        limit: Counter::new(vec![(0, 0), (100 * MS, 5), (WINDOW * MS + 100 * MS, 5)]),
        refault: counter(false),
        ..Signals::default()
    };
    let w = || {
        let mut v = Vec::new();
        for i in 0..WINDOW / 10 {
            v.push(OffSpan::ms(i * 10, i * 10 + 8, 6, Cause::Futex, false));
        }
        thread(v)
    };
    let j = judge_streams(vec![w(), w()], &ctx(s));
    assert_eq!(
        (j.outcome, j.alternative),
        (Outcome::Refuted, Some(Alternative::Cpu)),
        "{j:?}"
    );
    assert!(matches!(
        j.reason,
        Reason::Negligible {
            why: AlternativeWhy::Blackouts {
                cause: Cause::Runqueue,
                ..
            },
            ..
        }
    ));
}

#[test]
fn shared_futex_is_a_lock() {
    let mut a = thread(vec![OffSpan::ms(0, WINDOW, 0, Cause::Futex, false)]);
    let mut b = a.clone();
    a.futex_waits = vec![(0x7f00, WINDOW * MS)];
    b.futex_waits = vec![(0x7f00, WINDOW * MS)];
    let j = judge_streams(vec![a, b], &ctx(Signals::default()));
    assert_eq!(j.alternative, Some(Alternative::Blocked));
    assert!(matches!(
        j.reason,
        Reason::Negligible {
            why: AlternativeWhy::SharedFutex {
                addr: 0x7f00,
                threads: 2,
                ..
            },
            ..
        }
    ));
}

#[test]
fn idle_pool_and_lost_wakeup_are_idle() {
    let j = judge_streams(vec![idle(), idle()], &ctx(Signals::default()));
    assert_eq!(
        (j.outcome, j.alternative),
        (Outcome::Refuted, Some(Alternative::Idle))
    );
    assert!(
        matches!(j.reason, Reason::Negligible { why: AlternativeWhy::Parked { longest_wait_ns, .. }, .. } if longest_wait_ns == WINDOW * MS)
    );
}

#[test]
fn busy_threads_are_busy() {
    let w = || cycling(Cause::Futex, 1, 9, false);
    let j = judge_streams(vec![w(), w()], &ctx(Signals::default()));
    assert_eq!(j.alternative, Some(Alternative::Busy));
}

#[test]
fn one_long_stall_alone_does_not_confirm() {
    let mut a = idle();
    a.spans.off = vec![
        OffSpan::ms(0, 5000, 0, Cause::Epoll, false),
        OffSpan::ms(5000, 5150, 0, Cause::PageFaultIo, true),
        OffSpan::ms(5150, WINDOW, 0, Cause::Epoll, false),
    ]
    .into();
    let j = judge_streams(vec![a, idle()], &ctx(memory_limit_thrashing()));
    assert_eq!(j.outcome, Outcome::Refuted, "{j:?}");
    assert_eq!(j.memory.blackout_ns, 150 * MS);
}

#[test]
fn middling_memory_is_inconclusive() {
    // 5% of one thread's time in refaults (2.5% of the runtime's wall);
    // the other thread runs half the time, so blackouts stay short.
    let a = cycling(Cause::PageFaultIo, 5, 95, true);
    let b = cycling(Cause::Futex, 1, 1, false);
    let j = judge_streams(vec![a, b], &ctx(memory_limit_thrashing()));
    assert_eq!(
        (j.outcome, j.reason),
        (Outcome::Inconclusive, Reason::Middling)
    );
}

#[test]
fn blindness_that_could_flip_the_answer_is_inconclusive() {
    // D-state sleeps of unknown cause, stacks off.
    let w = || cycling(Cause::Other, 3, 7, true);
    let mut c = ctx(Signals::default());
    c.stacks_off = true;
    let j = judge_streams(vec![w(), idle()], &c);
    assert!(
        matches!(
            j.reason,
            Reason::Blind {
                blindness: Blindness::StacksOff,
                ..
            }
        ),
        "{j:?}"
    );
    // With stacks on the same streams are refuted.
    c.stacks_off = false;
    assert_eq!(
        judge_streams(vec![w(), idle()], &c).outcome,
        Outcome::Refuted
    );
    c.stack_failures = 10_000;
    assert!(matches!(
        judge_streams(vec![w(), idle()], &c).reason,
        Reason::Blind {
            blindness: Blindness::StacksLost,
            ..
        }
    ));
}

#[test]
fn thin_evidence_is_inconclusive() {
    let mut c = ctx(Signals::default());
    c.end_ns = MIN_WINDOW_NS / 2;
    assert!(matches!(
        judge_streams(vec![idle()], &c).reason,
        Reason::TooShort { .. }
    ));
    let mut c = ctx(Signals::default());
    c.runtime = RuntimeSet {
        pattern_matched_nothing: true,
        ..RuntimeSet::default()
    };
    assert_eq!(
        judge_streams(vec![], &c).reason,
        Reason::NoRuntimeThreads {
            pattern_matched_nothing: true
        }
    );
    let mut c = ctx(Signals::default());
    c.lost = 10_000;
    assert!(matches!(
        judge_streams(vec![idle()], &c).reason,
        Reason::Lost { .. }
    ));
    let mut c = ctx(Signals::default());
    c.complete_until_ns = WINDOW * MS / 2;
    assert!(matches!(
        judge_streams(vec![idle()], &c).reason,
        Reason::SpansIncomplete { .. }
    ));
}
