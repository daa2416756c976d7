//! The Markdown report: fits a GitHub comment (< 65,536 characters however
//! many threads there are), long parts folded in `<details>`.

use std::{collections::BTreeMap, fmt::Write as _};

use super::{
    fmt::{bytes, dur, pct},
    log2,
};
use crate::model::{Recording, ThreadReport, cause::Cause, cgroup::PsiAlignment};

/// GitHub's comment limit, with room for the user's own words.
pub const MAX_CHARS: usize = 60_000;
/// Past this many threads, the table groups threads by name.
pub const MAX_THREAD_ROWS: usize = 40;

/// `psi`: how the stalls line up with the cgroup's PSI (`analyze::correlate`).
pub fn render(rec: &Recording, psi: &PsiAlignment) -> String {
    let full = render_with(rec, psi, MAX_THREAD_ROWS, true);
    if full.len() <= MAX_CHARS {
        return full;
    }
    // Too long: drop per-thread histograms, then group harder.
    let lean = render_with(rec, psi, MAX_THREAD_ROWS, false);
    if lean.len() <= MAX_CHARS {
        return lean;
    }
    render_with(rec, psi, 10, false)
}

fn render_with(
    rec: &Recording,
    psi: &PsiAlignment,
    max_rows: usize,
    per_thread_hists: bool,
) -> String {
    let mut o = String::new();
    header(&mut o, rec);
    verdict(&mut o, rec);
    super::blackouts::render(&mut o, rec);
    super::blackouts::runtime_threads(&mut o, rec);
    lab(&mut o, rec);
    snapshot(&mut o, rec);
    threads_table(&mut o, rec, max_rows);
    causes_table(&mut o, rec);
    super::flame::render(&mut o, rec);
    histograms(&mut o, rec, per_thread_hists);
    cgroup(&mut o, rec, psi);
    environment(&mut o, rec);
    o
}

fn header(o: &mut String, rec: &Recording) {
    let t = &rec.target;
    let what = if let Some(c) = &t.container {
        format!("container `{c}`")
    } else if let Some(c) = &t.cgroup {
        format!("cgroup `{c}`")
    } else if let Some(cmd) = &t.command {
        format!("command `{}` (PID {})", cmd.join(" "), t.pid.unwrap_or(0))
    } else {
        format!("PID {} (`{}`)", t.pid.unwrap_or(0), t.comm)
    };
    let _ = writeln!(o, "## starvetrace: {what}\n");
    let _ = writeln!(
        o,
        "Traced {} on `{}` (kernel {}, {} CPUs). {} threads, lost events: **{}**.",
        dur(rec.duration_ns),
        rec.environment.hostname,
        rec.environment.kernel,
        rec.environment.cpus,
        rec.threads.len(),
        rec.lost_events
    );
    for note in &rec.notes {
        let _ = writeln!(o, "\n> **Note:** {note}");
    }
    let _ = writeln!(o);
}

fn verdict(o: &mut String, rec: &Recording) {
    let Some(v) = &rec.verdict else { return };
    let _ = writeln!(
        o,
        "### Verdict: **{}**\n\n{}\n",
        v.outcome.as_str().to_uppercase(),
        v.summary
    );
    for e in &v.evidence {
        let _ = writeln!(o, "- {e}");
    }
    let _ = writeln!(o);
}

/// The lab's ground truth: how late its two heartbeats fired.
fn lab(o: &mut String, rec: &Recording) {
    let Some(lab) = &rec.lab else { return };
    let ms = |v: &serde_json::Value, k: &str| {
        v.get(k)
            .and_then(|x| x.as_u64())
            .map(dur)
            .unwrap_or_else(|| "?".into())
    };
    let beat = |name: &str| {
        let h = &lab[name];
        format!(
            "max late {}, p99 late {}, beats {}",
            ms(h, "max_late_ns"),
            ms(h, "p99_late_ns"),
            h.get("count").and_then(|c| c.as_u64()).unwrap_or(0)
        )
    };
    let _ = writeln!(
        o,
        "### Lab ground truth (scenario `{}`)\n\n- tokio `interval` heartbeat: {}\n- OS-thread `sleep` heartbeat: {}\n",
        lab["scenario"].as_str().unwrap_or("?"),
        beat("tokio_heartbeat"),
        beat("os_heartbeat")
    );
}

