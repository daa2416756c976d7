//! The "where is every thread right now" section (and `starvetrace snapshot`),
//! with the one-line findings at its top.

use std::fmt::Write as _;

use std::collections::BTreeMap;

use super::fmt::{dur, human_ns};
use crate::model::{
    cause::Cause,
    role::Role,
    snapshot::{PressureNow, RUNQUEUE_OR_RUNNING, Snapshot, ThreadSnapshot},
};

/// Past this many threads the table lists blocked threads first and stops.
const MAX_ROWS: usize = 40;

pub fn render(s: &Snapshot) -> String {
    let mut o = String::new();
    for line in &s.summary {
        let _ = writeln!(o, "- **{line}**");
    }
    if !s.summary.is_empty() {
        let _ = writeln!(o);
    }
    let _ = writeln!(
        o,
        "| tid (ns tid) | thread | role | state | off-CPU for | cause | syscall | wchan |\n|---|---|---|---|---:|---|---|---|"
    );
    let mut rows: Vec<_> = s.threads.iter().collect();
    // The longest-blocked threads are the story: put them first.
    rows.sort_by_key(|t| std::cmp::Reverse(t.since_last_ran_ns.unwrap_or(0)));
    for t in rows.iter().take(MAX_ROWS) {
        let syscall = t.syscall.as_ref().map_or_else(String::new, |c| {
            let name = c.name.clone().unwrap_or_else(|| format!("#{}", c.nr));
            match c.futex_addr {
                Some(a) => format!("{name} @{a:#x}"),
                None => name,
            }
        });
        let _ = writeln!(
            o,
            "| {}{} | `{}` | {} | {} | {} | {} | {} | {} |",
            t.tid,
            t.ns_tid.map(|n| format!(" ({n})")).unwrap_or_default(),
            t.comm,
            t.role,
            t.state,
            t.since_last_ran_ns.map_or_else(|| "?".into(), dur),
            t.cause,
            syscall,
            t.wchan.as_deref().unwrap_or("")
        );
    }
    if rows.len() > MAX_ROWS {
        let _ = writeln!(
            o,
            "\n({} more threads in the JSON report)",
            rows.len() - MAX_ROWS
        );
    }
    for g in s.futex_groups.iter().filter(|g| g.tids.len() > 1) {
        let _ = writeln!(
            o,
            "\n{} threads of PID {} wait on the same futex {:#x}: {}",
            g.tids.len(),
            g.pid,
            g.addr,
            g.comms.join(", ")
        );
    }
    let _ = writeln!(o, "\n_Ages: {}._", s.source);
    for n in &s.notes {
        let _ = writeln!(o, "\n> {n}");
    }
    o
}

fn cause_phrase(cause: &str) -> String {
    match cause {
        "futex" => "in futex wait".into(),
        "epoll" => "in epoll/poll wait (idle reactor)".into(),
        "sleep" => "in a timed sleep".into(),
        "io" => "in I/O wait".into(),
        RUNQUEUE_OR_RUNNING => "runnable (on a CPU or waiting for one)".into(),
        "other" => "blocked (cause unknown)".into(),
        c => match Cause::from_name(c) {
            Some(code) => format!("in {c} ({})", code.description()),
            None => format!("in {c}"),
        },
    }
}

fn plural(role: Role, n: usize) -> String {
    let base = match role {
        Role::TokioWorker => "tokio worker",
        Role::SameNameAsProcess => "thread named like its process",
        Role::BlockingPool => "blocking-pool thread",
        Role::Named => "other thread",
    };
    if n == 1 {
        base.into()
    } else if role == Role::SameNameAsProcess {
        "threads named like their process".into()
    } else {
        format!("{base}s")
    }
}

