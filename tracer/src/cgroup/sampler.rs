//! The sampling thread: reads the cgroup every period beside the tracer.

use std::{
    path::Path,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    thread::JoinHandle,
    time::{Duration, Instant},
};

use super::{read::Reader, tally::Tally};
use crate::model::cgroup::{CgroupPaths, CgroupReport, CgroupSample};

/// 1 h at 100 ms. Past that the store is halved (every other sample
/// dropped) and only every 2nd, 4th, ... reading is kept: memory stays
/// bounded however long the trace runs, deltas stay exact.
pub const MAX_SAMPLES: usize = 36_000;

/// Sample store bounded to `cap` by decimation.
#[derive(Debug)]
pub struct Store {
    cap: usize,
    kept_every: u64,
    taken: u64,
    samples: Vec<CgroupSample>,
    tally: Tally,
}

impl Store {
    pub fn new(cap: usize) -> Self {
        Store {
            cap: cap.max(2),
            kept_every: 1,
            taken: 0,
            samples: Vec::new(),
            tally: Tally::default(),
        }
    }

    pub fn push(&mut self, s: CgroupSample) {
        self.tally.add(&s);
        let index = self.taken;
        self.taken += 1;
        if !index.is_multiple_of(self.kept_every) {
            return;
        }
        if self.samples.len() >= self.cap {
            // Keep the samples whose reading index is a multiple of the new
            // stride; the new sample's index decides if it stays too.
            self.kept_every *= 2;
            let mut i = 0;
            self.samples.retain(|_| {
                i += 1;
                (i - 1) % 2 == 0
            });
            if !index.is_multiple_of(self.kept_every) {
                return;
            }
        }
        self.samples.push(s);
    }

    pub fn finish(self, reader: &Reader, period: Duration) -> CgroupReport {
        let mut notes = Vec::new();
        if self.kept_every > 1 {
            notes.push(format!(
                "more than {} cgroup samples: kept every {}th reading ({} ms apart); deltas and maxima still use every reading",
                self.cap,
                self.kept_every,
                period.as_millis() as u64 * self.kept_every
            ));
        }
        let paths = reader.paths().clone();
        CgroupReport {
            layout: paths.layout().to_string(),
            paths,
            limits: self.tally.limits(),
            missing: reader.missing(),
            period_ns: period.as_nanos() as u64,
            samples_taken: self.taken,
            kept_every: self.kept_every,
            deltas: self.tally.deltas(),
            samples: self.samples,
            notes,
        }
    }
}

/// A running sampler. Dropping it without `stop` leaves the thread to end
/// on its own at the next tick.
pub struct Sampler {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<CgroupReport>>,
    /// Set when the thread could not be started: `stop` then returns a
    /// report that says so.
    failed: Option<(CgroupPaths, String)>,
}

impl Sampler {
    /// Sample `paths` (and host PSI from /proc/pressure) every `period`.
    pub fn start(paths: CgroupPaths, period: Duration) -> Sampler {
        Self::start_with(paths, period, Path::new("/proc"), MAX_SAMPLES)
    }

    pub fn start_with(
        paths: CgroupPaths,
        period: Duration,
        proc_root: &Path,
        cap: usize,
    ) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let proc_root = proc_root.to_path_buf();
        let period = period.max(Duration::from_millis(1));
        let thread_paths = paths.clone();
        let spawned = std::thread::Builder::new()
            .name("st-cgroup".into())
            .spawn(move || {
                crate::sys::favour_this_thread("cgroup sampler");
                run(thread_paths, period, &proc_root, cap, &flag)
            });
        match spawned {
            Ok(h) => Sampler {
                stop,
                handle: Some(h),
                failed: None,
            },
            Err(e) => Sampler {
                stop,
                handle: None,
                failed: Some((paths, e.to_string())),
            },
        }
    }

    /// Stop sampling (after one last reading) and return the report.
    pub fn stop(mut self) -> CgroupReport {
        self.stop.store(true, Ordering::Release);
        let Some(h) = self.handle.take() else {
            let (paths, why) = self.failed.take().unwrap_or_default();
            return CgroupReport {
                layout: paths.layout().to_string(),
                paths,
                notes: vec![format!("the cgroup sampler could not start: {why}")],
                ..Default::default()
            };
        };
        h.thread().unpark();
        h.join().unwrap_or_else(|_| CgroupReport {
            notes: vec!["the cgroup sampler thread panicked; no cgroup data".into()],
            ..Default::default()
        })
    }
}

