//! Host facts and set-up: privileges, tracefs, clocks, kernel identity,
//! and the syscall table.

pub mod caps;
pub mod civil;
pub mod syscalls;

use std::{fs, path::Path};

use procfs::{
    FromRead,
    process::{Schedstat, Stat},
};

pub use caps::{CAP_SYS_ADMIN_BIT, Capability, Matters, Need, REQUIRED_CAPABILITIES};

use crate::error::{Error, Result};

pub const TRACEFS: &str = "/sys/kernel/tracing";

/// Give freed heap back to the kernel. Parsing the kernel's BTF (at every
/// load of the probes) frees ~20 MB that glibc otherwise keeps mapped, in
/// the arena of whichever thread parsed it.
pub fn give_back_free_heap() {
    // SAFETY: no preconditions; it only releases free memory (every arena).
    unsafe { libc::malloc_trim(0) };
}

/// Make every thread allocate from glibc's one main heap, before any
/// thread is started. A long-running process whose short-lived worker
/// threads parse BTF and hold whole traces (`watch`'s bundles) otherwise
/// leaves tens of MiB in per-thread heaps whose tops `malloc_trim` does not
/// shrink: measured 39 MiB anonymous RSS after one bundle, 26 MiB after a
/// trim, against 2 MiB before it.
pub fn one_heap() {
    // SAFETY: no preconditions; it only changes how glibc picks arenas.
    unsafe { libc::mallopt(libc::M_ARENA_MAX, 1) };
}

/// CLOCK_MONOTONIC in ns: the clock `bpf_ktime_get_ns` reads.
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: valid pointer to a timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

pub fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn effective_caps() -> u64 {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapEff:"))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        })
        .unwrap_or(0)
}

/// Tracing needs the [`Need::Tracing`] capabilities of
/// [`REQUIRED_CAPABILITIES`] (CAP_BPF + CAP_PERFMON), or CAP_SYS_ADMIN on
/// older kernels.
pub fn check_privileges() -> Result<()> {
    let caps = effective_caps();
    if caps & (1u64 << CAP_SYS_ADMIN_BIT) != 0 {
        return Ok(());
    }
    match REQUIRED_CAPABILITIES
        .iter()
        .find(|c| c.need == Need::Tracing && caps & (1u64 << c.bit) == 0)
    {
        Some(cap) => Err(Error::Permission {
            what: "loading and attaching eBPF programs".into(),
            capability: cap.cap_name,
        }),
        None => Ok(()),
    }
}

/// The [`Need::Results`] capabilities we lack and that cost something on
/// this host (CAP_SYS_RESOURCE only before 5.11, CAP_SYSLOG only where
/// /proc/kallsyms hides addresses).
pub fn missing_capabilities() -> Vec<&'static Capability> {
    let caps = effective_caps();
    REQUIRED_CAPABILITIES
        .iter()
        .filter(|c| c.need == Need::Results && caps & (1u64 << c.bit) == 0)
        .filter(|c| matters_here(c.matters))
        .collect()
}

/// Says on stderr what the result will lack, one line per capability;
/// called once the command line and the target are known to be good.
pub fn warn_missing_capabilities() {
    for cap in missing_capabilities() {
        eprintln!(
            "starvetrace: warning: without {} the tracer cannot {}",
            cap.cap_name, cap.why
        );
    }
}

fn matters_here(m: Matters) -> bool {
    match m {
        Matters::Always => true,
        Matters::KernelBefore(major, minor) => {
            kernel_version(&kernel_release()).is_none_or(|v| v < (major, minor))
        }
        Matters::KallsymsHidden => {
            let read = |f: &str| {
                fs::read_to_string(f)
                    .ok()
                    .and_then(|s| s.trim().parse::<i32>().ok())
            };
            read("/proc/sys/kernel/kptr_restrict").is_none_or(|k| k >= 1)
                || read("/proc/sys/kernel/perf_event_paranoid").is_none_or(|p| p >= 2)
        }
    }
}

/// (major, minor) of a release string like `6.1.0-57-cloud-amd64`.
pub fn kernel_version(release: &str) -> Option<(u32, u32)> {
    let mut it = release.split(['.', '-', '+']);
    let major = it.next()?.parse().ok()?;
    let minor = it.next()?.parse().ok()?;
    Some((major, minor))
}

/// Raises RLIMIT_MEMLOCK as far as allowed: kernels before 5.11 charge BPF
/// maps to it (later ones to the memory cgroup, and this changes nothing).
/// Raising the hard limit needs CAP_SYS_RESOURCE; without it the soft limit
/// still goes up to the hard one.
pub fn raise_memlock_limit() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: valid pointers to an rlimit, plain syscalls.
    unsafe {
        let infinite = libc::rlimit {
            rlim_cur: libc::RLIM_INFINITY,
            rlim_max: libc::RLIM_INFINITY,
        };
        if libc::setrlimit(libc::RLIMIT_MEMLOCK, &infinite) == 0 {
            return;
        }
        if libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut lim) == 0 {
            lim.rlim_cur = lim.rlim_max;
            let _ = libc::setrlimit(libc::RLIMIT_MEMLOCK, &lim);
        }
    }
    tracing::debug!(
        "RLIMIT_MEMLOCK kept at {} bytes (no CAP_SYS_RESOURCE)",
        lim.rlim_cur
    );
}

