//! A thread's books as the recording shows them.

use std::collections::BTreeMap;

use super::{account::ThreadAccount, hist::ThreadRecorder};
use crate::model::{CauseStat, FutexWait, Histograms, ThreadReport, cause::Cause, role::Role};

impl ThreadAccount {
    pub fn report(&self) -> ThreadReport {
        let comm = self.comm.clone().unwrap_or_else(|| "?".to_string());
        let mut causes = BTreeMap::new();
        let mut cause_stats = BTreeMap::new();
        for c in Cause::ALL {
            let (i, name) = (c.index(), c.name());
            if self.causes[i] == 0 && self.cause_counts[i] == 0 {
                continue;
            }
            causes.insert(name.to_string(), self.causes[i]);
            let mut top: Vec<(&String, &u64)> = self.other_frames.iter().collect();
            top.sort_by(|a, b| b.1.cmp(a.1));
            cause_stats.insert(
                name.to_string(),
                CauseStat {
                    ns: self.causes[i],
                    count: self.cause_counts[i],
                    histogram: self
                        .cause_hist
                        .get(&c)
                        .map(ThreadRecorder::summary)
                        .unwrap_or_default(),
                    top_frames: if c == Cause::Other {
                        top.into_iter()
                            .take(5)
                            .map(|(f, n)| format!("{n}× {f}"))
                            .collect()
                    } else {
                        Vec::new()
                    },
                },
            );
        }
        ThreadReport {
            tid: self.tid,
            tgid: self.tgid,
            comm,
            role: Role::default(),
            role_source: Default::default(),
            ns_tid: None,
            on_cpu_ns: self.on_cpu_ns,
            runqueue_ns: self.runqueue_ns(),
            runqueue_wakeup_ns: self.runq_wakeup_ns,
            runqueue_preempted_ns: self.runq_preempted_ns,
            off_cpu_ns: self.off_cpu_ns,
            off_cpu_ns_by_state: self.by_state.clone(),
            switches: self.switches,
            voluntary_switches: self.voluntary,
            involuntary_switches: self.involuntary,
            minor_faults: self.min_faults,
            major_faults: self.maj_faults,
            fault_entries: self.fault_entries,
            reclaim_ns: self.reclaim_ns,
            reclaim_count: self.reclaim_count,
            reclaim_on_cpu_ns: self.reclaim_on_cpu_ns,
            ongoing_off_cpu_ns: self.ongoing_off_ns,
            ongoing: self.ongoing.clone(),
            exited: self.exited,
            futex_waits: {
                let mut f: Vec<FutexWait> = self
                    .futex_waits
                    .iter()
                    .map(|(&addr, &ns)| FutexWait { addr, ns })
                    .collect();
                f.sort_by_key(|w| std::cmp::Reverse(w.ns));
                f.truncate(4);
                f
            },
            causes,
            cause_stats,
            histograms: Histograms {
                off_cpu: self.hist_off.summary(),
                runqueue: self.hist_runq.summary(),
                on_cpu: self.hist_on.summary(),
            },
        }
    }
}
