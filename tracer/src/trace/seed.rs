//! Seed the kernel's task map with threads that exist before the trace, so
//! a thread that never runs while we watch (a wedged one) is still reported,
//! with its state and syscall, and — when the snapshot knows it — the moment
//! it really went off-CPU. The cause the snapshot read from the thread's
//! kernel stack or wchan is kept for the interval that began before the
//! trace: the probes took no stack for it.

use aya::maps::{HashMap as BpfHashMap, MapData};
use tracer_common::{
    state::{
        OFF_DISK, OFF_OTHER, OFF_RUNNING, OFF_SLEEPING, TASK_INTERRUPTIBLE, TASK_UNINTERRUPTIBLE,
    },
    task::{TS_EXEC_KNOWN, TS_ON_CPU, TS_RUN_DELAY_KNOWN, TaskState},
};

use crate::model::{cause::Cause, snapshot::ThreadSnapshot};

/// BPF_NOEXIST: never overwrite what a probe already recorded.
const BPF_NOEXIST: u64 = 1;

/// What the seed needs to know about one thread at attach time.
#[derive(Clone, Debug, Default)]
pub struct SeedThread {
    pub tid: u32,
    pub tgid: u32,
    /// State letter from /proc/<tid>/stat.
    pub state: char,
    pub syscall: Option<i32>,
    /// CLOCK_MONOTONIC ns when it last went off-CPU, if known.
    pub off_since_ns: Option<u64>,
    /// What it was waiting for, when the snapshot read that from its kernel
    /// stack or wchan (a syscall alone is what the probes' seed has anyway).
    pub cause: Option<Cause>,
}

pub fn seed(
    tasks: &mut BpfHashMap<MapData, u32, TaskState>,
    threads: &[SeedThread],
    start_ns: u64,
) -> usize {
    let mut seeded = 0;
    for t in threads {
        let (off_state, raw) = match t.state {
            'R' => (OFF_RUNNING, 0),
            'S' | 'I' => (OFF_SLEEPING, TASK_INTERRUPTIBLE),
            'D' => (OFF_DISK, TASK_UNINTERRUPTIBLE),
            _ => (OFF_OTHER, 0),
        };
        let mut st = TaskState {
            off_syscall: t.syscall.unwrap_or(-1),
            off_state,
            off_raw_state: raw,
            ..TaskState::fresh(t.tgid)
        };
        if off_state == OFF_RUNNING {
            // Running or runnable: /proc cannot tell which, so leave the
            // start unknown and let the first switch settle it.
            st.flags = TS_ON_CPU;
        } else if let Some(since) = t.off_since_ns.filter(|&s| s <= start_ns) {
            st.off_since = since;
        }
        // The probes time the next run-queue wait and the next slice's run
        // time as the growth of these.
        if let Some(books) = crate::sys::sched_books(t.tgid, t.tid) {
            st.run_delay_seen = books.run_delay_ns;
            st.exec_seen = books.exec_ns;
            st.flags |= TS_RUN_DELAY_KNOWN | TS_EXEC_KNOWN;
        }
        if tasks.insert(&t.tid, &st, BPF_NOEXIST).is_ok() {
            seeded += 1;
        }
    }
    seeded
}

/// Threads from a snapshot: state, syscall, and when each went off-CPU.
pub fn from_snapshot(snap: &crate::model::snapshot::Snapshot) -> Vec<SeedThread> {
    snap.threads
        .iter()
        .map(|t| SeedThread {
            tid: t.tid,
            tgid: t.pid,
            state: t.state.chars().next().unwrap_or('?'),
            syscall: t.syscall.as_ref().map(|s| s.nr as i32),
            off_since_ns: t.off_since_monotonic_ns,
            cause: snapshot_cause(t),
        })
        .collect()
}

/// The snapshot's cause for a thread off-CPU, when it came from evidence the
/// probes' seed does not carry: the kernel stack or wchan.
fn snapshot_cause(t: &ThreadSnapshot) -> Option<Cause> {
    matches!(t.cause_from.as_str(), "kernel stack" | "wchan")
        .then(|| Cause::from_name(&t.cause))
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_snapshot_cause_is_kept_only_from_stack_or_wchan() {
        let t = |cause: &str, from: &str| ThreadSnapshot {
            tid: 7,
            pid: 5,
            state: "D".into(),
            cause: cause.into(),
            cause_from: from.into(),
            ..Default::default()
        };
        let snap = crate::model::snapshot::Snapshot {
            threads: vec![
                t("memcg_high_throttle", "kernel stack"),
                t("sleep", "wchan"),
                t("futex", "syscall"),
                t("runqueue-or-running", "state R"),
                t("other", "none"),
            ],
            ..Default::default()
        };
        let causes: Vec<Option<Cause>> = from_snapshot(&snap).iter().map(|s| s.cause).collect();
        assert_eq!(
            causes,
            [
                Some(Cause::MemcgHighThrottle),
                Some(Cause::Sleep),
                None,
                None,
                None
            ]
        );
    }
}
