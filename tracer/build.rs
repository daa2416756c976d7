//! Builds `tracer-ebpf` with the nightly named in `tracer-ebpf/rust-toolchain.toml`
//! and bpf-linker, and leaves the object in OUT_DIR for `include_bytes_aligned!`.
//!
//! Without that toolchain (a plain `cargo test` on a machine that never ran
//! `cargo xtask bootstrap`) it embeds an empty object instead, so the
//! pure-logic tests still build; the binary then refuses to trace and says
//! why. Set STARVETRACE_REQUIRE_EBPF=1 to make that case a build error.
use std::{env, fs, path::PathBuf, process::Command};

fn ebpf_toolchain(root: &std::path::Path) -> String {
    let file = root.join("tracer-ebpf/rust-toolchain.toml");
    let text = fs::read_to_string(&file).expect("read tracer-ebpf/rust-toolchain.toml");
    text.lines()
        .find_map(|l| {
            l.trim().strip_prefix("channel").map(|v| {
                v.trim_start_matches([' ', '='])
                    .trim()
                    .trim_matches('"')
                    .to_string()
            })
        })
        .expect("channel in tracer-ebpf/rust-toolchain.toml")
}

fn toolchain_ready(toolchain: &str) -> Result<(), String> {
    let ok = Command::new("rustup")
        .args(["run", toolchain, "rustc", "--version"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        return Err(format!("rust toolchain {toolchain} is not installed"));
    }
    which::which("bpf-linker")
        .map(|_| ())
        .map_err(|_| "bpf-linker is not installed".to_string())
}

fn main() {
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    let root = manifest.parent().unwrap().to_path_buf();
    let toolchain = ebpf_toolchain(&root);
    println!("cargo:rerun-if-changed=../tracer-ebpf/rust-toolchain.toml");
    println!("cargo:rerun-if-env-changed=STARVETRACE_REQUIRE_EBPF");
    let out = PathBuf::from(env::var("OUT_DIR").unwrap());
    if let Err(why) = toolchain_ready(&toolchain) {
        if env::var("STARVETRACE_REQUIRE_EBPF").as_deref() == Ok("1") {
            panic!("cannot build the eBPF object: {why}; run `cargo xtask bootstrap`");
        }
        println!(
            "cargo:warning=building without the eBPF object: {why}; run `cargo xtask bootstrap`"
        );
        fs::write(out.join("tracer"), []).unwrap();
        return;
    }
    let ebpf = root.join("tracer-ebpf");
    // Cargo re-runs this script when the package's features change.
    let floor = env::var_os("CARGO_FEATURE_DISPATCH_FLOOR").is_some();
    let package = aya_build::Package {
        name: "tracer-ebpf",
        root_dir: ebpf.to_str().unwrap(),
        features: if floor { &["dispatch-floor"] } else { &[] },
        ..Default::default()
    };
    aya_build::build_ebpf([package], aya_build::Toolchain::Custom(&toolchain))
        .expect("build the eBPF object");
}
