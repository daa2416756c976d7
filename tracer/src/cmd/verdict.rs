//! The verdict as the recording carries it: the rules' typed judgement
//! (analyze) with its words (report).

use crate::{
    analyze::{facts::facts, verdict::judge},
    model::{Recording, judgement::Judgement, verdict::Verdict},
    report::verdict::words,
};

pub fn verdict(rec: &Recording) -> Verdict {
    from_judgement(&judge(&facts(rec)))
}

pub fn from_judgement(j: &Judgement) -> Verdict {
    let (summary, evidence) = words(j);
    Verdict {
        outcome: j.outcome,
        summary,
        alternative: j.alternative,
        dominant_memory_cause: j.dominant_memory_cause,
        evidence,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        analyze::verdict::{
            BLOCKED_WAIT_NS, LONG_MEMORY_STALL_NS, MIN_WINDOW_NS,
            tests::{facts_with, psi},
        },
        model::{
            cause::Cause,
            judgement::{Facts, Pressure},
        },
    };

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

    fn render_case(name: &str, v: &Verdict) -> String {
        let mut out = format!(
            "## {name}\n{} {:?} {:?}\n{}\n",
            v.outcome,
            v.alternative.map(|a| a.as_str()),
            v.dominant_memory_cause.map(|c| c.name()),
            v.summary
        );
        for e in &v.evidence {
            out.push_str(&format!("- {e}\n"));
        }
        out
    }

    /// Every rule branch in words, as they were before the rules were typed.
    #[test]
    fn words_are_unchanged() {
        let got: String = word_cases()
            .iter()
            .map(|(name, f)| render_case(name, &from_judgement(&judge(f))))
            .collect();
        let file = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/verdict-words.txt");
        assert_eq!(got, std::fs::read_to_string(file).unwrap());
    }
}
