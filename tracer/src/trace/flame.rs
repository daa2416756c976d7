//! Off-CPU time by (thread, cause, kernel stack, user stack), for the
//! flame graphs: the blocked part of every interval, as booked, under a
//! fixed cap of distinct keys. At the end the stack ids become frame names
//! (`resolve`), folded root-first like BCC's `offcputime -f -d`.

use std::collections::{HashMap, HashSet};

use super::ustack::{ENTRY_FRAMES, UserStacks};
use crate::model::{
    cause::Cause,
    flame::{FlameSummary, FrameShare},
};

/// Distinct keys kept; intervals past it are counted (`flame_keys_overflow`)
/// with their time, not kept. Each key costs ~64 bytes.
pub const MAX_KEYS: usize = 65_536;
/// User frames listed per memory cause in the report.
pub const TOP_USER_FRAMES: usize = 5;
/// A user stack this shallow is a frame-pointer walk that stopped at once.
pub const SHALLOW_FRAMES: usize = 2;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Key {
    tid: u32,
    tgid: u32,
    cause: Cause,
    kstack: i32,
    ustack: i32,
}

#[derive(Clone, Copy, Debug, Default)]
struct Weight {
    ns: u64,
    intervals: u64,
}

/// The aggregation `account` feeds (only when flame graphs or user stacks
/// were asked for).
#[derive(Debug, Default)]
pub struct FlameAgg {
    keys: HashMap<Key, Weight>,
    /// Intervals (and their time) that found the key table full.
    pub overflow_intervals: u64,
    pub overflow_ns: u64,
    /// User stacks (tgid, id) seen for the first time, for the collector to
    /// read and place in their process's mappings while it still exists.
    new_user: Vec<(u32, i32)>,
    seen_user: HashSet<(u32, i32)>,
}

impl FlameAgg {
    /// The blocked part (`ns`) of one interval of `tid` (process `tgid`),
    /// classified `cause`, with the stacks taken at its switch-out.
    pub fn add(&mut self, tid: u32, tgid: u32, cause: Cause, kstack: i32, ustack: i32, ns: u64) {
        if cause == Cause::Runqueue || ns == 0 {
            return;
        }
        let key = Key {
            tid,
            tgid,
            cause,
            kstack,
            ustack,
        };
        let full = self.keys.len() >= MAX_KEYS;
        match self.keys.get_mut(&key) {
            Some(w) => {
                w.ns += ns;
                w.intervals += 1;
            }
            None if full => {
                self.overflow_intervals += 1;
                self.overflow_ns += ns;
                return;
            }
            None => {
                self.keys.insert(key, Weight { ns, intervals: 1 });
            }
        }
        if ustack >= 0 && self.seen_user.insert((tgid, ustack)) {
            self.new_user.push((tgid, ustack));
        }
    }

    /// User stacks first seen since the last call.
    pub fn take_new_user_stacks(&mut self) -> Vec<(u32, i32)> {
        std::mem::take(&mut self.new_user)
    }
}

/// One folded line: `frames` root-first, weighted by blocked ns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FoldedStack {
    pub cause: Cause,
    pub frames: Vec<String>,
    pub ns: u64,
}

/// Everything the flame outputs are made of.
#[derive(Clone, Debug, Default)]
pub struct FlameData {
    pub stacks: Vec<FoldedStack>,
    pub summary: FlameSummary,
}

/// Where frame names come from at the end of the trace.
pub trait FrameNames {
    /// Kernel frame names of a stack id, innermost first.
    fn kernel(&mut self, id: i32) -> Option<Vec<String>>;
}

/// What a user stack came to, for one key.
struct UserSide {
    frames: Vec<String>,
    /// Innermost frame, the one the report ranks.
    top: String,
    truncated: bool,
    shallow: bool,
}

