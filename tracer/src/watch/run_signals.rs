//! SIGINT and SIGTERM end `watch` cleanly: a flag the loop checks, set by
//! a thread that waits for them the way `record` does (tokio's signal
//! streams, so a capture running `record` inside `watch` sees them too).

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use crate::error::{Error, Result};

pub struct Stop {
    flag: Arc<AtomicBool>,
}

impl Stop {
    pub fn install() -> Result<Self> {
        let flag = Arc::new(AtomicBool::new(false));
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::Other(anyhow::Error::new(e).context("tokio runtime")))?;
        // Registered here, before the loop starts, so no signal is missed.
        let (mut term, mut int) = rt
            .block_on(async {
                use tokio::signal::unix::{SignalKind, signal};
                Ok::<_, std::io::Error>((
                    signal(SignalKind::terminate())?,
                    signal(SignalKind::interrupt())?,
                ))
            })
            .map_err(|e| Error::Other(anyhow::Error::new(e).context("signal handlers")))?;
        let set = flag.clone();
        std::thread::Builder::new()
            .name("st-signals".into())
            .spawn(move || {
                rt.block_on(async {
                    tokio::select! {
                        _ = term.recv() => {}
                        _ = int.recv() => {}
                    }
                });
                set.store(true, Ordering::Relaxed);
            })
            .map_err(|e| Error::Other(anyhow::anyhow!("cannot start the signal thread: {e}")))?;
        Ok(Self { flag })
    }

    pub fn requested(&self) -> bool {
        self.flag.load(Ordering::Relaxed)
    }

    /// Sleep up to `d`, waking early on a stop request.
    pub fn sleep(&self, d: Duration) {
        let until = Instant::now() + d;
        while !self.requested() {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            std::thread::sleep(left.min(Duration::from_millis(50)));
        }
    }
}
