//! CPU affinity and context-switch counts.

use anyhow::{Result, bail};

/// CPUs this process may run on, ascending.
pub fn allowed_cpus() -> Result<Vec<usize>> {
    // SAFETY: an all-zero cpu_set_t is valid; the kernel fills it.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: valid pointer and size.
    if unsafe { libc::sched_getaffinity(0, size_of::<libc::cpu_set_t>(), &mut set) } != 0 {
        bail!("sched_getaffinity: {}", std::io::Error::last_os_error());
    }
    // SAFETY: CPU_ISSET reads the set we own.
    Ok((0..libc::CPU_SETSIZE as usize)
        .filter(|&c| unsafe { libc::CPU_ISSET(c, &set) })
        .collect())
}

/// Pin the calling thread to one CPU.
pub fn pin_current_thread(cpu: usize) -> Result<()> {
    // SAFETY: an all-zero cpu_set_t is valid.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: cpu < CPU_SETSIZE (it came from allowed_cpus).
    unsafe { libc::CPU_SET(cpu, &mut set) };
    // SAFETY: pid 0 is the calling thread; valid pointer and size.
    if unsafe { libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set) } != 0 {
        bail!("pinning to CPU {cpu}: {}", std::io::Error::last_os_error());
    }
    Ok(())
}

/// Context switches (voluntary + involuntary) and CPU seconds (user +
/// system) of every thread of this process so far.
#[derive(Clone, Copy, Debug)]
pub struct Usage {
    pub switches: u64,
    pub cpu_secs: f64,
}

impl Usage {
    pub fn now() -> Usage {
        // SAFETY: an all-zero rusage is valid; the kernel fills it.
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: valid pointer.
        unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
        let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
        Usage {
            switches: (ru.ru_nvcsw + ru.ru_nivcsw) as u64,
            cpu_secs: secs(ru.ru_utime) + secs(ru.ru_stime),
        }
    }

    pub fn since(self, before: Usage) -> Usage {
        Usage {
            switches: self.switches - before.switches,
            cpu_secs: self.cpu_secs - before.cpu_secs,
        }
    }
}
