//! The guest's whole userspace: busybox-static, the static starvetrace, /init
//! (xtask/vm/init.sh) and the scenario plan, packed as an uncompressed newc
//! cpio (the kernel unpacks it directly; gzip would only cost TCG time).

use std::{fs, os::unix::fs::PermissionsExt, path::Path, process::Command};

use anyhow::{Context, Result};

use crate::run::run_quiet;

const INIT: &str = include_str!("../../vm/init.sh");

/// One line of /vmtest/plan: `NAME KIND DURATION LIMIT`.
pub struct PlanLine {
    pub name: String,
    pub kind: &'static str,
    pub duration_secs: u32,
    pub limit_secs: u32,
}

pub fn build(work: &Path, starvetrace: &Path, plan: &[PlanLine]) -> Result<std::path::PathBuf> {
    let root = work.join("root");
    let _ = fs::remove_dir_all(&root);
    for dir in ["bin", "proc", "sys", "dev", "tmp", "vmtest"] {
        fs::create_dir_all(root.join(dir))?;
    }
    copy_exec(Path::new("/bin/busybox"), &root.join("bin/busybox"))?;
    copy_exec(starvetrace, &root.join("bin/starvetrace"))?;
    fs::write(root.join("init"), INIT)?;
    fs::set_permissions(root.join("init"), fs::Permissions::from_mode(0o755))?;
    let plan_text: String = plan
        .iter()
        .map(|p| {
            format!(
                "{} {} {} {}\n",
                p.name, p.kind, p.duration_secs, p.limit_secs
            )
        })
        .collect();
    fs::write(root.join("vmtest/plan"), plan_text)?;

    let image = work.join("initramfs.cpio");
    run_quiet(
        Command::new("sh")
            .arg("-c")
            .arg(format!(
                "find . -print0 | cpio --null --create --format=newc --quiet > '{}'",
                image.display()
            ))
            .current_dir(&root),
    )
    .context("pack the initramfs with cpio")?;
    Ok(image)
}

fn copy_exec(from: &Path, to: &Path) -> Result<()> {
    fs::copy(from, to).with_context(|| format!("copy {} into the initramfs", from.display()))?;
    fs::set_permissions(to, fs::Permissions::from_mode(0o755))?;
    Ok(())
}
