//! Number formatting shared by the renderers.

/// A duration in ns as a short human string: 812ns, 3.4µs, 12.0ms, 4.21s, 61.3min.
pub fn dur(ns: u64) -> String {
    let v = ns as f64;
    if ns < 1_000 {
        format!("{ns}ns")
    } else if ns < 1_000_000 {
        format!("{:.1}µs", v / 1e3)
    } else if ns < 1_000_000_000 {
        format!("{:.1}ms", v / 1e6)
    } else if ns < 120_000_000_000 {
        format!("{:.2}s", v / 1e9)
    } else {
        format!("{:.1}min", v / 60e9)
    }
}

/// `part` as a percentage of `whole`, one decimal; "-" when whole is 0.
pub fn pct(part: u64, whole: u64) -> String {
    if whole == 0 {
        "-".into()
    } else {
        format!("{:.1}%", part as f64 * 100.0 / whole as f64)
    }
}

pub fn bytes(b: u64) -> String {
    const MIB: f64 = 1024.0 * 1024.0;
    if b >= 1 << 30 {
        format!("{:.2} GiB", b as f64 / (MIB * 1024.0))
    } else {
        format!("{:.1} MiB", b as f64 / MIB)
    }
}

/// "340 ms", "5.2 s", "61 min", "2.1 h".
pub fn human_ns(ns: u64) -> String {
    let s = ns as f64 / 1e9;
    if s < 1.0 {
        format!("{} ms", ns / 1_000_000)
    } else if s < 60.0 {
        format!("{s:.1} s")
    } else if s < 3.0 * 3600.0 {
        // Minutes up to 3 h: "61 min" reads better than "1.0 h".
        format!("{:.0} min", s / 60.0)
    } else {
        format!("{:.1} h", s / 3600.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(dur(812), "812ns");
        assert_eq!(dur(3_400), "3.4µs");
        assert_eq!(dur(12_000_000), "12.0ms");
        assert_eq!(dur(4_210_000_000), "4.21s");
        assert_eq!(dur(3_678_000_000_000), "61.3min");
        assert_eq!(pct(1, 4), "25.0%");
        assert_eq!(pct(1, 0), "-");
    }

    #[test]
    fn human_durations() {
        assert_eq!(human_ns(340_000_000), "340 ms");
        assert_eq!(human_ns(5_200_000_000), "5.2 s");
        assert_eq!(human_ns(61 * 60 * 1_000_000_000), "61 min");
    }
}
