//! `cargo xtask sample`: regenerate the README's pasted report from a real
//! run. Runs `starvetrace demo` (root) into `docs/sample/`, then lets the
//! README check rewrite the README's block from the stored report, so the
//! one piece of code that checks the sample is the one that writes it.

use std::{path::Path, process::Command};

use anyhow::{Context as _, Result};

use crate::{cargo_build, run::run};

pub fn sample(root: &Path, demo_args: &[String]) -> Result<()> {
    let bin = cargo_build::release(root)?;
    let out = root.join("docs/sample");
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let mut demo = Command::new(&bin);
    demo.args(["demo", "--format", "json", "--out"])
        .arg(&out)
        .args(demo_args)
        .stdout(std::process::Stdio::null());
    run(&mut demo)?;
    run(Command::new("cargo")
        .current_dir(root)
        .env("STARVETRACE_WRITE_README", "1")
        .args(["test", "-p", "tracer", "--test", "readme_sample"]))
}
