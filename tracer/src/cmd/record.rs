//! `starvetrace record`: attach, trace until the duration, a signal or the
//! target's exit, then build the finished `Recording`.

use std::time::Duration;

use tracer_common::{config, diag};

use crate::{
    cli::{RecordArgs, Stacks},
    error::{Error, Result},
    model::judgement::RuntimeSet,
    model::{Environment, Recording, TargetInfo, cause::Cause},
    resolve::{Resolved, command::spawn_held, resolve_target},
    sys,
    trace::{
        account::Accounts,
        btf,
        collect::{Collected, Collector},
        probes::{Filter, ProbeConfig, Probes},
    },
};

fn stack_policy(s: Stacks) -> u32 {
    match s {
        Stacks::None => config::STACKS_NONE,
        Stacks::Blocked => config::STACKS_BLOCKED,
        Stacks::All => config::STACKS_ALL_SLEEPS,
    }
}

enum Ended {
    Duration,
    Signal(&'static str),
    TargetExited(Option<i32>),
}

/// `starvetrace record`: trace, then print the report.
pub fn run(args: &RecordArgs) -> Result<()> {
    let rec = record(args)?;
    super::report::show(&rec, args.format, args.out.as_deref())?;
    // Last, so it is not scrolled away by the report.
    if let Some(w) = threads_warning(&rec) {
        eprintln!("starvetrace: warning: {w}");
    }
    Ok(())
}

/// What to say when `--threads` matched no thread of the target.
pub fn threads_warning(rec: &Recording) -> Option<String> {
    let r = rec.verdict.as_ref()?.runtime.as_ref()?;
    let pattern = r.pattern.as_ref().filter(|_| r.pattern_matched_nothing)?;
    let names = if r.names_seen.is_empty() {
        "none (no thread was seen)".to_string()
    } else {
        r.names_seen.join(", ")
    };
    Some(format!(
        "--threads '{pattern}' matched no thread of the target; its threads are named: {names}"
    ))
}

pub fn record(args: &RecordArgs) -> Result<Recording> {
    // Command-line mistakes first: they are mistakes with or without root.
    let threads_re = args
        .threads
        .as_deref()
        .map(regex::Regex::new)
        .transpose()
        .map_err(|e| bad_pattern(args.threads.as_deref().unwrap_or_default(), &e))?;
    crate::resolve::check_one_target(args)?;
    sys::check_privileges()?;
    sys::raise_memlock_limit();
    let resolved = resolve_target(args)?;
    if let Some(dir) = &args.out {
        crate::report::check_out_dir(dir)?;
    }
    if let Some(file) = &args.perfetto {
        crate::report::check_out_file(file)?;
    }
    let flame = super::flame::check(args)?;
    sys::ensure_tracefs()?;
    let offsets = btf::load()?;
    // After every check that can refuse the run: an error stays one line.
    sys::warn_missing_capabilities();

    let mut held = match resolved {
        None => Some(spawn_held(&args.command)?),
        Some(_) => None,
    };
    let resolved = match (&resolved, &held) {
        (Some(r), _) => r.clone(),
        (None, Some(h)) => Resolved::Pid(h.child.id()),
        (None, None) => unreachable!("resolve_target returns a target or a command"),
    };
    let filter = match &resolved {
        Resolved::Pid(pid) => Filter::Tgid(*pid),
        Resolved::Cgroup { id, level, .. } => Filter::Cgroup {
            id: *id,
            level: *level,
        },
    };
    let cfg = ProbeConfig {
        filter,
        stack_policy: stack_policy(args.stacks),
        offsets,
        ring_bytes: args.ring_mib << 20,
        max_threads: 16384,
        wakeup_probe: args.wakeup_probe,
        user_stacks: args.user_stacks,
        aggregate: None,
    };
    let cpus = sys::online_cpus();
    let mut probes = Probes::load(&cfg)?;
    let attached_ns = sys::monotonic_ns();
    let started_at_unix_ms = sys::unix_ms();
    probes.attach(&cpus)?;
    // Parsing the kernel's BTF twice (offsets, attach) leaves freed heap.
    sys::give_back_free_heap();
    let mut maps = probes.take_maps()?;
    let pids: Vec<u32> = match &resolved {
        Resolved::Pid(p) => vec![*p],
        Resolved::Cgroup { pids, .. } => pids.clone(),
    };
    let fixed_paths = match &resolved {
        Resolved::Cgroup { paths, .. } => Some(paths.clone()),
        Resolved::Pid(_) => None,
    };
    let sampler = crate::cgroup::follow::FollowingSampler::start(
        pids.first().copied().unwrap_or(0),
        fixed_paths,
    );
    let mut snapshot = None;
    let mut seed_causes: Vec<(u32, Cause)> = Vec::new();
    // A launched command's life starts at its release: the time it sat in
    // the holding trampoline is not its own, so the books open then and
    // nothing is seeded. An existing target is seeded so threads already
    // blocked (a wedged one) are reported even if they never run.
    let start_ns = match &mut held {
        Some(h) => {
            let released = sys::monotonic_ns();
            // An exec that fails is exit code 4, not a report of the
            // trampoline.
            h.release()?;
            released
        }
        None => {
            let mut snap = crate::snapshot::take_with(
                &pids,
                &crate::snapshot::Options {
                    workers: threads_re.clone(),
                    ..Default::default()
                },
            );
            snap.summary = crate::report::snapshot::summarize(&snap);
            let threads = crate::trace::seed::from_snapshot(&snap);
            let seeded = crate::trace::seed::seed(&mut maps.tasks, &threads, attached_ns);
            snapshot = Some(snap);
            tracing::info!(seeded, "seeded threads that existed before the trace");
            seed_causes = threads
                .iter()
                .filter_map(|t| Some((t.tid, t.cause?)))
                .collect();
            attached_ns
        }
    };
    let mut accounts = Accounts::with_span_budget(start_ns, args.span_budget);
    for (tid, cause) in seed_causes {
        accounts.seed_cause(tid, cause);
    }
    accounts.flame = flame.then(Default::default);
    let collector = Collector::spawn(
        maps,
        accounts,
        Duration::from_secs_f64(args.interval),
        !args.quiet,
        (args.ring_mib as usize) << 20,
    );
    let ended = wait(
        args.duration,
        &resolved,
        held.as_mut().map(|h| &mut h.child),
    )?;
    let mut collected = collector.finish();
    let flame = collected.flame.take();
    let spans = std::mem::take(&mut collected.accounts.spans);
    let runnable_at_stop = collected.runnable_at_stop;
    let boosted_at_ns = collected.boosted_at_ns;
    let cgroup = sampler.stop();
    let probe_status = std::mem::take(&mut probes.status);
    let skipped = probes.skipped_runs();
    drop(probes);

    let (mut rec, runtime) = build(
        args,
        &resolved,
        collected,
        start_ns,
        started_at_unix_ms,
        threads_re.as_ref(),
    );
    if spans.dropped > 0 {
        rec.diagnostics
            .insert("spans_not_kept".into(), spans.dropped);
        rec.notes.push(format!(
            "{} off-CPU intervals past the --span-budget of {} were counted but not kept: blackouts reach only to +{:.1} s",
            spans.dropped,
            args.span_budget,
            spans
                .complete_until_ns
                .unwrap_or(start_ns)
                .saturating_sub(start_ns) as f64
                / 1e9
        ));
    }
    rec.environment.probes = probe_status;
    if let Some(at) = boosted_at_ns {
        rec.notes.push(format!(
            "starvetrace's collector fell behind the event rate at +{:.1} s (the host's CPUs were saturated) \
             and raised its own priority to nice -20 from then on",
            at.saturating_sub(start_ns) as f64 / 1e9
        ));
    }
    if runnable_at_stop > 0 {
        rec.notes.push(format!(
            "{runnable_at_stop} thread(s) had been woken but were still waiting for a CPU when tracing stopped; \
             the run-queue part of that last, ongoing interval is counted with its blocking cause (its start \
             is only known with --wakeup-probe)"
        ));
    }
    for (program, n) in skipped {
        rec.diagnostics
            .insert(format!("kernel_skipped_{program}"), n);
        rec.lost_events += n;
    }
    rec.snapshot = snapshot;
    if let Some(c) = &cgroup {
        rec.environment.cgroup_layout = c.layout.clone();
        rec.notes.extend(c.notes.iter().cloned());
    }
    rec.cgroup = cgroup;
    match ended {
        Ended::Duration => {}
        Ended::Signal(sig) => rec.notes.push(format!("trace ended early by {sig}")),
        Ended::TargetExited(status) => {
            rec.target.exited = true;
            rec.target.exit_status = status;
            rec.notes.push(format!(
                "the target exited during the trace{}; this report covers what was collected until then",
                status.map(|s| format!(" (status {s})")).unwrap_or_default()
            ));
        }
    }
    if let Some(cmd) = held.is_some().then(|| args.command.clone()) {
        rec.target.command = Some(cmd);
    }
    super::flame::finish(&mut rec, flame, args)?;
    let heartbeat_ns = args.heartbeat.map(|s| (s * 1e9) as u64);
    // Only a trace file needs the intervals after the verdict: copy them
    // for it, not for every run.
    let for_trace = args.perfetto.as_ref().map(|file| (file, spans.clone()));
    let (verdict, blackouts) = super::verdict::verdict(&rec, spans, heartbeat_ns, runtime);
    rec.verdict = Some(verdict);
    rec.blackouts = Some(blackouts);
    if let Some((file, spans)) = &for_trace {
        eprintln!(
            "{}",
            super::perfetto::write(file, &rec, spans, args.perfetto_max_slices)?
        );
    }
    Ok(rec)
}

/// A `--threads` regex error as one line (the regex crate draws a caret
/// diagram over several lines; its last line says what is wrong).
fn bad_pattern(pattern: &str, e: &regex::Error) -> Error {
    let text = e.to_string();
    let why = text
        .lines()
        .rev()
        .find_map(|l| l.trim().strip_prefix("error: "))
        .unwrap_or_else(|| text.lines().next().unwrap_or_default().trim());
    Error::Usage(format!("--threads '{pattern}' is not a valid regex: {why}"))
}

fn pid_alive(pid: u32) -> bool {
    // A zombie still has /proc/<pid>; its state letter says it is gone.
    sys::process_state(pid).is_some_and(|s| !matches!(s, 'Z' | 'X'))
}

fn wait(
    duration: Option<f64>,
    resolved: &Resolved,
    mut child: Option<&mut std::process::Child>,
) -> Result<Ended> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Other(anyhow::Error::new(e).context("tokio runtime")))?;
    rt.block_on(async {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate())
            .map_err(|e| Error::Other(anyhow::Error::new(e).context("SIGTERM handler")))?;
        let mut int = signal(SignalKind::interrupt())
            .map_err(|e| Error::Other(anyhow::Error::new(e).context("SIGINT handler")))?;
        let deadline = duration.map(|d| tokio::time::Instant::now() + Duration::from_secs_f64(d));
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        loop {
            tokio::select! {
                _ = term.recv() => return Ok(Ended::Signal("SIGTERM")),
                _ = int.recv() => return Ok(Ended::Signal("SIGINT")),
                _ = tick.tick() => {
                    if deadline.is_some_and(|d| tokio::time::Instant::now() >= d) {
                        return Ok(Ended::Duration);
                    }
                    if let Some(c) = child.as_deref_mut() {
                        if let Ok(Some(status)) = c.try_wait() {
                            return Ok(Ended::TargetExited(status.code()));
                        }
                    } else if let Resolved::Pid(pid) = resolved
                        && !pid_alive(*pid)
                    {
                        return Ok(Ended::TargetExited(None));
                    }
                }
            }
        }
    })
}

