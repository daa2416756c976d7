//! Booking synthetic switch, exit and task records.

use tracer_common::{
    event::EVENT_SWITCH,
    state::{OFF_DISK, OFF_SLEEPING},
};

use super::*;
use crate::sys::syscalls::cause_x86_64;

/// Classifies by the syscall alone (futex = 202), like the real rule
/// when no stack is taken.
struct BySyscall;

impl CauseOf for BySyscall {
    fn blocked_cause(&mut self, ev: &SwitchEvent) -> Cause {
        cause_x86_64(ev.next_syscall.into()).unwrap_or(Cause::Other)
    }
    fn open_cause(&mut self, st: &TaskState) -> Cause {
        cause_x86_64(st.off_syscall.into()).unwrap_or(Cause::Other)
    }
    fn top_frames(&mut self, _: i32) -> Option<String> {
        None
    }
}

const MS: u64 = 1_000_000;

fn switch(
    ts: u64,
    prev: Option<(u32, u64, bool)>,
    next: Option<(u32, u64, u64, u32)>,
) -> SwitchEvent {
    let mut ev = SwitchEvent {
        kind: EVENT_SWITCH,
        ts_ns: ts,
        ..Default::default()
    };
    if let Some((tid, slice, involuntary)) = prev {
        ev.prev_tid = tid;
        ev.prev_slice_ns = slice;
        ev.flags |= SW_PREV_TRACED | SW_PREV_SLICE_KNOWN;
        if involuntary {
            ev.flags |= SW_PREV_INVOLUNTARY;
        }
    }
    if let Some((tid, off, runq, state)) = next {
        ev.next_tid = tid;
        ev.next_off_ns = off;
        ev.next_runq_ns = runq;
        ev.next_off_state = state;
        ev.next_syscall = 202;
        ev.flags |= SW_NEXT_TRACED | SW_NEXT_OFF_KNOWN | SW_NEXT_RUNQ_KNOWN;
    }
    ev
}

#[test]
fn splits_intervals_into_runqueue_and_cause() {
    let mut a = Accounts::new(0);
    // Thread 1 slept 30 ms on a futex, of which 5 ms runnable.
    a.apply_switch(
        &switch(
            100 * MS,
            Some((2, 10 * MS, false)),
            Some((1, 30 * MS, 5 * MS, OFF_SLEEPING)),
        ),
        &mut BySyscall,
    );
    // Thread 2 was preempted for 4 ms.
    a.apply_switch(
        &switch(
            110 * MS,
            Some((1, 10 * MS, true)),
            Some((2, 4 * MS, 4 * MS, OFF_RUNNING)),
        ),
        &mut BySyscall,
    );
    let t1 = a.thread(1).report();
    assert_eq!(t1.off_cpu_ns, 30 * MS);
    assert_eq!(t1.runqueue_wakeup_ns, 5 * MS);
    assert_eq!(t1.causes["futex"], 25 * MS);
    assert_eq!(t1.causes["runqueue"], 5 * MS);
    assert_eq!(t1.off_cpu_ns_by_state.sleeping, 30 * MS);
    assert_eq!((t1.switches, t1.involuntary_switches), (1, 1));
    let t2 = a.thread(2).report();
    assert_eq!(t2.runqueue_preempted_ns, 4 * MS);
    assert_eq!(t2.causes.get("futex"), None);
    assert_eq!(t2.on_cpu_ns, 10 * MS);
    assert_eq!(t2.histograms.on_cpu.count, 1);
}

