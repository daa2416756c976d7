//! The guest's scratch disk: a sparse raw image with a fresh ext4 on it,
//! attached as an NVMe drive (the 6.1 cloud kernel has NVMe and ext4 built
//! in, while virtio-blk and virtio-pci are modules) and mounted at /data,
//! which /init exports as TMPDIR.
//!
//! The initramfs is a tmpfs: pages there are swap-backed and the guest has no
//! swap, so the memory-max lab refuses to put its data file in it (it could
//! never be reclaimed, only OOM-killed). On a real file system the page cache
//! is reclaimable and evicted pages are read back: the refaults that
//! scenario is about.

use std::{fs, path::Path, process::Command};

use anyhow::{Context, Result};

use crate::run::run_quiet;

/// Room for the memory-max data file (256 MiB) with plenty to spare; sparse,
/// so it costs only what the guest writes.
pub const SIZE_MIB: u64 = 1024;
/// Filesystem label; /init finds the disk by its device name, this only
/// makes it recognisable in `blkid`.
const LABEL: &str = "vmtest-data";

/// Creates `image` afresh (a previous run's data never leaks in) and
/// formats it ext4.
pub fn create(image: &Path) -> Result<()> {
    let _ = fs::remove_file(image);
    let f = fs::File::create(image).with_context(|| format!("create {}", image.display()))?;
    f.set_len(SIZE_MIB << 20)
        .with_context(|| format!("size {} to {SIZE_MIB} MiB", image.display()))?;
    drop(f);
    run_quiet(
        Command::new("mkfs.ext4")
            .args(["-F", "-q", "-L", LABEL, "-m", "0"])
            // Initialise inode tables and journal now, on the host: lazily,
            // the guest's ext4lazyinit thread would write them in the
            // background while scenarios are being measured.
            .args(["-E", "lazy_itable_init=0,lazy_journal_init=0"])
            .arg(image)
            // /sbin is not on every PATH (sudo, CI shells).
            .env("PATH", path_with_sbin()),
    )
    .with_context(|| format!("mkfs.ext4 {}", image.display()))
}

fn path_with_sbin() -> String {
    let path = std::env::var("PATH").unwrap_or_default();
    format!("{path}:/usr/sbin:/sbin")
}
