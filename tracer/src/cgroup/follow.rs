//! Sample the target's cgroup beside the tracer, and follow the target if
//! it moves to another cgroup (a program that places itself in a cgroup of
//! its own right after it starts, as the lab does).

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    thread::JoinHandle,
    time::Duration,
};

use crate::cgroup::{CgroupPaths, CgroupReport, Sampler, paths_of_pid};

pub const PERIOD: Duration = Duration::from_millis(100);
const RECHECK: Duration = Duration::from_millis(200);

pub struct FollowingSampler {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<Option<CgroupReport>>,
}

impl FollowingSampler {
    /// `fixed`: sample these paths and never move (a cgroup target).
    pub fn start(pid: u32, fixed: Option<CgroupPaths>) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::spawn(move || {
            let follow = fixed.is_none();
            let mut paths = match fixed.map_or_else(|| paths_of_pid(pid).ok(), Some) {
                Some(p) => p,
                None => return None,
            };
            let mut sampler = Sampler::start(paths.clone(), PERIOD);
            let mut moves = Vec::new();
            while !flag.load(Ordering::Relaxed) {
                std::thread::sleep(RECHECK);
                if !follow {
                    continue;
                }
                // Follow a move *down* into a child cgroup (a program
                // placing itself in a cgroup of its own); a move back up on
                // the way out must not replace the samples that matter.
                if let Ok(now) = paths_of_pid(pid)
                    && now != paths
                    && is_below(&now, &paths)
                {
                    // Keep the new cgroup's samples: that is where the
                    // target lives from now on.
                    drop(sampler.stop());
                    moves.push(format!(
                        "the target moved from cgroup {} to {}; samples are from the new one",
                        describe(&paths),
                        describe(&now)
                    ));
                    sampler = Sampler::start(now.clone(), PERIOD);
                    paths = now;
                }
            }
            let mut report = sampler.stop();
            report.notes.extend(moves);
            Some(report)
        });
        Self { stop, handle }
    }

    pub fn stop(self) -> Option<CgroupReport> {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.join().ok().flatten()
    }
}

fn describe(p: &CgroupPaths) -> String {
    p.v1_memory
        .as_ref()
        .or(p.v2.as_ref())
        .map_or_else(|| "?".into(), |d| d.display().to_string())
}

/// Is `inner` a strict descendant of `outer` in the hierarchy they share?
fn is_below(inner: &CgroupPaths, outer: &CgroupPaths) -> bool {
    let below = |a: &Option<std::path::PathBuf>, b: &Option<std::path::PathBuf>| match (a, b) {
        (Some(a), Some(b)) => a != b && a.starts_with(b),
        _ => false,
    };
    below(&inner.v1_memory, &outer.v1_memory) || below(&inner.v2, &outer.v2)
}
