//! Lock starvation: an OS thread holds a std `Mutex` for long stretches while
//! sleeping, and tasks on the runtime take the same mutex synchronously
//! (`lock()` on a runtime thread, as hot paths with std mutexes do). Both
//! workers end up in futex wait; the heartbeat task cannot be polled until the
//! holder lets go. The OS heartbeat thread never touches the lock.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    thread,
    time::Duration,
};

/// How long the holder keeps the lock, and the gap before it takes it again.
pub const HOLD: Duration = Duration::from_millis(400);
pub const GAP: Duration = Duration::from_millis(30);
/// Lock-user tasks (more than the workers, so both block).
pub const USERS: usize = 4;
pub const USER_EVERY: Duration = Duration::from_millis(10);

#[derive(Debug, Default)]
pub struct Shared {
    pub state: Mutex<u64>,
    pub acquisitions: AtomicU64,
    pub holds: AtomicU64,
}

impl Shared {
    /// Take the lock synchronously (blocking the calling runtime thread).
    pub fn touch(&self) {
        let mut g = self.state.lock().unwrap_or_else(|e| e.into_inner());
        *g += 1;
        self.acquisitions.fetch_add(1, Ordering::Relaxed);
    }
}

/// The holder thread; returns when `stop` is set (after releasing the lock).
pub fn spawn_holder(
    shared: Arc<Shared>,
    stop: Arc<AtomicBool>,
) -> std::io::Result<thread::JoinHandle<()>> {
    thread::Builder::new()
        .name("lab-lock-holder".into())
        .spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                {
                    let _g = shared.state.lock().unwrap_or_else(|e| e.into_inner());
                    shared.holds.fetch_add(1, Ordering::Relaxed);
                    // Sleep in short steps so shutdown is not held up by a whole HOLD.
                    let mut held = Duration::ZERO;
                    while held < HOLD && !stop.load(Ordering::Relaxed) {
                        thread::sleep(Duration::from_millis(20));
                        held += Duration::from_millis(20);
                    }
                }
                thread::sleep(GAP);
            }
        })
}

/// A lock-user task: every `USER_EVERY`, lock synchronously on the runtime thread.
pub async fn user_task(shared: Arc<Shared>, stop: Arc<AtomicBool>) {
    let mut tick = tokio::time::interval(USER_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while !stop.load(Ordering::Relaxed) {
        tick.tick().await;
        shared.touch();
    }
}