fn memory_clause(p: Option<&PressureNow>) -> String {
    let Some(p) = p else {
        return "memory PSI not available here".into();
    };
    let scope = if p.scope.starts_with("host") {
        "host-wide"
    } else {
        "cgroup"
    };
    match (p.some_avg10, p.full_avg10) {
        (Some(s), full) if s < 1.0 => format!(
            "no memory stall ({scope} memory PSI some avg10 {s:.2}%{})",
            full.map(|f| format!(", full {f:.2}%")).unwrap_or_default()
        ),
        (Some(s), full) => format!(
            "MEMORY STALL: {scope} memory PSI some avg10 {s:.2}%{}",
            full.map(|f| format!(", full {f:.2}%")).unwrap_or_default()
        ),
        (None, _) => "memory PSI not available here".into(),
    }
}

/// One line per (role, cause) for workers and same-name threads, a count
/// line for the rest, and every D-state thread.
pub fn summarize(snap: &Snapshot) -> Vec<String> {
    let mut out = Vec::new();
    if snap.threads.is_empty() {
        out.push("no threads found".into());
        return out;
    }
    let mem = memory_clause(snap.memory_pressure.as_ref());
    for role in [Role::TokioWorker, Role::SameNameAsProcess] {
        let all: Vec<&ThreadSnapshot> = snap.threads.iter().filter(|t| t.role == role).collect();
        if all.is_empty() {
            continue;
        }
        let mut by_cause: BTreeMap<&str, Vec<&ThreadSnapshot>> = BTreeMap::new();
        for t in &all {
            by_cause.entry(t.cause.as_str()).or_default().push(t);
        }
        let mut groups: Vec<_> = by_cause.into_iter().collect();
        groups.sort_by_key(|g| std::cmp::Reverse(g.1.len()));
        for (cause_name, ts) in groups {
            let mut line = format!(
                "{} of {} {} {} {}",
                ts.len(),
                all.len(),
                plural(role, all.len()),
                if ts.len() == 1 {
                    "has been"
                } else {
                    "have been"
                },
                cause_phrase(cause_name)
            );
            if cause_name != RUNQUEUE_OR_RUNNING {
                line.push_str(&age_range(&ts));
            }
            if cause_name == "futex" && ts.len() > 1 {
                let addrs: Vec<_> = ts
                    .iter()
                    .map(|t| (t.pid, t.syscall.as_ref().and_then(|s| s.futex_addr)))
                    .collect();
                if let Some((_, Some(a))) = addrs.first().copied()
                    && addrs.iter().all(|x| *x == addrs[0])
                {
                    line.push_str(&format!(" on the same address {a:#x}"));
                }
            }
            out.push(line);
        }
    }
    if let Some(first) = out.first_mut() {
        first.push_str(&format!("; {mem}"));
    } else {
        out.push(mem);
    }
    let others: Vec<&ThreadSnapshot> = snap
        .threads
        .iter()
        .filter(|t| t.role == Role::Named)
        .collect();
    if !others.is_empty() {
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for t in &others {
            *counts.entry(t.cause.as_str()).or_default() += 1;
        }
        let parts: Vec<String> = counts.iter().map(|(c, n)| format!("{n} {c}")).collect();
        out.push(format!(
            "{} {}: {}",
            others.len(),
            plural(Role::Named, others.len()),
            parts.join(", ")
        ));
    }
    for t in snap.threads.iter().filter(|t| t.state == "D") {
        out.push(format!(
            "{} (tid {}) is in D (uninterruptible): {}{}",
            t.comm,
            t.tid,
            t.cause,
            t.since_last_ran_ns
                .map(|a| format!(" for {}", human_ns(a)))
                .unwrap_or_default()
        ));
    }
    for g in snap.futex_groups.iter().filter(|g| g.tids.len() > 1) {
        out.push(format!(
            "{} threads of process {} wait on futex {:#x}: {}",
            g.tids.len(),
            g.pid,
            g.addr,
            g.comms.join(", ")
        ));
    }
    out
}

fn age_range(ts: &[&ThreadSnapshot]) -> String {
    let ages: Vec<u64> = ts.iter().filter_map(|t| t.since_last_ran_ns).collect();
    let (Some(&lo), Some(&hi)) = (ages.iter().min(), ages.iter().max()) else {
        return String::new();
    };
    let (a, b) = (human_ns(lo), human_ns(hi));
    if a == b {
        format!(" for {a}")
    } else {
        format!(" for {a} to {b}")
    }
}
