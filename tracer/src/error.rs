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
            Error::Other(_) => exit::OTHER,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
