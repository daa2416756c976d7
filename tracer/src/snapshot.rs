//! "Where is every thread right now": state, time since it last ran, wchan,
//! kernel stack, current syscall, and a cause guess, for every thread of the
//! target, taken from /proc before tracing starts. This is what catches
//! threads that were wedged long before starvetrace attached.
//!
//! Time since a thread last ran: `/proc/<pid>/task/<tid>/sched` shows
//! `se.exec_start`, the scheduler's rq clock (ms, 6 decimals) when the
//! thread's runtime was last accounted — for a thread that is off-CPU, the
//! moment it left the CPU. The rq clock is not CLOCK_MONOTONIC (it ran
//! ~450 ms behind it on the development VM) and, on VMs without a stable
//! TSC, it is per CPU: CPU 0 and CPU 1 differed by 75–83 ms there. So "now"
//! is read in the same clock of the same CPU: a helper thread pinned to the
//! CPU the thread last ran on (`processor` in its stat) calls
//! `sched_yield()` (which accounts its runtime) and reads its own
//! `/proc/thread-self/sched` `se.exec_start`. Age = that now − the thread's
//! exec_start; the CLOCK_MONOTONIC moment it went off-CPU = the monotonic
//! time read beside that "now" − age.

use std::{
    collections::{BTreeMap, BTreeSet},
    fs, io,
    path::{Path, PathBuf},
};

use procfs::{FromRead, process::Stat};

pub use crate::model::snapshot::{
    AGE_SOURCE, FutexGroup, PressureNow, RUNQUEUE_OR_RUNNING, Snapshot, SyscallNow, ThreadSnapshot,
};
use crate::{
    analyze::roles::{Role, role_in_process},
    cgroup::files::parse_psi,
    model::cause::Cause,
    sys::syscalls::{FUTEX, cause_x86_64, name_x86_64},
    trace::rules,
};

/// Where to read, and how to name worker threads.
#[derive(Clone, Debug)]
pub struct Options {
    pub proc_root: PathBuf,
    /// The user's `--threads` regex for runtime workers.
    pub workers: Option<regex::Regex>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            proc_root: PathBuf::from("/proc"),
            workers: None,
        }
    }
}

/// Snapshot every thread of `pids`.
pub fn take(pids: &[u32]) -> Snapshot {
    take_with(pids, &Options::default())
}

pub fn take_with(pids: &[u32], opts: &Options) -> Snapshot {
    let mut snap = Snapshot {
        taken_at_unix_ms: crate::sys::unix_ms(),
        ..Default::default()
    };
    let mut raw: Vec<(ThreadSnapshot, Option<u64>, Option<u32>)> = Vec::new();
    let mut stack_errors: BTreeMap<String, usize> = BTreeMap::new();
    for &pid in pids {
        let task_dir = opts.proc_root.join(pid.to_string()).join("task");
        let Ok(rd) = fs::read_dir(&task_dir) else {
            snap.notes
                .push(format!("process {pid} is gone (no {})", task_dir.display()));
            continue;
        };
        let process_comm =
            read_trim(&opts.proc_root.join(pid.to_string()).join("comm")).unwrap_or_default();
        let mut tids: Vec<u32> = rd
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse().ok())
            .collect();
        tids.sort_unstable();
        for tid in tids {
            // A thread that exits mid-read is simply left out.
            let dir = task_dir.join(tid.to_string());
            let Some(r) = read_thread(&dir, pid, tid, &process_comm, opts) else {
                continue;
            };
            if r.0.kernel_stack_status.starts_with("unreadable") {
                *stack_errors
                    .entry(r.0.kernel_stack_status.clone())
                    .or_default() += 1;
            }
            raw.push(r);
        }
    }
    for (why, n) in stack_errors {
        snap.notes.push(format!(
            "kernel stacks of {n} threads {why}; causes come from syscall and wchan"
        ));
    }
    // Blocked threads' exec_start does not move, so reading the clocks after
    // the threads is fine; all ages are then moved to one instant.
    let cpus: BTreeSet<u32> = raw.iter().filter_map(|r| r.2).collect();
    let clocks = clocks_on(&cpus);
    let fallback = local_clock();
    snap.taken_at_monotonic_ns = crate::sys::monotonic_ns();
    snap.source = if clocks.is_empty() && fallback.is_none() {
        "no age: /proc/thread-self/sched is unreadable (kernel without CONFIG_SCHED_DEBUG?)".into()
    } else {
        AGE_SOURCE.into()
    };
    let mut unpinned = 0;
    for (mut t, exec_start, cpu) in raw {
        let clock = match cpu.and_then(|c| clocks.get(&c)) {
            Some(c) => Some(*c),
            None => {
                unpinned += 1;
                fallback
            }
        };
        if let (Some(c), Some(start)) = (clock, exec_start) {
            let age_then = c.rq_ns.saturating_sub(start);
            let off = c.mono_ns.saturating_sub(age_then);
            t.off_since_monotonic_ns = Some(off);
            t.since_last_ran_ns = Some(snap.taken_at_monotonic_ns.saturating_sub(off));
        }
        snap.threads.push(t);
    }
    if unpinned > 0 && !snap.threads.is_empty() {
        snap.notes.push(format!(
            "{unpinned} threads last ran on a CPU starvetrace could not run on; their ages use another CPU's clock and may be off by the per-CPU clock skew ({})",
            clock_skew(&clocks).map(human_ns).unwrap_or_else(|| "unknown".into())
        ));
    }
    snap.futex_groups = futex_groups(&snap.threads);
    snap.memory_pressure = pids
        .first()
        .and_then(|&p| memory_pressure(&opts.proc_root, p));
    snap.summary = summarize(&snap);
    snap
}

