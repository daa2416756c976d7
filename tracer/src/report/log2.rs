//! BCC-style log2 histograms, as runqlat and offcputime print them.

use std::fmt::Write as _;

use crate::hist::HistSummary;

const BAR: usize = 40;

/// Render with values in µs (like runqlat's default), or ms for long waits.
pub fn render(title: &str, h: &HistSummary) -> String {
    let mut out = String::new();
    if h.count == 0 {
        let _ = writeln!(out, "{title}: no samples");
        return out;
    }
    let (unit, div) = if h.max >= 10_000_000_000 {
        ("msecs", 1_000_000u64)
    } else {
        ("usecs", 1_000u64)
    };
    // Re-bucket the ns log2 buckets into the display unit's log2 buckets.
    let mut buckets: Vec<(u64, u64, u64)> = Vec::new();
    for b in &h.log2 {
        let lo = b.lo / div;
        let slot = if lo == 0 {
            0
        } else {
            64 - lo.leading_zeros() as u64
        };
        let (slo, shi) = if slot == 0 {
            (0, 1)
        } else {
            (1u64 << (slot - 1), (1u64 << slot) - 1)
        };
        match buckets.last_mut() {
            Some(last) if last.0 == slo => last.2 += b.count,
            _ => buckets.push((slo, shi, b.count)),
        }
    }
    let peak = buckets.iter().map(|b| b.2).max().unwrap_or(1).max(1);
    let _ = writeln!(out, "{title}");
    let _ = writeln!(out, "{:>24} : count    distribution", unit);
    for (lo, hi, count) in buckets {
        let stars = (count as f64 / peak as f64 * BAR as f64).round() as usize;
        let _ = writeln!(
            out,
            "{:>10} -> {:<10} : {:<8} |{:<width$}|",
            lo,
            hi,
            count,
            "*".repeat(stars),
            width = BAR
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hist::Recorder;

    #[test]
    fn renders_every_sample() {
        let mut r = Recorder::default();
        for v in [1_500u64, 3_000, 3_000, 900_000, 2_000_000] {
            r.record(v);
        }
        let text = render("runq", &r.summary());
        assert!(text.contains("usecs"));
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
