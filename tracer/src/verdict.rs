//! The verdict on "the traced runtime threads are starved because of memory pressure".

use serde::{Deserialize, Serialize};

use crate::model::Recording;

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Verdict {
    pub outcome: String,
    pub summary: String,
    pub evidence: Vec<String>,
}

pub fn decide(_rec: &Recording) -> Verdict {
    Verdict { outcome: "inconclusive".into(), summary: "verdict rules not implemented yet".into(), evidence: vec![] }
}
