//! BCC-style log2 histograms, as runqlat and offcputime print them.

use std::fmt::Write as _;

use crate::model::hist::HistSummary;

const BAR: usize = 40;

/// Render in microseconds, as runqlat does by default.
pub fn render(title: &str, h: &HistSummary) -> String {
    let mut out = String::new();
    if h.count == 0 {
        let _ = writeln!(out, "{title}: no samples");
        return out;
    }
    let peak = h.log2.iter().map(|b| b.count).max().unwrap_or(1).max(1);
    let _ = writeln!(out, "{title}");
    let _ = writeln!(out, "{:>24} : count    distribution", "usecs");
    for b in &h.log2 {
        let stars = (b.count as f64 / peak as f64 * BAR as f64).round() as usize;
        let _ = writeln!(
            out,
            "{:>10} -> {:<10} : {:<8} |{:<width$}|",
            b.lo,
            b.hi,
            b.count,
            "*".repeat(stars),
            width = BAR
        );
    }
    out
}
