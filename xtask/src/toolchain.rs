//! Toolchain names, read from the files that pin them (never repeated here).

use std::{fs, path::Path};

use anyhow::{Context as _, Result, anyhow};

/// The `channel = "..."` of a rust-toolchain.toml.
pub fn channel_in(text: &str) -> Option<String> {
    text.lines().find_map(|l| {
        let v = l
            .trim()
            .strip_prefix("channel")?
            .trim_start()
            .strip_prefix('=')?;
        Some(v.trim().trim_matches('"').to_string())
    })
}

/// The `components = [...]` of a rust-toolchain.toml.
pub fn components_in(text: &str) -> Vec<String> {
    text.lines()
        .find_map(|l| l.trim().strip_prefix("components").map(str::to_string))
        .map(|v| {
            v.split(['[', ']', ',', '=', '"'])
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

pub struct Toolchain {
    pub channel: String,
    pub components: Vec<String>,
}

pub fn read(file: &Path) -> Result<Toolchain> {
    let text = fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let channel = channel_in(&text).ok_or_else(|| anyhow!("no channel in {}", file.display()))?;
    Ok(Toolchain {
        channel,
        components: components_in(&text),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_channel_and_components() {
        let t = "[toolchain]\nchannel = \"nightly-2026-07-15\"\ncomponents = [\"rust-src\", \"clippy\"]\n";
        assert_eq!(channel_in(t).as_deref(), Some("nightly-2026-07-15"));
        assert_eq!(components_in(t), vec!["rust-src", "clippy"]);
        assert_eq!(channel_in("[toolchain]\n"), None);
    }
}
