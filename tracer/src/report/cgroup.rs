//! The cgroup section of the Markdown report: limits, pressure over the
//! window, and how the threads' memory stalls line up with PSI. A number
//! this host does not provide is said to be unavailable, never shown as 0.

use std::fmt::Write as _;

use super::fmt::{bytes, dur};
use crate::model::cgroup::{CgroupReport, Limit, PsiAlignment};

fn limit(l: Option<Limit>) -> String {
    match l {
        None => "not available here".into(),
        Some(Limit::Unlimited) => "unlimited".into(),
        Some(Limit::Bytes(b)) => bytes(b),
    }
}

fn opt(v: Option<u64>) -> String {
    v.map_or_else(|| "not available here".into(), |v| format!("+{v}"))
}

fn psi_share(us: Option<u64>, window_ns: u64) -> String {
    match us {
        Some(us) if window_ns > 0 => format!(
            "{:.1}% of the window ({})",
            us as f64 * 1e5 / window_ns as f64,
            dur(us * 1000)
        ),
        Some(_) => "-".into(),
        None => "not available here".into(),
    }
}

pub fn render(c: &CgroupReport, psi: &PsiAlignment) -> String {
    let mut o = String::new();
    let d = &c.deltas;
    let dir = |p: &Option<std::path::PathBuf>| {
        p.as_ref()
            .map_or_else(|| "-".into(), |p| format!("`{}`", p.display()))
    };
    let _ = writeln!(
        o,
        "Layout: {}; cgroup2 {}, v1 memory {}. PSI is {}.\n",
        c.layout,
        dir(&c.paths.v2),
        dir(&c.paths.v1_memory),
        psi.scope
    );
    let _ = writeln!(o, "| signal | over the window |\n|---|---|");
    let rows = [
        ("memory.max (v2)", limit(c.limits.memory_max)),
        ("memory.high (v2)", limit(c.limits.memory_high)),
        ("memory.limit_in_bytes (v1)", limit(c.limits.v1_limit)),
        (
            "peak memory usage",
            d.max_memory_bytes
                .map_or_else(|| "not available here".into(), bytes),
        ),
        ("PSI memory some", psi_share(d.memory_some_us, d.window_ns)),
        ("PSI memory full", psi_share(d.memory_full_us, d.window_ns)),
        ("PSI cpu some", psi_share(d.cpu_some_us, d.window_ns)),
        ("memory.events high", opt(d.events_high)),
        ("memory.events max", opt(d.events_max)),
        ("memory.events oom_kill", opt(d.events_oom_kill)),
        ("memory.failcnt (v1)", opt(d.failcnt)),
        ("pgmajfault", opt(d.pgmajfault)),
        (
            "workingset refaults (file)",
            opt(d.refault_file.or(d.refault)),
        ),
        ("CPU throttled periods", opt(d.nr_throttled)),
        (
            "CPU throttled time",
            d.throttled_usec
                .map_or_else(|| "not available here".into(), |us| dur(us * 1000)),
        ),
    ];
    for (name, value) in rows {
        let _ = writeln!(o, "| {name} | {value} |");
    }
    if let Some(series) = &psi.memory_some {
        let busy = series.iter().filter(|v| **v > 0.0).count();
        let peak = series.iter().copied().fold(0.0f64, f64::max);
        let _ = writeln!(
            o,
            "PSI memory some was non-zero in {busy} of {} buckets, peaking at {:.0}% of a bucket.",
            series.len(),
            peak * 100.0
        );
    }
    if !c.missing.is_empty() {
        let _ = writeln!(o, "\nNot available on this host: {}.", c.missing.join(", "));
    }
    for n in &c.notes {
        let _ = writeln!(o, "\n> {n}");
    }
    o
}
