//! The "where is every thread right now" section (and `starvetrace snapshot`).

use std::fmt::Write as _;

use super::fmt::dur;
use crate::snapshot::Snapshot;

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
