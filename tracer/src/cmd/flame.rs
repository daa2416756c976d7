//! The flame-graph outputs of `record` (and `demo`): whether to aggregate
//! stacks at all, and after the trace the folded files, the SVGs, the
//! report's summary and its diagnostics.

use crate::{
    cli::{RecordArgs, Stacks},
    error::{Error, Result},
    model::Recording,
    trace::flame::FlameData,
};

/// Checked before tracing: are stacks to be aggregated for flame graphs
/// (`--user-stacks`, `--folded`, or SVGs into `--out`), and can the folded
/// directory be written?
pub fn check(args: &RecordArgs) -> Result<bool> {
    if args.user_stacks && args.stacks == Stacks::None {
        return Err(Error::Usage(
            "--user-stacks takes user stacks where kernel stacks are taken, and --stacks none takes none: \
             use --stacks blocked (the default) or all"
                .into(),
        ));
    }
    if let Some(dir) = &args.folded {
        crate::report::check_out_dir(dir)?;
    }
    Ok(args.user_stacks || args.folded.is_some() || args.out.is_some())
}

/// Write the folded stacks and SVGs, and put what they were made of into
/// the recording (summary and diagnostics).
pub fn finish(rec: &mut Recording, flame: Option<FlameData>, args: &RecordArgs) -> Result<()> {
    let Some(mut data) = flame else {
        return Ok(());
    };
    data.summary.files =
        crate::report::flame::write(&data.stacks, args.folded.as_deref(), args.out.as_deref())?;
    let s = &data.summary;
    let u = &s.user;
    for (name, v) in [
        ("flame_keys_overflow", s.overflow_intervals),
        ("user_stack_unreadable", s.user_stack_failed_intervals),
        ("user_stack_truncated", s.truncated_intervals),
        ("user_stack_shallow", s.shallow_intervals),
        ("user_frames_unnamed", u.frames_unnamed),
        ("user_frames_build_id_mismatch", u.frames_build_id_mismatch),
        ("user_maps_unreadable", u.maps_unreadable),
        ("user_maps_procs_over_cap", u.procs_over_cap),
    ] {
        if v != 0 {
            rec.diagnostics.insert(name.to_string(), v);
        }
    }
    if s.user_stacks
        && s.user_stack_intervals > 0
        && s.shallow_intervals * 2 > s.user_stack_intervals
    {
        rec.notes.push(format!(
            "{} of {} user stacks were at most two frames deep: the traced program was built without frame \
             pointers (RUSTFLAGS=\"-C force-frame-pointers=yes\" makes them whole; see the README)",
            s.shallow_intervals, s.user_stack_intervals
        ));
    }
    rec.flame = Some(data.summary);
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use super::*;
    use crate::cli::{Cli, Command};

    fn record(args: &[&str]) -> RecordArgs {
        let argv = ["starvetrace", "record", "--pid", "1"].iter().chain(args);
        match Cli::try_parse_from(argv).unwrap().command {
            Command::Record(r) => r,
            other => panic!("not record: {other:?}"),
        }
    }

    #[test]
    fn flags_decide_whether_stacks_are_aggregated() {
        assert!(!check(&record(&[])).unwrap());
        assert!(check(&record(&["--user-stacks"])).unwrap());
        assert!(check(&record(&["--out", "/nonexistent/st"])).unwrap());
        let dir = tempfile::tempdir().unwrap();
        let folded = dir.path().join("folded");
        assert!(check(&record(&["--folded", folded.to_str().unwrap()])).unwrap());
        assert!(
            folded.is_dir(),
            "the folded directory is made before tracing"
        );
        let e = check(&record(&["--user-stacks", "--stacks", "none"])).unwrap_err();
        assert_eq!(e.exit_code(), crate::error::exit::USAGE);
    }
}
