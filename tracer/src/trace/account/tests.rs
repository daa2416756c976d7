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
        // No stack taken (a sleep, under the default `--stacks blocked`).
        ev.next_stack_id = -1;
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

const US: u64 = 1_000;

/// `ev` with the kernel's run time for its `prev` slice.
fn with_exec(mut ev: SwitchEvent, exec: u64) -> SwitchEvent {
    ev.prev_exec_ns = exec;
    ev.flags |= SW_PREV_EXEC_KNOWN;
    ev
}

/// Wakeup preemption on one CPU, as the scheduler books it: a spinner (10)
/// is preempted by a sleeper (11) woken at 9.99 ms; the switch happens at
/// 10 ms, but the scheduler's clock for it is the wakeup's. So the
/// spinner's run time ends at 9.99 ms and its run-queue wait starts there;
/// the sleeper's run time starts there and its run-queue wait is nil.
fn wakeup_preemption() -> [SwitchEvent; 2] {
    // The spinner ran since the trace began; the sleeper slept since 1 ms.
    let mut woken = switch(
        10 * MS,
        Some((10, 10 * MS, true)),
        Some((11, 9 * MS, 0, OFF_SLEEPING)),
    );
    woken.next_syscall = 35; // nanosleep
    let preempted = with_exec(woken, 10 * MS - 10 * US);
    // 50 µs later the sleeper sleeps again; the kernel booked it 60 µs of
    // run time, and the spinner 60 µs of run-queue wait.
    let mut back = switch(
        10 * MS + 50 * US,
        Some((11, 50 * US, false)),
        Some((10, 50 * US, 60 * US, OFF_RUNNING)),
    );
    back.next_syscall = -1;
    [preempted, with_exec(back, 60 * US)]
}

#[test]
fn on_cpu_is_the_kernels_run_time_and_the_carry_keeps_wall_time() {
    let mut a = Accounts::new(0);
    for ev in wakeup_preemption() {
        a.apply_switch(&ev, &mut BySyscall);
    }
    let spinner = a.thread(10).report();
    let sleeper = a.thread(11).report();
    // The kernel's numbers, not the tracepoint's.
    assert_eq!(spinner.on_cpu_ns, 10 * MS - 10 * US);
    assert_eq!(sleeper.on_cpu_ns, 60 * US);
    // The spinner's carry (+10 µs) made room for its whole run-queue wait.
    assert_eq!(spinner.runqueue_preempted_ns, 60 * US);
    assert_eq!(spinner.off_cpu_ns, 60 * US);
    assert_eq!(a.thread(10).runq_beyond_interval, 0);
    // Wall time: the spinner from 0 to 10.05 ms.
    assert_eq!(spinner.on_cpu_ns + spinner.off_cpu_ns, 10 * MS + 50 * US);
    // The sleeper's first interval closed before its carry (-10 µs) arose;
    // the next one, here still open at the end, pays it.
    assert_eq!(sleeper.off_cpu_ns, 9 * MS);
    assert_eq!(a.thread(11).carry_ns, -10 * US as i64);
    let asleep = TaskState {
        tgid: 5,
        off_since: 10 * MS + 50 * US,
        off_state: OFF_SLEEPING,
        off_syscall: 35,
        ..Default::default()
    };
    let running = TaskState {
        tgid: 5,
        flags: TS_ON_CPU,
        on_cpu_since: 10 * MS + 50 * US,
        ..Default::default()
    };
    let end = 11 * MS + 50 * US;
    a.finish(end, &[(10, running), (11, asleep)], &mut BySyscall);
    let spinner = a.thread(10).report();
    let sleeper = a.thread(11).report();
    assert_eq!(spinner.on_cpu_ns + spinner.off_cpu_ns, end);
    // The sleeper is observed from 1 ms (its switch-out before the trace's
    // first record of it).
    assert_eq!(sleeper.on_cpu_ns + sleeper.off_cpu_ns, end - MS);
    assert_eq!(sleeper.causes["sleep"], 9 * MS + MS - 10 * US);
    assert_eq!(a.thread(11).carry_ns, 0);
    assert_eq!(a.thread(10).carry_ns, 0);
}

#[test]
fn a_kernel_wait_longer_than_its_interval_is_booked_in_full_and_counted() {
    // Without the kernel's run time for the slice (so no carry), the
    // spinner's run-queue wait from the kernel is longer than its
    // tracepoint-clock interval. The wait is booked whole, the interval
    // lengthened to hold it, the excess counted and owed by the next
    // interval.
    let mut a = Accounts::new(0);
    for mut ev in wakeup_preemption() {
        ev.flags &= !SW_PREV_EXEC_KNOWN;
        a.apply_switch(&ev, &mut BySyscall);
    }
    let spinner = a.thread(10);
    assert_eq!(spinner.on_cpu_ns, 10 * MS);
    assert_eq!(spinner.runqueue_ns(), 60 * US);
    assert_eq!(spinner.off_cpu_ns, 60 * US);
    assert_eq!(
        (
            spinner.runq_beyond_interval,
            spinner.runq_beyond_interval_ns
        ),
        (1, 10 * US)
    );
    assert_eq!(spinner.carry_ns, -10 * US as i64);
    // Its next interval (1 ms of sleep) pays it back.
    let mut sleep = switch(12 * MS, None, Some((10, MS, 0, OFF_SLEEPING)));
    sleep.next_syscall = 35;
    a.apply_switch(&sleep, &mut BySyscall);
    let spinner = a.thread(10);
    assert_eq!(spinner.off_cpu_ns, 60 * US + MS - 10 * US);
    assert_eq!(spinner.carry_ns, 0);
}

