//! `starvetrace report FILE`: render a saved report.json again.

use crate::{
    analyze::correlate::alignment,
    cli::ReportArgs,
    error::Result,
    model::Recording,
    report::{emit, load},
};

pub fn run(args: &ReportArgs) -> Result<()> {
    let rec = load(&args.file)?;
    show(&rec, args.format, None)
}

/// Print (and with `out`, write) a finished recording in every form.
pub fn show(
    rec: &Recording,
    format: crate::cli::Format,
    out: Option<&std::path::Path>,
) -> Result<()> {
    emit(rec, &alignment(rec), format, out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        report::{log2, markdown, timeline_svg},
        trace::hist::Recorder,
    };

    /// The Markdown and SVG of a representative recording, byte for byte
    /// (regenerated with STARVETRACE_WRITE_KEYS=1 when a change is meant),
    /// and the JSON loads back as `report FILE` reads it.
    #[test]
    fn rendering_is_unchanged() {
        let rec = crate::model::tests::representative();
        let psi = alignment(&rec);
        for (name, got) in [
            ("report.md", markdown::render(&rec, &psi)),
            ("timeline.svg", timeline_svg(&rec, &psi)),
        ] {
            let file = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
            // Rewrite on purpose (a new section) with STARVETRACE_WRITE_KEYS=1.
            if std::env::var_os("STARVETRACE_WRITE_KEYS").is_some() {
                std::fs::write(&file, &got).unwrap();
            }
            assert_eq!(got, std::fs::read_to_string(&file).unwrap(), "{name}");
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("report.json");
        std::fs::write(&path, serde_json::to_string_pretty(&rec).unwrap()).unwrap();
        let back = load(&path).unwrap();
        assert_eq!(
            markdown::render(&back, &alignment(&back)),
            markdown::render(&rec, &psi)
        );
    }

    #[test]
    fn log2_renders_every_sample() {
        let mut r = Recorder::default();
        for v in [1_500u64, 3_000, 3_000, 900_000, 2_000_000] {
            r.record(v);
        }
        let text = log2::render("runq", &r.summary());
        assert!(text.contains("usecs"));
        assert!(text.contains("         2 -> 3          : 2 "), "{text}");
        assert!(text.contains("         0 -> 1          : 1 "), "{text}");
        let total: u64 = text
            .lines()
            .filter(|l| l.contains('|'))
            .map(|l| {
                l.split(':')
                    .nth(1)
                    .unwrap()
                    .split_whitespace()
                    .next()
                    .unwrap()
                    .parse::<u64>()
                    .unwrap()
            })
            .sum();
        assert_eq!(total, 5);
    }
}
