//! The answer to "are the runtime threads starved by memory pressure?", as
//! the report and the JSON carry it.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Verdict {
    /// confirmed | refuted | inconclusive
    pub outcome: String,
    pub summary: String,
    /// The most likely alternative when refuted (cpu, blocked, idle, io, busy).
    #[serde(default)]
    pub alternative: Option<String>,
    /// The memory cause with the most time, if any.
    #[serde(default)]
    pub dominant_memory_cause: Option<String>,
    pub evidence: Vec<String>,
}
