//! Skips that cannot be mistaken for passes. A root test that cannot run its
//! case on this host (memory.high without a cgroup v2 memory controller, a
//! temp dir in memory, ...) calls [`skip`]: it appends one line
//! `<file_stem>/<case>\t<reason>` to the file named by `STARVETRACE_SKIP_LOG`
//! (the test runner's summary lists them), or, when that variable is unset,
//! panics with the reason, so a plain `cargo test` never reports a case that
//! did not run as passed. Anything else that cannot run panics on its own.

use std::io::Write;

pub const ENV: &str = "STARVETRACE_SKIP_LOG";

/// Records that `file_stem/case` did not run, and why; the caller returns next.
pub fn skip(file_stem: &str, case: &str, reason: &str) {
    // One line, one tab: the reason may come from a multi-line error.
    let reason = reason.split_whitespace().collect::<Vec<_>>().join(" ");
    let Some(path) = std::env::var_os(ENV) else {
        panic!(
            "{file_stem}/{case} cannot run on this host: {reason} (set {ENV}=FILE to record this as a skip)"
        );
    };
    let line = format!("{file_stem}/{case}\t{reason}\n");
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .unwrap_or_else(|e| panic!("{ENV}={}: {e}", path.to_string_lossy()));
    f.write_all(line.as_bytes())
        .unwrap_or_else(|e| panic!("writing {}: {e}", path.to_string_lossy()));
    eprintln!("SKIP {file_stem}/{case}: {reason}");
}

/// The lab's refusal for a scenario this host cannot produce, if `stderr`
/// holds one (`LabError::Unsupported`): the reason after "on this host: ".
pub fn unsupported_reason(stderr: &str) -> Option<String> {
    let line = stderr
        .lines()
        .find(|l| l.contains("is not supported on this host"))?;
    Some(
        line.split_once("on this host: ")
            .map_or(line, |(_, why)| why)
            .trim()
            .to_string(),
    )
}
