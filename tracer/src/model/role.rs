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
    /// Any other named thread.
    #[default]
    Named,
}

impl Role {
    /// Short name used in JSON and tables.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::TokioWorker => "tokio-worker",
            Role::SameNameAsProcess => "same-name-as-process",
            Role::Named => "named",
        }
    }

    /// What a reader of the report should take it to mean.
    pub fn description(self) -> &'static str {
        match self {
            Role::TokioWorker => "tokio worker",
            Role::SameNameAsProcess => "same name as process (may drive block_on)",
            Role::Named => "other named thread",
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
