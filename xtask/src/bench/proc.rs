//! Child processes the bench starts: output to files, SIGINT to stop,
//! SIGKILL on drop so an error never leaves a tracer attached, and the
//! /proc readings (CPU time, peak RSS) the capacity benchmark reports.

use std::{
    fs::File,
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Stdio},
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    thread::JoinHandle,
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, bail};

pub struct Proc {
    pub label: String,
    child: Child,
    pub stdout: PathBuf,
    pub stderr: PathBuf,
    status: Option<ExitStatus>,
    rss: Option<RssWatch>,
}

impl Proc {
    /// Start `cmd` with stdin closed and stdout/stderr in `dir/<label>.{out,err}`.
    pub fn spawn(label: &str, cmd: &mut Command, dir: &Path) -> Result<Proc> {
        let stdout = dir.join(format!("{label}.out"));
        let stderr = dir.join(format!("{label}.err"));
        let child = cmd
            .stdin(Stdio::null())
            .stdout(File::create(&stdout).context("creating an output file")?)
            .stderr(File::create(&stderr).context("creating an output file")?)
            .spawn()
            .with_context(|| format!("starting {label} ({cmd:?})"))?;
        Ok(Proc {
            label: label.into(),
            child,
            stdout,
            stderr,
            status: None,
            rss: None,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sample VmHWM every 20 ms until the process exits: the kernel drops
    /// the figure with the address space, so it must be read while alive.
    pub fn watch_rss(&mut self) {
        self.rss = Some(RssWatch::start(self.pid()));
    }

    /// Highest VmHWM seen so far, KiB.
    pub fn peak_rss_kib(&self) -> Option<u64> {
        self.rss
            .as_ref()
            .map(|w| w.peak.load(Ordering::Relaxed))
            .filter(|&k| k > 0)
    }

    pub fn interrupt(&self) {
        self.signal(libc::SIGINT);
    }

    fn signal(&self, sig: i32) {
        if self.status.is_none() {
            // SAFETY: signalling our own unreaped child: its PID cannot
            // have been reused.
            unsafe { libc::kill(self.child.id() as i32, sig) };
        }
    }

    /// Exit status if it has exited (reaps it).
    pub fn poll(&mut self) -> Result<Option<ExitStatus>> {
        if self.status.is_none() {
            // Reap only once the RSS watcher has stopped reading its /proc entry.
            if let Some(w) = &self.rss
                && !is_gone_or_zombie(self.child.id())
                && !w.done.load(Ordering::Relaxed)
            {
                return Ok(None);
            }
            if let Some(w) = self.rss.as_mut() {
                w.stop();
            }
            self.status = self
                .child
                .try_wait()
                .with_context(|| format!("waiting for {}", self.label))?;
        }
        Ok(self.status)
    }

    pub fn wait_timeout(&mut self, timeout: Duration) -> Result<Option<ExitStatus>> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(s) = self.poll()? {
                return Ok(Some(s));
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Wait for the exit; past `timeout`, kill it and fail.
    pub fn finish(&mut self, timeout: Duration) -> Result<ExitStatus> {
        match self.wait_timeout(timeout)? {
            Some(s) => Ok(s),
            None => {
                self.signal(libc::SIGKILL);
                let _ = self.wait_timeout(Duration::from_secs(5));
                bail!(
                    "{} did not exit within {:?}; killed{}",
                    self.label,
                    timeout,
                    self.stderr_tail()
                )
            }
        }
    }

    /// The end of its stderr, for error messages (starts with a newline).
    pub fn stderr_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.stderr).unwrap_or_default();
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        if lines.is_empty() {
            return String::new();
        }
        format!(
            "\n  {}: {}",
            self.label,
            lines[lines.len().saturating_sub(5)..].join("\n  ")
        )
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if self.status.is_none() {
            self.signal(libc::SIGKILL);
            let _ = self.wait_timeout(Duration::from_secs(5));
        }
        if let Some(w) = self.rss.as_mut() {
            w.stop();
        }
    }
}

/// Did this status come from a clean stop: exit 0, or the SIGINT we sent
/// (directly, or as the conventional 128 + 2)?
pub fn stopped_cleanly(s: ExitStatus) -> bool {
    use std::os::unix::process::ExitStatusExt as _;
    s.success() || s.code() == Some(130) || s.signal() == Some(libc::SIGINT)
}

pub fn is_gone_or_zombie(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(')')
            .is_none_or(|(_, rest)| rest.trim_start().starts_with(['Z', 'X'])),
        Err(_) => true,
    }
}

/// utime + stime of a whole process, in seconds.
pub fn cpu_secs(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised comm: state is field 3, utime 14, stime 15.
    let rest: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = rest.get(11)?.parse::<u64>().ok()? + rest.get(12)?.parse::<u64>().ok()?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    Some(ticks as f64 / if hz > 0 { hz as f64 } else { 100.0 })
}

struct RssWatch {
    peak: Arc<AtomicU64>,
    done: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl RssWatch {
    fn start(pid: u32) -> Self {
        let peak = Arc::new(AtomicU64::new(0));
        let done = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (peak, done, stop) = (Arc::clone(&peak), Arc::clone(&done), Arc::clone(&stop));
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    // A zombie's status has no VmHWM: the process is gone.
                    let Some(kib) = vm_hwm_kib(pid) else { break };
                    peak.fetch_max(kib, Ordering::Relaxed);
                    std::thread::sleep(Duration::from_millis(20));
                }
                done.store(true, Ordering::Relaxed);
            })
        };
        RssWatch {
            peak,
            done,
            stop,
            thread: Some(thread),
        }
    }

    fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

pub fn vm_hwm_kib(pid: u32) -> Option<u64> {
    status_kib(pid, "VmHWM:")
}

/// Resident set size now, KiB.
pub fn vm_rss_kib(pid: u32) -> Option<u64> {
    status_kib(pid, "VmRSS:")
}

/// A `kB` line of /proc/<pid>/status.
fn status_kib(pid: u32, key: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    parse_status_kib(&status, key)
}

fn parse_status_kib(status: &str, key: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Open file descriptors of a process (entries of /proc/<pid>/fd).
pub fn fd_count(pid: u32) -> Option<usize> {
    Some(std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count())
}

/// Threads of a process (entries of /proc/<pid>/task).
pub fn thread_count(pid: u32) -> Option<usize> {
    Some(std::fs::read_dir(format!("/proc/{pid}/task")).ok()?.count())
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_own_cpu_and_rss() {
        let pid = std::process::id();
        assert!(super::cpu_secs(pid).is_some());
        // RSS first: the high-water mark read after it can only be higher.
        let rss = super::vm_rss_kib(pid).unwrap();
        let hwm = super::vm_hwm_kib(pid).unwrap();
        assert!(rss > 0 && rss <= hwm, "rss {rss} hwm {hwm}");
        // stdin, stdout and stderr at least; the test harness's threads.
        assert!(super::fd_count(pid).is_some_and(|n| n >= 3));
        assert!(super::thread_count(pid).is_some_and(|n| n >= 1));
        assert!(super::fd_count(u32::MAX).is_none());
    }

    #[test]
    fn status_lines() {
        let s = "Name:\tx\nVmHWM:\t  2048 kB\nVmRSS:\t  1024 kB\n";
        assert_eq!(super::parse_status_kib(s, "VmRSS:"), Some(1024));
        assert_eq!(super::parse_status_kib(s, "VmHWM:"), Some(2048));
        assert_eq!(super::parse_status_kib(s, "VmSwap:"), None);
    }
}
