//! Ctrl-C / SIGTERM / SIGHUP while the lab runs: the handler only records the
//! signal (async-signal-safe); the controlling thread notices, ends the run
//! early and cleans up (moves out of and removes its cgroups). The previous
//! handlers come back when the guard drops.
//!
//! A plain flag rather than tokio::signal on purpose: the lab's runtime is the
//! thing being starved, so it cannot be trusted to notice a signal.

use std::{
    io, mem,
    sync::atomic::{AtomicI32, Ordering},
};

static RECEIVED: AtomicI32 = AtomicI32::new(0);

const SIGNALS: [libc::c_int; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];

extern "C" fn on_signal(sig: libc::c_int) {
    RECEIVED.store(sig, Ordering::SeqCst);
}

pub struct SignalGuard {
    old: Vec<(libc::c_int, libc::sigaction)>,
}

impl SignalGuard {
    pub fn install() -> io::Result<Self> {
        RECEIVED.store(0, Ordering::SeqCst);
        let mut guard = SignalGuard { old: Vec::new() };
        for sig in SIGNALS {
            // SAFETY: zeroed sigaction is a valid "no flags, empty mask" value;
            // the handler only stores to an atomic, which is async-signal-safe.
            unsafe {
                let mut act: libc::sigaction = mem::zeroed();
                act.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
                act.sa_flags = libc::SA_RESTART;
                libc::sigemptyset(&mut act.sa_mask);
                let mut old: libc::sigaction = mem::zeroed();
                if libc::sigaction(sig, &act, &mut old) != 0 {
                    return Err(io::Error::last_os_error());
                }
                guard.old.push((sig, old));
            }
        }
        Ok(guard)
    }

    /// The signal that asked the lab to stop, if any.
    pub fn received() -> Option<i32> {
        match RECEIVED.load(Ordering::SeqCst) {
            0 => None,
            s => Some(s),
        }
    }
}

impl Drop for SignalGuard {
    fn drop(&mut self) {
        for (sig, old) in self.old.drain(..) {
            // SAFETY: restoring the action saved by install().
            unsafe {
                libc::sigaction(sig, &old, std::ptr::null_mut());
            }
        }
    }
}

pub fn name(sig: i32) -> String {
    match sig {
        libc::SIGINT => "SIGINT".into(),
        libc::SIGTERM => "SIGTERM".into(),
        libc::SIGHUP => "SIGHUP".into(),
        s => format!("signal {s}"),
    }
}
