//! `starvetrace snapshot`: resolve the target and take a snapshot (no BPF).

use crate::{
    cli::{Format, SnapshotArgs},
    error::{Error, Result},
    resolve::{TargetSpec, resolve},
    snapshot::{Options, Snapshot, take_with},
};

/// `starvetrace snapshot`: print where every thread is now.
pub fn run(args: &SnapshotArgs) -> Result<()> {
    let snap = snapshot(args)?;
    match args.format {
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&snap).map_err(|e| Error::Other(e.into()))?
        ),
        Format::Md | Format::Text => println!("{}", crate::report::snapshot::render(&snap)),
    }
    Ok(())
}

pub fn snapshot(args: &SnapshotArgs) -> Result<Snapshot> {
    let t = &args.target;
    let spec = match (t.pid, &t.cgroup, &t.container) {
        (Some(pid), _, _) => TargetSpec::Pid(pid),
        (None, Some(path), _) => TargetSpec::Cgroup(path.clone()),
        (None, None, Some(name)) => TargetSpec::Container(name.clone()),
        (None, None, None) => {
            return Err(Error::Usage(
                "give --pid PID, --cgroup PATH or --container NAME".into(),
            ));
        }
    };
    let target = resolve(&spec, &crate::cgroup::Roots::default())?;
    let mut snap = take_with(&target.pids, &Options::default());
    snap.summary = crate::report::snapshot::summarize(&snap);
    snap.notes.extend(target.notes);
    Ok(snap)
}
