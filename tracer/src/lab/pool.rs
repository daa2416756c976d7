//! blocking-pool-idle: at start, a burst of `spawn_blocking` tasks that must
//! all run at the same time (each waits until all have arrived), so tokio's
//! blocking pool grows to exactly that many threads. They finish at once and
//! the threads stay alive and idle for the rest of the run (the runtime's
//! `thread_keep_alive` outlasts it), parked in tokio's pool on one shared
//! condvar, so one futex address with many waiters. They carry tokio's
//! default thread name, the same as the workers.

use std::{
    collections::BTreeSet,
    sync::{Arc, Condvar, Mutex},
    time::Duration,
};

/// What the burst did, and which threads ran it.
#[derive(Debug, Default)]
pub struct Pool {
    tids: Mutex<BTreeSet<i32>>,
    /// The most burst tasks seen running at once.
    peak: Mutex<usize>,
}

/// How long a burst task waits for the others before giving up (a pool that
/// could not grow must not hang the lab).
const GATHER_TIMEOUT: Duration = Duration::from_secs(5);

impl Pool {
    /// Distinct threads that ran a burst task: the pool size reached.
    pub fn threads(&self) -> usize {
        self.tids.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    pub fn peak_concurrent(&self) -> usize {
        *self.peak.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Where the burst threads are now: how many are still alive (idle in
    /// the pool, once the burst is over), how many of those sit in futex(2),
    /// and on how many distinct futex addresses (from
    /// /proc/self/task/TID/syscall: number, then the first argument).
    pub fn parked(&self) -> Parked {
        let tids = self.tids.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = Parked::default();
        let mut addrs = BTreeSet::new();
        for t in tids.iter() {
            let Ok(sc) = std::fs::read_to_string(format!("/proc/self/task/{t}/syscall")) else {
                continue;
            };
            out.alive += 1;
            if let Some(addr) = futex_addr(&sc) {
                out.in_futex += 1;
                addrs.insert(addr);
            }
        }
        out.futex_addresses = addrs.len();
        out
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Parked {
    pub alive: usize,
    pub in_futex: usize,
    pub futex_addresses: usize,
}

/// The futex address of a /proc/TID/syscall line that is a futex wait
/// (x86_64 futex = 202; futex_waitv = 449 has a vector, not one address).
fn futex_addr(syscall: &str) -> Option<String> {
    let mut it = syscall.split_whitespace();
    (it.next()? == "202").then(|| it.next().map(str::to_string))?
}

/// Spawns `n` blocking tasks that gather, then all return.
pub async fn burst(pool: Arc<Pool>, n: usize) {
    let gate = Arc::new((Mutex::new(0usize), Condvar::new()));
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let (pool, gate) = (pool.clone(), gate.clone());
            tokio::task::spawn_blocking(move || {
                // SAFETY: gettid has no preconditions.
                let tid = unsafe { libc::gettid() };
                pool.tids
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(tid);
                let (count, cv) = &*gate;
                let mut arrived = count.lock().unwrap_or_else(|e| e.into_inner());
                *arrived += 1;
                {
                    let mut peak = pool.peak.lock().unwrap_or_else(|e| e.into_inner());
                    *peak = (*peak).max(*arrived);
                }
                cv.notify_all();
                let _ = cv
                    .wait_timeout_while(arrived, GATHER_TIMEOUT, |a| *a < n)
                    .unwrap_or_else(|e| e.into_inner());
            })
        })
        .collect();
    for t in tasks {
        let _ = t.await;
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn futex_lines() {
        assert_eq!(
            super::futex_addr("202 0x55d0c0ffee80 0x89 0x0 0x0 0x0 0x0 0x7ffc 0x7f12"),
            Some("0x55d0c0ffee80".into())
        );
        assert_eq!(
            super::futex_addr("232 0x3 0x7f 0x400 0xffffffff 0x0 0x0 0x0 0x0"),
            None
        );
        assert_eq!(super::futex_addr("running"), None);
    }

    use super::*;

    #[test]
    fn the_pool_grows_to_the_burst_and_stays() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_keep_alive(Duration::from_secs(30))
            .build()
            .unwrap();
        let pool = Arc::new(Pool::default());
        rt.block_on(burst(pool.clone(), 4));
        assert_eq!((pool.threads(), pool.peak_concurrent()), (4, 4));
        // Give the last thread a moment to get back to its idle wait.
        std::thread::sleep(Duration::from_millis(100));
        let parked = pool.parked();
        assert_eq!(parked.alive, 4, "idle threads are kept alive");
        if cfg!(target_arch = "x86_64") {
            assert_eq!(parked.in_futex, 4, "{parked:?}");
            assert_eq!(parked.futex_addresses, 1, "one shared condvar: {parked:?}");
        }
        rt.shutdown_timeout(Duration::from_secs(2));
    }
}
