//! The verdict in words: the summary sentence and the evidence lines, made
//! from the rules' typed judgement. The README quotes these sentences.

use super::fmt::dur;
use crate::model::{
    cause::Cause,
    judgement::{
        AlternativeWhy, Blindness, Facts, Judgement, Mechanism, Pressure, Reason, RuntimeSet, ratio,
    },
};

fn pc(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
}

/// (summary, evidence lines).
pub fn words(j: &Judgement) -> (String, Vec<String>) {
    (summary(j), evidence(j))
}

fn mechanism_name(m: Mechanism) -> &'static str {
    match m {
        Mechanism::HighThrottle => "memory.high throttling",
        Mechanism::Reclaim => "memcg/direct reclaim",
        Mechanism::Refault => "refaults at the memory limit",
        Mechanism::Compaction => "direct compaction",
    }
}

/// The independent evidence a mechanism needs, as the summary states it.
fn backed_by(m: Mechanism) -> &'static str {
    match m {
        Mechanism::HighThrottle => {
            "the cgroup's memory.events `high` counter moved in the same 100 ms windows"
        }
        Mechanism::Reclaim => "the vmscan reclaim tracepoints fired in those threads",
        Mechanism::Refault => {
            "the cgroup was refaulting its working set or at its limit in the same 100 ms windows"
        }
        Mechanism::Compaction => "no cgroup counter backs compaction",
    }
}

fn summary(j: &Judgement) -> String {
    let f = &j.facts;
    let m = &j.memory;
    match &j.reason {
        Reason::TooShort { window_ns } => format!(
            "the trace is too short ({} < {}); trace longer",
            dur(*window_ns),
            dur(2_000_000_000)
        ),
        Reason::NoRuntimeThreads {
            pattern_matched_nothing,
        } => no_runtime(&f.runtime, *pattern_matched_nothing),
        Reason::Lost { lost, total } => format!(
            "{lost} of {total} records were lost ({} > 1.0%); the numbers undercount",
            pc(ratio(*lost, *total))
        ),
        Reason::SpansIncomplete { covered_share } => format!(
            "the interval budget ran out: blackouts cover only {} of the window; raise --span-budget",
            pc(*covered_share)
        ),
        Reason::Starved { mechanism } => format!(
            "the runtime was blacked out for {} of the window and lost {} of its busy time to memory stalls ({}{}), and {}",
            pc(m.blackout_share_of_window),
            pc(m.backed_share_of_busy),
            mechanism_name(*mechanism),
            m.dominant_cause
                .map(|c| format!(", mostly {c}"))
                .unwrap_or_default(),
            backed_by(*mechanism)
        ),
        Reason::NoEvidence {
            mechanism,
            unbacked_ns,
        } => format!(
            "the runtime threads lost {} to memory stalls ({}), but the independent evidence is missing: {} of it is not backed ({} expected)",
            dur(m.backed_ns + m.unbacked_ns),
            mechanism_name(*mechanism),
            dur(*unbacked_ns),
            backed_by(*mechanism)
        ),
        Reason::Negligible { why, .. } => format!(
            "memory stalls are negligible ({} of wall time, {} of the window in memory blackouts); {}",
            pc(f.share(m.backed_ns + m.unbacked_ns)),
            pc(m.blackout_share_of_window),
            alternative(why)
        ),
        Reason::Middling => format!(
            "memory stalls take {} of wall time and {} of the window in blackouts: more than negligible, less than substantial; trace through a wedge for a clearer answer",
            pc(f.share(m.backed_ns + m.unbacked_ns)),
            pc(m.blackout_share_of_window)
        ),
        Reason::Blind {
            blindness,
            blind_ns,
        } => match blindness {
            Blindness::StacksOff => format!(
                "memory stalls look negligible, but kernel stacks were off (--stacks none): {} of uninterruptible sleep could be memory stalls; trace with --stacks blocked",
                dur(*blind_ns)
            ),
            Blindness::StacksLost => format!(
                "memory stalls look negligible, but {} kernel stacks were lost (stack map full or colliding): up to {} of uninterruptible sleep is unattributed",
                f.stack_failures,
                dur(*blind_ns)
            ),
        },
    }
}

fn no_runtime(r: &RuntimeSet, pattern_matched_nothing: bool) -> String {
    let names = if r.names_seen.is_empty() {
        "none".to_string()
    } else {
        r.names_seen.join(", ")
    };
    match (&r.pattern, pattern_matched_nothing) {
        (Some(p), true) => format!(
            "--threads '{p}' matched no thread of the target; its threads are named: {names}"
        ),
        _ => format!(
            "no runtime thread was identified: no thread has a tokio worker name (tokio-runtime-w, tokio-rt-worker) or its process's name; name them with --threads REGEX (the target's threads: {names})"
        ),
    }
}

