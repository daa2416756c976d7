//! timeline.svg: the traced threads' stall time by cause, stacked over time,
//! with the cgroup's PSI memory pressure on the same time axis.

use std::fmt::Write as _;

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

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

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
    let mut o = String::new();
    let _ = writeln!(
        o,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(o, r#"<rect width="{W}" height="{H}" fill="white"/>"#);
    let _ = writeln!(
        o,
        r#"<text x="{LEFT}" y="22" font-size="15" font-weight="bold">{}</text>"#,
        esc(title)
    );
    // Stacked areas, bottom-up in taxonomy order (runqueue at the bottom).
    let mut base = vec![0.0f64; n];
    let mut legend = Vec::new();
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
        let _ = writeln!(
            o,
            r#"<path d="{path}Z" fill="{}" fill-opacity="0.85" stroke="none"/>"#,
            COLOURS[c]
        );
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
        let _ = writeln!(
            o,
            r#"<path d="{path}" fill="none" stroke="black" stroke-width="2"/>"#
        );
        legend.push(("PSI memory some".into(), "black"));
    }
    // Axes, grid and labels.
    let _ = writeln!(
        o,
        r##"<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#333"/>"##
    );
    for k in 0..=4 {
        let share = k as f64 / 4.0;
        let _ = writeln!(
            o,
            r##"<line x1="{LEFT}" x2="{}" y1="{:.1}" y2="{:.1}" stroke="#ddd"/><text x="{}" y="{:.1}" text-anchor="end">{}%</text>"##,
            LEFT + plot_w,
            y(share),
            y(share),
            LEFT - 6.0,
            y(share) + 4.0,
            k * 25
        );
    }
    let ticks = 8usize.min(n);
    for k in 0..=ticks {
        let i = n * k / ticks.max(1);
        let _ = writeln!(
            o,
            r#"<text x="{:.1}" y="{}" text-anchor="middle">{:.1}s</text>"#,
            x(i),
            TOP + plot_h + 18.0,
            i as f64 * bucket_s
        );
    }
    let _ = writeln!(
        o,
        r#"<text x="{}" y="{}" text-anchor="middle">time since attach (100 ms buckets); y: share of {threads} threads' time, and PSI</text>"#,
        LEFT + plot_w / 2.0,
        H - 10.0
    );
    for (k, (name, colour)) in legend.iter().enumerate() {
        let ly = TOP + 8.0 + k as f64 * 18.0;
        let _ = writeln!(
            o,
            r#"<rect x="{}" y="{:.1}" width="12" height="12" fill="{colour}"/><text x="{}" y="{:.1}">{}</text>"#,
            W - RIGHT + 12.0,
            ly,
            W - RIGHT + 30.0,
            ly + 10.0,
            esc(name)
        );
    }
    let _ = writeln!(o, "</svg>");
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
        let svg = render(&t, 2, Some(&[0.1, 0.5, 0.0]), "a <test>");
        assert!(svg.starts_with("<svg"));
        assert!(svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg.matches("fill-opacity").count(), 2);
        assert!(svg.contains("PSI memory some"));
        assert!(svg.contains("a &lt;test&gt;"));
    }
}
