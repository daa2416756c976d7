//! Drain the ring buffer into per-thread accounts on a thread of its own,
//! print a progress row every interval, and close the books at the end.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    thread::JoinHandle,
    time::{Duration, Instant},
};

use tracer_common::{
    diag,
    event::{
        EVENT_EXIT, EVENT_RECLAIM, EVENT_SWITCH, EVENT_SWITCH_USER, ExitEvent, ReclaimEvent,
        SwitchEvent, SwitchEventUser,
    },
    state::OFF_RUNNING,
    task::{TS_ON_CPU, TaskState},
};

use super::{
    account::Accounts,
    classify::{Classifier, KernelStacks},
    flame::FlameData,
    probes::{Maps, read_diag, read_tasks},
    ustack::UserStacks,
};
use crate::{model::IntervalRow, sys::monotonic_ns};

/// How often the ring buffer is drained. Programs submit without waking us
/// (cheaper for the traced threads), so we poll; 8 MiB lasts > 100 ms even
/// at 500k switches/s.
const POLL: Duration = Duration::from_millis(10);
/// How often the names of live threads are read again.
const RENAME_CHECK: Duration = Duration::from_secs(1);
/// Waking this much later than `POLL` asked means the CPUs are saturated.
const LATE: Duration = Duration::from_millis(50);
/// A switch record and its ring-buffer header: the bulk of the traffic.
const RECORD_BYTES: usize = std::mem::size_of::<SwitchEvent>() + 8;

pub struct Collected {
    pub accounts: Accounts,
    pub diag: [u64; diag::COUNT as usize],
    pub end_ns: u64,
    pub stack_lookups_failed: u64,
    pub stacks_missing: u64,
    pub malformed_records: u64,
    /// Threads woken from a sleep but still waiting for a CPU when tracing
    /// stopped: without a wakeup probe the start of that wait is unknown, so
    /// their ongoing interval is not split into blocked and run-queue parts.
    pub runnable_at_stop: u64,
    /// When the collector fell behind and raised its priority, if it did.
    pub boosted_at_ns: Option<u64>,
    /// The flame graphs' stacks, named (when the books aggregated them).
    pub flame: Option<FlameData>,
}

pub struct Collector {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<Collected>,
}

/// Read a record of type `T` from the start of a ring buffer item.
pub fn read<T: Copy>(bytes: &[u8]) -> Option<T> {
    (bytes.len() >= size_of::<T>())
        // SAFETY: length checked; T is a plain-old-data record.
        .then(|| unsafe { std::ptr::read_unaligned(bytes.as_ptr().cast::<T>()) })
}

pub fn lost(diag: &[u64]) -> u64 {
    (0..diag::COUNT)
        .filter(|&i| diag::is_loss(i))
        .map(|i| diag[i as usize])
        .sum()
}

