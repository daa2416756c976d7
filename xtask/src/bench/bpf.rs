//! Kernel BPF run-time statistics without bpftool: switch them on through
//! the bpf(2) syscall, read `run_time_ns`/`run_cnt` from a tracer's
//! /proc/<pid>/fdinfo, and name each program by its id.

use std::os::fd::{FromRawFd as _, OwnedFd};

use anyhow::{Context as _, Result, bail};

const BPF_PROG_GET_FD_BY_ID: libc::c_long = 13;
const BPF_OBJ_GET_INFO_BY_FD: libc::c_long = 15;
const BPF_ENABLE_STATS: libc::c_long = 32;
const BPF_STATS_RUN_TIME: u32 = 0;
const SYSCTL: &str = "/proc/sys/kernel/bpf_stats_enabled";

#[derive(Clone, Debug, Default)]
pub struct ProgStat {
    pub id: u32,
    pub name: String,
    pub run_cnt: u64,
    pub run_time_ns: u64,
}

impl ProgStat {
    pub fn ns_per_run(&self) -> Option<f64> {
        (self.run_cnt > 0).then(|| self.run_time_ns as f64 / self.run_cnt as f64)
    }
}

fn bpf(cmd: libc::c_long, attr: &mut [u64]) -> std::io::Result<i32> {
    // SAFETY: `attr` is a zeroed, 8-byte aligned buffer at least as large
    // as the union member this command reads; the kernel copies only
    // `size` bytes and requires the rest to be zero.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr.as_mut_ptr(),
            size_of_val(attr) as libc::c_uint,
        )
    };
    if rc < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(rc as i32)
    }
}

/// Keeps kernel BPF statistics on while alive (they cost every program a
/// clock read or two per run, so they are on only for the cost phase).
pub enum StatsGuard {
    /// BPF_ENABLE_STATS: the kernel turns them off when this fd closes,
    /// even if the bench is killed, so the host is never left changed.
    Fd { _enabled: OwnedFd },
    /// Fallback for kernels without it: the sysctl, restored on drop.
    Sysctl { previous: String },
}

impl Drop for StatsGuard {
    fn drop(&mut self) {
        if let StatsGuard::Sysctl { previous } = self
            && let Err(e) = std::fs::write(SYSCTL, previous.as_bytes())
        {
            eprintln!("bench: warning: could not restore {SYSCTL} to {previous}: {e}");
        }
    }
}

pub fn enable_stats() -> Result<StatsGuard> {
    let mut attr = [u64::from(BPF_STATS_RUN_TIME), 0];
    match bpf(BPF_ENABLE_STATS, &mut attr) {
        // SAFETY: a new descriptor the kernel just returned to us.
        Ok(fd) => Ok(StatsGuard::Fd {
            _enabled: unsafe { OwnedFd::from_raw_fd(fd) },
        }),
        Err(_) => {
            let previous =
                std::fs::read_to_string(SYSCTL).with_context(|| format!("reading {SYSCTL}"))?;
            std::fs::write(SYSCTL, "1").with_context(|| format!("setting {SYSCTL}"))?;
            Ok(StatsGuard::Sysctl {
                previous: previous.trim().to_string(),
            })
        }
    }
}

/// Every BPF program `pid` holds a descriptor to, with its counters.
pub fn prog_stats(pid: u32) -> Result<Vec<ProgStat>> {
    let dir = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .with_context(|| format!("listing fds of {pid}"))?;
    let mut out: Vec<ProgStat> = Vec::new();
    for entry in dir.filter_map(|e| e.ok()) {
        let is_prog = std::fs::read_link(entry.path())
            .is_ok_and(|t| t.to_string_lossy() == "anon_inode:bpf-prog");
        if !is_prog {
            continue;
        }
        let fd = entry.file_name();
        let Ok(info) =
            std::fs::read_to_string(format!("/proc/{pid}/fdinfo/{}", fd.to_string_lossy()))
        else {
            continue;
        };
        let field = |k: &str| {
            info.lines()
                .find_map(|l| l.strip_prefix(k))
                .and_then(|v| v.trim_start_matches(':').trim().parse::<u64>().ok())
        };
        let (Some(id), Some(run_time_ns), Some(run_cnt)) =
            (field("prog_id"), field("run_time_ns"), field("run_cnt"))
        else {
            continue;
        };
        if out.iter().any(|p| u64::from(p.id) == id) {
            continue;
        }
        let id = id as u32;
        out.push(ProgStat {
            id,
            name: prog_name(id).unwrap_or_else(|_| format!("prog {id}")),
            run_cnt,
            run_time_ns,
        });
    }
    if out.is_empty() {
        bail!("process {pid} holds no BPF program descriptors");
    }
    out.sort_by(|a, b| b.run_cnt.cmp(&a.run_cnt).then(a.name.cmp(&b.name)));
    Ok(out)
}

/// A program's name (the kernel keeps the first 15 bytes).
fn prog_name(id: u32) -> Result<String> {
    // union bpf_attr for BPF_PROG_GET_FD_BY_ID: { u32 prog_id; u32 next_id; u32 open_flags; }
    let mut attr = [u64::from(id), 0];
    let fd = bpf(BPF_PROG_GET_FD_BY_ID, &mut attr).context("BPF_PROG_GET_FD_BY_ID")?;
    // SAFETY: a new descriptor the kernel just returned to us.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    // struct bpf_prog_info up to and including `char name[16]` at offset 64:
    // 80 bytes. Its pointer fields stay zero, so nothing else is copied.
    let mut info = [0u64; 10];
    let raw = std::os::fd::AsRawFd::as_raw_fd(&fd) as u64;
    // union bpf_attr for BPF_OBJ_GET_INFO_BY_FD: { u32 bpf_fd; u32 info_len; u64 info; }
    let mut attr = [
        raw | ((size_of_val(&info) as u64) << 32),
        info.as_mut_ptr() as u64,
        0,
    ];
    bpf(BPF_OBJ_GET_INFO_BY_FD, &mut attr).context("BPF_OBJ_GET_INFO_BY_FD")?;
    let bytes: Vec<u8> = info[8..10].iter().flat_map(|w| w.to_ne_bytes()).collect();
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    Ok(String::from_utf8_lossy(&bytes[..end]).into_owned())
}