/// A CPU's rq clock and CLOCK_MONOTONIC read together.
#[derive(Clone, Copy, Debug)]
struct CpuClock {
    rq_ns: u64,
    mono_ns: u64,
}

/// Largest difference between CPUs' rq clock offsets from CLOCK_MONOTONIC.
fn clock_skew(clocks: &BTreeMap<u32, CpuClock>) -> Option<u64> {
    let offs: Vec<i128> = clocks
        .values()
        .map(|c| c.mono_ns as i128 - c.rq_ns as i128)
        .collect();
    let (lo, hi) = (offs.iter().min()?, offs.iter().max()?);
    u64::try_from(hi - lo).ok()
}

/// The calling thread's rq clock "now": its exec_start right after a yield.
fn local_clock() -> Option<CpuClock> {
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
fn clocks_on(cpus: &BTreeSet<u32>) -> BTreeMap<u32, CpuClock> {
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

fn read_trim(path: &Path) -> Option<String> {
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
fn read_thread(
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

/// Cause from the shared rules: R → runqueue-or-running; else the kernel
/// stack (most specific), the syscall, the wchan, in that order.
pub fn guess_cause(
    state: &str,
    stack: &[String],
    syscall: Option<&SyscallNow>,
    wchan: Option<&str>,
) -> (String, String) {
    if state == "R" {
        return (RUNQUEUE_OR_RUNNING.into(), "state R".into());
    }
    if let Some(c) = rules::from_frames(stack.iter().map(String::as_str)) {
        return (c.name().into(), "kernel stack".into());
    }
    if cfg!(target_arch = "x86_64")
        && let Some(c) = syscall.and_then(|s| cause_x86_64(s.nr))
    {
        return (c.name().into(), "syscall".into());
    }
    if let Some(c) = wchan.and_then(|w| rules::from_frames([w])) {
        return (c.name().into(), "wchan".into());
    }
    (Cause::Other.name().into(), "none".into())
}

fn futex_groups(threads: &[ThreadSnapshot]) -> Vec<FutexGroup> {
    let mut by: BTreeMap<(u32, u64), FutexGroup> = BTreeMap::new();
    for t in threads.iter().filter(|t| t.state != "R") {
        let Some(addr) = t.syscall.as_ref().and_then(|s| s.futex_addr) else {
            continue;
        };
        let g = by.entry((t.pid, addr)).or_insert_with(|| FutexGroup {
            pid: t.pid,
            addr,
            ..Default::default()
        });
        g.tids.push(t.tid);
        g.comms.push(t.comm.clone());
        g.min_age_ns = match (g.min_age_ns, t.since_last_ran_ns) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }
    let mut v: Vec<FutexGroup> = by.into_values().collect();
    v.sort_by(|a, b| b.tids.len().cmp(&a.tids.len()).then(a.addr.cmp(&b.addr)));
    v
}

fn memory_pressure(proc_root: &Path, pid: u32) -> Option<PressureNow> {
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

/// "340 ms", "5.2 s", "61 min", "2.1 h".
pub fn human_ns(ns: u64) -> String {
    let s = ns as f64 / 1e9;
    if s < 1.0 {
        format!("{} ms", ns / 1_000_000)
    } else if s < 60.0 {
        format!("{s:.1} s")
    } else if s < 3.0 * 3600.0 {
        // Minutes up to 3 h: "61 min" reads better than "1.0 h".
        format!("{:.0} min", s / 60.0)
    } else {
        format!("{:.1} h", s / 3600.0)
    }
}

fn cause_phrase(cause: &str) -> String {
    match cause {
        "futex" => "in futex wait".into(),
        "epoll" => "in epoll/poll wait (idle reactor)".into(),
        "sleep" => "in a timed sleep".into(),
        "io" => "in I/O wait".into(),
        RUNQUEUE_OR_RUNNING => "runnable (on a CPU or waiting for one)".into(),
        "other" => "blocked (cause unknown)".into(),
        c => match Cause::from_name(c) {
            Some(code) => format!("in {c} ({})", code.description()),
            None => format!("in {c}"),
        },
    }
}

fn plural(role: Role, n: usize) -> String {
    let base = match role {
        Role::TokioWorker => "tokio worker",
        Role::SameNameAsProcess => "thread named like its process",
        Role::Named => "other thread",
    };
    if n == 1 {
        base.into()
    } else if role == Role::SameNameAsProcess {
        "threads named like their process".into()
    } else {
        format!("{base}s")
    }
}

fn memory_clause(p: Option<&PressureNow>) -> String {
    let Some(p) = p else {
        return "memory PSI not available here".into();
    };
    let scope = if p.scope.starts_with("host") {
        "host-wide"
    } else {
        "cgroup"
    };
    match (p.some_avg10, p.full_avg10) {
        (Some(s), full) if s < 1.0 => format!(
            "no memory stall ({scope} memory PSI some avg10 {s:.2}%{})",
            full.map(|f| format!(", full {f:.2}%")).unwrap_or_default()
        ),
        (Some(s), full) => format!(
            "MEMORY STALL: {scope} memory PSI some avg10 {s:.2}%{}",
            full.map(|f| format!(", full {f:.2}%")).unwrap_or_default()
        ),
        (None, _) => "memory PSI not available here".into(),
    }
}

/// One line per (role, cause) for workers and same-name threads, a count
/// line for the rest, and every D-state thread.
fn summarize(snap: &Snapshot) -> Vec<String> {
    let mut out = Vec::new();
    if snap.threads.is_empty() {
        out.push("no threads found".into());
        return out;
    }
    let mem = memory_clause(snap.memory_pressure.as_ref());
    for role in [Role::TokioWorker, Role::SameNameAsProcess] {
        let all: Vec<&ThreadSnapshot> = snap.threads.iter().filter(|t| t.role == role).collect();
        if all.is_empty() {
            continue;
        }
        let mut by_cause: BTreeMap<&str, Vec<&ThreadSnapshot>> = BTreeMap::new();
        for t in &all {
            by_cause.entry(t.cause.as_str()).or_default().push(t);
        }
        let mut groups: Vec<_> = by_cause.into_iter().collect();
        groups.sort_by_key(|g| std::cmp::Reverse(g.1.len()));
        for (cause_name, ts) in groups {
            let mut line = format!(
                "{} of {} {} {} {}",
                ts.len(),
                all.len(),
                plural(role, all.len()),
                if ts.len() == 1 {
                    "has been"
                } else {
                    "have been"
                },
                cause_phrase(cause_name)
            );
            if cause_name != RUNQUEUE_OR_RUNNING {
                line.push_str(&age_range(&ts));
            }
            if cause_name == "futex" && ts.len() > 1 {
                let addrs: Vec<_> = ts
                    .iter()
                    .map(|t| (t.pid, t.syscall.as_ref().and_then(|s| s.futex_addr)))
                    .collect();
                if let Some((_, Some(a))) = addrs.first().copied()
                    && addrs.iter().all(|x| *x == addrs[0])
                {
                    line.push_str(&format!(" on the same address {a:#x}"));
                }
            }
            out.push(line);
        }
    }
    if let Some(first) = out.first_mut() {
        first.push_str(&format!("; {mem}"));
    } else {
        out.push(mem);
    }
    let others: Vec<&ThreadSnapshot> = snap
        .threads
        .iter()
        .filter(|t| t.role == Role::Named)
        .collect();
    if !others.is_empty() {
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for t in &others {
            *counts.entry(t.cause.as_str()).or_default() += 1;
        }
        let parts: Vec<String> = counts.iter().map(|(c, n)| format!("{n} {c}")).collect();
        out.push(format!(
            "{} {}: {}",
            others.len(),
            plural(Role::Named, others.len()),
            parts.join(", ")
        ));
    }
    for t in snap.threads.iter().filter(|t| t.state == "D") {
        out.push(format!(
            "{} (tid {}) is in D (uninterruptible): {}{}",
            t.comm,
            t.tid,
            t.cause,
            t.since_last_ran_ns
                .map(|a| format!(" for {}", human_ns(a)))
                .unwrap_or_default()
        ));
    }
    for g in snap.futex_groups.iter().filter(|g| g.tids.len() > 1) {
        out.push(format!(
            "{} threads of process {} wait on futex {:#x}: {}",
            g.tids.len(),
            g.pid,
            g.addr,
            g.comms.join(", ")
        ));
    }
    out
}

fn age_range(ts: &[&ThreadSnapshot]) -> String {
    let ages: Vec<u64> = ts.iter().filter_map(|t| t.since_last_ran_ns).collect();
    let (Some(&lo), Some(&hi)) = (ages.iter().min(), ages.iter().max()) else {
        return String::new();
    };
    let (a, b) = (human_ns(lo), human_ns(hi));
    if a == b {
        format!(" for {a}")
    } else {
        format!(" for {a} to {b}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::{
        sync::{Arc, Mutex},
        time::{Duration, Instant},
    };

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

    fn sys(nr: i64) -> SyscallNow {
        SyscallNow {
            nr,
            ..Default::default()
        }
    }

    #[test]
    fn cause_rules() {
        let frames = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(guess_cause("R", &[], None, None).0, RUNQUEUE_OR_RUNNING);
        let throttle = frames(&["__mem_cgroup_handle_over_high", "exit_to_user_mode_loop"]);
        assert_eq!(
            guess_cause("D", &throttle, Some(&sys(202)), None),
            ("memcg_high_throttle".into(), "kernel stack".into())
        );
        if cfg!(target_arch = "x86_64") {
            // No stack (not root): the syscall decides.
            assert_eq!(
                guess_cause("S", &[], Some(&sys(232)), None),
                ("epoll".into(), "syscall".into())
            );
        }
        assert_eq!(
            guess_cause("S", &[], None, Some("do_nanosleep")),
            ("sleep".into(), "wchan".into())
        );
        assert_eq!(
            guess_cause("D", &[], None, None),
            ("other".into(), "none".into())
        );
    }

    #[test]
    fn human_durations() {
        assert_eq!(human_ns(340_000_000), "340 ms");
        assert_eq!(human_ns(5_200_000_000), "5.2 s");
        assert_eq!(human_ns(61 * 60 * 1_000_000_000), "61 min");
    }

    fn worker(tid: u32, addr: u64, age_s: u64) -> ThreadSnapshot {
        ThreadSnapshot {
            pid: 10,
            tid,
            comm: "tokio-rt-worker".into(),
            role: Role::TokioWorker,
            state: "S".into(),
            since_last_ran_ns: Some(age_s * 1_000_000_000),
            syscall: Some(SyscallNow {
                nr: 202,
                futex_addr: Some(addr),
                ..Default::default()
            }),
            cause: "futex".into(),
            ..Default::default()
        }
    }

    #[test]
    fn summary_for_the_wedge() {
        let mut snap = Snapshot {
            threads: vec![
                worker(11, 0x7f00_0000_1000, 3660),
                worker(12, 0x7f00_0000_1000, 3661),
                ThreadSnapshot {
                    pid: 10,
                    tid: 10,
                    comm: "zeam".into(),
                    role: Role::SameNameAsProcess,
                    state: "D".into(),
                    since_last_ran_ns: Some(2_000_000_000),
                    cause: "page_fault_io".into(),
                    ..Default::default()
                },
                ThreadSnapshot {
                    role: Role::Named,
                    cause: "epoll".into(),
                    state: "S".into(),
                    ..Default::default()
                },
            ],
            memory_pressure: Some(PressureNow {
                scope: "cgroup /x".into(),
                some_avg10: Some(0.0),
                full_avg10: Some(0.0),
            }),
            ..Default::default()
        };
        snap.futex_groups = futex_groups(&snap.threads);
        assert_eq!(snap.futex_groups.len(), 1);
        assert_eq!(snap.futex_groups[0].tids, [11, 12]);
        assert_eq!(snap.futex_groups[0].min_age_ns, Some(3_660_000_000_000));
        let s = summarize(&snap);
        assert_eq!(
            s[0],
            "2 of 2 tokio workers have been in futex wait for 61 min on the same address 0x7f0000001000; no memory stall (cgroup memory PSI some avg10 0.00%, full 0.00%)"
        );
        assert!(
            s[1].starts_with("1 of 1 thread named like its process has been in page_fault_io"),
            "{s:?}"
        );
        assert_eq!(s[2], "1 other thread: 1 epoll");
        assert_eq!(
            s[3],
            "zeam (tid 10) is in D (uninterruptible): page_fault_io for 2.0 s"
        );
        assert!(s[4].starts_with("2 threads of process 10 wait on futex 0x7f0000001000"));
    }

    /// Our own process, no root needed: a thread blocked on a held std
    /// Mutex shows as a futex wait with an age of at least the time it has
    /// been blocked.
    #[test]
    fn live_snapshot_of_a_blocked_thread() {
        let lock = Arc::new(Mutex::new(()));
        let guard = lock.lock().unwrap();
        let l2 = lock.clone();
        let blocked_at = Arc::new(Mutex::new(None));
        let b2 = blocked_at.clone();
        let h = std::thread::Builder::new()
            .name("st-blocked".into())
            .spawn(move || {
                *b2.lock().unwrap() = Some(Instant::now());
                let _g = l2.lock();
            })
            .unwrap();
        std::thread::sleep(Duration::from_millis(1200));
        let snap = take(&[std::process::id()]);
        let elapsed = blocked_at.lock().unwrap().unwrap().elapsed();
        drop(guard);
        h.join().unwrap();
        let t = snap
            .threads
            .iter()
            .find(|t| t.comm == "st-blocked")
            .expect("thread listed");
        assert_eq!(t.state, "S");
        assert_eq!(t.cause, "futex", "{t:?}");
        assert_eq!(t.role, Role::Named);
        if snap.source == AGE_SOURCE {
            let age = t.since_last_ran_ns.unwrap();
            let el = elapsed.as_nanos() as u64;
            // The snapshot ran after `blocked_at` was stamped and before
            // `elapsed` was read: age within [elapsed - snapshot time,
            // elapsed], with a few ms for the clock reads.
            assert!(
                age <= el + 5_000_000 && age + 300_000_000 >= el,
                "age {age} vs elapsed {el}"
            );
            let off = t.off_since_monotonic_ns.unwrap();
            assert!(off <= snap.taken_at_monotonic_ns);
        }
        assert!(snap.threads.iter().any(|t| t.tid == std::process::id()));
    }
}
