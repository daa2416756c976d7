//! timeline.svg: the traced threads' stall time by cause, stacked over time,
//! with the cgroup's PSI memory pressure on the same time axis.

use tracer_common::cause;

use super::svg_writer::{Anchor, Svg};
use crate::timeline::TimelineReport;

const W: f64 = 960.0;
const H: f64 = 420.0;
const LEFT: f64 = 60.0;
const RIGHT: f64 = 170.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 50.0;

/// One colour per cause, in taxonomy order; memory causes in warm colours.
const COLOURS: [&str; cause::COUNT] = [
    "#9e9e9e", // runqueue
    "#d32f2f", // memcg_high_throttle
    "#f57c00", // memcg_reclaim
    "#fbc02d", // direct_reclaim
    "#8d6e63", // compaction
    "#e64a19", // page_fault_io
    "#7b1fa2", // writeback_throttle
    "#1976d2", // io
    "#388e3c", // futex
    "#81c784", // epoll
    "#b2dfdb", // sleep
    "#607d8b", // other
];

/// `psi` is the PSI memory "some" share (0..=1) per timeline bucket, if known.
pub fn render(t: &TimelineReport, threads: usize, psi: Option<&[f64]>, title: &str) -> String {
    let n = t.buckets.max(1);
    let plot_w = W - LEFT - RIGHT;
    let plot_h = H - TOP - BOTTOM;
    let bucket_s = t.bucket_ns as f64 / 1e9;
    // Full scale: every traced thread stalled for the whole bucket.
    let full = (threads.max(1) as f64) * t.bucket_ns as f64;
    let x = |i: usize| LEFT + plot_w * i as f64 / n as f64;
    let y = |share: f64| TOP + plot_h * (1.0 - share.clamp(0.0, 1.0));
    let mut o = Svg::new(W, H, 12.0);
    o.heading((LEFT, 22.0), 15.0, title);
    // Stacked areas, bottom-up in taxonomy order (runqueue at the bottom),
    // each bucket a flat step.
    let mut base = vec![0.0f64; n];
    let mut legend = Vec::new();
    for (c, name) in cause::NAMES.iter().enumerate() {
        let Some(series) = t.series.get(*name) else {
            continue;
        };
        let top: Vec<f64> = (0..n)
            .map(|i| base[i] + series.get(i).copied().unwrap_or(0) as f64 / full)
            .collect();
        let upper = top
            .iter()
            .enumerate()
            .flat_map(|(i, &v)| [(x(i), y(v)), (x(i + 1), y(v))]);
        let lower = (0..n)
            .rev()
            .flat_map(|i| [(x(i + 1), y(base[i])), (x(i), y(base[i]))]);
        let points: Vec<(f64, f64)> = upper.chain(lower).collect();
        o.area(&points, COLOURS[c], 0.85);
        legend.push((name.to_string(), COLOURS[c]));
        base = top;
    }
    if let Some(psi) = psi {
        let points: Vec<(f64, f64)> = psi
            .iter()
            .enumerate()
            .take(n)
            .map(|(i, v)| (x(i) + plot_w / n as f64 / 2.0, y(*v)))
            .collect();
        o.polyline(&points, "black", 2.0);
        legend.push(("PSI memory some".into(), "black"));
    }
    // Axes, grid and labels.
    o.rect(LEFT, TOP, plot_w, plot_h, "none", Some("#333"));
    for k in 0..=4 {
        let share = k as f64 / 4.0;
        o.line((LEFT, y(share)), (LEFT + plot_w, y(share)), "#ddd");
        o.text(
            (LEFT - 6.0, y(share) + 4.0),
            Anchor::End,
            &format!("{}%", k * 25),
        );
    }
    let ticks = 8usize.min(n);
    for k in 0..=ticks {
        let i = n * k / ticks.max(1);
        o.text(
            (x(i), TOP + plot_h + 18.0),
            Anchor::Middle,
            &format!("{:.1}s", i as f64 * bucket_s),
        );
    }
    o.text(
        (LEFT + plot_w / 2.0, H - 10.0),
        Anchor::Middle,
        &format!(
            "time since attach (100 ms buckets); y: share of {threads} threads' time, and PSI"
        ),
    );
    for (k, (name, colour)) in legend.iter().enumerate() {
        let ly = TOP + 8.0 + k as f64 * 18.0;
        o.rect(W - RIGHT + 12.0, ly, 12.0, 12.0, colour, None);
        o.text((W - RIGHT + 30.0, ly + 10.0), Anchor::Start, name);
    }
    o.finish()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[test]
    fn renders_series_and_psi() {
        let mut series = BTreeMap::new();
        series.insert(
            "memcg_high_throttle".to_string(),
            vec![50_000_000, 100_000_000, 0],
        );
        series.insert("futex".to_string(), vec![10_000_000, 0, 90_000_000]);
        let t = TimelineReport {
            start_ns: 0,
            bucket_ns: 100_000_000,
            buckets: 3,
            series,
            dropped_ns: 0,
        };
        let svg = render(&t, 2, Some(&[0.1, 0.5, 0.0]), "a <test>");
        assert!(svg.starts_with("<svg"));
        assert!(svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg.matches("fill-opacity").count(), 2);
        assert!(svg.contains("PSI memory some"));
        assert!(svg.contains("a &lt;test&gt;"));
    }
}
