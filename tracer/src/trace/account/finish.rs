//! Closing the books at the end of the trace.

use super::*;

impl Accounts {
    /// Close the books at `now` with the kernel's per-thread state: fault
    /// counters of live threads, the running slice of threads on a CPU, and
    /// the open interval of threads off-CPU (booked as an interval that ends
    /// now, and reported as ongoing, never dropped). The carry is settled as
    /// at a switch: into the open interval, or into the running slice.
    pub fn finish(&mut self, now: u64, tasks: &[(u32, TaskState)], classifier: &mut dyn CauseOf) {
        let start = self.start_ns;
        for (tid, st) in tasks {
            let a = self.thread(*tid);
            a.tgid = st.tgid;
            a.min_faults = a.min_faults.max(st.min_faults);
            a.maj_faults = a.maj_faults.max(st.maj_faults);
            a.fault_entries = a.fault_entries.max(st.fault_entries);
            if st.flags & TS_ON_CPU != 0 {
                let since = if st.on_cpu_since != 0 {
                    st.on_cpu_since
                } else {
                    start
                };
                // The kernel books this slice's run time at its switch-out;
                // until then the tracepoint clock, plus what the carry owes.
                let total = now.saturating_sub(since) as i64 + a.carry_ns;
                let on = total.max(0) as u64;
                a.carry_ns = total - on as i64;
                a.on_cpu_ns += on;
                let key = a.tid;
                self.interval.on_cpu_ns += on;
                if key != OVERFLOW_TID {
                    self.spans.seen(key, since);
                    self.spans.ended(key, now);
                }
                continue;
            }
            let classified = classifier.open_cause(st);
            let start_known = st.off_since != 0;
            let since = if start_known { st.off_since } else { start };
            // Only the part inside the window counts toward the totals.
            let from = since.max(start);
            let runq = (st.wakeup_at != 0)
                .then(|| now.saturating_sub(st.wakeup_at.max(start)))
                .filter(|&r| r > 0);
            let preempted = st.off_state == OFF_RUNNING;
            let state = if start_known || st.off_raw_state != 0 {
                st.off_state
            } else {
                OFF_OTHER
            };
            let cause = if runq.is_some() && preempted {
                Cause::Runqueue
            } else {
                let began = start_known.then_some(since);
                self.cause_with_seed(*tid, began, st.off_stack_id, classified)
            };
            let other_frames = match cause {
                Cause::Other if st.off_stack_id >= 0 => classifier.top_frames(st.off_stack_id),
                _ => None,
            };
            self.book_off_interval(
                *tid,
                OffInterval {
                    start: from,
                    end: now,
                    runq,
                    preempted,
                    state,
                    cause,
                    futex: st.off_futex,
                    // Its length is known only if it began inside the trace.
                    start_known: start_known && since >= start,
                    other_frames,
                    tgid: st.tgid,
                    kstack: st.off_stack_id,
                    ustack: st.off_ustack_id,
                },
            );
            let a = self.thread(*tid);
            a.ongoing_off_ns = now.saturating_sub(since);
            a.ongoing = Some(Ongoing {
                state: OFF_STATE_NAMES[state as usize % OFF_STATE_NAMES.len()].to_string(),
                cause: cause.name().to_string(),
                off_cpu_ns: a.ongoing_off_ns,
                start_known,
            });
        }
    }
}