impl Collector {
    /// `accounts` are the books to fill (opened at the trace's start with
    /// their span budget, and what the attach-time snapshot knew);
    /// `ring_bytes` sizes the backlog that makes the collector raise its own
    /// priority (see `favour_this_thread`).
    pub fn spawn(
        mut maps: Maps,
        mut accounts: Accounts,
        interval: Duration,
        live: bool,
        ring_bytes: usize,
    ) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::Builder::new()
            .name("st-collect".into())
            .spawn(move || {
                // Waking far later than asked, or an eighth of the ring in
                // one drain, means the host is saturated and our share of
                // the CPU may be too small to keep up. Only then take the
                // highest weight, so the traced program is not preempted by
                // us on a host that has room.
                let boost_at = ring_bytes / RECORD_BYTES / 8;
                let mut slept_from = Instant::now();
                let mut boosted_at_ns = None;
                let start_ns = accounts.start_ns;
                let mut classifier = Classifier::new(KernelStacks::new(maps.stacks));
                let mut ustacks = maps.ustacks.take().map(UserStacks::new);
                let mut malformed = 0u64;
                let mut next_row = Instant::now() + interval;
                let mut next_names = Instant::now() + RENAME_CHECK;
                // Drains at most `limit` records, and stops early once it
                // has taken longer than `LATE` (a starved drain), so the
                // loop gets to look at its own pace between batches.
                let mut drain = |accounts: &mut Accounts,
                                 classifier: &mut Classifier<KernelStacks>,
                                 limit: usize| {
                    let started = Instant::now();
                    let mut records = 0;
                    while records < limit
                        && !(records % 256 == 255 && started.elapsed() > LATE)
                        && let Some(item) = maps.events.next()
                    {
                        records += 1;
                        let bytes: &[u8] = &item;
                        match read::<u32>(bytes) {
                            Some(EVENT_SWITCH) => match read::<SwitchEvent>(bytes) {
                                Some(ev) => accounts.apply_switch(&ev, classifier),
                                None => malformed += 1,
                            },
                            Some(EVENT_EXIT) => match read::<ExitEvent>(bytes) {
                                Some(ev) => accounts.apply_exit(&ev),
                                None => malformed += 1,
                            },
                            Some(EVENT_RECLAIM) => match read::<ReclaimEvent>(bytes) {
                                Some(ev) => accounts.apply_reclaim(&ev),
                                None => malformed += 1,
                            },
                            Some(EVENT_SWITCH_USER) => match read::<SwitchEventUser>(bytes) {
                                Some(ev) => accounts.apply_switch_user(
                                    &ev.switch,
                                    (ev.next_ustack_id, ev.next_tgid),
                                    classifier,
                                ),
                                None => malformed += 1,
                            },
                            _ => malformed += 1,
                        }
                    }
                    records
                };
                let comm = |tid: u32| {
                    std::fs::read_to_string(format!("/proc/{tid}/comm"))
                        .ok()
                        .map(|c| c.trim_end().to_string())
                };
                while !flag.load(Ordering::Relaxed) {
                    let late = slept_from.elapsed().saturating_sub(POLL);
                    let batch = Instant::now();
                    let records = drain(&mut accounts, &mut classifier, boost_at);
                    let behind = records >= boost_at || late > LATE || batch.elapsed() > LATE;
                    if behind && boosted_at_ns.is_none() {
                        tracing::info!(
                            records,
                            late_ms = late.as_millis() as u64,
                            "the collector fell behind; raising its priority to nice -20"
                        );
                        crate::sys::favour_this_thread("ring-buffer collector");
                        boosted_at_ns = Some(monotonic_ns());
                    }
                    if let Some(logger) = maps.logger.as_mut() {
                        logger.flush();
                    }
                    accounts.fill_comms(comm);
                    // A thread is often first seen before it names itself
                    // (tokio renames its workers right after spawning
                    // them), and the process may be gone by the end.
                    if Instant::now() >= next_names {
                        next_names += RENAME_CHECK;
                        accounts.refresh_comms(comm);
                    }
                    learn_user_stacks(&mut accounts, ustacks.as_mut());
                    if Instant::now() >= next_row {
                        next_row += interval;
                        let now = monotonic_ns();
                        let row = accounts.take_interval(now, lost(&read_diag(&maps.diag)));
                        if live {
                            eprintln!("{}", format_row(&row, start_ns));
                        }
                        accounts.timeline_rows.push(row);
                    }
                    slept_from = Instant::now();
                    if !behind {
                        // Behind, more is likely waiting: go on at once.
                        std::thread::sleep(POLL);
                    }
                }
                let end_ns = monotonic_ns();
                drain(&mut accounts, &mut classifier, usize::MAX);
                accounts.refresh_comms(comm);
                let tasks = read_tasks(&maps.tasks);
                let runnable_at_stop = tasks
                    .iter()
                    .filter(|(tid, st)| woken_but_waiting(*tid, st))
                    .count() as u64;
                accounts.finish(end_ns, &tasks, &mut classifier);
                accounts.fill_comms(comm);
                learn_user_stacks(&mut accounts, ustacks.as_mut());
                let flame = accounts.flame.take().map(|agg| {
                    let comms: std::collections::HashMap<u32, String> = accounts
                        .threads()
                        .map(|a| (a.tid, a.comm.clone().unwrap_or_else(|| a.tid.to_string())))
                        .collect();
                    let comm_of = |tid: u32| comms.get(&tid).cloned().unwrap_or_default();
                    super::flame::resolve(agg, &mut classifier, ustacks.as_mut(), &comm_of)
                });
                let row = accounts.take_interval(end_ns, lost(&read_diag(&maps.diag)));
                accounts.timeline_rows.push(row);
                Collected {
                    accounts,
                    diag: read_diag(&maps.diag),
                    end_ns,
                    stack_lookups_failed: classifier.failed_lookups,
                    stacks_missing: classifier.missing_stacks,
                    malformed_records: malformed,
                    runnable_at_stop,
                    boosted_at_ns,
                    flame,
                }
            })
            .expect("spawning a thread only fails when the process is out of resources");
        Self { stop, handle }
    }

    pub fn finish(self) -> Collected {
        self.stop.store(true, Ordering::Relaxed);
        match self.handle.join() {
            Ok(c) => c,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }
}

