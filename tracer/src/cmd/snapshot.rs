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

#[cfg(test)]
mod tests {
    use crate::{
        model::{
            role::Role,
            snapshot::{PressureNow, Snapshot, SyscallNow, ThreadSnapshot},
        },
        report::snapshot::summarize,
        snapshot::guess::futex_groups,
    };

    fn worker(tid: u32, addr: u64, age_s: u64) -> ThreadSnapshot {
        ThreadSnapshot {
            pid: 10,
            tid,
            comm: "tokio-rt-worker".into(),
            role: Role::TokioWorker,
            state: "S".into(),
            since_last_ran_ns: Some(age_s * 1_000_000_000),
            syscall: Some(SyscallNow {
                nr: 202,
                futex_addr: Some(addr),
                ..Default::default()
            }),
            cause: "futex".into(),
            ..Default::default()
        }
    }

    #[test]
    fn summary_for_the_wedge() {
        let mut snap = Snapshot {
            threads: vec![
                worker(11, 0x7f00_0000_1000, 3660),
                worker(12, 0x7f00_0000_1000, 3661),
                ThreadSnapshot {
                    pid: 10,
                    tid: 10,
                    comm: "zeam".into(),
                    role: Role::SameNameAsProcess,
                    state: "D".into(),
                    since_last_ran_ns: Some(2_000_000_000),
                    cause: "page_fault_io".into(),
                    ..Default::default()
                },
                ThreadSnapshot {
                    role: Role::Named,
                    cause: "epoll".into(),
                    state: "S".into(),
                    ..Default::default()
                },
            ],
            memory_pressure: Some(PressureNow {
                scope: "cgroup /x".into(),
                some_avg10: Some(0.0),
                full_avg10: Some(0.0),
            }),
            ..Default::default()
        };
        snap.futex_groups = futex_groups(&snap.threads);
        assert_eq!(snap.futex_groups.len(), 1);
        assert_eq!(snap.futex_groups[0].tids, [11, 12]);
        assert_eq!(snap.futex_groups[0].min_age_ns, Some(3_660_000_000_000));
        let s = summarize(&snap);
        assert_eq!(
            s[0],
            "2 of 2 tokio workers have been in futex wait for 61 min on the same address 0x7f0000001000; no memory stall (cgroup memory PSI some avg10 0.00%, full 0.00%)"
        );
        assert!(
            s[1].starts_with("1 of 1 thread named like its process has been in page_fault_io"),
            "{s:?}"
        );
        assert_eq!(s[2], "1 other thread: 1 epoll");
        assert_eq!(
            s[3],
            "zeam (tid 10) is in D (uninterruptible): page_fault_io for 2.0 s"
        );
        assert!(s[4].starts_with("2 threads of process 10 wait on futex 0x7f0000001000"));
    }
}