fn snapshot(o: &mut String, rec: &Recording) {
    let Some(s) = &rec.snapshot else { return };
    let _ = writeln!(
        o,
        "<details><summary>Where every thread was when tracing began</summary>\n\n{}\n</details>\n",
        super::snapshot::render(s)
    );
}

/// Threads, or groups of threads with the same name when there are many.
fn rows(rec: &Recording, max_rows: usize) -> Vec<(String, Vec<&ThreadReport>)> {
    if rec.threads.len() <= max_rows {
        return rec
            .threads
            .iter()
            .map(|t| (format!("{} `{}`", t.tid, t.comm), vec![t]))
            .collect();
    }
    let mut groups: BTreeMap<&str, Vec<&ThreadReport>> = BTreeMap::new();
    for t in &rec.threads {
        groups.entry(&t.comm).or_default().push(t);
    }
    groups
        .into_iter()
        .map(|(comm, ts)| (format!("{}× `{comm}`", ts.len()), ts))
        .collect()
}

fn sum(ts: &[&ThreadReport], f: impl Fn(&ThreadReport) -> u64) -> u64 {
    ts.iter().map(|t| f(t)).sum()
}

fn threads_table(o: &mut String, rec: &Recording, max_rows: usize) {
    // Causes that matter anywhere, in taxonomy order.
    let causes: Vec<&str> = Cause::ALL
        .iter()
        .map(|c| c.name())
        .filter(|c| {
            rec.threads
                .iter()
                .any(|t| t.causes.get(*c).copied().unwrap_or(0) > 0)
        })
        .collect();
    let _ = writeln!(
        o,
        "### Where each thread's time went (% of the time it was observed)\n"
    );
    // On-CPU time inside reclaim is a memory stall, not work: its own
    // column, taken out of on-CPU.
    let reclaim = rec.threads.iter().any(|t| t.reclaim_on_cpu_ns > 0);
    let mut head = String::from("| thread | role | on-CPU |");
    let mut sep = String::from("|---|---|---:|");
    if reclaim {
        head.push_str(" reclaim on-CPU |");
        sep.push_str("---:|");
    }
    for c in &causes {
        let _ = write!(head, " {c} |");
        sep.push_str("---:|");
    }
    head.push_str(" switches (vol/invol) | faults min/maj | now |");
    sep.push_str("---:|---:|---|");
    let _ = writeln!(o, "{head}\n{sep}");
    for (label, ts) in rows(rec, max_rows) {
        let wall = sum(&ts, ThreadReport::observed_ns);
        let role = ts.first().map(|t| t.role.as_str()).unwrap_or("");
        let in_reclaim = sum(&ts, |t| t.reclaim_on_cpu_ns);
        let mut line = format!(
            "| {label} | {role} | {} |",
            pct(sum(&ts, |t| t.on_cpu_ns).saturating_sub(in_reclaim), wall)
        );
        if reclaim {
            let _ = write!(line, " {} |", pct(in_reclaim, wall));
        }
        for c in &causes {
            let _ = write!(
                line,
                " {} |",
                pct(sum(&ts, |t| t.causes.get(*c).copied().unwrap_or(0)), wall)
            );
        }
        let now = match (ts.len(), ts.first()) {
            (1, Some(t)) => match &t.ongoing {
                Some(g) => format!(
                    "off-CPU {}{} ({}, {})",
                    if g.start_known { "" } else { "≥" },
                    dur(g.off_cpu_ns),
                    g.state,
                    g.cause
                ),
                None if t.exited => "exited".into(),
                None => "on CPU".into(),
            },
            _ => format!(
                "{} off-CPU",
                ts.iter().filter(|t| t.ongoing.is_some()).count()
            ),
        };
        let _ = writeln!(
            line,
            " {} ({}/{}) | {}/{} | {now} |",
            sum(&ts, |t| t.switches),
            sum(&ts, |t| t.voluntary_switches),
            sum(&ts, |t| t.involuntary_switches),
            sum(&ts, |t| t.minor_faults),
            sum(&ts, |t| t.major_faults)
        );
        o.push_str(&line);
    }
    let _ = writeln!(o);
}

