//! CPU starvation: busy child processes pinned to each CPU the lab may run on,
//! inside the lab cgroup, which has a small CPU quota. The burners use up the
//! quota within a few ms of each period; for the rest of it the whole cgroup is
//! throttled, so a runtime worker woken by its timer stays runnable without
//! running until the next period. No memory pressure is involved.
//!
//! Burners are separate processes (forked, named `lab-cpu-burner`) so a tracer
//! can tell the competitor from the target's own threads.

use std::io;

/// Quota period and budget: 50 ms of CPU per 250 ms for the whole cgroup
/// (20% of one CPU), so a beat can wait up to ~200 ms for its CPU. (25 ms
/// starved the heartbeats completely on the 6.1 TCG VM: zero beats in 8 s.)
pub const PERIOD_US: u64 = 250_000;
pub const QUOTA_US: u64 = 50_000;
/// Burners per CPU.
pub const PER_CPU: usize = 2;

/// The forked burners; dropping kills and reaps them (before the cgroup is
/// removed: rmdir needs it empty).
#[derive(Debug, Default)]
pub struct Burners {
    pids: Vec<libc::pid_t>,
}

/// CPUs this process may run on (the workers' CPUs).
pub fn allowed_cpus() -> Vec<usize> {
    // SAFETY: zeroed cpu_set_t is an empty set; the kernel fills it.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    let ok =
        unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) }
            == 0;
    if !ok {
        return vec![0];
    }
    (0..libc::CPU_SETSIZE as usize)
        .filter(|&c| unsafe { libc::CPU_ISSET(c, &set) })
        .collect()
}

impl Burners {
    /// Forks `per_cpu` burners pinned to each of `cpus`. Call before the lab
    /// starts its own threads' work; the child only spins and makes
    /// async-signal-safe calls (fork from a threaded process allows no more).
    pub fn spawn(cpus: &[usize], per_cpu: usize) -> io::Result<Self> {
        let mut b = Burners::default();
        // SAFETY: getpid has no preconditions.
        let parent = unsafe { libc::getpid() };
        for &cpu in cpus {
            for _ in 0..per_cpu {
                // SAFETY: see burn(): the child never returns into Rust code.
                match unsafe { libc::fork() } {
                    -1 => return Err(io::Error::last_os_error()),
                    0 => burn(cpu, parent),
                    pid => b.pids.push(pid),
                }
            }
        }
        Ok(b)
    }

    pub fn count(&self) -> usize {
        self.pids.len()
    }

    pub fn pids(&self) -> &[libc::pid_t] {
        &self.pids
    }
}

/// The child: name itself, pin to `cpu`, die with the parent, spin forever.
fn burn(cpu: usize, parent: libc::pid_t) -> ! {
    // SAFETY: only async-signal-safe syscalls and a spin loop; never returns.
    unsafe {
        libc::prctl(libc::PR_SET_NAME, c"lab-cpu-burner".as_ptr());
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
        if libc::getppid() != parent {
            libc::_exit(0);
        }
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
        let mut x: u64 = 1;
        loop {
            for _ in 0..10_000_000 {
                x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
            }
            if libc::getppid() != parent {
                libc::_exit(0);
            }
        }
    }
}

impl Drop for Burners {
    fn drop(&mut self) {
        for &pid in &self.pids {
            // SAFETY: our own children; kill then reap so no zombie stays in the cgroup.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
            }
        }
        for pid in self.pids.drain(..) {
            let mut status = 0;
            // SAFETY: reaping our own child.
            unsafe {
                libc::waitpid(pid, &mut status, 0);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_has_cpus() {
        assert!(!allowed_cpus().is_empty());
    }

    #[test]
    fn burners_start_and_die() {
        let cpus = allowed_cpus();
        let b = Burners::spawn(&cpus[..1], 1).unwrap();
        assert_eq!(b.count(), 1);
        let pid = b.pids()[0];
        std::thread::sleep(std::time::Duration::from_millis(50));
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap();
        assert_eq!(comm.trim(), "lab-cpu-burner");
        drop(b);
        assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists());
    }
}
