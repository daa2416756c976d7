//! README.md's "Allowed skips" table: the skips CI accepts on a machine
//! kind, because the case cannot exist there (and runs somewhere else).
//!
//! ```text
//! | skip | machine kind | reason |
//! |---|---|---|
//! | `demo_root/memory-high` | rust | ... |
//! ```
//!
//! `skip` is a skip's name, exactly, or a pattern where `*` stands for any
//! run of characters (`lab_root/*`). `machine kind` is a kind, several
//! separated by commas, or `*` for every kind.

use std::path::Path;

use anyhow::{Context as _, Result};

/// Names the machine kind; unset, it is [`DEFAULT_KIND`].
pub const MACHINE_KIND_ENV: &str = "STARVETRACE_MACHINE_KIND";
/// The one kind the project's machines (development and CI) are today.
const DEFAULT_KIND: &str = "rust";
const HEADING: &str = "allowed skips";
const HEADER: [&str; 3] = ["skip", "machine kind", "reason"];

pub fn machine_kind() -> String {
    std::env::var(MACHINE_KIND_ENV)
        .ok()
        .filter(|k| !k.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_KIND.to_string())
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum TableError {
    #[error("no \"Allowed skips\" heading")]
    NoSection,
    #[error("the \"Allowed skips\" section has no `| skip | machine kind | reason |` table")]
    NoTable,
    #[error(
        "\"Allowed skips\" line {line}: {found} cells, expected `| skip | machine kind | reason |`"
    )]
    BadRow { line: usize, found: usize },
}

#[derive(Debug, PartialEq, Eq)]
pub struct Row {
    pub pattern: String,
    pub kinds: String,
    pub reason: String,
}

#[derive(Debug, Default)]
pub struct Allowed {
    pub rows: Vec<Row>,
}

impl Allowed {
    pub fn read(readme: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(readme)
            .with_context(|| format!("cannot read {}", readme.display()))?;
        Self::parse(&text).with_context(|| format!("{}", readme.display()))
    }

    pub fn parse(readme: &str) -> Result<Self, TableError> {
        let mut lines = readme.lines().enumerate().skip_while(|(_, l)| {
            !(l.starts_with('#')
                && l.trim_start_matches('#')
                    .trim()
                    .eq_ignore_ascii_case(HEADING))
        });
        lines.next().ok_or(TableError::NoSection)?;
        // The first table of the section; its header names the columns.
        let mut table = lines
            .take_while(|(_, l)| !l.starts_with('#'))
            .skip_while(|(_, l)| !l.trim_start().starts_with('|'))
            .take_while(|(_, l)| l.trim_start().starts_with('|'));
        let header = table.next().ok_or(TableError::NoTable)?;
        let names: Vec<String> = cells(header.1).iter().map(|c| c.to_lowercase()).collect();
        if names != HEADER {
            return Err(TableError::NoTable);
        }
        let mut rows = Vec::new();
        for (i, line) in table.skip(1) {
            match cells(line).as_slice() {
                [pattern, kinds, reason] => rows.push(Row {
                    pattern: pattern.clone(),
                    kinds: kinds.clone(),
                    reason: reason.clone(),
                }),
                other => {
                    return Err(TableError::BadRow {
                        line: i + 1,
                        found: other.len(),
                    });
                }
            }
        }
        Ok(Allowed { rows })
    }

    /// The row that allows skip `name` on machine kind `kind`.
    pub fn find(&self, name: &str, kind: &str) -> Option<&Row> {
        self.rows.iter().find(|r| {
            glob(&r.pattern, name)
                && r.kinds
                    .split(',')
                    .map(str::trim)
                    .any(|k| k == "*" || k == kind)
        })
    }
}

/// `| a | `b` | c |` -> ["a", "b", "c"] (code quotes dropped).
fn cells(line: &str) -> Vec<String> {
    let inner = line.trim().trim_start_matches('|');
    let inner = inner.strip_suffix('|').unwrap_or(inner);
    inner
        .split('|')
        .map(|c| c.trim().trim_matches('`').trim().to_string())
        .collect()
}