fn alternative(why: &AlternativeWhy) -> String {
    match why {
        AlternativeWhy::Blackouts { cause, share } => format!(
            "the runtime was blacked out for {} of the window, mostly by {cause}{}",
            pc(*share),
            if *cause == Cause::Runqueue {
                ": CPU starvation"
            } else {
                ""
            }
        ),
        AlternativeWhy::RunQueue {
            share,
            cpu_throttled_ns,
        } => format!(
            "the likely cause is CPU starvation: {} of wall time runnable but waiting for a CPU{}",
            pc(*share),
            cpu_throttled_ns
                .filter(|&t| t > 0)
                .map(|t| format!("; the cgroup's CPU quota throttled it for {} of CPU time (cpu.stat throttled_usec, summed over CPUs)", dur(t)))
                .unwrap_or_default()
        ),
        AlternativeWhy::Io { share } => {
            format!("the threads mostly wait for I/O ({})", pc(*share))
        }
        AlternativeWhy::SharedFutex {
            addr,
            threads,
            share,
        } => format!(
            "lock contention: {threads} runtime threads wait on the same futex {addr:#x} for {} of wall time (a lock held elsewhere; ≥ 25.0% counts)",
            pc(*share)
        ),
        AlternativeWhy::Parked {
            share,
            longest_wait_ns,
        } if *longest_wait_ns >= 1_000_000_000 => format!(
            "the threads are parked ({}) on their own futexes/epoll with waits up to {} and no wakeup: idle — or, if the program should be busy, every task is pending and nothing wakes them (a lost wakeup)",
            pc(*share),
            dur(*longest_wait_ns)
        ),
        AlternativeWhy::Parked {
            share,
            longest_wait_ns,
        } => format!(
            "no starvation: the threads are idle-parked waiting for work ({}), waking often (longest wait {})",
            pc(*share),
            dur(*longest_wait_ns)
        ),
        AlternativeWhy::OnCpu { share } => format!(
            "the threads are busy on a CPU ({}), not kept from one",
            pc(*share)
        ),
    }
}

fn runtime_line(f: &Facts) -> String {
    let r = &f.runtime;
    let mut who = vec![format!("{} tokio workers", r.workers)];
    if r.block_on_candidates > 0 {
        who.push(format!(
            "{} threads named like the process (block_on candidates)",
            r.block_on_candidates
        ));
    }
    let mut line = format!(
        "{} runtime threads ({}) observed for {} of wall time in a {} window",
        r.count(),
        who.join(" + "),
        dur(f.wall_ns),
        dur(f.window_ns)
    );
    if r.blocking_pool > 0 {
        line += &format!(
            "; {} idle blocking-pool threads left out (told apart by behaviour)",
            r.blocking_pool
        );
    }
    line
}

