//! Keep README.md's "Performance" section in step with the last full run.
//! Only that section is touched; without a README nothing is written (the
//! numbers are in docs/BENCHMARKS.md either way).

use std::path::Path;

use anyhow::{Context as _, Result};

const HEADING: &str = "## Performance";

pub fn update(readme: &Path, goals_table: &str) -> Result<()> {
    let Ok(text) = std::fs::read_to_string(readme) else {
        return Ok(());
    };
    let body = format!(
        "{HEADING}\n\nFrom the last `cargo xtask bench all` (details, peers and method: \
         [docs/BENCHMARKS.md](docs/BENCHMARKS.md)):\n\n{goals_table}\n"
    );
    let updated = replace_section(&text, &body);
    std::fs::write(readme, updated).with_context(|| format!("writing {}", readme.display()))?;
    eprintln!(
        "bench: updated the Performance section of {}",
        readme.display()
    );
    Ok(())
}

/// Replace the section under `heading` in the Markdown file `path` with
/// `body` (which starts with that heading), or append it.
pub fn splice(path: &Path, heading: &str, body: &str) -> Result<()> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    std::fs::write(path, replace_section_under(&text, heading, body))
        .with_context(|| format!("writing {}", path.display()))
}

/// Replace, in the Markdown file `path`, each table row whose first cell is
/// the first cell of one of `rows` with that row (rows not there are left
/// as they are).
pub fn replace_rows(path: &Path, rows: &[String]) -> Result<()> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Ok(());
    };
    let first_cell = |row: &str| row.split(" | ").next().map(str::to_string);
    let out: Vec<String> = text
        .lines()
        .map(|line| {
            rows.iter()
                .find(|r| line.starts_with("| ") && first_cell(r) == first_cell(line))
                .cloned()
                .unwrap_or_else(|| line.to_string())
        })
        .collect();
    std::fs::write(path, out.join("\n") + "\n")
        .with_context(|| format!("writing {}", path.display()))
}

/// The section under `heading` (heading included, up to the next `## `),
/// if `text` has one.
pub fn section(text: &str, heading: &str) -> Option<String> {
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.iter().position(|l| l.trim_end() == heading)?;
    let end = lines[start + 1..]
        .iter()
        .position(|l| l.starts_with("## "))
        .map_or(lines.len(), |i| start + 1 + i);
    Some(lines[start..end].join("\n") + "\n")
}

/// Replace the `## Performance` section (up to the next `## ` heading), or
/// append one.
fn replace_section(text: &str, body: &str) -> String {
    replace_section_under(text, HEADING, body)
}

fn replace_section_under(text: &str, heading: &str, body: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let Some(start) = lines.iter().position(|l| l.trim_end() == heading) else {
        let sep = if text.ends_with("\n\n") {
            ""
        } else if text.ends_with('\n') {
            "\n"
        } else {
            "\n\n"
        };
        return format!("{text}{sep}{body}");
    };
    let end = lines[start + 1..]
        .iter()
        .position(|l| l.starts_with("## "))
        .map_or(lines.len(), |i| start + 1 + i);
    let mut out = lines[..start].join("\n");
    if start > 0 {
        out.push('\n');
    }
    out.push_str(body);
    if end < lines.len() {
        out.push('\n');
        out.push_str(&lines[end..].join("\n"));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{replace_section, section};

    #[test]
    fn replaces_only_its_section() {
        let t = "# X\n\n## Performance\n\nold\n\n## Next\n\nkeep\n";
        let r = replace_section(t, "## Performance\n\nnew\n");
        assert_eq!(r, "# X\n\n## Performance\n\nnew\n\n## Next\n\nkeep\n");
        let r = replace_section("# X\n", "## Performance\n\nnew\n");
        assert_eq!(r, "# X\n\n## Performance\n\nnew\n");
    }

    #[test]
    fn extracts_a_section() {
        let t = "# X\n\n## Soak\n\nrows\n\n## Next\n\nkeep\n";
        assert_eq!(
            section(t, "## Soak").as_deref(),
            Some("## Soak\n\nrows\n\n")
        );
        assert_eq!(section(t, "## Next").as_deref(), Some("## Next\n\nkeep\n"));
        assert_eq!(section(t, "## Gone"), None);
    }
}