/// Mount tracefs if it is not mounted; classic tracepoints need it.
pub fn ensure_tracefs() -> Result<()> {
    if Path::new(TRACEFS).join("events").exists() {
        return Ok(());
    }
    let src = c"tracefs";
    let target = c"/sys/kernel/tracing";
    // SAFETY: valid NUL-terminated strings.
    let rc = unsafe {
        libc::mount(
            src.as_ptr(),
            target.as_ptr(),
            src.as_ptr(),
            0,
            std::ptr::null(),
        )
    };
    if rc != 0 {
        let err = std::io::Error::last_os_error();
        return Err(Error::Kernel(format!(
            "tracefs is not mounted at {TRACEFS} and mounting it failed: {err} (try `mount -t tracefs tracefs {TRACEFS}`)"
        )));
    }
    tracing::info!("mounted tracefs at {TRACEFS}");
    Ok(())
}

pub fn kernel_release() -> String {
    fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

pub fn hostname() -> String {
    fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

pub fn swap_total_bytes() -> u64 {
    fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("SwapTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

pub fn psi_available() -> bool {
    Path::new("/proc/pressure/memory").exists()
}

/// The comm of a thread, "" when it is gone.
pub fn comm_of(pid: u32, tid: u32) -> String {
    fs::read_to_string(format!("/proc/{pid}/task/{tid}/comm"))
        .map(|s| s.trim_end().to_string())
        .unwrap_or_default()
}

/// The state letter of a process (its /proc/<pid>/stat), `None` if it is gone.
pub fn process_state(pid: u32) -> Option<char> {
    Stat::from_file(format!("/proc/{pid}/stat"))
        .ok()
        .map(|s| s.state)
}

/// The state letter of one thread, `None` if it is gone.
pub fn task_state(pid: u32, tid: u32) -> Option<char> {
    Stat::from_file(format!("/proc/{pid}/task/{tid}/stat"))
        .ok()
        .map(|s| s.state)
}

/// A thread's run time and run-queue wait as the scheduler books them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SchedBooks {
    /// `se.sum_exec_runtime`: total ns on a CPU.
    pub exec_ns: u64,
    /// `sched_info.run_delay`: total ns runnable but waiting for a CPU.
    pub run_delay_ns: u64,
}

/// The kernel's books of a thread (/proc/<pid>/task/<tid>/schedstat), `None`
/// if it is gone or the kernel has no schedstat.
pub fn sched_books(pid: u32, tid: u32) -> Option<SchedBooks> {
    Schedstat::from_file(format!("/proc/{pid}/task/{tid}/schedstat"))
        .ok()
        .map(|s| SchedBooks {
            exec_ns: s.sum_exec_runtime,
            run_delay_ns: s.run_delay,
        })
}

/// Thread ids of a process right now.
pub fn tids_of(pid: u32) -> Vec<u32> {
    let Ok(dir) = fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    let mut tids: Vec<u32> = dir
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    tids.sort_unstable();
    tids
}

pub fn online_cpus() -> Vec<u32> {
    let text = fs::read_to_string("/sys/devices/system/cpu/online").unwrap_or_default();
    parse_cpu_list(text.trim())
}

/// Parse "0-3,5" style CPU lists.
pub fn parse_cpu_list(text: &str) -> Vec<u32> {
    let mut cpus = Vec::new();
    for part in text.split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                if let (Ok(a), Ok(b)) = (a.parse::<u32>(), b.parse::<u32>()) {
                    cpus.extend(a..=b);
                }
            }
            None => cpus.extend(part.parse::<u32>().ok()),
        }
    }
    cpus
}

/// The highest CFS weight (nice −20) for the calling thread only. The
/// tracer runs on hosts that may be saturated: at nice 0 beside a thousand
/// busy threads the ring-buffer drain gets a thousandth of the CPU and
/// records are lost. Root (CAP_SYS_NICE) can; anything else keeps the
/// default and says so at debug level.
pub fn favour_this_thread(what: &str) {
    // SAFETY: plain syscalls on the calling thread's own id.
    let rc = unsafe {
        let tid = libc::gettid() as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, tid, -20)
    };
    if rc != 0 {
        tracing::debug!(
            "{what}: keeping the default priority: {}",
            std::io::Error::last_os_error()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists() {
        assert_eq!(parse_cpu_list("0-3,5"), vec![0, 1, 2, 3, 5]);
        assert_eq!(parse_cpu_list("0"), vec![0]);
        assert_eq!(parse_cpu_list(""), Vec::<u32>::new());
    }

    #[test]
    fn kernel_versions() {
        assert_eq!(kernel_version("6.1.0-57-cloud-amd64"), Some((6, 1)));
        assert_eq!(kernel_version("6.12.117+deb12-cloud-amd64"), Some((6, 12)));
        assert_eq!(kernel_version("5.10.0"), Some((5, 10)));
        assert_eq!(kernel_version("5"), None);
        assert_eq!(kernel_version(""), None);
    }

    #[test]
    fn monotonic_moves_forward() {
        let a = monotonic_ns();
        let b = monotonic_ns();
        assert!(b >= a && a > 0);
    }
}