fn causes_table(o: &mut String, rec: &Recording) {
    if rec.cause_totals.is_empty() {
        return;
    }
    let _ = writeln!(o, "### Off-CPU intervals by cause (all traced threads)\n");
    let _ = writeln!(
        o,
        "| cause | total | count | p50 | p90 | p99 | p99.9 | max |\n|---|---:|---:|---:|---:|---:|---:|---:|"
    );
    let mut causes: Vec<_> = rec.cause_totals.iter().collect();
    causes.sort_by_key(|c| std::cmp::Reverse(c.1.ns));
    for (name, s) in causes {
        let h = &s.histogram;
        let _ = writeln!(
            o,
            "| {name} | {} | {} | {} | {} | {} | {} | {} |",
            dur(s.ns),
            s.count,
            dur(h.p50),
            dur(h.p90),
            dur(h.p99),
            dur(h.p999),
            dur(h.max)
        );
    }
    let _ = writeln!(o);
}

fn histograms(o: &mut String, rec: &Recording, per_thread: bool) {
    let _ = writeln!(
        o,
        "<details><summary>Histograms (log2, as BCC prints them)</summary>\n"
    );
    let mut causes: Vec<_> = rec.cause_totals.iter().collect();
    causes.sort_by_key(|c| std::cmp::Reverse(c.1.ns));
    for (name, s) in causes.iter().take(4) {
        let _ = writeln!(
            o,
            "```text\n{}```\n",
            log2::render(&format!("off-CPU intervals: {name}"), &s.histogram)
        );
    }
    if per_thread {
        for t in rec
            .threads
            .iter()
            .filter(|t| t.histograms.off_cpu.count + t.histograms.runqueue.count > 0)
            .take(12)
        {
            let _ = writeln!(o, "**{} `{}`** ({})\n", t.tid, t.comm, t.role);
            let _ = writeln!(
                o,
                "```text\n{}```\n",
                log2::render("run-queue latency", &t.histograms.runqueue)
            );
            let _ = writeln!(
                o,
                "```text\n{}```\n",
                log2::render("off-CPU interval", &t.histograms.off_cpu)
            );
        }
    }
    let _ = writeln!(o, "</details>\n");
}

fn cgroup(o: &mut String, rec: &Recording, psi: &PsiAlignment) {
    let Some(c) = &rec.cgroup else {
        let _ = writeln!(
            o,
            "### The cgroup's side\n\nNot sampled (the target's cgroup could not be read).\n"
        );
        return;
    };
    let _ = writeln!(
        o,
        "### The cgroup's side\n\n{}",
        super::cgroup::render(c, psi)
    );
}

fn environment(o: &mut String, rec: &Recording) {
    let e = &rec.environment;
    let _ = writeln!(
        o,
        "<details><summary>Environment, probes and diagnostics</summary>\n"
    );
    let _ = writeln!(
        o,
        "- kernel {}, BTF {}, PSI {}, cgroups: {}, swap {}\n- kernel stacks taken: {}",
        e.kernel,
        if e.btf { "yes" } else { "no" },
        if e.psi { "yes" } else { "no" },
        if e.cgroup_layout.is_empty() {
            "?"
        } else {
            &e.cgroup_layout
        },
        bytes(e.swap_total_bytes),
        e.stack_policy
    );
    for p in &e.probes {
        let _ = writeln!(
            o,
            "- {} {} ({}): {}",
            if p.attached { "✔" } else { "✘" },
            p.name,
            p.kind,
            p.detail
        );
    }
    if rec.diagnostics.is_empty() {
        let _ = writeln!(o, "- diagnostics: all zero");
    }
    for (k, v) in &rec.diagnostics {
        let _ = writeln!(o, "- {k}: {v}");
    }
    let _ = writeln!(o, "\n</details>");
}
