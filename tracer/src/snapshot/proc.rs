//! The /proc readers behind a snapshot, and the per-CPU rq clocks that turn
//! `se.exec_start` into an age.

use std::{
    collections::{BTreeMap, BTreeSet},
    fs, io,
    path::Path,
};

use procfs::{FromRead, process::Stat};

use super::{Options, guess::guess_cause};
use crate::{
    analyze::roles::role_in_process,
    cgroup::files::parse_psi,
    model::snapshot::{PressureNow, SyscallNow, ThreadSnapshot},
    sys::syscalls::{FUTEX, name_x86_64},
};

/// A CPU's rq clock and CLOCK_MONOTONIC read together.
#[derive(Clone, Copy, Debug)]
pub struct CpuClock {
    pub rq_ns: u64,
    pub mono_ns: u64,
}

/// Largest difference between CPUs' rq clock offsets from CLOCK_MONOTONIC.
pub fn clock_skew(clocks: &BTreeMap<u32, CpuClock>) -> Option<u64> {
    let offs: Vec<i128> = clocks
        .values()
        .map(|c| c.mono_ns as i128 - c.rq_ns as i128)
        .collect();
    let (lo, hi) = (offs.iter().min()?, offs.iter().max()?);
    u64::try_from(hi - lo).ok()
}

/// The calling thread's rq clock "now": its exec_start right after a yield.
pub fn local_clock() -> Option<CpuClock> {
    // SAFETY: sched_yield has no preconditions.
    unsafe { libc::sched_yield() };
    let text = fs::read_to_string("/proc/thread-self/sched").ok()?;
    let mono_ns = crate::sys::monotonic_ns();
    Some(CpuClock {
        rq_ns: exec_start_ns(&text)?,
        mono_ns,
    })
}

/// Each CPU's rq clock, read by a helper thread pinned to it in turn (the
/// caller's own affinity is left alone). CPUs we may not run on are left
/// out.
pub fn clocks_on(cpus: &BTreeSet<u32>) -> BTreeMap<u32, CpuClock> {
    std::thread::scope(|s| {
        s.spawn(|| {
            let mut out = BTreeMap::new();
            for &cpu in cpus {
                if cpu as usize >= libc::CPU_SETSIZE as usize {
                    continue;
                }
                // SAFETY: cpu_set_t is plain data; CPU_SET is in bounds
                // (checked above); pid 0 = the calling thread.
                let pinned = unsafe {
                    let mut set: libc::cpu_set_t = std::mem::zeroed();
                    libc::CPU_SET(cpu as usize, &mut set);
                    libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) == 0
                };
                // SAFETY: no preconditions.
                if !pinned || unsafe { libc::sched_getcpu() } != cpu as i32 {
                    continue;
                }
                if let Some(c) = local_clock() {
                    out.insert(cpu, c);
                }
            }
            out
        })
        .join()
        .unwrap_or_default()
    })
}

pub fn read_trim(path: &Path) -> Option<String> {
    fs::read_to_string(path)
        .ok()
        .map(|s| s.trim_end().to_string())
}

/// `se.exec_start : 2747687.133670` (ms with 6 decimals) → ns, parsed as
/// integers so no precision is lost to floats.
pub fn exec_start_ns(sched: &str) -> Option<u64> {
    let line = sched
        .lines()
        .find(|l| l.trim_start().starts_with("se.exec_start"))?;
    let value = line.split(':').nth(1)?.trim();
    let (ms, frac) = value.split_once('.').unwrap_or((value, "0"));
    let ms: u64 = ms.parse().ok()?;
    let frac: String = frac.chars().chain(std::iter::repeat('0')).take(6).collect();
    let ns_part: u64 = frac.parse().ok()?;
    Some(ms * 1_000_000 + ns_part)
}

/// One thread, with its raw exec_start (rq clock ns) and the CPU it last
/// ran on; the caller turns those into an age.
pub fn read_thread(
    dir: &Path,
    pid: u32,
    tid: u32,
    process_comm: &str,
    opts: &Options,
) -> Option<(ThreadSnapshot, Option<u64>, Option<u32>)> {
    let stat = Stat::from_file(dir.join("stat")).ok()?;
    let state = stat.state.to_string();
    let exec_start = fs::read_to_string(dir.join("sched"))
        .ok()
        .and_then(|s| exec_start_ns(&s));
    let wchan = read_trim(&dir.join("wchan")).filter(|w| !w.is_empty() && w != "0");
    let (kernel_stack, kernel_stack_status) = read_stack(&dir.join("stack"));
    let syscall = fs::read(dir.join("syscall"))
        .ok()
        .and_then(|b| parse_syscall(&b));
    let ns_tid = fs::read_to_string(dir.join("status"))
        .ok()
        .and_then(|s| ns_tid_from_status(&s))
        .filter(|&n| n != tid);
    let (cause, cause_from) =
        guess_cause(&state, &kernel_stack, syscall.as_ref(), wchan.as_deref());
    let cpu = stat.processor.and_then(|c| u32::try_from(c).ok());
    let t = ThreadSnapshot {
        pid,
        tid,
        ns_tid,
        role: role_in_process(&stat.comm, process_comm, opts.workers.as_ref()),
        comm: stat.comm,
        process_comm: process_comm.to_string(),
        state,
        since_last_ran_ns: None,
        off_since_monotonic_ns: None,
        wchan,
        kernel_stack,
        kernel_stack_status,
        syscall,
        cause,
        cause_from,
    };
    Some((t, exec_start, cpu))
}

