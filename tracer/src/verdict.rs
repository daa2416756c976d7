//! The verdict on "the traced runtime threads are starved because of memory pressure".

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Verdict {
    pub outcome: String,
    pub summary: String,
    pub evidence: Vec<String>,
}
