//! The cgroup's PSI on the timeline's time axis, for the picture and the
//! cgroup section. Context only: the verdict's rules do not use PSI (a
//! cgroup's PSI rises *because* its threads stall, so lining the two up
//! proves nothing).

use crate::model::{
    Recording,
    cgroup::{PsiAlignment, PsiKind},
};

/// The cgroup's own PSI memory "some" share per timeline bucket, when it has one.
fn psi_some(rec: &Recording) -> Option<Vec<Option<f64>>> {
    let t = rec.timeline.as_ref()?;
    let c = rec.cgroup.as_ref()?;
    let end = t.start_ns + t.buckets as u64 * t.bucket_ns;
    let series = c.series(PsiKind::Memory, t.bucket_ns, t.start_ns, end);
    // Host-wide PSI from /proc/pressure is not the target's pressure.
    (series.scope == "cgroup" && series.some.iter().any(Option::is_some)).then_some(series.some)
}

/// Whose PSI it is, and the series to draw (gaps as 0).
pub fn alignment(rec: &Recording) -> PsiAlignment {
    PsiAlignment {
        scope: psi_scope(rec).to_string(),
        memory_some: psi_some(rec).map(|s| s.into_iter().map(|v| v.unwrap_or(0.0)).collect()),
    }
}

/// "cgroup" or "host-wide (...)": whose PSI the numbers are.
pub fn psi_scope(rec: &Recording) -> &'static str {
    match rec.cgroup.as_ref() {
        Some(c) if c.paths.v2_level == Some(0) => "host-wide: the target is in the cgroup2 root",
        Some(c) if c.deltas.memory_some_us.is_some() => "the target's cgroup",
        Some(_) => "host-wide",
        None => "not sampled",
    }
}
