//! What a thread is to the runtime, from its name (see `analyze::roles`
//! for how names are matched).

use serde::{Deserialize, Serialize};

#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// A tokio runtime worker (default name, or the user's `--threads` regex).
    TokioWorker,
    /// Same comm as its process: main thread or an unnamed thread it
    /// spawned (may drive `block_on`).
    SameNameAsProcess,
    /// A tokio-named thread of the blocking pool (`spawn_blocking`), not a
    /// worker: told apart by behaviour (see `RoleSource`).
    BlockingPool,
    /// Any other named thread.
    #[default]
    Named,
}

impl Role {
    /// Every role (for bounded label sets: metrics remove a target's
    /// series by enumerating them).
    pub const ALL: [Role; 4] = [
        Role::TokioWorker,
        Role::SameNameAsProcess,
        Role::BlockingPool,
        Role::Named,
    ];

    /// Short name used in JSON and tables.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::TokioWorker => "tokio-worker",
            Role::SameNameAsProcess => "same-name-as-process",
            Role::BlockingPool => "blocking-pool",
            Role::Named => "named",
        }
    }

    /// What a reader of the report should take it to mean.
    pub fn description(self) -> &'static str {
        match self {
            Role::TokioWorker => "tokio worker",
            Role::SameNameAsProcess => "same name as process (may drive block_on)",
            Role::BlockingPool => "tokio blocking-pool thread",
            Role::Named => "other named thread",
        }
    }
}

impl Role {
    /// Part of the runtime the verdict judges: workers and the `block_on` candidates.
    pub const fn is_runtime(self) -> bool {
        matches!(self, Role::TokioWorker | Role::SameNameAsProcess)
    }
}

/// How a thread got its role.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum RoleSource {
    /// comm is one of tokio's default worker names.
    DefaultTokioName,
    /// comm matches the user's `--threads` pattern.
    ThreadsPattern,
    /// comm equals its process's comm (a `block_on` candidate).
    ProcessName,
    /// tokio-named, but it only ever parked on a futex shared with other
    /// tokio-named threads and never polled the I/O driver, while other
    /// tokio-named threads of the process did not: the blocking pool's
    /// condvar, not a worker's own parking spot.
    SharedCondvarBehaviour,
    /// Any other name.
    #[default]
    OtherName,
}

impl RoleSource {
    pub const fn as_str(self) -> &'static str {
        match self {
            RoleSource::DefaultTokioName => "default-tokio-name",
            RoleSource::ThreadsPattern => "threads-pattern",
            RoleSource::ProcessName => "process-name",
            RoleSource::SharedCondvarBehaviour => "shared-condvar-behaviour",
            RoleSource::OtherName => "other-name",
        }
    }

    /// What a reader of the report should take it to mean.
    pub const fn description(self) -> &'static str {
        match self {
            RoleSource::DefaultTokioName => "tokio's default worker name",
            RoleSource::ThreadsPattern => "matches --threads",
            RoleSource::ProcessName => {
                "named like its process: a block_on candidate (not confirmed without symbols)"
            }
            RoleSource::SharedCondvarBehaviour => {
                "behaviour: parks only on a futex shared with other tokio-named threads, never polls the I/O driver"
            }
            RoleSource::OtherName => "its name",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_as_short_strings() {
        assert_eq!(
            serde_json::to_string(&Role::TokioWorker).unwrap(),
            r#""tokio-worker""#
        );
        let r: Role = serde_json::from_str(r#""same-name-as-process""#).unwrap();
        assert_eq!(r, Role::SameNameAsProcess);
        assert_eq!(Role::Named.to_string(), "named");
    }
}