/// Whether `name` matches `pattern`, where `*` matches any run of characters.
fn glob(pattern: &str, name: &str) -> bool {
    let Some((first, rest)) = pattern.split_once('*') else {
        return pattern == name;
    };
    let Some(mut left) = name.strip_prefix(first) else {
        return false;
    };
    let mut parts: Vec<&str> = rest.split('*').collect();
    let last = parts.pop().unwrap_or_default();
    for part in parts {
        match left.find(part) {
            Some(at) => left = &left[at + part.len()..],
            None => return false,
        }
    }
    left.len() >= last.len() && left.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    const README: &str = "# x\n\n## Allowed skips\n\nSome prose.\n\n\
        | skip | machine kind | reason |\n|---|---|---|\n\
        | `demo_root/memory-high` | rust | v1 memory controller |\n\
        | `lab_root/*` | rust, other | lab |\n\
        | `vm-test/smoke` | * | never |\n\
        \nAfter.\n\n| a | b |\n|---|---|\n| 1 | 2 |\n## Next\n";

    #[test]
    fn parses_the_first_table_of_the_section() {
        let a = Allowed::parse(README).unwrap();
        assert_eq!(a.rows.len(), 3);
        assert_eq!(
            a.rows[0],
            Row {
                pattern: "demo_root/memory-high".into(),
                kinds: "rust".into(),
                reason: "v1 memory controller".into(),
            }
        );
    }

    #[test]
    fn matches_by_name_and_kind() {
        let a = Allowed::parse(README).unwrap();
        assert!(a.find("demo_root/memory-high", "rust").is_some());
        assert!(a.find("demo_root/memory-high", "other").is_none());
        assert!(a.find("demo_root/memory-max", "rust").is_none());
        assert!(a.find("demo_root/memory-high/x", "rust").is_none());
        assert_eq!(a.find("lab_root/cpu", "other").unwrap().reason, "lab");
        assert!(a.find("vm-test/smoke", "anything").is_some());
        assert!(a.find("vm-test/cpu", "rust").is_none());
    }

    #[test]
    fn bad_tables_are_errors() {
        assert_eq!(Allowed::parse("# x\n").unwrap_err(), TableError::NoSection);
        assert_eq!(
            Allowed::parse("## Allowed skips\n\n| a | b |\n|---|---|\n").unwrap_err(),
            TableError::NoTable
        );
        assert_eq!(
            Allowed::parse("## Allowed skips\ntext\n## Other\n| skip | machine kind | reason |\n")
                .unwrap_err(),
            TableError::NoTable
        );
        assert_eq!(
            Allowed::parse(
                "## Allowed skips\n| skip | machine kind | reason |\n|---|---|---|\n| a | b |\n"
            )
            .unwrap_err(),
            TableError::BadRow { line: 4, found: 2 }
        );
        // A header with no rows allows nothing, which is fine.
        let empty =
            Allowed::parse("## Allowed skips\n| Skip | Machine kind | Reason |\n|---|---|---|\n");
        assert!(empty.unwrap().rows.is_empty());
    }

    #[test]
    fn globs() {
        assert!(glob("a", "a"));
        assert!(!glob("a", "ab"));
        assert!(glob("a*", "abc"));
        assert!(glob("*c", "abc"));
        assert!(glob("a*c", "abc"));
        assert!(glob("a*c", "ac"));
        assert!(!glob("a*c", "ab"));
        assert!(glob("*", ""));
        assert!(glob("a*b*c", "axxbyyc"));
        assert!(!glob("a*b*c", "axxcyyb"));
        assert!(!glob("ab*ba", "aba"));
    }

    #[test]
    fn machine_kind_defaults_to_rust() {
        // The variable is not set in the test environment.
        if std::env::var_os(MACHINE_KIND_ENV).is_none() {
            assert_eq!(machine_kind(), "rust");
        }
    }
}
