//! Why a lab run could not happen (or could not be cleaned up).

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum LabError {
    #[error("unknown lab scenario `{0}` (expected one of: {names})", names = super::Scenario::NAMES.join(", "))]
    UnknownScenario(String),
    #[error("the lab duration must be > 0 and finite")]
    BadDuration,
    /// The host cannot produce this scenario's effect; faking it would make the
    /// lab's ground truth a lie, so we refuse.
    #[error("scenario `{scenario}` is not supported on this host: {why}")]
    Unsupported { scenario: String, why: String },
    #[error("cgroup: {what} ({path}): {source}")]
    Cgroup {
        what: String,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error("cannot build the tokio runtime: {0}")]
    Runtime(std::io::Error),
    #[error("cannot write the lab result to {path}: {source}")]
    Result {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("a lab thread panicked: {0}")]
    ThreadPanicked(String),
}

impl LabError {
    pub(crate) fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        LabError::Io {
            what: what.into(),
            source,
        }
    }

    pub(crate) fn cgroup(
        what: impl Into<String>,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        LabError::Cgroup {
            what: what.into(),
            path: path.into(),
            source,
        }
    }
}
