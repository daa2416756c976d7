//! `cargo xtask`: bootstrap, build, demo, test, lint, vm-test, dist, bench.
//! Errors are printed as one line and exit 1 (RUST_BACKTRACE is set on
//! these machines, so returning them from main would print a backtrace).

mod apt;
mod bench;
mod bootstrap;
mod cargo_build;
mod deploy;
mod dist;
mod lint;
mod run;
mod sample;
mod skips;
mod test;
mod toolchain;
mod vm;

use std::{os::unix::process::CommandExt as _, path::PathBuf, process::Command};

use anyhow::{Context as _, Result, anyhow};
use clap::{Parser, Subcommand};

/// Exit code of `demo` when not run as root (documented in the README's
/// command list: tracing needs CAP_BPF and CAP_PERFMON).
const EXIT_NOT_ROOT: i32 = 3;

#[derive(Parser)]
#[command(
    name = "cargo xtask",
    bin_name = "cargo xtask",
    about = "Build, test and demo starvetrace; installs what is missing first"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Install the LLVM 22 dev packages, both pinned toolchains and
    /// bpf-linker, skipping what is present
    Bootstrap,
    /// Bootstrap, then build target/release/starvetrace and print its path
    Build,
    /// Bootstrap, build, then run `starvetrace demo ARGS` (root)
    #[command(disable_help_flag = true)]
    Demo {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Everything CI runs: bootstrap, lint, unit tests, root tests, VM tests
    /// (6.1 and 6.12)
    Test,
    /// Bootstrap, then the static binary, deploy/ and a README in
    /// target/dist/starvetrace-VERSION-x86_64-linux/, a .tar.gz and its .sha256
    Dist,
    /// rustfmt --check and clippy -D warnings, user side and eBPF crate
    Lint,
    /// Run the tracer in a 6.1 (or --kernel-series 6.12) kernel VM (cgroup v2, memory.high) under qemu
    #[command(disable_help_flag = true)]
    VmTest {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Re-record the README's pasted report from a real demo run (root):
    /// docs/sample/ and the README block between the sample markers
    #[command(disable_help_flag = true)]
    Sample {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Measure what tracing costs, next to libbpf-tools, bpftrace and perf
    #[command(disable_help_flag = true)]
    Bench {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

/// The workspace root: xtask's manifest directory's parent.
fn workspace_root() -> Result<PathBuf> {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(PathBuf::from)
        .ok_or_else(|| anyhow!("xtask's manifest has no parent directory"))
}

fn wants_help(args: &[String]) -> bool {
    args.iter().any(|a| a == "--help" || a == "-h")
}

/// Returns the process exit code.
fn dispatch(cmd: Cmd) -> Result<i32> {
    let root = workspace_root()?;
    std::env::set_current_dir(&root).with_context(|| format!("cannot cd to {}", root.display()))?;
    match cmd {
        Cmd::Bootstrap => bootstrap::bootstrap(&root)?,
        Cmd::Build => {
            bootstrap::bootstrap(&root)?;
            println!("{}", cargo_build::release(&root)?.display());
        }
        Cmd::Demo { args } => {
            // Help needs no root; anything else would fail later, after a
            // long build, with a less clear error.
            if !wants_help(&args) && !run::is_root() {
                eprintln!(
                    "cargo xtask demo: needs root (loading eBPF programs needs CAP_BPF and \
                     CAP_PERFMON); run it as root"
                );
                return Ok(EXIT_NOT_ROOT);
            }
            bootstrap::bootstrap(&root)?;
            let bin = cargo_build::release(&root)?;
            let mut demo = Command::new(&bin);
            demo.arg("demo").args(&args);
            eprintln!("+ {}", run::show(&demo));
            // exec: the demo's exit code and signals are the command's own.
            let err = demo.exec();
            return Err(anyhow!("cannot run {}: {err}", bin.display()));
        }
        Cmd::Test => return Ok(if test::test(&root) { 0 } else { 1 }),
        Cmd::Dist => {
            bootstrap::bootstrap(&root)?;
            dist::dist(&root)?;
        }
        Cmd::Lint => lint::lint(&root)?,
        // Both build starvetrace, which needs the eBPF toolchain.
        Cmd::VmTest { args } => {
            if !wants_help(&args) {
                bootstrap::bootstrap(&root)?;
            }
            if let Some(suite) = vm::run(&root, &args)? {
                suite.check()?;
            }
        }
        Cmd::Sample { args } => {
            if !run::is_root() {
                eprintln!("cargo xtask sample: needs root (it runs the demo); run it as root");
                return Ok(EXIT_NOT_ROOT);
            }
            bootstrap::bootstrap(&root)?;
            sample::sample(&root, &args)?;
        }
        Cmd::Bench { args } => {
            if !wants_help(&args) {
                bootstrap::bootstrap(&root)?;
            }
            bench::run(&root, &args)?;
        }
    }
    Ok(0)
}

fn main() {
    // Every cargo build xtask (or a child of it) runs must embed the eBPF
    // object: a missing toolchain is then a build error, not a silently
    // empty object. Inherited by all children, including vm and bench.
    // SAFETY: no other thread exists yet.
    unsafe { std::env::set_var("STARVETRACE_REQUIRE_EBPF", "1") };
    let cli = Cli::parse();
    let code = dispatch(cli.command).unwrap_or_else(|e| {
        eprintln!("xtask: error: {e:#}");
        1
    });
    std::process::exit(code);
}
