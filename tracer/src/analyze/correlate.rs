//! Line the traced threads' stall timeline up with the cgroup's samples:
//! the share of memory-stall time that fell in buckets with PSI pressure,
//! and the correlation of the two series.

use crate::model::{
    Recording,
    cause::Cause,
    cgroup::{PsiAlignment, PsiKind},
};

/// Memory stall ns per timeline bucket, summed over the memory causes.
fn memory_series(rec: &Recording) -> Option<Vec<f64>> {
    let t = rec.timeline.as_ref()?;
    let mut out = vec![0.0; t.buckets];
    for (name, values) in &t.series {
        if Cause::from_name(name).is_some_and(Cause::is_memory) {
            for (o, v) in out.iter_mut().zip(values) {
                *o += *v as f64;
            }
        }
    }
    Some(out)
}

fn psi_some(rec: &Recording) -> Option<Vec<Option<f64>>> {
    psi_some_of(rec, PsiKind::Memory)
}

fn psi_some_of(rec: &Recording, kind: PsiKind) -> Option<Vec<Option<f64>>> {
    let t = rec.timeline.as_ref()?;
    let c = rec.cgroup.as_ref()?;
    let end = t.start_ns + t.buckets as u64 * t.bucket_ns;
    let series = c.series(kind, t.bucket_ns, t.start_ns, end);
    // Host-wide PSI from /proc/pressure is not the target's pressure: don't
    // line up with it. (A target in the cgroup2 root has the root's PSI,
    // which is host-wide too; `scope` says so in the report.)
    (series.scope == "cgroup" && series.some.iter().any(Option::is_some)).then_some(series.some)
}

/// Pearson correlation of two equally long series; `None` if either is flat.
pub fn pearson(a: &[f64], b: &[f64]) -> Option<f64> {
    let n = a.len().min(b.len());
    if n < 3 {
        return None;
    }
    let (ma, mb) = (
        a[..n].iter().sum::<f64>() / n as f64,
        b[..n].iter().sum::<f64>() / n as f64,
    );
    let (mut cov, mut va, mut vb) = (0.0, 0.0, 0.0);
    for i in 0..n {
        let (da, db) = (a[i] - ma, b[i] - mb);
        cov += da * db;
        va += da * da;
        vb += db * db;
    }
    (va > 0.0 && vb > 0.0).then(|| cov / (va * vb).sqrt())
}

/// Share of `stall` that falls in buckets where `pressure` is non-zero,
/// over the buckets where pressure is known.
pub fn aligned_share(stall: &[f64], pressure: &[Option<f64>]) -> Option<f64> {
    let (mut inside, mut known) = (0.0, 0.0);
    for (s, p) in stall.iter().zip(pressure) {
        if let Some(p) = p {
            known += s;
            if *p > 0.0 {
                inside += s;
            }
        }
    }
    (known > 0.0).then(|| inside / known)
}

/// How the memory stalls line up with the cgroup's PSI.
pub fn alignment(rec: &Recording) -> PsiAlignment {
    let mut out = PsiAlignment {
        scope: psi_scope(rec).to_string(),
        ..PsiAlignment::default()
    };
    let psi = psi_some(rec);
    out.memory_some = psi
        .as_ref()
        .map(|s| s.iter().map(|v| v.unwrap_or(0.0)).collect());
    if let (Some(stall), Some(psi)) = (memory_series(rec), psi) {
        // A fault that waits for a disk read is an I/O stall to PSI unless
        // the page was a recent workingset eviction, so memory-limit
        // thrashing shows in io.pressure as much as in memory.pressure:
        // line the stalls up with either.
        let io = psi_some_of(rec, PsiKind::Io).unwrap_or_default();
        let either: Vec<Option<f64>> = psi
            .iter()
            .enumerate()
            .map(|(i, m)| match (m, io.get(i).copied().flatten()) {
                (Some(m), Some(o)) => Some(m.max(o)),
                (m, o) => m.or(o),
            })
            .collect();
        out.aligned_share = aligned_share(&stall, &either);
        let known: Vec<(f64, f64)> = stall
            .iter()
            .zip(&psi)
            .filter_map(|(s, p)| p.map(|p| (*s, p)))
            .collect();
        let (s, q): (Vec<f64>, Vec<f64>) = known.into_iter().unzip();
        out.correlation = pearson(&s, &q);
    }
    out
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn correlation_and_alignment() {
        let stall = [0.0, 10.0, 20.0, 0.0, 30.0];
        let psi = [Some(0.0), Some(0.2), Some(0.4), Some(0.0), Some(0.6)];
        let p: Vec<f64> = psi.iter().map(|v| v.unwrap()).collect();
        assert!((pearson(&stall, &p).unwrap() - 1.0).abs() < 1e-9);
        assert_eq!(aligned_share(&stall, &psi), Some(1.0));
        let late = [Some(0.0), Some(0.0), Some(0.4), Some(0.0), None];
        // 20 of the 30 known stall units are in pressure buckets.
        assert!((aligned_share(&stall, &late).unwrap() - 20.0 / 30.0).abs() < 1e-9);
        assert_eq!(pearson(&[1.0, 1.0, 1.0], &[0.0, 1.0, 2.0]), None);
        assert_eq!(aligned_share(&[0.0, 0.0], &[Some(0.5), Some(0.5)]), None);
    }
}
