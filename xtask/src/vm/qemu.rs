//! Boots the guest under TCG and streams its console, with a hard timeout.
//!
//! TCG, not KVM: on these machines /dev/kvm exists but KVM guests hang at
//! boot (and `-cpu host` fails on MSR 0x10a), and a hang is only noticed at
//! the timeout, so trying KVM first would cost more than it saves.

use std::{
    fs,
    io::{BufRead, BufReader, Write},
    path::{Path, PathBuf},
    process::{Command, ExitStatus, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

use anyhow::{Context, Result};

use super::progress::Progress;

pub struct Boot<'a> {
    pub kernel: &'a Path,
    pub initramfs: &'a Path,
    /// Raw ext4 image attached as an NVMe drive (built into the 6.1 cloud
    /// kernel, unlike virtio-blk); /init mounts it at /data.
    pub disk: &'a Path,
    pub memory_mib: u32,
    pub cpus: u32,
    pub timeout: Duration,
    /// ttyS0 is copied here as well as shown; ttyS1 (the data channel) is
    /// written here by qemu.
    pub console_log: PathBuf,
    pub data_log: PathBuf,
}

pub enum Ended {
    Exited(ExitStatus),
    /// The whole budget ran out; says where the guest was.
    TimedOut(String),
    /// A scenario ran far past the guest's own limit: the guest is wedged.
    Stalled(String),
}

impl Boot<'_> {
    pub fn command(&self) -> Command {
        let mut cmd = Command::new("qemu-system-x86_64");
        cmd.args(["-accel", "tcg", "-cpu", "max"])
            .args(["-m", &self.memory_mib.to_string()])
            .args(["-smp", &self.cpus.to_string()])
            .arg("-kernel")
            .arg(self.kernel)
            .arg("-initrd")
            .arg(self.initramfs)
            // panic=-1 plus -no-reboot: a guest panic ends qemu at once
            // instead of waiting for the timeout.
            .args(["-append", "console=ttyS0 quiet panic=-1"])
            // cache=unsafe: a throwaway scratch disk, flushes need not reach
            // the host's disk (the guest's own page cache is what is tested).
            .arg("-drive")
            .arg(format!(
                "file={},format=raw,if=none,id=data,cache=unsafe",
                qemu_escape(&self.disk.display().to_string())
            ))
            .args(["-device", "nvme,drive=data,serial=vmtest-data"])
            // No default NIC/VGA: SeaBIOS would otherwise try a PXE boot.
            .args(["-nodefaults", "-no-user-config", "-display", "none"])
            .args(["-serial", "stdio"])
            .arg("-serial")
            .arg(format!("file:{}", self.data_log.display()))
            .arg("-no-reboot");
        cmd
    }

    /// Runs qemu to the end, to the timeout, or until `progress` finds the
    /// guest wedged (then kills it). Console lines go to stdout prefixed with
    /// `vm| `.
    pub fn run(&self, progress: &mut Progress) -> Result<(Ended, Duration)> {
        let _ = fs::remove_file(&self.data_log);
        let mut log = fs::File::create(&self.console_log)
            .with_context(|| format!("create {}", self.console_log.display()))?;
        let start = Instant::now();
        let mut child = self
            .command()
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("start qemu-system-x86_64")?;
        let (tx, rx) = mpsc::channel::<String>();
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = child.stderr.take().expect("piped stderr");
        let tx2 = tx.clone();
        std::thread::spawn(move || forward(stdout, &tx));
        std::thread::spawn(move || forward(stderr, &tx2));
        let deadline = start + self.timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left.min(Duration::from_millis(200))) {
                Ok(line) => {
                    let clean = printable(&line);
                    let _ = writeln!(log, "{clean}");
                    if !clean.trim().is_empty() {
                        println!("vm| {clean}");
                    }
                    progress.see(&clean, Instant::now());
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                // Both pipes closed: qemu is gone or going.
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let status = child.wait().context("wait for qemu")?;
                    return Ok((Ended::Exited(status), start.elapsed()));
                }
            }
            if let Some(status) = child.try_wait()? {
                // Drain what is still buffered in the pipes.
                while let Ok(line) = rx.recv_timeout(Duration::from_millis(100)) {
                    let clean = printable(&line);
                    let _ = writeln!(log, "{clean}");
                    println!("vm| {clean}");
                }
                return Ok((Ended::Exited(status), start.elapsed()));
            }
            let now = Instant::now();
            let ended = if now >= deadline {
                Some(Ended::TimedOut(progress.whereabouts(now)))
            } else {
                progress.stalled(now).map(Ended::Stalled)
            };
            if let Some(ended) = ended {
                let _ = child.kill();
                let _ = child.wait();
                return Ok((ended, start.elapsed()));
            }
        }
    }
}

/// qemu option values separate with commas; a literal comma is doubled.
fn qemu_escape(value: &str) -> String {
    value.replace(',', ",,")
}

fn forward(from: impl std::io::Read, tx: &mpsc::Sender<String>) {
    let mut reader = BufReader::new(from);
    let mut buf = Vec::new();
    while let Ok(n) = reader.read_until(b'\n', &mut buf) {
        if n == 0 || tx.send(String::from_utf8_lossy(&buf).into_owned()).is_err() {
            break;
        }
        buf.clear();
    }
}

/// Drops terminal escape sequences (SeaBIOS clears the screen) and control
/// characters so the console log reads as text.
fn printable(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            // CSI is ESC [ params final-byte(@..~); anything else here is a
            // two-character sequence such as ESC c (reset).
            if chars.next() == Some('[') {
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            }
        } else if !c.is_control() || c == '\t' {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{printable, qemu_escape};

    #[test]
    fn escapes_commas() {
        assert_eq!(qemu_escape("/a,b/disk.img"), "/a,,b/disk.img");
    }

    #[test]
    fn strips_escapes() {
        assert_eq!(printable("\x1bc\x1b[?7l\x1b[2JLinux 6.1\r\n"), "Linux 6.1");
        assert_eq!(printable("VMTEST DONE\r\n"), "VMTEST DONE");
    }
}