#[test]
fn a_negative_carry_larger_than_the_interval_waits_for_the_next_one() {
    let mut a = Accounts::new(0);
    // The kernel booked 30 µs more than the tracepoint's slice (a slice
    // started by a wakeup long before the switch).
    a.apply_switch(
        &with_exec(switch(MS, Some((1, 100 * US, false)), None), 130 * US),
        &mut BySyscall,
    );
    // A 20 µs interval cannot pay 30 µs: booked 0, 10 µs still owed.
    a.apply_switch(
        &switch(MS + 20 * US, None, Some((1, 20 * US, 0, OFF_SLEEPING))),
        &mut BySyscall,
    );
    assert_eq!(a.thread(1).off_cpu_ns, 0);
    assert_eq!(a.thread(1).carry_ns, -10 * US as i64);
    a.apply_switch(
        &switch(2 * MS, None, Some((1, MS, 0, OFF_SLEEPING))),
        &mut BySyscall,
    );
    assert_eq!(a.thread(1).off_cpu_ns, MS - 10 * US);
    assert_eq!(a.thread(1).carry_ns, 0);
}

#[test]
fn a_seeded_thread_keeps_the_snapshots_cause_for_the_interval_open_at_attach() {
    let start = 1_000 * MS;
    let mut a = Accounts::new(start);
    // The snapshot saw threads 1 and 2 throttled by memory.high on their
    // kernel stacks; the seed carries only their syscall (futex).
    a.seed_cause(1, Cause::MemcgHighThrottle);
    a.seed_cause(2, Cause::MemcgHighThrottle);
    a.seed_cause(4, Cause::MemcgHighThrottle);
    // Thread 1 runs at last: its interval began before the trace, no stack.
    a.apply_switch(
        &switch(1_200 * MS, None, Some((1, 700 * MS, 0, OFF_SLEEPING))),
        &mut BySyscall,
    );
    // Its next interval is its own: the syscall rule again.
    a.apply_switch(
        &switch(1_300 * MS, None, Some((1, 50 * MS, 0, OFF_SLEEPING))),
        &mut BySyscall,
    );
    let t1 = a.thread(1).report();
    // Only the 200 ms inside the window count toward the totals.
    assert_eq!(t1.causes["memcg_high_throttle"], 200 * MS);
    assert_eq!(
        t1.histograms.off_cpu.count, 1,
        "only the interval that began inside"
    );
    assert_eq!(t1.causes["futex"], 50 * MS);
    // Thread 4's interval has a stack of its own: the classifier decides.
    let mut own_stack = switch(1_100 * MS, None, Some((4, 600 * MS, 0, OFF_SLEEPING)));
    own_stack.next_stack_id = 3;
    a.apply_switch(&own_stack, &mut BySyscall);
    assert_eq!(a.thread(4).report().causes["futex"], 100 * MS);
    // Thread 2 never runs: its ongoing interval keeps the snapshot's cause;
    // thread 3 had no such cause.
    let seeded = TaskState {
        tgid: 5,
        off_since: 500 * MS,
        off_state: OFF_SLEEPING,
        off_syscall: 202,
        off_stack_id: -1,
        ..Default::default()
    };
    a.finish(2_000 * MS, &[(2, seeded), (3, seeded)], &mut BySyscall);
    let t2 = a.thread(2).report();
    assert_eq!(
        t2.ongoing.as_ref().map(|g| g.cause.as_str()),
        Some("memcg_high_throttle")
    );
    assert_eq!(t2.causes["memcg_high_throttle"], 1_000 * MS);
    let t3 = a.thread(3).report();
    assert_eq!(t3.ongoing.as_ref().map(|g| g.cause.as_str()), Some("futex"));
}

#[test]
fn reclaim_on_cpu_time_is_summed() {
    let mut a = Accounts::new(0);
    for on_cpu_ns in [3 * MS, 2 * MS] {
        a.apply_reclaim(&ReclaimEvent {
            kind: tracer_common::event::EVENT_RECLAIM,
            tid: 9,
            ts_ns: 20 * MS,
            duration_ns: 10 * MS,
            reclaim_kind: tracer_common::event::RECLAIM_MEMCG,
            _pad: 0,
            on_cpu_ns,
        });
    }
    let t = a.thread(9).report();
    assert_eq!((t.reclaim_ns, t.reclaim_on_cpu_ns), (20 * MS, 5 * MS));
}

#[test]
fn a_switch_in_rebuilt_from_the_kernels_books_is_booked_and_counted() {
    let mut a = Accounts::new(0);
    // Thread 3 slept from 1 ms; its switch-in (at 4 ms, after 0.5 ms on the
    // run queue) never reached us. At its switch-out at 5 ms the kernel side
    // rebuilt it from 1 ms of run time and the run_delay growth.
    let mut inferred = switch(4 * MS, None, Some((3, 3 * MS, MS / 2, OFF_SLEEPING)));
    inferred.flags |= SW_NEXT_INFERRED;
    a.apply_switch(&inferred, &mut BySyscall);
    a.apply_switch(
        &with_exec(switch(5 * MS, Some((3, MS, false)), None), MS),
        &mut BySyscall,
    );
    let t = a.thread(3);
    assert_eq!((t.switch_ins_inferred, t.slice_anomalies), (1, 0));
    assert_eq!(
        (t.on_cpu_ns, t.off_cpu_ns, t.runqueue_ns()),
        (MS, 3 * MS, MS / 2)
    );
}
