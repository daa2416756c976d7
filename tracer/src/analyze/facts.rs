//! Pull the verdict's facts out of the runtime threads' interval streams:
//! shares from the intervals themselves (after the fault test), blackouts
//! from the same intervals, futex and reclaim detail from each thread's
//! books, and the cgroup's pressure as context.

use std::collections::HashMap;

use super::{
    blackouts,
    evidence::{self, Signals},
};
pub use crate::model::judgement::{Facts, Pressure};
use crate::model::{
    Recording,
    cause::Cause,
    judgement::{ReclaimFacts, RuntimeSet, SharedFutex},
    spans::{Chunked, SpanLog, ThreadSpans},
};

/// One runtime thread as the rules see it.
#[derive(Clone, Debug, Default)]
pub struct RuntimeThread {
    pub tgid: u32,
    pub spans: ThreadSpans,
    /// Futex address → ns waited on it.
    pub futex_waits: Vec<(u64, u64)>,
    pub reclaim_on_cpu_ns: u64,
    pub reclaim_hits: u64,
}

/// Everything about the trace that is not one thread's.
#[derive(Clone, Debug, Default)]
pub struct Context {
    pub start_ns: u64,
    pub end_ns: u64,
    /// The span log is whole up to here.
    pub complete_until_ns: u64,
    pub heartbeat_ns: Option<u64>,
    pub signals: Signals,
    pub records: u64,
    pub lost: u64,
    pub stacks_off: bool,
    pub stack_failures: u64,
    pub runtime: RuntimeSet,
    pub pressure: Pressure,
}

/// The cgroup's pressure over the window: context for the reader.
pub fn pressure(rec: &Recording) -> Pressure {
    let Some(c) = rec.cgroup.as_ref() else {
        return Pressure::default();
    };
    let d = &c.deltas;
    let share = |us: Option<u64>| {
        us.filter(|_| d.window_ns > 0)
            .map(|us| us as f64 * 1000.0 / d.window_ns as f64)
    };
    let limit_hits = match (d.events_high, d.events_max, d.failcnt) {
        (None, None, None) => None,
        (h, m, f) => Some(h.unwrap_or(0) + m.unwrap_or(0) + f.unwrap_or(0)),
    };
    Pressure {
        psi_some: share(d.memory_some_us),
        psi_full: share(d.memory_full_us),
        limit_hits,
        oom_kills: d.events_oom_kill,
        major_faults: d.pgmajfault,
        psi_scope: super::correlate::psi_scope(rec).to_string(),
    }
}

/// The runtime threads of a finished recording with their intervals, and
/// the context: what `facts` needs from a real trace.
pub fn inputs(
    rec: &Recording,
    mut spans: SpanLog,
    heartbeat_ns: Option<u64>,
    runtime: RuntimeSet,
) -> (Vec<RuntimeThread>, Context) {
    let start = rec.timeline.as_ref().map_or(0, |t| t.start_ns);
    let end = start + rec.duration_ns;
    let threads = rec
        .threads
        .iter()
        .filter(|t| t.role.is_runtime())
        .map(|t| RuntimeThread {
            tgid: t.tgid,
            // A runtime thread with no interval at all ran the whole time.
            spans: spans.threads.remove(&t.tid).unwrap_or(ThreadSpans {
                first_ns: start,
                last_ns: end,
                off: Chunked::default(),
            }),
            futex_waits: t.futex_waits.iter().map(|w| (w.addr, w.ns)).collect(),
            reclaim_on_cpu_ns: t.reclaim_on_cpu_ns,
            reclaim_hits: t.reclaim_count,
        })
        .collect();
    let diag = |k: &str| rec.diagnostics.get(k).copied().unwrap_or(0);
    let ctx = Context {
        start_ns: start,
        end_ns: end,
        complete_until_ns: spans.complete_until_ns.unwrap_or(u64::MAX),
        heartbeat_ns,
        signals: rec
            .cgroup
            .as_ref()
            .map(Signals::from_cgroup)
            .unwrap_or_default(),
        records: rec.records,
        lost: rec.lost_events,
        stacks_off: rec.environment.stack_policy == "none",
        stack_failures: diag("stack_lookup_failed")
            + diag("stack_symbolization_failed")
            + diag("stack_not_taken"),
        runtime,
        pressure: pressure(rec),
    };
    (threads, ctx)
}

pub fn facts(mut threads: Vec<RuntimeThread>, ctx: &Context) -> Facts {
    let (faults, throttle) = evidence::weigh(
        threads.iter_mut().flat_map(|t| t.spans.off.iter_mut()),
        &ctx.signals,
    );
    let until = ctx.end_ns.min(ctx.complete_until_ns);
    let refs: Vec<&ThreadSpans> = threads.iter().map(|t| &t.spans).collect();
    let blackouts = blackouts::find(&refs, ctx.start_ns, ctx.end_ns, until, ctx.heartbeat_ns);
    let mut f = Facts {
        window_ns: ctx.end_ns.saturating_sub(ctx.start_ns),
        runtime: ctx.runtime.clone(),
        faults,
        throttle,
        blackouts,
        records: ctx.records,
        lost: ctx.lost,
        stacks_off: ctx.stacks_off,
        stack_failures: ctx.stack_failures,
        pressure: ctx.pressure.clone(),
        reclaim: ReclaimFacts::default(),
        ..Facts::default()
    };
    for t in &threads {
        add_thread(&mut f, t, ctx.start_ns, until);
    }
    f.shared_futex = shared_futex(&threads);
    f
}

/// Add one thread's time inside `[start, end)`.
fn add_thread(f: &mut Facts, t: &RuntimeThread, start: u64, end: u64) {
    let (from, to) = (t.spans.first_ns.max(start), t.spans.last_ns.min(end));
    if from >= to {
        return;
    }
    let wall = to - from;
    let mut off = 0;
    for s in &t.spans.off {
        let (a, b) = (s.start_ns.max(from), s.end_ns.min(to));
        if a >= b {
            continue;
        }
        let wake = s.wake_ns().clamp(a, b);
        off += b - a;
        f.by_cause[s.cause.index()] += wake - a;
        f.by_cause[Cause::Runqueue.index()] += b - wake;
        if s.disk {
            f.disk_ns += wake - a;
        }
        if wake > a {
            f.blocked_intervals += 1;
        }
        if s.blocked_is_idle() {
            f.longest_idle_wait_ns = f.longest_idle_wait_ns.max(wake - a);
        }
        if matches!(s.cause, Cause::MemcgReclaim | Cause::DirectReclaim) {
            f.reclaim.off_cpu_ns += wake - a;
        }
    }
    f.wall_ns += wall;
    f.on_cpu_ns += wall.saturating_sub(off);
    f.reclaim.on_cpu_ns += t.reclaim_on_cpu_ns;
    f.reclaim.tracepoint_hits += t.reclaim_hits;
}

/// The futex address most runtime threads of one process waited on, when
/// two or more did; with the time all of them waited there.
fn shared_futex(threads: &[RuntimeThread]) -> Option<SharedFutex> {
    let mut by: HashMap<(u32, u64), (usize, u64)> = HashMap::new();
    for t in threads {
        for &(addr, ns) in &t.futex_waits {
            let e = by.entry((t.tgid, addr)).or_default();
            e.0 += 1;
            e.1 += ns;
        }
    }
    by.into_iter()
        .filter(|(_, (n, _))| *n >= 2)
        .max_by_key(|(_, (n, ns))| (*n, *ns))
        .map(|((_, addr), (threads, ns))| SharedFutex { addr, threads, ns })
}
