//! Off-CPU flame graphs by cause: folded stacks (`<cause>.folded`, one line
//! per stack, `frame;frame;...;frame <ns>`), interactive SVGs drawn by
//! inferno (`flame-<cause>.svg`), and the report's section.

use std::{fmt::Write as _, path::Path};

use inferno::flamegraph::{
    self,
    color::{BasicPalette, Palette},
};

use super::fmt::{dur, pct};
use crate::{
    error::{Error, Result},
    model::{Recording, cause::Cause},
    trace::flame::FoldedStack,
};

/// The folded lines of one cause, in a stable order.
pub fn folded(stacks: &[FoldedStack], cause: Cause) -> String {
    let mut out = String::new();
    for s in stacks.iter().filter(|s| s.cause == cause) {
        let _ = writeln!(out, "{} {}", s.frames.join(";"), s.ns);
    }
    out
}

/// Causes present in `stacks`, in taxonomy order.
pub fn causes(stacks: &[FoldedStack]) -> Vec<Cause> {
    Cause::ALL
        .into_iter()
        .filter(|c| stacks.iter().any(|s| s.cause == *c))
        .collect()
}

/// The SVG of one cause's folded lines.
pub fn svg(folded: &str, cause: Cause) -> Result<Vec<u8>> {
    let mut opt = flamegraph::Options::default();
    opt.title = format!("Off-CPU time: {} (starvetrace)", cause.name());
    opt.subtitle =
        Some("thread; user frames, root first; -; kernel frames; width = blocked ns".to_string());
    opt.count_name = "ns".into();
    // Off-CPU graphs are blue by convention (flamegraph.pl --color=io);
    // colours hashed from names so the same frame keeps its colour.
    opt.colors = Palette::Basic(BasicPalette::Io);
    opt.hash = true;
    let mut out = Vec::new();
    let mut lines: Vec<&str> = folded.lines().collect();
    lines.sort_unstable();
    flamegraph::from_lines(&mut opt, lines, &mut out)
        .map_err(|e| Error::Other(anyhow::Error::new(e).context("drawing a flame graph")))?;
    Ok(out)
}

/// Write `<cause>.folded` files into `folded_dir` and `flame-<cause>.svg`
/// into `svg_dir`; returns the paths written.
pub fn write(
    stacks: &[FoldedStack],
    folded_dir: Option<&Path>,
    svg_dir: Option<&Path>,
) -> Result<Vec<String>> {
    let mut written = Vec::new();
    let put = |path: std::path::PathBuf, body: &[u8], written: &mut Vec<String>| {
        std::fs::write(&path, body).map_err(|e| Error::Output {
            path: path.clone(),
            source: e,
        })?;
        written.push(path.display().to_string());
        Ok::<_, Error>(())
    };
    for cause in causes(stacks) {
        let text = folded(stacks, cause);
        if let Some(dir) = folded_dir {
            put(
                dir.join(format!("{}.folded", cause.name())),
                text.as_bytes(),
                &mut written,
            )?;
        }
        if let Some(dir) = svg_dir {
            put(
                dir.join(format!("flame-{}.svg", cause.name())),
                &svg(&text, cause)?,
                &mut written,
            )?;
        }
    }
    Ok(written)
}