/// Read back the user stacks first booked since the last drain, while their
/// processes still exist to say where their code was mapped.
fn learn_user_stacks(accounts: &mut Accounts, ustacks: Option<&mut UserStacks>) {
    if let (Some(flame), Some(u)) = (accounts.flame.as_mut(), ustacks) {
        u.learn(flame.take_new_user_stacks());
    }
}

/// Off-CPU after a sleep, no wakeup recorded, yet runnable now ('R' in
/// /proc): woken, and waiting for a CPU since a moment we did not see.
fn woken_but_waiting(tid: u32, st: &TaskState) -> bool {
    if st.flags & TS_ON_CPU != 0 || st.wakeup_at != 0 || st.off_state == OFF_RUNNING {
        return false;
    }
    crate::sys::task_state(st.tgid, tid) == Some('R')
}

pub fn format_row(row: &IntervalRow, start_ns: u64) -> String {
    let s = |ns: u64| ns as f64 / 1e9;
    format!(
        "[{:>7.1}s] threads {:>4}  on-cpu {:>8.3}s  runq {:>8.3}s  off-cpu {:>9.3}s  mem-stall {:>8.3}s  switches {:>8}  lost {}",
        s(row.end_ns.saturating_sub(start_ns)),
        row.threads,
        s(row.on_cpu_ns),
        s(row.runqueue_ns),
        s(row.off_cpu_ns),
        s(row.memory_stall_ns),
        row.switches,
        row.lost
    )
}

#[cfg(test)]
mod tests {
    use tracer_common::state::OFF_SLEEPING;

    use super::*;

    fn own_ids() -> (u32, u32) {
        // SAFETY: gettid has no preconditions.
        let tid = unsafe { libc::gettid() } as u32;
        (std::process::id(), tid)
    }

    /// This very thread is runnable ('R') as it reads /proc: with books
    /// saying "off-CPU after a sleep, no wakeup seen" it must be named.
    #[test]
    fn a_runnable_thread_booked_as_sleeping_is_woken_but_waiting() {
        let (tgid, tid) = own_ids();
        let asleep = TaskState {
            tgid,
            off_state: OFF_SLEEPING,
            ..Default::default()
        };
        assert!(woken_but_waiting(tid, &asleep));
        let woken = TaskState {
            wakeup_at: 1,
            ..asleep
        };
        assert!(!woken_but_waiting(tid, &woken), "wakeup time known");
        let on_cpu = TaskState {
            flags: TS_ON_CPU,
            ..asleep
        };
        assert!(!woken_but_waiting(tid, &on_cpu));
        assert!(!woken_but_waiting(u32::MAX, &asleep), "gone thread");
    }
}
