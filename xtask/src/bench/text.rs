//! Small text helpers for the bench's tables (a leaf).

/// 228419.3 → "228.4k".
pub fn rate(v: f64) -> String {
    if !v.is_finite() {
        "—".into()
    } else if v >= 1e6 {
        format!("{:.2}M", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.1}k", v / 1e3)
    } else {
        format!("{v:.0}")
    }
}

/// The first line of an error, safe inside a Markdown table cell.
pub fn first_line(e: &str) -> String {
    e.lines().next().unwrap_or_default().replace('|', "/")
}