fn ns_tid_from_status(status: &str) -> Option<u32> {
    let line = status.lines().find_map(|l| l.strip_prefix("NSpid:"))?;
    line.split_whitespace().last()?.parse().ok()
}

/// `[<0>] hrtimer_nanosleep+0x74/0xf0` lines → `hrtimer_nanosleep`.
fn read_stack(path: &Path) -> (Vec<String>, String) {
    match fs::read_to_string(path) {
        Ok(text) => {
            let frames = parse_stack(&text);
            let status = if frames.is_empty() {
                "empty (the kernel showed no frames: running, or stacks hidden)".to_string()
            } else {
                "ok".to_string()
            };
            (frames, status)
        }
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => (
            Vec::new(),
            "unreadable: permission denied (/proc/<tid>/stack needs root)".into(),
        ),
        Err(e) => (Vec::new(), format!("unreadable: {e}")),
    }
}

pub fn parse_stack(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| {
            let l = l.trim();
            let rest = match l.find("] ") {
                Some(i) => &l[i + 2..],
                None => l,
            };
            let name = rest.split('+').next()?.trim();
            (!name.is_empty()).then(|| name.to_string())
        })
        .collect()
}

/// /proc/<tid>/syscall: "running", or the number, six args, sp and pc.
pub fn parse_syscall(bytes: &[u8]) -> Option<SyscallNow> {
    match procfs::process::Syscall::from_read(bytes).ok()? {
        procfs::process::Syscall::Blocked {
            syscall_number,
            argument_registers,
            ..
        } => {
            let nr = syscall_number;
            let is_futex = cfg!(target_arch = "x86_64") && nr == FUTEX;
            Some(SyscallNow {
                nr,
                name: syscall_name(nr).map(str::to_string),
                args: argument_registers,
                futex_addr: is_futex.then_some(argument_registers[0]),
                futex_op: is_futex.then(|| futex_op_name(argument_registers[1])),
            })
        }
        _ => None,
    }
}

fn futex_op_name(op: u64) -> String {
    // Low 7 bits are the command; 128 = PRIVATE, 256 = CLOCK_REALTIME.
    let cmd = match op & 0x7f {
        0 => "WAIT",
        1 => "WAKE",
        6 => "LOCK_PI",
        9 => "WAIT_BITSET",
        11 => "WAIT_REQUEUE_PI",
        13 => "LOCK_PI2",
        _ => return format!("op {op}"),
    };
    let private = if op & 128 != 0 { "_PRIVATE" } else { "" };
    format!("FUTEX_{cmd}{private}")
}

/// Name of an x86_64 syscall (none on other architectures).
pub fn syscall_name(nr: i64) -> Option<&'static str> {
    if !cfg!(target_arch = "x86_64") {
        return None;
    }
    name_x86_64(nr)
}

pub fn memory_pressure(proc_root: &Path, pid: u32) -> Option<PressureNow> {
    let roots = crate::cgroup::Roots {
        proc: proc_root.to_path_buf(),
        ..Default::default()
    };
    let cg = crate::cgroup::paths_of_pid_in(&roots, pid)
        .ok()
        .and_then(|p| p.v2);
    if let Some(dir) = cg {
        let file = dir.join("memory.pressure");
        if let Ok(text) = fs::read_to_string(&file) {
            let p = parse_psi(&text);
            return Some(PressureNow {
                scope: format!("cgroup {}", dir.display()),
                some_avg10: p.some_avg10,
                full_avg10: p.full_avg10,
            });
        }
    }
    let file = proc_root.join("pressure/memory");
    let p = parse_psi(&fs::read_to_string(&file).ok()?);
    Some(PressureNow {
        scope: format!("host-wide {}", file.display()),
        some_avg10: p.some_avg10,
        full_avg10: p.full_avg10,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_start_is_parsed_exactly() {
        let text = "sleep (24382, #threads: 1)\n---\nse.exec_start                                :       2747687.133670\nse.vruntime : 1.0\n";
        assert_eq!(exec_start_ns(text), Some(2_747_687_133_670));
        assert_eq!(exec_start_ns("se.exec_start : 12.5\n"), Some(12_500_000));
        assert_eq!(exec_start_ns("nothing\n"), None);
    }

    #[test]
    fn stack_and_syscall_parsing() {
        let stack = "[<0>] futex_wait_queue+0x60/0x90\n[<0>] __futex_wait+0x14e/0x1c0\n[<0>] do_syscall_64+0x71/0x280\n";
        assert_eq!(
            parse_stack(stack),
            ["futex_wait_queue", "__futex_wait", "do_syscall_64"]
        );
        assert!(parse_stack("").is_empty());
        let s = parse_syscall(
            b"202 0x7f0012345678 0x89 0x2 0x0 0x0 0xffffffff 0x7ffd0 0x7f89a3ff0503\n",
        )
        .unwrap();
        assert_eq!(s.nr, 202);
        if cfg!(target_arch = "x86_64") {
            assert_eq!(s.name.as_deref(), Some("futex"));
            assert_eq!(s.futex_addr, Some(0x7f00_1234_5678));
            assert_eq!(s.futex_op.as_deref(), Some("FUTEX_WAIT_BITSET_PRIVATE"));
        }
        assert_eq!(parse_syscall(b"running\n"), None);
    }
}