#[test]
fn unknown_starts_count_from_the_trace_start_and_stay_out_of_histograms() {
    let mut a = Accounts::new(1_000 * MS);
    let mut ev = switch(
        1_200 * MS,
        Some((7, 0, false)),
        Some((8, 0, 0, OFF_SLEEPING)),
    );
    ev.flags &= !(SW_PREV_SLICE_KNOWN | SW_NEXT_OFF_KNOWN | SW_NEXT_RUNQ_KNOWN);
    a.apply_switch(&ev, &mut BySyscall);
    let t7 = a.thread(7).report();
    assert_eq!(t7.on_cpu_ns, 200 * MS);
    assert_eq!(t7.histograms.on_cpu.count, 0);
    let t8 = a.thread(8).report();
    assert_eq!(t8.off_cpu_ns, 200 * MS);
    assert_eq!(t8.histograms.off_cpu.count, 0);
}

#[test]
fn open_intervals_are_reported_as_ongoing() {
    let mut a = Accounts::new(1_000 * MS);
    let blocked = TaskState {
        tgid: 5,
        off_since: 500 * MS,
        off_state: OFF_SLEEPING,
        off_syscall: 202,
        ..Default::default()
    };
    let never_seen_start = TaskState {
        tgid: 5,
        off_state: OFF_DISK,
        off_raw_state: 2,
        off_syscall: 0,
        ..Default::default()
    };
    let running = TaskState {
        tgid: 5,
        flags: TS_ON_CPU,
        on_cpu_since: 1_900 * MS,
        ..Default::default()
    };
    let tasks = [(1, blocked), (2, never_seen_start), (3, running)];
    a.finish(2_000 * MS, &tasks, &mut BySyscall);
    let t1 = a.thread(1).report();
    let g = t1.ongoing.unwrap();
    assert_eq!(
        (
            g.off_cpu_ns,
            g.start_known,
            g.cause.as_str(),
            g.state.as_str()
        ),
        (1_500 * MS, true, "futex", "sleeping")
    );
    // Only the part inside the window counts toward the totals.
    assert_eq!(t1.off_cpu_ns, 1_000 * MS);
    let g2 = a.thread(2).report().ongoing.unwrap();
    assert_eq!(
        (g2.off_cpu_ns, g2.start_known, g2.state.as_str()),
        (1_000 * MS, false, "disk")
    );
    let t3 = a.thread(3).report();
    assert!(t3.ongoing.is_none());
    assert_eq!(t3.on_cpu_ns, 100 * MS);
}

#[test]
fn thread_count_is_bounded() {
    let mut a = Accounts::new(0);
    for tid in 0..(MAX_THREADS as u32 + 10) {
        a.thread(tid).switches += 1;
    }
    assert_eq!(a.threads().count(), MAX_THREADS + 1);
    assert_eq!(a.thread(OVERFLOW_TID).switches, 10);
}

#[test]
fn open_intervals_are_booked_like_closed_ones() {
    let mut a = Accounts::new(1_000 * MS);
    let before_the_trace = TaskState {
        tgid: 5,
        off_since: 500 * MS,
        off_state: OFF_SLEEPING,
        off_syscall: 202,
        ..Default::default()
    };
    let inside_the_trace = TaskState {
        off_since: 1_500 * MS,
        ..before_the_trace
    };
    a.finish(
        2_000 * MS,
        &[(1, before_the_trace), (2, inside_the_trace)],
        &mut BySyscall,
    );
    let t1 = a.thread(1).report();
    // Counted, but its length is unknown: out of the histogram.
    assert_eq!(t1.cause_stats["futex"].count, 1);
    assert_eq!(t1.cause_stats["futex"].histogram.count, 0);
    assert_eq!(t1.histograms.off_cpu.count, 0);
    let t2 = a.thread(2).report();
    assert_eq!(t2.cause_stats["futex"].histogram.count, 1);
    assert_eq!(t2.histograms.off_cpu.count, 1);
    let totals = a.cause_totals();
    assert_eq!(totals["futex"].count, 2);
    assert_eq!(totals["futex"].ns, 1_500 * MS);
    assert_eq!(totals["futex"].histogram.count, 1);
    assert_eq!(a.take_interval(2_000 * MS, 0).off_cpu_ns, 1_500 * MS);
}
