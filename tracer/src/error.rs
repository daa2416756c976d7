//! Errors with the exit code each one maps to (documented in the README).

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Usage(String),
    #[error("permission denied: {what} needs {capability} (run as root)")]
    Permission {
        what: String,
        capability: &'static str,
    },
    #[error("{0}")]
    TargetNotFound(String),
    #[error("kernel not supported: {0}")]
    Kernel(String),
    #[error(
        "the kernel rejected program `{program}`: {message}\n--- end of the verifier log ---\n{log_tail}"
    )]
    Verifier {
        program: String,
        message: String,
        log_tail: String,
    },
    #[error("cannot write {path}: {source}")]
    Output {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "this starvetrace was built without its eBPF object (the nightly toolchain or bpf-linker was missing at build time); run `cargo xtask bootstrap` and rebuild"
    )]
    NoEbpfObject,
    #[error("cannot read {path}: {reason}")]
    Input { path: PathBuf, reason: String },
    /// The metrics address (`--listen`) cannot be bound: in use, not an
    /// address of this host, or a privileged port.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

pub mod exit {
    pub const OK: i32 = 0;
    pub const OTHER: i32 = 1;
    pub const USAGE: i32 = 2;
    pub const PERMISSION: i32 = 3;
    pub const TARGET_NOT_FOUND: i32 = 4;
    pub const KERNEL: i32 = 5;
    pub const VERIFIER: i32 = 6;
    pub const OUTPUT: i32 = 7;
    pub const NO_EBPF_OBJECT: i32 = 8;
    pub const INPUT: i32 = 9;
    pub const LISTEN: i32 = 10;
}

impl Error {
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Usage(_) => exit::USAGE,
            Error::Permission { .. } => exit::PERMISSION,
            Error::TargetNotFound(_) => exit::TARGET_NOT_FOUND,
            Error::Kernel(_) => exit::KERNEL,
            Error::Verifier { .. } => exit::VERIFIER,
            Error::Output { .. } => exit::OUTPUT,
            Error::NoEbpfObject => exit::NO_EBPF_OBJECT,
            Error::Input { .. } => exit::INPUT,
            Error::Listen { .. } => exit::LISTEN,
            Error::Other(_) => exit::OTHER,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A rendered clap error as one line, like every other error: the message,
/// its items and tips joined; the usage block and "try --help" line become
/// a short hint.
pub fn clap_one_line(rendered: &str) -> String {
    let mut out = String::new();
    for line in rendered.lines() {
        let line = line.trim();
        if line.starts_with("Usage:") || line.starts_with("For more information") {
            break;
        }
        if line.is_empty() {
            continue;
        }
        let line = line.strip_prefix("error: ").unwrap_or(line);
        if !out.is_empty() {
            out.push_str(if out.ends_with(':') { " " } else { "; " });
        }
        out.push_str(line);
    }
    out.push_str(" (see --help)");
    out
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use super::clap_one_line;
    use crate::cli::Cli;

    fn line(args: &[&str]) -> String {
        let e = Cli::try_parse_from(args).expect_err("a usage error");
        clap_one_line(&e.to_string())
    }

    #[test]
    fn clap_errors_become_one_line() {
        assert_eq!(
            line(&["starvetrace", "record", "--pid", "1", "--duration", "0"]),
            "invalid value '0' for '--duration <DURATION>': `0`: seconds must be > 0 and at most 30 days (see --help)"
        );
        assert_eq!(
            line(&["starvetrace", "record", "--pidx", "1"]),
            "unexpected argument '--pidx' found; tip: a similar argument exists: '--pid'; tip: to pass '--pidx' as a value, use '-- --pidx' (see --help)"
        );
        assert_eq!(
            line(&["starvetrace", "report"]),
            "the following required arguments were not provided: <FILE> (see --help)"
        );
        for args in [
            &["starvetrace", "record", "--pid", "1", "--cgroup", "/x"][..],
            &["starvetrace", "snapshot", "--pid", "x"],
            &["starvetrace", "nope"],
        ] {
            let l = line(args);
            assert!(!l.contains('\n') && !l.contains("Usage"), "{args:?}: {l}");
        }
    }
}
