//! Our own CPU time and resident memory, from /proc/self.

use std::fs;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Usage {
    pub cpu_seconds: f64,
    pub resident_bytes: u64,
}

pub fn read() -> std::io::Result<Usage> {
    let stat = fs::read_to_string("/proc/self/stat")?;
    let status = fs::read_to_string("/proc/self/status")?;
    let bad = |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_string());
    let ticks = cpu_ticks(&stat).ok_or_else(|| bad("/proc/self/stat: no utime/stime"))?;
    let resident_bytes = vm_rss_bytes(&status).ok_or_else(|| bad("/proc/self/status: no VmRSS"))?;
    Ok(Usage {
        cpu_seconds: ticks as f64 / procfs::ticks_per_second().max(1) as f64,
        resident_bytes,
    })
}

/// utime + stime (fields 14 and 15) in clock ticks. The comm (field 2) may
/// hold spaces and parentheses, so fields are counted after its last `)`.
pub fn cpu_ticks(stat: &str) -> Option<u64> {
    let after_comm = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_comm.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// `VmRSS:   1234 kB` in bytes.
pub fn vm_rss_bytes(status: &str) -> Option<u64> {
    let kb = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .strip_suffix("kB")?
        .trim()
        .parse::<u64>()
        .ok()?;
    Some(kb * 1024)
}
