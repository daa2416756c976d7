//! Toolchain names, read from the files that pin them (never repeated in
//! code), and what rustup already has of them.

use std::{fs, path::Path, process::Command};

use anyhow::{Context as _, Result, anyhow};

use crate::run::probe;

/// The user side (tracer, xtask).
pub const USER_FILE: &str = "rust-toolchain.toml";
/// The eBPF side: a nightly whose LLVM matches bpf-linker's.
pub const EBPF_FILE: &str = "tracer-ebpf/rust-toolchain.toml";

#[derive(Debug, PartialEq, Eq)]
pub struct Toolchain {
    pub channel: String,
    pub components: Vec<String>,
}

/// The `channel = "..."` of a rust-toolchain.toml.
pub fn channel_in(text: &str) -> Option<String> {
    text.lines().find_map(|l| {
        let v = l
            .trim()
            .strip_prefix("channel")?
            .trim_start()
            .strip_prefix('=')?;
        let v = v.trim().trim_matches('"');
        (!v.is_empty()).then(|| v.to_string())
    })
}

/// The `components = [...]` of a rust-toolchain.toml (one line, as we write it).
pub fn components_in(text: &str) -> Vec<String> {
    text.lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("components")?
                .trim_start()
                .strip_prefix('=')
                .map(str::to_string)
        })
        .map(|v| {
            v.split(['[', ']', ',', '"'])
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

pub fn read(root: &Path, file: &str) -> Result<Toolchain> {
    let path = root.join(file);
    let text = fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let channel = channel_in(&text).ok_or_else(|| anyhow!("no channel in {}", path.display()))?;
    Ok(Toolchain {
        channel,
        components: components_in(&text),
    })
}

/// The eBPF nightly's name, for `cargo +<nightly>`.
pub fn ebpf_channel(root: &Path) -> Result<String> {
    Ok(read(root, EBPF_FILE)?.channel)
}

/// Whether `rustup toolchain list` output names `channel`: rustup lists
/// `1.99.1-x86_64-unknown-linux-gnu (active)`, so the host triple is
/// matched exactly (a bare `nightly` must not match `nightly-2026-07-15-...`).
pub fn listed(list: &str, channel: &str, host: &str) -> bool {
    let full = format!("{channel}-{host}");
    list.lines()
        .filter_map(|l| l.split_whitespace().next())
        .any(|name| name == channel || name == full)
}

/// The host triple (`rustc -vV`), which rustup appends to names.
pub fn host() -> Result<String> {
    probe(Command::new("rustc").arg("-vV"))
        .and_then(|v| {
            v.lines()
                .find_map(|l| l.strip_prefix("host:").map(|h| h.trim().to_string()))
        })
        .ok_or_else(|| anyhow!("cannot read the host triple from `rustc -vV`"))
}

/// Asks `rustup toolchain list` rather than running the toolchain: where
/// RUSTUP_AUTO_INSTALL is on, running it would install it as a side effect.
pub fn installed(channel: &str) -> Result<bool> {
    let host = host()?;
    let list = probe(Command::new("rustup").args(["toolchain", "list"]))
        .ok_or_else(|| anyhow!("`rustup toolchain list` failed (is rustup installed?)"))?;
    Ok(listed(&list, channel, &host))
}

/// Which of `wanted` are absent from `rustup component list --installed`
/// output, where host components carry the host triple
/// (`clippy-x86_64-unknown-linux-gnu`) and others do not (`rust-src`).
pub fn missing_components(installed: &str, wanted: &[String], host: &str) -> Vec<String> {
    wanted
        .iter()
        .filter(|w| {
            let full = format!("{w}-{host}");
            !installed
                .lines()
                .map(str::trim)
                .any(|have| have == w.as_str() || have == full)
        })
        .cloned()
        .collect()
}

/// Components of an installed `channel` that still need adding.
pub fn components_to_add(channel: &str, wanted: &[String]) -> Result<Vec<String>> {
    let list = probe(Command::new("rustup").args([
        "component",
        "list",
        "--installed",
        "--toolchain",
        channel,
    ]))
    .ok_or_else(|| anyhow!("`rustup component list --toolchain {channel}` failed"))?;
    Ok(missing_components(&list, wanted, &host()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIST: &str = "stable-x86_64-unknown-linux-gnu (default)\n\
                        nightly-x86_64-unknown-linux-gnu\n\
                        nightly-2026-07-15-x86_64-unknown-linux-gnu\n\
                        1.99.1-x86_64-unknown-linux-gnu (active)\n";

    #[test]
    fn parses_channel_and_components() {
        let t = "[toolchain]\nchannel = \"nightly-2026-07-15\"\n\
                 components = [\"rust-src\", \"clippy\"]\nprofile = \"minimal\"\n";
        assert_eq!(channel_in(t).as_deref(), Some("nightly-2026-07-15"));
        assert_eq!(components_in(t), vec!["rust-src", "clippy"]);
        assert_eq!(channel_in("[toolchain]\n"), None);
        assert_eq!(channel_in("channel = \"\"\n"), None);
        assert!(components_in("[toolchain]\nchannel = \"x\"\n").is_empty());
    }

    #[test]
    fn reads_the_pinned_files() -> Result<()> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .ok_or_else(|| anyhow!("no workspace root"))?;
        let user = read(root, USER_FILE)?;
        let ebpf = read(root, EBPF_FILE)?;
        assert!(ebpf.channel.starts_with("nightly"), "{ebpf:?}");
        assert!(ebpf.components.iter().any(|c| c == "rust-src"), "{ebpf:?}");
        assert_ne!(user.channel, ebpf.channel);
        Ok(())
    }

    const HOST: &str = "x86_64-unknown-linux-gnu";

    #[test]
    fn listed_matches_channel_and_host_only() {
        assert!(listed(LIST, "1.99.1", HOST));
        assert!(listed(LIST, "nightly-2026-07-15", HOST));
        assert!(listed(LIST, "nightly", HOST));
        assert!(listed(LIST, "1.99.1-x86_64-unknown-linux-gnu", HOST));
        // What a fresh machine looks like: the pinned names are absent.
        assert!(!listed(LIST, "nightly-2026-07-16", HOST));
        assert!(!listed(LIST, "1.99", HOST));
        assert!(!listed(LIST, "1.98.0", HOST));
        assert!(!listed("", "1.99.1", HOST));
        let only_dated = "nightly-2026-07-15-x86_64-unknown-linux-gnu\n";
        assert!(!listed(only_dated, "nightly", HOST));
        assert!(!listed(LIST, "1.99.1", "aarch64-unknown-linux-gnu"));
    }

    #[test]
    fn a_bogus_toolchain_is_not_installed() -> Result<()> {
        // Through real rustup: the check bootstrap uses to decide to install.
        assert!(!installed("nightly-1970-01-01")?);
        assert!(!installed("starvetrace-bogus-toolchain")?);
        Ok(())
    }

    #[test]
    fn missing_components_match_exact_names() {
        let have = "cargo-x86_64-unknown-linux-gnu\nclippy-x86_64-unknown-linux-gnu\n\
                    rust-src\nrustc-x86_64-unknown-linux-gnu\n";
        let want = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(missing_components(have, &want(&["rust-src", "clippy"]), HOST).is_empty());
        assert_eq!(
            missing_components(have, &want(&["rustfmt", "rust-src"]), HOST),
            vec!["rustfmt"]
        );
        // Prefixes of installed names do not count.
        assert_eq!(
            missing_components(have, &want(&["rust"]), HOST),
            vec!["rust"]
        );
        assert_eq!(
            missing_components("", &want(&["rust-src"]), HOST),
            vec!["rust-src"]
        );
    }
}
