//! Parsers for the cgroupfs and /proc/pressure file formats. Pure functions
//! over text so they are tested with literal file contents.

use std::{collections::BTreeMap, io, path::Path};

/// One PSI file (`memory.pressure`, `/proc/pressure/cpu`, ...).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct PsiLines {
    pub some_total_us: Option<u64>,
    pub full_total_us: Option<u64>,
    pub some_avg10: Option<f64>,
    pub full_avg10: Option<f64>,
}

/// `some avg10=0.00 avg60=0.00 avg300=0.00 total=12345` (and a `full` line).
/// Host-wide `/proc/pressure/cpu` has a `full` line only on 5.13+; a missing
/// line stays `None` rather than reading as zero.
pub fn parse_psi(text: &str) -> PsiLines {
    let mut out = PsiLines::default();
    for line in text.lines() {
        let mut words = line.split_whitespace();
        let kind = words.next();
        let (mut avg10, mut total) = (None, None);
        for w in words {
            if let Some(v) = w.strip_prefix("avg10=") {
                avg10 = v.parse::<f64>().ok();
            } else if let Some(v) = w.strip_prefix("total=") {
                total = v.parse::<u64>().ok();
            }
        }
        match kind {
            Some("some") => {
                out.some_avg10 = avg10;
                out.some_total_us = total;
            }
            Some("full") => {
                out.full_avg10 = avg10;
                out.full_total_us = total;
            }
            _ => {}
        }
    }
    out
}

/// Flat-keyed files: `memory.events`, `memory.stat`, `cpu.stat`,
/// `memory.oom_control` — one `key value` per line.
pub fn parse_flat(text: &str) -> BTreeMap<String, u64> {
    text.lines()
        .filter_map(|line| {
            let mut it = line.split_whitespace();
            let key = it.next()?;
            let value = it.next()?.parse::<u64>().ok()?;
            Some((key.to_string(), value))
        })
        .collect()
}

/// v1 `memory.limit_in_bytes` reports "no limit" as a huge page-aligned
/// number (PAGE_COUNTER_MAX * PAGE_SIZE, 0x7FFFFFFFFFFFF000 on x86_64).
/// Anything at or above 2^62 bytes is treated as unlimited.
pub const V1_UNLIMITED_FLOOR: u64 = 1 << 62;

/// A single-value file: a number, or `max` (v2's "no limit").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Value {
    Num(u64),
    Max,
}

pub fn parse_value(text: &str) -> Option<Value> {
    let t = text.trim();
    if t == "max" {
        return Some(Value::Max);
    }
    t.parse::<u64>().ok().map(Value::Num)
}

/// A limit as a number of bytes; `None` when unlimited (`max`, or v1's
/// huge sentinel).
pub fn limit_bytes(v: Value) -> Option<u64> {
    match v {
        Value::Num(n) if n < V1_UNLIMITED_FLOOR => Some(n),
        _ => None,
    }
}

/// Read a file, telling "does not exist here" apart from other failures:
/// `Ok(None)` = the file is absent (a kernel or layout without it).
pub fn read_opt(path: &Path) -> io::Result<Option<String>> {
    match std::fs::read_to_string(path) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn psi_both_lines() {
        let p = parse_psi(
            "some avg10=1.11 avg60=1.61 avg300=0.56 total=5919360\n\
             full avg10=40.50 avg60=1.56 avg300=0.54 total=5731453\n",
        );
        assert_eq!(p.some_total_us, Some(5_919_360));
        assert_eq!(p.full_total_us, Some(5_731_453));
        assert_eq!(p.some_avg10, Some(1.11));
        assert_eq!(p.full_avg10, Some(40.5));
    }

    #[test]
    fn psi_without_full_line_is_none_not_zero() {
        let p = parse_psi("some avg10=0.00 avg60=0.00 avg300=0.00 total=12345\n");
        assert_eq!(p.some_total_us, Some(12345));
        assert_eq!(p.full_total_us, None);
        assert_eq!(p.full_avg10, None);
        assert_eq!(parse_psi(""), PsiLines::default());
    }

    #[test]
    fn flat_keyed() {
        let m = parse_flat("low 0\nhigh 154\nmax 3\noom 1\noom_kill 1\noom_group_kill 0\n");
        assert_eq!(m.get("high"), Some(&154));
        assert_eq!(m.get("oom_kill"), Some(&1));
        // A malformed line is skipped, not fatal.
        let m = parse_flat("garbage\npgmajfault 372\nweird x\n");
        assert_eq!(m.len(), 1);
        assert_eq!(m["pgmajfault"], 372);
    }

    #[test]
    fn values_and_limits() {
        assert_eq!(parse_value("max\n"), Some(Value::Max));
        assert_eq!(parse_value("4294967296\n"), Some(Value::Num(4 << 30)));
        assert_eq!(parse_value("nonsense"), None);
        assert_eq!(limit_bytes(Value::Max), None);
        assert_eq!(limit_bytes(Value::Num(9_223_372_036_854_771_712)), None);
        assert_eq!(limit_bytes(Value::Num(192 << 20)), Some(192 << 20));
    }

    #[test]
    fn absent_file_is_none() {
        let dir = tempfile::tempdir().unwrap();
        assert!(read_opt(&dir.path().join("nope")).unwrap().is_none());
        std::fs::write(dir.path().join("yes"), "1").unwrap();
        assert_eq!(
            read_opt(&dir.path().join("yes")).unwrap().as_deref(),
            Some("1")
        );
    }
}
