//! timeline.svg: the traced threads' stall time by cause, stacked over time,
//! with the cgroup's PSI memory pressure on the same time axis.

use std::fmt::Write as _;

use super::svg_writer::{footer, header, line, path as svg_path, rect, text};
use crate::model::{cause::Cause, timeline::TimelineReport};

const W: f64 = 960.0;
const H: f64 = 420.0;
const LEFT: f64 = 60.0;
const RIGHT: f64 = 170.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 50.0;

/// One colour per cause, in taxonomy order; memory causes in warm colours.
const COLOURS: [&str; Cause::COUNT] = [
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

/// `psi` is the PSI memory "some" share (0..=1) per timeline bucket, if
/// known; `blackouts` the runtime's blackout ns per bucket of the same width
/// and start, drawn as a band above the plot.
pub fn render(
    t: &TimelineReport,
    threads: usize,
    psi: Option<&[f64]>,
    blackouts: Option<&[u64]>,
    title: &str,
) -> String {
    let n = t.buckets.max(1);
    let plot_w = W - LEFT - RIGHT;
    let plot_h = H - TOP - BOTTOM;
    let bucket_s = t.bucket_ns as f64 / 1e9;
    // Full scale: every traced thread stalled for the whole bucket.
    let full = (threads.max(1) as f64) * t.bucket_ns as f64;
    let x = |i: usize| LEFT + plot_w * i as f64 / n as f64;
    let y = |share: f64| TOP + plot_h * (1.0 - share.clamp(0.0, 1.0));
    let mut o = String::new();
    header(&mut o, W, H, 12);
    text(
        &mut o,
        LEFT,
        22,
        r#"font-size="15" font-weight="bold""#,
        title,
    );
    o.push('\n');
    let mut legend = Vec::new();
    if let Some(series) = blackouts.filter(|s| s.iter().any(|&ns| ns > 0)) {
        // Darker where more of the bucket was a blackout.
        for (i, &ns) in series.iter().enumerate().take(n).filter(|(_, ns)| **ns > 0) {
            let share = (ns as f64 / t.bucket_ns.max(1) as f64).clamp(0.15, 1.0);
            let style = format!(r##"fill="#b71c1c" fill-opacity="{share:.2}""##);
            let w = format!("{:.2}", plot_w / n as f64);
            rect(&mut o, format!("{:.1}", x(i)), TOP - 12.0, w, 8, &style);
        }
        o.push('\n');
        legend.push(("runtime blackout (band)".to_string(), "#b71c1c"));
    }
    // Stacked areas, bottom-up in taxonomy order (runqueue at the bottom).
    let mut base = vec![0.0f64; n];
    for (c, name) in Cause::ALL.iter().map(|c| (c.index(), c.name())) {
        let Some(series) = t.series.get(name) else {
            continue;
        };
        let top: Vec<f64> = (0..n)
            .map(|i| base[i] + series.get(i).copied().unwrap_or(0) as f64 / full)
            .collect();
        let mut path = String::new();
        for (i, &t) in top.iter().enumerate() {
            let _ = write!(
                path,
                "{}{:.1},{:.1} L{:.1},{:.1} ",
                if i == 0 { "M" } else { "L" },
                x(i),
                y(t),
                x(i + 1),
                y(t)
            );
        }
        for i in (0..n).rev() {
            let _ = write!(
                path,
                "L{:.1},{:.1} L{:.1},{:.1} ",
                x(i + 1),
                y(base[i]),
                x(i),
                y(base[i])
            );
        }
        let style = format!(r#"fill="{}" fill-opacity="0.85" stroke="none""#, COLOURS[c]);
        svg_path(&mut o, &format!("{path}Z"), &style);
        o.push('\n');
        legend.push((name.to_string(), COLOURS[c]));
        base = top;
    }
    if let Some(psi) = psi {
        let mut path = String::new();
        for (i, v) in psi.iter().enumerate().take(n) {
            let _ = write!(
                path,
                "{}{:.1},{:.1} ",
                if i == 0 { "M" } else { "L" },
                x(i) + plot_w / n as f64 / 2.0,
                y(*v)
            );
        }
        svg_path(
            &mut o,
            &path,
            r#"fill="none" stroke="black" stroke-width="2""#,
        );
        o.push('\n');
        legend.push(("PSI memory some".into(), "black"));
    }
    // Axes, grid and labels.
    rect(
        &mut o,
        LEFT,
        TOP,
        plot_w,
        plot_h,
        r##"fill="none" stroke="#333""##,
    );
    o.push('\n');
    for k in 0..=4 {
        let share = k as f64 / 4.0;
        let at = format!("{:.1}", y(share));
        line(&mut o, (LEFT, &at), (LEFT + plot_w, &at), "#ddd");
        let label = format!("{}%", k * 25);
        let below = format!("{:.1}", y(share) + 4.0);
        text(&mut o, LEFT - 6.0, below, r#"text-anchor="end""#, &label);
        o.push('\n');
    }
    let ticks = 8usize.min(n);
    for k in 0..=ticks {
        let i = n * k / ticks.max(1);
        let label = format!("{:.1}s", i as f64 * bucket_s);
        let at = format!("{:.1}", x(i));
        text(
            &mut o,
            at,
            TOP + plot_h + 18.0,
            r#"text-anchor="middle""#,
            &label,
        );
        o.push('\n');
    }
    let axis =
        format!("time since attach (100 ms buckets); y: share of {threads} threads' time, and PSI");
    text(
        &mut o,
        LEFT + plot_w / 2.0,
        H - 10.0,
        r#"text-anchor="middle""#,
        &axis,
    );
    o.push('\n');
    for (k, (name, colour)) in legend.iter().enumerate() {
        let ly = TOP + 8.0 + k as f64 * 18.0;
        let fill = format!(r#"fill="{colour}""#);
        rect(&mut o, W - RIGHT + 12.0, format!("{ly:.1}"), 12, 12, &fill);
        text(
            &mut o,
            W - RIGHT + 30.0,
            format!("{:.1}", ly + 10.0),
            "",
            name,
        );
        o.push('\n');
    }
    footer(&mut o);
    o
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
        let svg = render(&t, 2, Some(&[0.1, 0.5, 0.0]), None, "a <test>");
        assert!(svg.starts_with("<svg"));
        assert!(svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg.matches("fill-opacity").count(), 2);
        assert!(svg.contains("PSI memory some"));
        assert!(svg.contains("a &lt;test&gt;"));
        assert!(!svg.contains("runtime blackout"));
        let svg = render(&t, 2, None, Some(&[0, 50_000_000, 0]), "b");
        assert_eq!(
            svg.matches(r##"fill="#b71c1c""##).count(),
            2,
            "one band piece and the legend"
        );
        assert!(svg.contains("runtime blackout (band)"));
    }
}