fn build(
    args: &RecordArgs,
    resolved: &Resolved,
    c: Collected,
    start_ns: u64,
    started_at_unix_ms: u64,
    threads_re: Option<&regex::Regex>,
) -> (Recording, RuntimeSet) {
    let mut diagnostics = std::collections::BTreeMap::new();
    for (i, name) in diag::NAMES.iter().enumerate() {
        if c.diag[i] != 0 {
            diagnostics.insert(name.to_string(), c.diag[i]);
        }
    }
    let slice_anomalies: u64 = c.accounts.threads().map(|a| a.slice_anomalies).sum();
    let switch_ins_inferred: u64 = c.accounts.threads().map(|a| a.switch_ins_inferred).sum();
    let runq_beyond: u64 = c.accounts.threads().map(|a| a.runq_beyond_interval).sum();
    let runq_beyond_ns: u64 = c
        .accounts
        .threads()
        .map(|a| a.runq_beyond_interval_ns)
        .sum();
    let carry_unbooked_ns: u64 = c
        .accounts
        .threads()
        .map(|a| a.carry_ns.unsigned_abs())
        .sum();
    for (name, v) in [
        ("switch_in_not_seen", slice_anomalies),
        ("switch_in_inferred", switch_ins_inferred),
        ("runq_beyond_interval", runq_beyond),
        ("runq_beyond_interval_ns", runq_beyond_ns),
        ("exec_carry_unbooked_ns", carry_unbooked_ns),
        ("stack_symbolization_failed", c.stack_lookups_failed),
        ("stack_not_taken", c.stacks_missing),
        ("malformed_records", c.malformed_records),
    ] {
        if v != 0 {
            diagnostics.insert(name.to_string(), v);
        }
    }
    let lost_events = (0..diag::COUNT)
        .filter(|&i| diag::is_loss(i))
        .map(|i| c.diag[i as usize])
        .sum::<u64>()
        + c.malformed_records;
    let mut threads: Vec<_> = c.accounts.threads().map(|a| a.report()).collect();
    // The main thread's name as the books have it (it may have exited).
    let main_comm = match resolved {
        Resolved::Pid(pid) => threads
            .iter()
            .find(|t| t.tid == *pid)
            .map(|t| t.comm.clone())
            .unwrap_or_else(|| sys::comm_of(*pid, *pid)),
        Resolved::Cgroup { label, .. } => label.clone(),
    };
    for t in &mut threads {
        t.ns_tid = crate::resolve::ns_tids(t.tid)
            .and_then(|ids| ids.last().copied())
            .filter(|&n| n != t.tid);
    }
    let runtime = crate::analyze::roles::assign(
        &mut threads,
        |tgid| Some(sys::comm_of(tgid, tgid)),
        threads_re,
    );
    threads.sort_by_key(|t| (t.tgid, t.tid));
    let target = match resolved {
        Resolved::Pid(pid) => TargetInfo {
            pid: Some(*pid),
            comm: main_comm.clone(),
            ..Default::default()
        },
        Resolved::Cgroup { label, .. } => TargetInfo {
            cgroup: args
                .target
                .cgroup
                .as_ref()
                .map(|p| p.display().to_string())
                .or(Some(label.clone())),
            container: args.target.container.clone(),
            comm: main_comm.clone(),
            ..Default::default()
        },
    };
    let mut rec = Recording {
        schema_version: crate::model::SCHEMA_VERSION,
        tool: format!("starvetrace {}", env!("CARGO_PKG_VERSION")),
        started_at_unix_ms,
        duration_ns: c.end_ns.saturating_sub(start_ns),
        lost_events,
        records: c.accounts.records,
        target,
        environment: Environment {
            kernel: sys::kernel_release(),
            hostname: sys::hostname(),
            cpus: sys::online_cpus().len(),
            btf: true,
            psi: sys::psi_available(),
            cgroup_layout: String::new(),
            swap_total_bytes: sys::swap_total_bytes(),
            probes: Vec::new(),
            stack_policy: format!("{:?}", args.stacks).to_lowercase(),
        },
        diagnostics,
        threads,
        intervals: c.accounts.timeline_rows.clone(),
        cause_totals: c.accounts.cause_totals(),
        timeline: Some(c.accounts.timeline.report(c.end_ns)),
        ..Default::default()
    };
    if lost_events > 0 {
        rec.notes.push(format!(
            "{lost_events} records or map updates were LOST; totals undercount"
        ));
    }
    (rec, runtime)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{judgement::RuntimeSet, verdict::Verdict};

    fn with_runtime(summary: &str, runtime: RuntimeSet) -> Verdict {
        Verdict {
            summary: summary.into(),
            runtime: Some(runtime),
            ..Default::default()
        }
    }

    #[test]
    fn an_unmatched_pattern_is_warned_about() {
        let unmatched = RuntimeSet {
            block_on_candidates: 1,
            pattern: Some("^nope".into()),
            pattern_matched_nothing: true,
            names_seen: vec!["zeam".into(), "zeam-io".into()],
            ..Default::default()
        };
        let matched = RuntimeSet {
            pattern_matched_nothing: false,
            ..unmatched.clone()
        };
        let rec = |v: Verdict| Recording {
            verdict: Some(v),
            ..Default::default()
        };
        assert_eq!(
            threads_warning(&rec(with_runtime("x", unmatched))).as_deref(),
            Some(
                "--threads '^nope' matched no thread of the target; its threads are named: zeam, zeam-io"
            )
        );
        assert_eq!(threads_warning(&rec(with_runtime("x", matched))), None);
    }

    #[test]
    fn a_bad_pattern_is_one_line() {
        // Built at run time, as the flag's value is (clippy checks literals).
        let pattern = String::from("tokio-(");
        let e = regex::Regex::new(&pattern).unwrap_err();
        let err = bad_pattern(&pattern, &e);
        assert_eq!(err.exit_code(), crate::error::exit::USAGE);
        assert_eq!(
            err.to_string(),
            "--threads 'tokio-(' is not a valid regex: unclosed group"
        );
    }
}
