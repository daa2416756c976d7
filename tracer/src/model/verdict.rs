//! The answer to "are the runtime threads starved by memory pressure?", as
//! the report and the JSON carry it.

use serde::{Deserialize, Serialize};

pub use super::outcome::{Alternative, Outcome};
use super::{
    cause::Cause,
    judgement::{FaultWaits, MemoryWeight, Reason, ReclaimFacts, RuntimeSet, ThrottleWaits},
};

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Verdict {
    pub outcome: Outcome,
    pub summary: String,
    /// The most likely alternative when refuted.
    #[serde(default)]
    pub alternative: Option<Alternative>,
    /// The memory cause with the most time, if any.
    #[serde(default)]
    pub dominant_memory_cause: Option<Cause>,
    pub evidence: Vec<String>,
    /// Why, as a typed value with its numbers (schema 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<Reason>,
    /// The memory picture the outcome rests on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<MemoryWeight>,
    /// The runtime threads' fault waits, by the test that decided each.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fault_waits: Option<FaultWaits>,
    /// Their memory.high throttle sleeps against `memory.events high`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub throttle: Option<ThrottleWaits>,
    /// Their reclaim, off- and on-CPU, and the vmscan tracepoint hits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reclaim: Option<ReclaimFacts>,
    /// Which threads were judged as the runtime.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime: Option<RuntimeSet>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_names_are_the_old_strings() {
        let v = Verdict {
            outcome: Outcome::Refuted,
            alternative: Some(Alternative::Cpu),
            dominant_memory_cause: Some(Cause::PageFaultIo),
            ..Default::default()
        };
        let json = serde_json::to_string(&v).unwrap();
        assert!(json.contains(r#""outcome":"refuted""#), "{json}");
        assert!(json.contains(r#""alternative":"cpu""#), "{json}");
        assert!(json.contains(r#""dominant_memory_cause":"page_fault_io""#));
        assert_eq!(Outcome::Inconclusive.to_string(), "inconclusive");
    }
}
