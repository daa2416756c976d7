//! `cargo xtask`: bootstrap, build, test, demo, lint, vm-test, bench.
//! Errors are printed as one line (RUST_BACKTRACE is set on these machines).

mod bench;
mod bootstrap;
mod lint;
mod run;
mod test;
mod toolchain;
mod vm;

use std::{path::PathBuf, process::Command};

use anyhow::{Result, bail};

const USAGE: &str = "usage: cargo xtask <bootstrap | build | demo [ARGS] | test | lint | vm-test [ARGS] | bench [ARGS]>";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(PathBuf::from)
        .unwrap_or_default()
}

fn build_release() -> Result<PathBuf> {
    run::run(Command::new("cargo").args(["build", "--release", "-p", "tracer"]))?;
    Ok(root().join("target/release/starvetrace"))
}

fn dispatch(args: &[String]) -> Result<()> {
    let root = root();
    std::env::set_current_dir(&root)?;
    let rest = args.get(1..).unwrap_or_default();
    match args.first().map(String::as_str) {
        Some("bootstrap") => bootstrap::bootstrap(&root),
        Some("build") => {
            bootstrap::bootstrap(&root)?;
            println!("{}", build_release()?.display());
            Ok(())
        }
        Some("demo") => {
            if !run::is_root() {
                eprintln!(
                    "cargo xtask demo: tracing needs root (CAP_BPF + CAP_PERFMON); run it as root"
                );
                std::process::exit(3);
            }
            bootstrap::bootstrap(&root)?;
            let bin = build_release()?;
            let status = Command::new(bin).arg("demo").args(rest).status()?;
            std::process::exit(status.code().unwrap_or(1));
        }
        Some("test") => test::test(&root),
        Some("lint") => lint::lint(&root),
        Some("vm-test") => vm::run(rest),
        Some("bench") => bench::run(rest),
        _ => bail!("{USAGE}"),
    }
}

fn main() {
    // Every cargo build xtask runs must embed the eBPF object: a missing
    // toolchain is a build error here, not a silently empty object.
    // SAFETY: set before any thread is started.
    unsafe { std::env::set_var("STARVETRACE_REQUIRE_EBPF", "1") };
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Err(e) = dispatch(&args) {
        eprintln!("xtask: error: {e:#}");
        std::process::exit(1);
    }
}
