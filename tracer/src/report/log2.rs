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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::hist::Recorder;

    #[test]
    fn renders_every_sample() {
        let mut r = Recorder::default();
        for v in [1_500u64, 3_000, 3_000, 900_000, 2_000_000] {
            r.record(v);
        }
        let text = render("runq", &r.summary());
        assert!(text.contains("usecs"));
        assert!(text.contains("         2 -> 3          : 2 "), "{text}");
        assert!(text.contains("         0 -> 1          : 1 "), "{text}");
        let total: u64 = text
            .lines()
            .filter(|l| l.contains('|'))
            .map(|l| {
                l.split(':')
                    .nth(1)
                    .unwrap()
                    .split_whitespace()
                    .next()
                    .unwrap()
                    .parse::<u64>()
                    .unwrap()
            })
            .sum();
        assert_eq!(total, 5);
    }
}