/// Frames of the tracer's own BPF program on every kernel stack: not the
/// thread's.
fn is_tracer_frame(f: &str) -> bool {
    f.starts_with("bpf_") || f.starts_with("__bpf_") || f.starts_with("__traceiter_")
}

/// Folded frames keep `;` as the separator and end at the last space, so a
/// `;` inside a name would split it.
fn clean(f: &str) -> String {
    f.replace(';', ":")
}

/// Turn the aggregation into folded stacks, with `comm` naming each thread:
/// `comm;user frames root-first;-;kernel frames root-first`, the delimiter
/// only when both sides are there (BCC's `offcputime -f -d`).
pub fn resolve(
    agg: FlameAgg,
    names: &mut dyn FrameNames,
    mut user: Option<&mut UserStacks>,
    comm: &dyn Fn(u32) -> String,
) -> FlameData {
    let mut kernel_cache: HashMap<i32, Option<Vec<String>>> = HashMap::new();
    let mut user_cache: HashMap<(u32, i32), Option<UserSide>> = HashMap::new();
    if let Some(u) = user.as_deref_mut() {
        u.symbolize();
    }
    let mut s = FlameSummary {
        user_stacks: user.is_some(),
        keys: agg.keys.len() as u64,
        overflow_intervals: agg.overflow_intervals,
        overflow_ns: agg.overflow_ns,
        ..FlameSummary::default()
    };
    let mut by_cause_ns: HashMap<Cause, u64> = HashMap::new();
    let mut top: HashMap<Cause, HashMap<String, u64>> = HashMap::new();
    let mut stacks = Vec::with_capacity(agg.keys.len());
    for (k, w) in &agg.keys {
        s.intervals += w.intervals;
        *by_cause_ns.entry(k.cause).or_default() += w.ns;
        let mut frames = vec![clean(&comm(k.tid))];
        let side = match (k.ustack, user.as_deref_mut()) {
            (id, Some(u)) if id >= 0 => user_cache
                .entry((k.tgid, id))
                .or_insert_with(|| user_side(u, k.tgid, id))
                .as_ref(),
            _ => None,
        };
        let user_label = match (k.ustack, side) {
            (_, Some(side)) => {
                s.user_stack_intervals += w.intervals;
                s.user_stack_ns += w.ns;
                if side.truncated {
                    s.truncated_intervals += w.intervals;
                    s.truncated_ns += w.ns;
                }
                if side.shallow {
                    s.shallow_intervals += w.intervals;
                }
                frames.extend(side.frames.iter().cloned());
                side.top.clone()
            }
            (-2, _) if s.user_stacks => {
                s.user_stack_failed_intervals += w.intervals;
                frames.push("[user stack lost]".into());
                "[user stack lost]".into()
            }
            (id, _) if id >= 0 => {
                s.user_stack_failed_intervals += w.intervals;
                frames.push("[user stack unreadable]".into());
                "[user stack unreadable]".into()
            }
            _ => "[no user stack taken]".into(),
        };
        *top.entry(k.cause)
            .or_default()
            .entry(user_label)
            .or_default() += w.ns;
        let kernel = match k.kstack {
            id if id >= 0 => kernel_cache
                .entry(id)
                .or_insert_with(|| names.kernel(id))
                .as_ref()
                .map(|f| {
                    f.iter()
                        .rev()
                        .filter(|f| !is_tracer_frame(f))
                        .map(|f| clean(f))
                        .collect::<Vec<_>>()
                })
                .unwrap_or_else(|| vec!["[kernel stack unreadable]".into()]),
            -2 => vec!["[kernel stack lost]".into()],
            _ => Vec::new(),
        };
        if frames.len() > 1 && !kernel.is_empty() {
            frames.push("-".into());
        }
        frames.extend(kernel);
        stacks.push(FoldedStack {
            cause: k.cause,
            frames,
            ns: w.ns,
        });
    }
    stacks.sort_by(|a, b| (a.cause, &a.frames).cmp(&(b.cause, &b.frames)));
    // Without user stacks there are no user frames to rank.
    let ranked = if s.user_stacks {
        Cause::ALL.as_slice()
    } else {
        &[]
    };
    for &cause in ranked.iter().filter(|c| c.is_memory()) {
        let (Some(total), Some(frames)) = (by_cause_ns.get(&cause), top.remove(&cause)) else {
            continue;
        };
        let mut frames: Vec<(String, u64)> = frames.into_iter().collect();
        frames.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        s.top_user_frames.insert(
            cause.name().to_string(),
            frames
                .into_iter()
                .take(TOP_USER_FRAMES)
                .map(|(frame, ns)| FrameShare {
                    share: ns as f64 / (*total).max(1) as f64,
                    frame,
                    ns,
                })
                .collect(),
        );
    }
    s.ns_by_cause = by_cause_ns
        .into_iter()
        .map(|(c, ns)| (c.name().to_string(), ns))
        .collect();
    if let Some(u) = user {
        s.user = u.summary();
    }
    FlameData { stacks, summary: s }
}

