//! In: the finished recording (and its PSI alignment, from cmd).
//! Out: Markdown for bug threads, JSON for machines, text for terminals, the SVG.

pub mod blackouts;
pub mod cgroup;
pub mod flame;
pub mod fmt;
pub mod log2;
pub mod markdown;
pub mod perfetto;
pub mod snapshot;
pub mod svg;
pub mod svg_writer;
pub mod verdict;
use std::{io::Write as _, path::Path};

use crate::{
    error::{Error, Result},
    model::{Recording, cgroup::PsiAlignment},
};

/// Fail before tracing, not after, when the output directory is unusable.
pub fn check_out_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::Output {
        path: dir.to_path_buf(),
        source: e,
    })?;
    let probe = dir.join(".starvetrace-write-test");
    std::fs::write(&probe, b"").map_err(|e| Error::Output {
        path: dir.to_path_buf(),
        source: e,
    })?;
    let _ = std::fs::remove_file(probe);
    Ok(())
}

/// Fail before tracing when a file cannot be written (it is created now,
/// and written for real after the trace).
pub fn check_out_file(file: &Path) -> Result<()> {
    std::fs::File::create(file).map_err(|e| Error::Output {
        path: file.to_path_buf(),
        source: e,
    })?;
    Ok(())
}

pub fn load(path: &Path) -> Result<Recording> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::Input {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    serde_json::from_str(&text).map_err(|e| Error::Input {
        path: path.to_path_buf(),
        reason: format!("not a starvetrace report.json: {e}"),
    })
}

/// Print the report in `format`, and write all three files to `out` if given.
pub fn emit(
    rec: &Recording,
    psi: &PsiAlignment,
    format: crate::cli::Format,
    out: Option<&Path>,
) -> Result<()> {
    let json = serde_json::to_string_pretty(rec).map_err(|e| Error::Other(e.into()))?;
    let md = markdown::render(rec, psi);
    if let Some(dir) = out {
        write_files(dir, &json, &md, &timeline_svg(rec, psi))?;
    }
    // A reader that went away (`| head`) is not an error worth a panic.
    let body = match format {
        crate::cli::Format::Json => json,
        crate::cli::Format::Md | crate::cli::Format::Text => md,
    };
    let _ = writeln!(std::io::stdout().lock(), "{body}");
    Ok(())
}

/// Write report.json, report.md and timeline.svg into `dir`.
pub fn write_files(dir: &Path, json: &str, md: &str, svg: &str) -> Result<()> {
    for (name, body) in [
        ("report.json", json),
        ("report.md", md),
        ("timeline.svg", svg),
    ] {
        let p = dir.join(name);
        std::fs::write(&p, body).map_err(|e| Error::Output { path: p, source: e })?;
    }
    Ok(())
}

/// The timeline picture, with the cgroup's PSI memory line when sampled.
pub fn timeline_svg(rec: &Recording, psi: &PsiAlignment) -> String {
    let timeline = rec.timeline.clone().unwrap_or_default();
    let threads = rec.threads.len();
    let title = format!(
        "starvetrace: stall time by cause — {}",
        rec.verdict
            .as_ref()
            .map(|v| v.outcome.as_str())
            .unwrap_or("no verdict")
    );
    let blackouts = rec.blackouts.as_ref().map(|b| b.series.as_slice());
    svg::render(
        &timeline,
        threads,
        psi.memory_some.as_deref(),
        blackouts,
        &title,
    )
}