fn run(
    paths: CgroupPaths,
    period: Duration,
    proc_root: &Path,
    cap: usize,
    stop: &AtomicBool,
) -> CgroupReport {
    let mut reader = Reader::new(paths, proc_root);
    let mut store = Store::new(cap);
    let mut next = Instant::now();
    loop {
        store.push(reader.read(crate::sys::monotonic_ns()));
        if stop.load(Ordering::Acquire) {
            break;
        }
        // Absolute deadlines so slow reads do not stretch the period.
        next += period;
        let now = Instant::now();
        if next <= now {
            next = now + period;
        }
        while !stop.load(Ordering::Acquire) {
            let now = Instant::now();
            if now >= next {
                break;
            }
            std::thread::park_timeout(next - now);
        }
    }
    store.finish(&reader, period)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cgroup::read::tests::fake_v2_cgroup;

    #[test]
    fn store_decimates_and_stays_bounded() {
        let mut st = Store::new(10);
        for i in 0..100u64 {
            st.push(CgroupSample {
                t_ns: i,
                v1_failcnt: Some(i),
                ..Default::default()
            });
        }
        let reader = Reader::new(CgroupPaths::default(), Path::new("/nonexistent"));
        let rep = st.finish(&reader, Duration::from_millis(100));
        assert!(rep.samples.len() <= 10, "{}", rep.samples.len());
        assert_eq!(rep.samples_taken, 100);
        assert_eq!(rep.kept_every, 16);
        // Kept samples are evenly strided and start at the first reading.
        for (k, s) in rep.samples.iter().enumerate() {
            assert_eq!(s.t_ns, k as u64 * rep.kept_every);
        }
        // Deltas are over every reading, not only the kept ones.
        assert_eq!(rep.deltas.failcnt, Some(99));
        assert_eq!(rep.notes.len(), 1);
    }

    #[test]
    fn sampler_thread_reads_until_stopped() {
        let tmp = tempfile::tempdir().unwrap();
        let cg = tmp.path().join("cg");
        fake_v2_cgroup(&cg);
        let paths = CgroupPaths {
            v2: Some(cg.clone()),
            ..Default::default()
        };
        let s = Sampler::start_with(paths, Duration::from_millis(10), tmp.path(), 1000);
        std::thread::sleep(Duration::from_millis(60));
        std::fs::write(
            cg.join("memory.pressure"),
            "some avg10=5.00 avg60=0 avg300=0 total=51000\nfull avg10=3.00 avg60=0 avg300=0 total=20400\n",
        )
        .unwrap();
        std::thread::sleep(Duration::from_millis(40));
        let start = Instant::now();
        let rep = s.stop();
        assert!(
            start.elapsed() < Duration::from_millis(200),
            "stop is prompt"
        );
        assert!(rep.samples.len() >= 4, "{}", rep.samples.len());
        assert!(rep.samples.windows(2).all(|w| w[0].t_ns < w[1].t_ns));
        assert_eq!(rep.layout, "v2");
        assert_eq!(rep.deltas.memory_some_us, Some(50_000));
        assert_eq!(rep.deltas.memory_full_us, Some(20_000));
        assert_eq!(rep.deltas.max_memory_full_avg10, Some(3.0));
        assert_eq!(
            rep.limits.memory_max,
            Some(super::super::Limit::Bytes(4 << 30))
        );
        assert_eq!(rep.limits.memory_high, Some(super::super::Limit::Unlimited));
        // The fake proc root has no pressure dir: host PSI listed as missing.
        assert!(rep.missing.iter().any(|m| m.contains("pressure/memory")));
    }
}
