//! What the verdict decides, as two small enums: the outcome and, when
//! memory starvation is refuted, the alternative. Their serde names are the
//! strings the JSON has always carried.

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Confirmed,
    Refuted,
    #[default]
    Inconclusive,
}

impl Outcome {
    pub const fn as_str(self) -> &'static str {
        match self {
            Outcome::Confirmed => "confirmed",
            Outcome::Refuted => "refuted",
            Outcome::Inconclusive => "inconclusive",
        }
    }
}

/// The most likely explanation when memory starvation is refuted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Alternative {
    Cpu,
    Blocked,
    Idle,
    Io,
    Busy,
}

impl Alternative {
    pub const fn as_str(self) -> &'static str {
        match self {
            Alternative::Cpu => "cpu",
            Alternative::Blocked => "blocked",
            Alternative::Idle => "idle",
            Alternative::Io => "io",
            Alternative::Busy => "busy",
        }
    }
}
