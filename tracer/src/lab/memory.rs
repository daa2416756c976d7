//! Memory for the memory scenarios: anonymous ballast, a file-backed data set
//! mapped into memory, and the page touching the runtime threads do.
//!
//! memory-max: anon ballast holds most of the limit (it cannot be reclaimed:
//! no swap), so the mapped data file's pages keep being reclaimed and read
//! back; tasks reading through the mapping stall the worker they run on in
//! reclaim and major faults. Anon stays well below the limit: no OOM kill.
//!
//! memory-high: the ballast grows slowly past memory.high and tasks keep
//! allocating fresh pages, so every charge returns to user space through the
//! over-high penalty (the allocating runtime thread sleeps).

use std::{
    fs::{File, OpenOptions},
    io::{self, Write},
    os::{fd::AsRawFd, unix::fs::OpenOptionsExt},
    path::{Path, PathBuf},
    ptr,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

use super::LabError;

pub const MIB: usize = 1 << 20;
const PAGE: usize = 4096;

/// A private mapping: anonymous memory or a read-only shared file mapping
/// (which keeps its file open, to read it with `pread` and evict it).
#[derive(Debug)]
pub struct Mapping {
    ptr: *mut u8,
    len: usize,
    file: Option<File>,
}

// SAFETY: the mapping is plain memory owned by this value; shared access only
// reads (file mappings are PROT_READ), writes need &mut.
unsafe impl Send for Mapping {}
unsafe impl Sync for Mapping {}

impl Mapping {
    /// Anonymous memory, every page touched (so it is charged now).
    pub fn anon_touched(len: usize) -> io::Result<Self> {
        // SAFETY: a fresh private anonymous mapping; checked for MAP_FAILED.
        let p = unsafe {
            libc::mmap(
                ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let mut m = Mapping {
            ptr: p.cast(),
            len,
            file: None,
        };
        m.touch_all();
        Ok(m)
    }

    fn touch_all(&mut self) {
        for off in (0..self.len).step_by(PAGE) {
            // SAFETY: off < len, inside our writable mapping.
            unsafe { ptr::write_volatile(self.ptr.add(off), (off / PAGE) as u8 | 1) };
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn pages(&self) -> usize {
        self.len / PAGE
    }

    /// Reads one byte from `n` pseudo-random pages; returns a checksum so the
    /// reads cannot be optimised away. Each read of an evicted page is a major
    /// fault (and under the limit, a memcg reclaim first).
    pub fn read_random_pages(&self, rng: &mut Rng, n: usize) -> u64 {
        let pages = self.pages().max(1);
        let mut sum = 0u64;
        for _ in 0..n {
            let page = (rng.next() % pages as u64) as usize;
            // SAFETY: page < pages, so the byte is inside the readable mapping.
            sum = sum.wrapping_add(u64::from(unsafe {
                ptr::read_volatile(self.ptr.add(page * PAGE))
            }));
        }
        sum
    }

    /// Reads one byte from each of up to `n` distinct pages, visited in a
    /// scrambled order (`start + i × step`, step odd, so no page repeats while
    /// `n` ≤ pages and the page count is a power of two), stopping early once
    /// `deadline` has passed. Returns (pages read, checksum).
    pub fn read_distinct_pages(
        &self,
        rng: &mut Rng,
        n: usize,
        deadline: std::time::Instant,
    ) -> (usize, u64) {
        let pages = self.pages().max(1) as u64;
        let (start, step) = (rng.next() % pages, (rng.next() % pages) | 1);
        let mut sum = 0u64;
        for i in 0..n as u64 {
            let page = ((start + i.wrapping_mul(step)) % pages) as usize;
            // SAFETY: page < pages, so the byte is inside the readable mapping.
            sum = sum.wrapping_add(u64::from(unsafe {
                ptr::read_volatile(self.ptr.add(page * PAGE))
            }));
            if i % 64 == 63 && std::time::Instant::now() >= deadline {
                return (i as usize + 1, sum);
            }
        }
        (n, sum)
    }

    /// Drops a file mapping's pages from this process and from the page cache
    /// (clean pages; mapped ones would be skipped, hence MADV_DONTNEED first),
    /// so the next read of any page waits for the disk. No-op for anon memory.
    pub fn evict(&self) {
        if let Some(f) = &self.file {
            // SAFETY: advice on our own mapping and fd; MADV_DONTNEED on a
            // shared read-only file mapping only drops our page-table entries.
            unsafe {
                libc::madvise(self.ptr.cast(), self.len, libc::MADV_DONTNEED);
                libc::posix_fadvise(f.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED);
            }
        }
    }

    /// The open data file behind a file mapping.
    pub fn file(&self) -> Option<&File> {
        self.file.as_ref()
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: unmapping exactly what mmap returned.
        unsafe { libc::munmap(self.ptr.cast(), self.len) };
    }
}

/// xorshift64*: deterministic per-task page choice without a dependency.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

const TMPFS_MAGIC: i64 = 0x0102_1994;
const RAMFS_MAGIC: i64 = 0x8584_58f6;

/// The data file must live on a disk: tmpfs/ramfs pages are swap-backed, so
/// without swap they could not be reclaimed and the lab would OOM instead of
/// refaulting.
fn check_disk_backed(scenario: &str, dir: &Path) -> Result<(), LabError> {
    let c = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes()).map_err(|_| {
        LabError::io(
            "temp dir path has a NUL byte",
            io::ErrorKind::InvalidInput.into(),
        )
    })?;
    // SAFETY: zeroed statfs is a valid out-parameter; c is NUL-terminated.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statfs(c.as_ptr(), &mut st) } != 0 {
        return Err(LabError::io(
            format!("statfs {}", dir.display()),
            io::Error::last_os_error(),
        ));
    }
    #[allow(clippy::unnecessary_cast)]
    let fs = st.f_type as i64;
    if fs == TMPFS_MAGIC || fs == RAMFS_MAGIC {
        return Err(LabError::Unsupported {
            scenario: scenario.into(),
            why: format!(
                "the temp dir {} is in memory (tmpfs/ramfs), so its pages cannot be reclaimed without swap; set TMPDIR to a directory on disk",
                dir.display()
            ),
        });
    }
    Ok(())
}

/// Creates a `len`-byte data file in the temp dir (on disk), maps it read-only
/// and drops it from the page cache, so that reading it faults in the lab
/// cgroup. The file is unlinked at once: nothing is left behind even if the
/// lab is killed. `interrupted` is polled between chunks (Ctrl-C during set-up).
/// `scenario` names the scenario in the error if the temp dir is in memory.
pub fn data_file(
    scenario: &str,
    len: usize,
    interrupted: &dyn Fn() -> bool,
) -> Result<(Mapping, PathBuf), LabError> {
    let dir = std::env::temp_dir();
    check_disk_backed(scenario, &dir)?;
    let path = dir.join(format!("starvetrace-lab-{}.data", std::process::id()));
    let mut f = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .map_err(|e| LabError::io(format!("creating {}", path.display()), e))?;
    let _ = std::fs::remove_file(&path);
    let mut chunk = vec![0u8; MIB];
    for i in 0..len / MIB {
        if interrupted() {
            return Err(LabError::io(
                "writing the data file",
                io::ErrorKind::Interrupted.into(),
            ));
        }
        // Real, varied bytes: a sparse or zero file would not need reads.
        for (j, b) in chunk.iter_mut().enumerate() {
            *b = (i as u8).wrapping_mul(31) ^ (j as u8) | 1;
        }
        f.write_all(&chunk)
            .map_err(|e| LabError::io(format!("writing {}", path.display()), e))?;
    }
    f.sync_all()
        .map_err(|e| LabError::io(format!("syncing {}", path.display()), e))?;
    let fd = f.as_raw_fd();
    // SAFETY: mapping len bytes of a file we just wrote; checked for MAP_FAILED.
    let p = unsafe {
        libc::mmap(
            ptr::null_mut(),
            len,
            libc::PROT_READ,
            libc::MAP_SHARED,
            fd,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return Err(LabError::io(
            "mapping the data file",
            io::Error::last_os_error(),
        ));
    }
    let map = Mapping {
        ptr: p.cast(),
        len,
        // Kept open (fd stays valid) for pread and eviction.
        file: Some(f),
    };
    // SAFETY: advice on our own fd and mapping. Clean pages are dropped from the
    // cache (they were charged while writing); MADV_RANDOM turns off readahead
    // so every evicted page read is its own major fault, like code pages.
    unsafe {
        libc::posix_fadvise(fd, 0, 0, libc::POSIX_FADV_DONTNEED);
        libc::madvise(map.ptr.cast(), len, libc::MADV_RANDOM);
    }
    Ok((map, path))
}

/// Anonymous memory that grows in steps up to a target and is held.
#[derive(Debug, Default)]
pub struct Ballast {
    chunks: Vec<Mapping>,
    bytes: usize,
}

impl Ballast {
    pub fn grow(&mut self, step: usize) -> io::Result<()> {
        self.chunks.push(Mapping::anon_touched(step)?);
        self.bytes += step;
        Ok(())
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

/// Counters the memory tasks keep (reported in the lab notes).
#[derive(Debug, Default)]
pub struct MemoryCounters {
    pub ballast_bytes: AtomicU64,
    pub pages_read: AtomicU64,
    /// Pages the `block_on` thread read itself (blockon-memory).
    pub block_on_pages_read: AtomicU64,
    pub bytes_churned: AtomicU64,
    pub alloc_failures: AtomicU64,
}

/// The ballast task: grows by `step` every `every` up to `target`, then holds.
/// Runs on a runtime worker, so the worker is the allocating thread.
pub async fn ballast_task(
    target: usize,
    step: usize,
    every: Duration,
    counters: Arc<MemoryCounters>,
    stop: Arc<AtomicBool>,
) {
    let mut ballast = Ballast::default();
    let mut tick = tokio::time::interval(every);
    while !stop.load(Ordering::Relaxed) {
        tick.tick().await;
        if ballast.bytes() + step <= target {
            if ballast.grow(step).is_err() {
                counters.alloc_failures.fetch_add(1, Ordering::Relaxed);
            }
            counters
                .ballast_bytes
                .store(ballast.bytes() as u64, Ordering::Relaxed);
        }
    }
}

/// A reader: every `every`, touches `pages` random pages of the data mapping
/// synchronously (like a task decoding a big message, or running code whose
/// pages were evicted). Under the limit each touch is a reclaim + major fault,
/// and the worker is stuck for the whole poll.
pub async fn reader_task(
    map: Arc<Mapping>,
    seed: u64,
    pages: usize,
    every: Duration,
    counters: Arc<MemoryCounters>,
    stop: Arc<AtomicBool>,
) {
    let mut rng = Rng::new(seed);
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while !stop.load(Ordering::Relaxed) {
        tick.tick().await;
        std::hint::black_box(map.read_random_pages(&mut rng, pages));
        counters
            .pages_read
            .fetch_add(pages as u64, Ordering::Relaxed);
    }
}

/// Allocates `bytes` of fresh anonymous memory, touches it and frees it: each
/// call charges new pages to the cgroup (malloc could reuse freed memory).
pub fn churn(bytes: usize, counters: &MemoryCounters) {
    match Mapping::anon_touched(bytes) {
        Ok(m) => {
            counters
                .bytes_churned
                .fetch_add(m.len() as u64, Ordering::Relaxed);
        }
        Err(_) => {
            counters.alloc_failures.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// A churn task: every `every`, allocate-touch-free `bytes` (memory-high).
pub async fn churn_task(
    bytes: usize,
    every: Duration,
    counters: Arc<MemoryCounters>,
    stop: Arc<AtomicBool>,
) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while !stop.load(Ordering::Relaxed) {
        tick.tick().await;
        churn(bytes, &counters);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anon_mapping_and_random_reads() {
        let m = Mapping::anon_touched(16 * PAGE).unwrap();
        assert_eq!(m.pages(), 16);
        let mut rng = Rng::new(7);
        // Every page's first byte is odd (touch_all writes `| 1`): 100 reads ≥ 100.
        assert!(m.read_random_pages(&mut rng, 100) >= 100);
    }

    #[test]
    fn rng_is_deterministic_and_spreads() {
        let (mut a, mut b) = (Rng::new(1), Rng::new(1));
        let xs: Vec<u64> = (0..64).map(|_| a.next() % 8).collect();
        assert_eq!(xs, (0..64).map(|_| b.next() % 8).collect::<Vec<_>>());
        for bucket in 0..8 {
            assert!(xs.contains(&bucket));
        }
    }

    #[test]
    fn ballast_grows() {
        let mut b = Ballast::default();
        b.grow(MIB).unwrap();
        b.grow(MIB).unwrap();
        assert_eq!(b.bytes(), 2 * MIB);
    }
}
