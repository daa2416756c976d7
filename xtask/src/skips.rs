//! Skips: a case that did not run is counted and named, never a silent pass.
//!
//! Three sources feed `cargo xtask test`'s count: a whole step skipped (root
//! tests when not root), a root integration test that cannot run one of its
//! cases, and a vm-test scenario the guest cannot produce.
//!
//! The protocol for root integration tests: xtask sets
//! `STARVETRACE_SKIP_LOG=<absolute path under target/>` for their run (the
//! file is emptied first). A test that cannot run a case on this machine
//! appends one line `<name>\t<reason>\n` to it, in a single write, and
//! returns; `<name>` is `<test file stem>/<case>`, such as
//! `demo_root/memory-high`. Without the variable (a plain `cargo test`) the
//! test panics with `<name>: cannot run: <reason>` instead, so nothing passes
//! unseen. Every line counts as one skip.
//!
//! With `CI=true` every skip fails the run unless README.md's "Allowed
//! skips" table lists it for this machine kind (see [`allowed`]).

mod allowed;

use std::path::Path;

pub use allowed::{Allowed, machine_kind};

/// The variable a root test reads to find the skip log.
pub const LOG_ENV: &str = "STARVETRACE_SKIP_LOG";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Skip {
    /// `step`, `<test file stem>/<case>` or `vm-test/<scenario>`.
    pub name: String,
    pub reason: String,
}

impl Skip {
    pub fn new(name: impl Into<String>, reason: impl Into<String>) -> Self {
        Skip {
            name: name.into(),
            reason: reason.into(),
        }
    }
}

/// The skips a root test run appended to the log; a missing file is none.
pub fn read_log(path: &Path) -> Vec<Skip> {
    std::fs::read_to_string(path)
        .map(|text| parse_log(&text))
        .unwrap_or_default()
}

fn parse_log(text: &str) -> Vec<Skip> {
    text.lines()
        .map(|l| l.trim_end_matches('\r'))
        .filter(|l| !l.trim().is_empty())
        .map(|l| match l.split_once('\t') {
            Some((name, reason)) if !reason.trim().is_empty() => {
                Skip::new(name.trim(), reason.trim())
            }
            Some((name, _)) => Skip::new(name.trim(), "no reason given"),
            None => Skip::new(l.trim(), "no reason given"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_skip_per_line() {
        let text = "demo_root/memory-high\tno cgroup v2 memory controller\n\
                    \n\
                    target_root/v1_path\t\r\n\
                    bare name\n";
        assert_eq!(
            parse_log(text),
            [
                Skip::new("demo_root/memory-high", "no cgroup v2 memory controller"),
                Skip::new("target_root/v1_path", "no reason given"),
                Skip::new("bare name", "no reason given"),
            ]
        );
    }

    #[test]
    fn a_missing_log_is_no_skip() {
        assert!(read_log(Path::new("/nonexistent/starvetrace-skips")).is_empty());
    }
}
