//! Seed the kernel's task map with threads that exist before the trace, so
//! a thread that never runs while we watch (a wedged one) is still reported,
//! with its state and syscall, and — when the snapshot knows it — the moment
//! it really went off-CPU.

use aya::maps::{HashMap as BpfHashMap, MapData};
use tracer_common::{
    state::{
        OFF_DISK, OFF_OTHER, OFF_RUNNING, OFF_SLEEPING, TASK_INTERRUPTIBLE, TASK_UNINTERRUPTIBLE,
    },
    task::{TS_ON_CPU, TS_RUN_DELAY_KNOWN, TaskState},
};

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
            tgid: t.tgid,
            off_syscall: t.syscall.unwrap_or(-1),
            off_stack_id: -1,
            off_state,
            off_raw_state: raw,
            ..Default::default()
        };
        if off_state == OFF_RUNNING {
            // Running or runnable: /proc cannot tell which, so leave the
            // start unknown and let the first switch settle it.
            st.flags = TS_ON_CPU;
        } else if let Some(since) = t.off_since_ns.filter(|&s| s <= start_ns) {
            st.off_since = since;
        }
        // The probes time the next run-queue wait as the growth of this.
        if let Some(run_delay) = crate::sys::run_delay_ns(t.tgid, t.tid) {
            st.run_delay_seen = run_delay;
            st.flags |= TS_RUN_DELAY_KNOWN;
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
        })
        .collect()
}
