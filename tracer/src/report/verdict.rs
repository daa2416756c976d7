//! The verdict in words: the summary sentence and the evidence lines, made
//! from the rules' typed judgement. The README quotes these sentences.

use super::fmt::dur;
use crate::model::{
    cause::Cause,
    judgement::{AltReason, Judgement, Pressure, Reason},
};

fn pc(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
}

/// (summary, evidence lines).
pub fn words(j: &Judgement) -> (String, Vec<String>) {
    (summary(j), evidence(j))
}

fn summary(j: &Judgement) -> String {
    match &j.reason {
        Reason::TooShort { window_ns, min_ns } => format!(
            "the trace is too short ({} < {}); trace longer",
            dur(*window_ns),
            dur(*min_ns)
        ),
        Reason::NoRuntimeThreads => "no runtime thread was observed".into(),
        Reason::Lost {
            lost,
            total,
            max_share,
        } => format!(
            "{lost} of {total} records were lost (> {}); the numbers undercount",
            pc(*max_share)
        ),
        Reason::MemoryConfirmed { share, dominant } => format!(
            "the runtime threads lost {} of their wall time to memory stalls{}, and the cgroup's pressure signals moved with them",
            pc(*share),
            dominant
                .map(|d| format!(" (mostly {d})"))
                .unwrap_or_default()
        ),
        Reason::PressureDisagrees { share } => format!(
            "the runtime threads lost {} to memory stalls, but the cgroup's pressure signals did not move with them (another cgroup's pressure, or global reclaim?)",
            pc(*share)
        ),
        Reason::NoPressureSignal { share } => format!(
            "the runtime threads lost {} to memory stalls, but no cgroup pressure signal (PSI, memory.events, failcnt) is available to line them up with",
            pc(*share)
        ),
        Reason::Negligible { share, alt } => format!(
            "memory stalls are negligible ({}); {}",
            pc(*share),
            alternative(alt)
        ),
        Reason::Middling { share } => format!(
            "memory stalls take {} of wall time: more than negligible, less than substantial; trace through a wedge for a clearer answer",
            pc(*share)
        ),
    }
}

fn alternative(alt: &AltReason) -> String {
    match *alt {
        AltReason::Cpu {
            runqueue_share,
            throttled_ns,
        } => {
            let throttled = throttled_ns
                .map(|t| format!("; the cgroup's CPU quota throttled it for {} of CPU time (cpu.stat throttled_usec, summed over CPUs)", dur(t)))
                .unwrap_or_default();
            format!(
                "the likely cause is CPU starvation: {} of wall time runnable but waiting for a CPU{throttled}",
                pc(runqueue_share)
            )
        }
        AltReason::Io { io_share } => {
            format!("the threads mostly wait for I/O ({})", pc(io_share))
        }
        AltReason::Lock {
            threads,
            addr,
            share,
            min_share,
        } => format!(
            "lock contention: {threads} runtime threads wait on the same futex {addr:#x} for {} of wall time (a lock held elsewhere; ≥ {} counts)",
            pc(share),
            pc(min_share)
        ),
        AltReason::Parked {
            idle_share,
            longest_wait_ns,
        } => format!(
            "the threads are parked ({}) on their own futexes/epoll with waits up to {} and no wakeup: idle — or, if the program should be busy, every task is pending and nothing wakes them (a lost wakeup)",
            pc(idle_share),
            dur(longest_wait_ns)
        ),
        AltReason::Waking {
            idle_share,
            longest_wait_ns,
        } => format!(
            "no starvation: the threads are idle-parked waiting for work ({}), waking often (longest wait {})",
            pc(idle_share),
            dur(longest_wait_ns)
        ),
        AltReason::Busy { on_cpu_share } => format!(
            "the threads are busy on a CPU ({}), not kept from one",
            pc(on_cpu_share)
        ),
    }
}

fn evidence(j: &Judgement) -> Vec<String> {
    let (f, t) = (&j.facts, &j.thresholds);
    let mut ev = Vec::new();
    ev.push(format!(
        "{} runtime threads ({}) observed for {} of wall time in a {} window",
        f.threads,
        f.which,
        dur(f.wall_ns),
        dur(f.window_ns)
    ));
    ev.push(format!(
        "memory stalls {} = {} of wall time (substantial ≥ {}, negligible < {}); longest single memory stall {} (long ≥ {})",
        dur(f.memory_ns()),
        pc(f.memory_share()),
        pc(t.memory_substantial),
        pc(t.memory_negligible),
        dur(f.longest_memory_stall_ns),
        dur(t.long_memory_stall_ns)
    ));
    let mut parts: Vec<String> = Cause::ALL
        .into_iter()
        .filter(|c| c.is_memory() && f.ns(*c) > 0)
        .map(|c| format!("{} {}", c.name(), dur(f.ns(c))))
        .collect();
    if f.reclaim_on_cpu_ns > 0 {
        parts.push(format!("reclaim on-CPU {}", dur(f.reclaim_on_cpu_ns)));
    }
    if !parts.is_empty() {
        ev.push(format!("memory stall breakdown: {}", parts.join(", ")));
    }
    ev.push(format!(
        "on-CPU {}, run queue {}, idle/lock waits (futex/epoll/sleep) {}, I/O {}",
        pc(f.on_cpu_share()),
        pc(f.runqueue_share()),
        pc(f.idle_share()),
        pc(f.io_share())
    ));
    pressure_evidence(&f.pressure, t.aligned_share, &mut ev);
    if f.unknown_causes > 0 {
        ev.push(format!(
            "{} cause names in the recording are unknown to this version and were left out",
            f.unknown_causes
        ));
    }
    ev
}

fn pressure_evidence(p: &Pressure, lines_up: f64, ev: &mut Vec<String>) {
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
            pc(lines_up),
            p.correlation.map(|c| format!("; correlation of the two series {c:.2}")).unwrap_or_default()
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{
        judgement::{Facts, Thresholds},
        verdict::Outcome,
    };

    fn judgement(reason: Reason) -> Judgement {
        Judgement {
            outcome: Outcome::Inconclusive,
            alternative: None,
            dominant_memory_cause: None,
            reason,
            facts: Facts::default(),
            thresholds: Thresholds::default(),
        }
    }

    #[test]
    fn summary_sentences() {
        let (s, ev) = words(&judgement(Reason::TooShort {
            window_ns: 1_000_000_000,
            min_ns: 2_000_000_000,
        }));
        assert_eq!(s, "the trace is too short (1.00s < 2.00s); trace longer");
        assert_eq!(ev.last().unwrap(), "cgroup pressure signals: not available");
        let (s, _) = words(&judgement(Reason::Negligible {
            share: 0.001,
            alt: AltReason::Lock {
                threads: 2,
                addr: 0x7f00,
                share: 0.5,
                min_share: 0.25,
            },
        }));
        assert_eq!(
            s,
            "memory stalls are negligible (0.1%); lock contention: 2 runtime threads wait on the same futex 0x7f00 for 50.0% of wall time (a lock held elsewhere; ≥ 25.0% counts)"
        );
    }

    #[test]
    fn unknown_causes_are_said() {
        let mut j = judgement(Reason::NoRuntimeThreads);
        j.facts.unknown_causes = 3;
        let (_, ev) = words(&j);
        assert!(ev.last().unwrap().starts_with("3 cause names"));
    }
}
