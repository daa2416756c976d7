//! The verdict as the recording carries it: the rules' typed judgement
//! (analyze) over the runtime threads' intervals, with its words (report).

use crate::{
    analyze::{facts, verdict::judge},
    model::{
        Recording, blackouts::Blackouts, judgement::Judgement, judgement::RuntimeSet,
        spans::SpanLog, verdict::Verdict,
    },
    report::verdict::words,
};

/// Judge a finished recording whose runtime threads' intervals are in
/// `spans`. The log is consumed: the runtime threads' intervals move into
/// the judgement instead of being copied (a busy trace holds a million).
pub fn verdict(
    rec: &Recording,
    spans: SpanLog,
    heartbeat_ns: Option<u64>,
    runtime: RuntimeSet,
) -> (Verdict, Blackouts) {
    let (threads, ctx) = facts::inputs(rec, spans, heartbeat_ns, runtime);
    let j = judge(&facts::facts(threads, &ctx));
    (from_judgement(&j), j.facts.blackouts.clone())
}

pub fn from_judgement(j: &Judgement) -> Verdict {
    let (summary, evidence) = words(j);
    let f = &j.facts;
    Verdict {
        outcome: j.outcome,
        summary,
        alternative: j.alternative,
        dominant_memory_cause: j.memory.dominant_cause.filter(|_| {
            // Name a dominant memory cause only when memory stalls matter.
            j.memory.backed_ns + j.memory.unbacked_ns > 0
                && !matches!(j.reason, crate::model::judgement::Reason::Negligible { .. })
        }),
        evidence,
        reason: Some(j.reason.clone()),
        memory: Some(j.memory.clone()),
        fault_waits: Some(f.faults.clone()),
        throttle: Some(f.throttle.clone()),
        reclaim: Some(f.reclaim.clone()),
        runtime: Some(f.runtime.clone()),
    }
}