fn evidence(j: &Judgement) -> Vec<String> {
    let (f, m, t) = (&j.facts, &j.memory, &j.thresholds);
    let b = &f.blackouts;
    let mut ev = vec![runtime_line(f)];
    let mut causes: Vec<(Cause, u64)> = b.by_cause.iter().map(|(c, ns)| (*c, *ns)).collect();
    causes.sort_by_key(|(_, ns)| std::cmp::Reverse(*ns));
    ev.push(format!(
        "runtime blackouts (no runtime thread on a CPU, one kept off it): {} totalling {} = {} of the window, longest {}{}",
        b.count,
        dur(b.total_ns),
        pc(ratio(b.total_ns, f.window_ns)),
        dur(b.longest_ns),
        if causes.is_empty() {
            String::new()
        } else {
            format!(
                "; by cause {}",
                causes
                    .iter()
                    .map(|(c, ns)| format!("{c} {}", dur(*ns)))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
    ));
    if let Some(h) = &b.heartbeat {
        ev.push(format!(
            "a heartbeat every {} would have missed {} of its {} beats inside {} blackouts longer than its period",
            dur(h.period_ns),
            h.beats_in_blackouts,
            h.beats_in_window,
            h.blackouts_longer_than_period
        ));
    }
    ev.push(format!(
        "memory stalls backed by cgroup evidence {} = {} of wall time, {} of busy time; not backed {} (substantial: memory blackouts ≥ {} of the window, or ≥ {} of busy and ≥ {} of wall time; negligible < {})",
        dur(m.backed_ns),
        pc(m.backed_share_of_wall),
        pc(m.backed_share_of_busy),
        dur(m.unbacked_ns),
        pc(t.blackout_memory_substantial),
        pc(t.memory_busy_substantial),
        pc(t.memory_wall_floor),
        pc(t.memory_negligible)
    ));
    ev.extend(mechanism_lines(f, t.throttle_evidence_share));
    ev.push(format!(
        "on-CPU {}, run queue {}, idle waits (futex/epoll/sleep) {}, I/O {} (cold-data faults included)",
        pc(f.share(f.on_cpu_ns)),
        pc(f.share(f.ns(Cause::Runqueue))),
        pc(f.share(f.idle_ns())),
        pc(f.share(f.io_ns()))
    ));
    ev.push(pressure_line(&f.pressure));
    ev
}

/// One line per memory mechanism seen, with its independent evidence.
fn mechanism_lines(f: &Facts, throttle_share: f64) -> Vec<String> {
    let mut ev = Vec::new();
    let th = &f.throttle;
    if th.total_ns > 0 {
        ev.push(format!(
            "memory.high throttle sleeps {}: {} in 100 ms windows where memory.events high moved (backed when ≥ {}){}",
            dur(th.total_ns),
            pc(ratio(th.in_high_windows_ns, th.total_ns)),
            pc(throttle_share),
            if th.counter_available {
                ""
            } else {
                "; memory.events is not readable here"
            }
        ));
    }
    let r = &f.reclaim;
    if r.off_cpu_ns + r.on_cpu_ns > 0 {
        ev.push(format!(
            "reclaim {} off-CPU + {} on-CPU (on a CPU inside vmscan begin..end), {} vmscan tracepoint pairs in those threads",
            dur(r.off_cpu_ns),
            dur(r.on_cpu_ns),
            r.tracepoint_hits
        ));
    }
    let fw = &f.faults;
    if fw.total_ns > 0 {
        ev.push(format!(
            "fault waits {}: memory when the cgroup was refaulting its working set ({}) or at its limit ({}) in the same 100 ms windows; cold data, counted as I/O ({}); no memory counters to decide ({})",
            dur(fw.total_ns),
            dur(fw.workingset_refault_ns),
            dur(fw.limit_reclaim_ns),
            dur(fw.cold_data_ns),
            dur(fw.no_counters_ns)
        ));
    }
    let compaction = f.ns(Cause::Compaction);
    if compaction > 0 {
        ev.push(format!(
            "direct compaction {} (no cgroup counter backs it)",
            dur(compaction)
        ));
    }
    ev
}

fn pressure_line(p: &Pressure) -> String {
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
        "cgroup pressure signals: not available".into()
    } else {
        format!(
            "cgroup over the window, context only (PSI rises because the threads stall; PSI: {}): {}",
            p.psi_scope,
            parts.join(", ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{judgement::Thresholds, verdict::Outcome};

    fn judgement(reason: Reason) -> Judgement {
        Judgement {
            outcome: Outcome::Inconclusive,
            alternative: None,
            reason,
            memory: Default::default(),
            facts: Facts::default(),
            thresholds: Thresholds::default(),
        }
    }

    #[test]
    fn summary_sentences() {
        let (s, ev) = words(&judgement(Reason::TooShort {
            window_ns: 1_000_000_000,
        }));
        assert_eq!(s, "the trace is too short (1.00s < 2.00s); trace longer");
        assert_eq!(ev.last().unwrap(), "cgroup pressure signals: not available");
        let (s, _) = words(&judgement(Reason::Negligible {
            alternative: crate::model::verdict::Alternative::Blocked,
            why: AlternativeWhy::SharedFutex {
                addr: 0x7f00,
                threads: 2,
                share: 0.5,
            },
        }));
        assert!(
            s.ends_with("lock contention: 2 runtime threads wait on the same futex 0x7f00 for 50.0% of wall time (a lock held elsewhere; ≥ 25.0% counts)"),
            "{s}"
        );
    }

    #[test]
    fn a_pattern_that_matched_nothing_lists_the_names() {
        let mut j = judgement(Reason::NoRuntimeThreads {
            pattern_matched_nothing: true,
        });
        j.facts.runtime = RuntimeSet {
            pattern: Some("^rt-".into()),
            pattern_matched_nothing: true,
            names_seen: vec!["zeam".into(), "zeam-gossip-dec".into()],
            ..RuntimeSet::default()
        };
        let (s, _) = words(&j);
        assert_eq!(
            s,
            "--threads '^rt-' matched no thread of the target; its threads are named: zeam, zeam-gossip-dec"
        );
    }
}