fn user_side(u: &mut UserStacks, tgid: u32, id: i32) -> Option<UserSide> {
    let names = u.frame_names(tgid, id)?;
    let outermost = names.last()?;
    let reaches_entry = ENTRY_FRAMES.iter().any(|e| outermost == e);
    Some(UserSide {
        top: clean(names.first()?),
        truncated: !reaches_entry || names.len() <= SHALLOW_FRAMES,
        shallow: names.len() <= SHALLOW_FRAMES,
        frames: names.iter().rev().map(|f| clean(f)).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Names;
    impl FrameNames for Names {
        fn kernel(&mut self, id: i32) -> Option<Vec<String>> {
            (id == 7).then(|| {
                [
                    "__schedule",
                    "bpf_trace_run4",
                    "io_schedule",
                    "filemap_fault",
                ]
                .map(String::from)
                .to_vec()
            })
        }
    }

    #[test]
    fn folds_kernel_root_first_and_caps_keys() {
        let mut agg = FlameAgg::default();
        agg.add(1, 1, Cause::PageFaultIo, 7, -1, 100);
        agg.add(1, 1, Cause::PageFaultIo, 7, -1, 50);
        agg.add(1, 1, Cause::Runqueue, 7, -1, 50);
        agg.add(2, 1, Cause::Futex, -1, -1, 10);
        let d = resolve(agg, &mut Names, None, &|tid| format!("t{tid}"));
        assert_eq!(d.stacks.len(), 2);
        let pf = &d.stacks[0];
        assert_eq!(pf.cause, Cause::PageFaultIo);
        assert_eq!(pf.ns, 150);
        assert_eq!(
            pf.frames,
            ["t1", "filemap_fault", "io_schedule", "__schedule"].map(String::from)
        );
        assert_eq!(d.stacks[1].frames, vec!["t2".to_string()]);
        assert_eq!(d.summary.intervals, 3);
        assert!(
            d.summary.top_user_frames.is_empty(),
            "no user frames to rank without user stacks"
        );

        let mut agg = FlameAgg::default();
        for tid in 0..MAX_KEYS as u32 + 3 {
            agg.add(tid, 1, Cause::Io, -1, -1, 5);
        }
        assert_eq!((agg.overflow_intervals, agg.overflow_ns), (3, 15));
    }

    #[test]
    fn new_user_stacks_are_announced_once() {
        let mut agg = FlameAgg::default();
        agg.add(1, 9, Cause::PageFaultIo, 7, 3, 100);
        agg.add(2, 9, Cause::PageFaultIo, 7, 3, 100);
        agg.add(2, 9, Cause::Io, 7, 4, 100);
        assert_eq!(agg.take_new_user_stacks(), vec![(9, 3), (9, 4)]);
        assert!(agg.take_new_user_stacks().is_empty());
    }
}
