//! The runtime's blackouts and which threads were judged as the runtime,
//! as Markdown sections of the report.

use std::fmt::Write as _;

use super::{fmt::dur, log2};
use crate::model::{Recording, blackouts::Blackouts, role::Role};

/// Seconds since the window start, as `+12.34 s`.
fn at(ns: u64, b: &Blackouts) -> String {
    format!(
        "+{:.3} s",
        ns.saturating_sub(b.window_start_ns) as f64 / 1e9
    )
}

pub fn render(o: &mut String, rec: &Recording) {
    let Some(b) = &rec.blackouts else { return };
    let window = b.window_end_ns.saturating_sub(b.window_start_ns);
    let _ = writeln!(
        o,
        "### Runtime blackouts\n\nStretches in which no runtime thread was on a CPU and at least one had work but was kept off it (run queue, memory, I/O, an uninterruptible sleep); idle-parked threads had nothing to run. A heartbeat on the runtime cannot fire inside one.\n"
    );
    let share = if window == 0 {
        0.0
    } else {
        b.total_ns as f64 * 100.0 / window as f64
    };
    let _ = writeln!(
        o,
        "- {} blackouts over {} runtime threads, {} in all = {share:.1}% of the {} window; longest {}",
        b.count,
        b.threads,
        dur(b.total_ns),
        dur(window),
        dur(b.longest_ns)
    );
    if b.complete_until_ns < b.window_end_ns {
        let _ = writeln!(
            o,
            "- computed up to {} only: the interval budget (`--span-budget`) ran out there",
            at(b.complete_until_ns, b)
        );
    }
    if let Some(h) = &b.heartbeat {
        let _ = writeln!(
            o,
            "- a heartbeat every {} would have missed {} of {} beats, inside {} blackouts longer than its period",
            dur(h.period_ns),
            h.beats_in_blackouts,
            h.beats_in_window,
            h.blackouts_longer_than_period
        );
    }
    if !b.by_cause.is_empty() {
        let _ = writeln!(
            o,
            "\n| cause inside blackouts | time | share |\n|---|---:|---:|"
        );
        let mut causes: Vec<_> = b.by_cause.iter().collect();
        causes.sort_by_key(|(_, ns)| std::cmp::Reverse(**ns));
        for (c, ns) in causes {
            let _ = writeln!(
                o,
                "| {c} | {} | {:.1}% |",
                dur(*ns),
                *ns as f64 * 100.0 / b.total_ns.max(1) as f64
            );
        }
    }
    if !b.long.is_empty() {
        let _ = writeln!(
            o,
            "\n| long blackout (≥ {}) | start | end | length | cause |\n|---:|---:|---:|---:|---|",
            dur(b.long_ns)
        );
        for (i, x) in b.long.iter().enumerate() {
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | {} |",
                i + 1,
                at(x.start_ns, b),
                at(x.end_ns, b),
                dur(x.len_ns()),
                x.cause.map(|c| c.name()).unwrap_or("-")
            );
        }
        if b.long_not_listed > 0 {
            let _ = writeln!(o, "\n{} more long blackouts not listed.", b.long_not_listed);
        }
    }
    if b.count > 0 {
        let _ = writeln!(
            o,
            "\n<details><summary>Blackout lengths (log2)</summary>\n\n```\n{}```\n</details>",
            log2::render("blackout length", &b.lengths)
        );
    }
    let _ = writeln!(o);
}

/// Which threads the verdict judged, and how each got its role.
pub fn runtime_threads(o: &mut String, rec: &Recording) {
    let judged: Vec<_> = rec
        .threads
        .iter()
        .filter(|t| t.role.is_runtime() || t.role == Role::BlockingPool)
        .collect();
    if judged.is_empty() {
        return;
    }
    let _ = writeln!(
        o,
        "<details><summary>Runtime threads: who was judged, and why</summary>\n\n| thread | role | how the role was decided | judged |\n|---|---|---|---|"
    );
    for t in judged {
        let _ = writeln!(
            o,
            "| {} `{}` | {} | {} | {} |",
            t.tid,
            t.comm,
            t.role,
            t.role_source.description(),
            if t.role.is_runtime() { "yes" } else { "no" }
        );
    }
    let _ = writeln!(o, "\n</details>\n");
}