/// The report's flame-graph section (nothing when none was made).
pub fn render(o: &mut String, rec: &Recording) {
    let Some(f) = &rec.flame else { return };
    let _ = writeln!(o, "### Off-CPU stacks (flame graphs by cause)\n");
    let _ = writeln!(
        o,
        "- {} blocked intervals in {} distinct (thread, cause, kernel stack, user stack) keys{}",
        f.intervals,
        f.keys,
        if f.overflow_intervals > 0 {
            format!(
                "; {} more intervals ({}) past the cap of keys were counted, not kept",
                f.overflow_intervals,
                dur(f.overflow_ns)
            )
        } else {
            String::new()
        }
    );
    if f.user_stacks {
        let u = &f.user;
        let _ = writeln!(
            o,
            "- user stacks: {} intervals ({}) carry one, {} distinct; {} lost or unreadable; frames named from {}",
            f.user_stack_intervals,
            dur(f.user_stack_ns),
            u.stacks,
            f.user_stack_failed_intervals,
            match (u.via_process, u.via_files) {
                (0, 0) => "nothing".to_string(),
                (p, 0) => format!("the live process ({p})"),
                (0, n) => format!("the files by path and build-id (processes exited: {n})"),
                (p, n) => format!("live processes ({p}) and exited ones' files ({n})"),
            }
        );
        let _ = writeln!(
            o,
            "- truncated user stacks: {} of {} intervals ({} of the time) end before a thread entry \
             (`_start`, `clone3`, `start_thread`, ...); {} are at most two frames deep{}",
            f.truncated_intervals,
            f.user_stack_intervals,
            pct(f.truncated_ns, f.user_stack_ns),
            f.shallow_intervals,
            if f.truncated_intervals > 0 {
                " — frames are missing at the root: the program (or its std) was built without frame \
                 pointers, see the README"
            } else {
                ""
            }
        );
        if u.frames_unnamed > 0 {
            let _ = writeln!(
                o,
                "- user frames named {}, left unnamed {} (outside any file mapping {}, file gone or rebuilt {})",
                u.frames_named, u.frames_unnamed, u.frames_unmapped, u.frames_build_id_mismatch
            );
        }
    } else {
        let _ = writeln!(
            o,
            "- user stacks not taken (`record --user-stacks` adds them)"
        );
    }
    if !f.files.is_empty() {
        let _ = writeln!(
            o,
            "- written: {}",
            f.files
                .iter()
                .map(|p| {
                    let name = Path::new(p).file_name().unwrap_or_default();
                    format!("`{}`", name.to_string_lossy())
                })
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let _ = writeln!(o);
    for (cause, frames) in &f.top_user_frames {
        if frames.is_empty() {
            continue;
        }
        let total = f.ns_by_cause.get(cause).copied().unwrap_or(0);
        let _ = writeln!(
            o,
            "Top user-space frames in `{cause}` (innermost frame; {} in all):\n\n| user frame | time | share |\n|---|---:|---:|",
            dur(total)
        );
        for fr in frames {
            let _ = writeln!(
                o,
                "| `{}` | {} | {:.1}% |",
                fr.frame.replace('|', "\\|").replace('`', "'"),
                dur(fr.ns),
                fr.share * 100.0
            );
        }
        let _ = writeln!(o);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::flame::{FlameSummary, FrameShare};

    #[test]
    fn section_lists_truncation_and_top_frames() {
        let mut rec = Recording::default();
        let mut md = String::new();
        render(&mut md, &rec);
        assert!(md.is_empty(), "no section without flame data");
        let mut f = FlameSummary {
            user_stacks: true,
            intervals: 10,
            keys: 3,
            user_stack_intervals: 8,
            user_stack_ns: 800,
            truncated_intervals: 8,
            truncated_ns: 800,
            shallow_intervals: 7,
            ..FlameSummary::default()
        };
        f.ns_by_cause.insert("page_fault_io".into(), 1000);
        f.top_user_frames.insert(
            "page_fault_io".into(),
            vec![FrameShare {
                frame: "app::read_cold_pages".into(),
                ns: 900,
                share: 0.9,
            }],
        );
        rec.flame = Some(f);
        render(&mut md, &rec);
        assert!(
            md.contains("truncated user stacks: 8 of 8 intervals (100.0% of the time)"),
            "{md}"
        );
        assert!(md.contains("7 are at most two frames deep"), "{md}");
        assert!(
            md.contains("| `app::read_cold_pages` | 900ns | 90.0% |"),
            "{md}"
        );
    }

    #[test]
    fn folded_lines_and_svg() {
        let stacks = vec![
            FoldedStack {
                cause: Cause::PageFaultIo,
                frames: ["app", "main", "read_cold_pages", "-", "filemap_fault"]
                    .map(String::from)
                    .to_vec(),
                ns: 1500,
            },
            FoldedStack {
                cause: Cause::Futex,
                frames: vec!["app".into()],
                ns: 7,
            },
        ];
        assert_eq!(causes(&stacks), vec![Cause::PageFaultIo, Cause::Futex]);
        let text = folded(&stacks, Cause::PageFaultIo);
        assert_eq!(text, "app;main;read_cold_pages;-;filemap_fault 1500\n");
        let svg = String::from_utf8(svg(&text, Cause::PageFaultIo).unwrap()).unwrap();
        assert!(svg.starts_with("<?xml"), "{}", &svg[..80]);
        assert!(svg.contains("read_cold_pages"));
        let dir = tempfile::tempdir().unwrap();
        let files = write(&stacks, Some(dir.path()), Some(dir.path())).unwrap();
        assert_eq!(files.len(), 4);
        assert!(dir.path().join("futex.folded").exists());
        assert!(dir.path().join("flame-page_fault_io.svg").exists());
    }
}
