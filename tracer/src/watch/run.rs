//! The watch loop: attach once, then every `--interval` follow the targets,
//! read the kernel's books and the long intervals, check the triggers, log,
//! update the metrics, and hand bundles to a worker thread.

use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    io::IsTerminal as _,
    sync::Arc,
    thread::JoinHandle,
    time::{Duration, Instant},
};

use tracer_common::{
    config::STACKS_BLOCKED,
    event::{EVENT_SWITCH, SwitchEvent},
    task::TaskState,
};

use super::{
    books::KernelBooks,
    bundle::{self, BundleConfig, Request},
    monitor::{CoarseRow, Monitor, span_of},
    targets::{Discovery, Wanted},
    triggers::{Fired, TriggerConfig},
    watched::WatchedSet,
};
use crate::{
    cli::WatchArgs,
    error::{Error, Result},
    metrics::{Metrics, parse_listen, serve},
    model::watch::TargetId,
    sys,
    trace::{
        btf,
        classify::{Classifier, KernelStacks},
        collect::{lost, read},
        probes::{Aggregate, Filter, ProbeConfig, Probes, read_diag},
    },
};

/// Long intervals kept per runtime thread (the detail window's bound).
const MAX_SPANS_PER_THREAD: usize = 4096;
/// Records drained per tick at most (the rest waits for the next tick).
const MAX_RECORDS_PER_TICK: usize = 1 << 20;

pub fn run(args: &WatchArgs) -> Result<()> {
    let threads = args
        .threads
        .as_deref()
        .map(regex::Regex::new)
        .transpose()
        .map_err(|e| Error::Usage(format!("--threads is not a valid regex: {e}")))?;
    let on_trigger = args.on_trigger.as_deref().map(split_command).transpose()?;
    let listen = args.listen.as_deref().map(parse_listen).transpose()?;
    sys::one_heap();
    sys::check_privileges()?;
    // Bundles hold command lines, addresses and stacks: root only.
    // SAFETY: umask(2) has no failure mode.
    unsafe { libc::umask(0o077) };
    bundle::prepare_dir(&args.evidence_dir)?;
    sys::warn_missing_capabilities();
    sys::ensure_tracefs()?;
    let offsets = btf::load()?;
    let metrics = Arc::new(Metrics::new());
    let _server = listen.map(|a| serve(a, metrics.clone())).transpose()?;

    let emit_min_ns = (args.emit_min_ms * 1e6) as u64;
    let mut probes = Probes::load(&ProbeConfig {
        filter: Filter::TgidSet,
        stack_policy: STACKS_BLOCKED,
        offsets,
        ring_bytes: 4 << 20,
        max_threads: args.max_threads,
        wakeup_probe: false,
        user_stacks: false,
        aggregate: Some(Aggregate {
            emit_min_ns,
            max_keys: args.max_threads.saturating_mul(4),
        }),
    })?;
    probes.attach(&sys::online_cpus())?;
    for s in probes.status.iter().filter(|s| !s.attached) {
        eprintln!(
            "starvetrace: watch: probe {} not attached: {}",
            s.name, s.detail
        );
    }
    sys::give_back_free_heap();
    let mut maps = probes.take_maps()?;
    let mut kmaps = maps
        .watch
        .take()
        .ok_or_else(|| Error::Other(anyhow::anyhow!("the watch maps were not created")))?;
    let mut classifier = Classifier::new(KernelStacks::new(maps.stacks));

    let wanted: Vec<Wanted> = args
        .pid
        .iter()
        .map(|&p| Wanted::Pid(p))
        .chain(args.cgroup.iter().map(|c| Wanted::Cgroup(c.clone())))
        .chain(args.container.iter().map(|c| Wanted::Container(c.clone())))
        .collect();
    let mut discovery = Discovery::new(wanted, threads.clone());
    let cfg = TriggerConfig {
        blackout_ns: (args.trigger_blackout * 1e9) as u64,
        stall_ns: (args.trigger_stall * 1e9) as u64,
        memory_events_per_s: args.trigger_memory_events,
        psi_full_avg10: args.trigger_psi,
    };
    let bundle_cfg = BundleConfig {
        dir: args.evidence_dir.clone(),
        max_bundles: args.max_bundles,
        max_bytes: args.max_bundle_mib << 20,
        capture_secs: args.capture,
        threads: args.threads.clone(),
        on_trigger,
        on_trigger_timeout: Duration::from_secs_f64(args.on_trigger_timeout),
    };
    let interval = Duration::from_secs_f64(args.interval);
    let detail_ns = (args.detail * 1e9) as u64;
    let tick_ns = (args.interval * 1e9) as u64;
    let detail_rows = ((args.detail / args.interval).ceil() as usize).max(1);
    let max_rows = ((args.window * 60.0) / args.interval).ceil() as usize;
    let to_terminal = std::io::stderr().is_terminal();
    eprintln!(
        "starvetrace: watching {} (every {:.1} s; bundles in {})",
        if args.pid.is_empty() && args.cgroup.is_empty() && args.container.is_empty() {
            "every process with tokio-named threads".to_string()
        } else {
            "the given targets".to_string()
        },
        args.interval,
        args.evidence_dir.display()
    );

    let mut monitors: BTreeMap<String, Monitor> = BTreeMap::new();
    let mut watched = WatchedSet::new(args.max_processes);
    let mut kbooks = KernelBooks::default();
    let mut last_bundle: HashMap<String, Instant> = HashMap::new();
    let mut last_command: HashMap<String, Instant> = HashMap::new();
    let mut worker: Option<(String, JoinHandle<Result<std::path::PathBuf>>, Later)> = None;
    let started = Instant::now();

    let stop = super::run_signals::Stop::install()?;
    while !stop.requested() {
        if args
            .duration
            .is_some_and(|d| started.elapsed().as_secs_f64() >= d)
        {
            break;
        }
        let tick = Instant::now();
        let now_ns = sys::monotonic_ns();
        let now_ms = sys::unix_ms();

        // Targets and the kernel's filter.
        let found = discovery.scan();
        let mut by_key: BTreeMap<String, (TargetId, BTreeSet<u32>)> = BTreeMap::new();
        for (tgid, id) in &found {
            by_key
                .entry(id.key.clone())
                .or_insert_with(|| (id.clone(), BTreeSet::new()))
                .1
                .insert(*tgid);
        }
        let now_set: BTreeSet<u32> = found.keys().copied().collect();
        watched.update(&mut kmaps.watched, &now_set);
        monitors.retain(|key, m| {
            let keep = by_key.contains_key(key);
            if !keep {
                log_line(
                    to_terminal,
                    &format!("{key} ({}): gone; no longer watched", m.id.process),
                );
                metrics.forget_target(&m.id);
            }
            keep
        });
        for (key, (id, tgids)) in by_key {
            let m = monitors
                .entry(key)
                .or_insert_with(|| Monitor::new(id.clone(), max_rows, now_ns));
            // A container recreated under its name keeps its key; its
            // process name may change.
            m.id = id;
            m.refresh(tgids, threads.as_ref(), now_ns);
        }
        metrics.set_watched_targets(monitors.len());

        // Long intervals from the ring buffer.
        let owner: HashMap<u32, String> = monitors
            .iter()
            .flat_map(|(k, m)| m.runtime.keys().map(move |t| (*t, k.clone())))
            .collect();
        let mut drained = 0;
        while drained < MAX_RECORDS_PER_TICK
            && let Some(item) = maps.events.next()
        {
            drained += 1;
            let bytes: &[u8] = &item;
            if read::<u32>(bytes) != Some(EVENT_SWITCH) {
                continue;
            }
            let Some(ev) = read::<SwitchEvent>(bytes) else {
                continue;
            };
            let mut cause = |e: &SwitchEvent| {
                classifier.cause(
                    e.next_off_state,
                    e.next_stack_id,
                    e.next_reclaim_kind,
                    e.next_syscall,
                )
            };
            if let Some((tid, span)) = span_of(&ev, &mut cause)
                && let Some(key) = owner.get(&tid)
                && let Some(m) = monitors.get_mut(key)
            {
                m.add_span(tid, span, MAX_SPANS_PER_THREAD);
            }
        }

        // The kernel's books: what every thread gained, by cause.
        let books = kbooks.read(
            &mut kmaps.agg,
            &mut maps.tasks,
            &mut classifier,
            |tgid, tid| std::path::Path::new(&format!("/proc/{tgid}/task/{tid}")).exists(),
        );
        let tgid_owner: HashMap<u32, String> = monitors
            .iter()
            .flat_map(|(k, m)| m.tgids.iter().map(move |t| (*t, k.clone())))
            .collect();
        let mut rows: HashMap<String, CoarseRow> = HashMap::new();
        for g in books.gains {
            let Some(key) = tgid_owner.get(&g.tgid) else {
                continue;
            };
            let Some(m) = monitors.get(key) else { continue };
            let row = rows.entry(key.clone()).or_default();
            if m.runtime.contains_key(&g.tid) {
                let busy = g.cause.is_none_or(|c| !c.is_idle());
                if busy {
                    row.runtime_busy_ns += g.ns;
                }
                if g.cause.is_some_and(|c| c.is_memory()) {
                    row.runtime_memory_ns += g.ns;
                }
            }
            match g.cause {
                None => row.on_cpu_ns += g.ns,
                Some(cause) => {
                    *row.off_ns.entry(cause).or_default() += g.ns;
                    let role = m.roles.get(&g.tid).copied().unwrap_or_default();
                    metrics.add_off_cpu(&m.id, role, cause, g.ns as f64 / 1e9);
                }
            }
        }

        // Each target: readings, triggers, log line.
        let tasks = &|tid: u32| books.states.get(&tid).copied();
        let mut open_cause = |st: &TaskState| {
            classifier.cause(
                st.off_state,
                st.off_stack_id,
                st.off_reclaim_kind,
                st.off_syscall,
            )
        };
        for (key, m) in monitors.iter_mut() {
            let readings = m.read(now_ns, detail_ns, emit_min_ns, tasks, &mut open_cause);
            for b in m.newly_ended(now_ns) {
                metrics.add_blackout(&m.id, b.len_ns() as f64 / 1e9);
            }
            let mut row = rows.remove(key).unwrap_or_default();
            row.at_unix_ms = now_ms;
            row.blackout_ns = m.last_blackouts.total_ns;
            row.runtime_wall_ns = m.runtime.len() as u64 * tick_ns;
            row.health = m.health;
            m.push_row(row);
            m.settle_health(detail_rows);
            metrics.set_health(&m.id, m.health);
            let fired = cfg.check(&readings, now_ns, now_ms);
            // Counted and logged once per episode: when a trigger starts to hold.
            let started: Vec<&Fired> = fired
                .iter()
                .filter(|f| !m.active.contains(&f.kind))
                .collect();
            for f in &started {
                metrics.trigger_fired(&m.id, f.kind);
            }
            // Triggers that start while this target's bundle is captured
            // belong to the same episode: the bundle lists them too.
            if let Some((wkey, _, later)) = &worker
                && wkey == key
                && let Ok(mut later) = later.lock()
            {
                later.extend(started.iter().map(|f| (*f).clone()));
            }
            m.active = fired.iter().map(|f| f.kind).collect();
            log_line(to_terminal, &status_line(key, m, &readings, &started));
            if fired.is_empty() {
                continue;
            }
            let cooled = last_bundle
                .get(key)
                .is_none_or(|t| t.elapsed().as_secs_f64() >= args.cooldown);
            if !cooled || worker.is_some() {
                continue;
            }
            let run_command = last_command
                .get(key)
                .is_none_or(|t| t.elapsed().as_secs_f64() >= args.on_trigger_min_gap);
            if run_command && bundle_cfg.on_trigger.is_some() {
                last_command.insert(key.clone(), Instant::now());
            }
            last_bundle.insert(key.clone(), Instant::now());
            let req = request(m, fired, run_command);
            let later = req.fired_during_capture.clone();
            let cfg = bundle_cfg.clone();
            let handle = std::thread::Builder::new()
                .name("st-bundle".into())
                .spawn(move || bundle::write(&cfg, &req))
                .map_err(|e| {
                    Error::Other(anyhow::anyhow!("cannot start the bundle thread: {e}"))
                })?;
            worker = Some((key.clone(), handle, later));
        }

        if worker.as_ref().is_some_and(|(_, h, _)| h.is_finished())
            && let Some((key, h, _)) = worker.take()
        {
            finish_bundle(&key, h, &metrics, to_terminal);
        }
        metrics.set_lost_events(lost(&read_diag(&maps.diag)));
        let _ = metrics.refresh_self();
        if let Some(rest) = interval.checked_sub(tick.elapsed()) {
            stop.sleep(rest);
        }
    }
    if let Some((key, h, _)) = worker.take() {
        eprintln!("starvetrace: watch: stopping; waiting for the bundle of {key} to be written");
        finish_bundle(&key, h, &metrics, to_terminal);
    }
    eprintln!("starvetrace: watch: stopped");
    Ok(())
}

/// Triggers that start during a bundle's capture, shared with its writer.
type Later = std::sync::Arc<std::sync::Mutex<Vec<Fired>>>;

fn request(m: &Monitor, fired: Vec<Fired>, run_command: bool) -> Request {
    Request {
        fired_during_capture: Later::default(),
        target: m.id.clone(),
        pids: m.tgids.iter().copied().collect(),
        cgroup: m.cgroup_dir.clone(),
        fired,
        health: m.health,
        before: m.rows.iter().cloned().collect(),
        blackouts: m.last_blackouts.long.clone(),
        run_command,
    }
}

fn finish_bundle(
    key: &str,
    h: JoinHandle<Result<std::path::PathBuf>>,
    metrics: &Metrics,
    to_terminal: bool,
) {
    let joined = h.join();
    // The capture loaded its own probes (parsed BTF) and held a whole
    // trace: give that back now, or watch's RSS keeps each bundle's peak.
    sys::give_back_free_heap();
    match joined {
        Ok(Ok(path)) => {
            metrics.bundle_written(true);
            log_line(
                to_terminal,
                &format!("{key}: evidence bundle written: {}", path.display()),
            );
        }
        Ok(Err(e)) => {
            metrics.bundle_written(false);
            log_line(
                to_terminal,
                &format!("{key}: evidence bundle NOT written: {e}"),
            );
        }
        Err(_) => {
            metrics.bundle_written(false);
            log_line(to_terminal, &format!("{key}: the bundle writer failed"));
        }
    }
}

fn status_line(key: &str, m: &Monitor, r: &super::triggers::Readings, fired: &[&Fired]) -> String {
    let b = &m.last_blackouts;
    let mut line = format!(
        "{key} ({}): {} | runtime threads {}, long intervals {} | blackouts {:.2} s, longest stall {:.2} s",
        m.id.process,
        m.health,
        m.runtime.len(),
        m.spans.values().map(|q| q.len()).sum::<usize>(),
        b.total_ns as f64 / 1e9,
        m.longest_stall.map_or(0.0, |(a, e)| (e - a) as f64 / 1e9),
    );
    if let Some(p) = r.psi_full_avg10 {
        line.push_str(&format!(" | memory full avg10 {p:.1}%"));
    }
    if let Some(e) = r.memory_events_per_s {
        line.push_str(&format!(" | memory.events {e:.0}/s"));
    }
    if let Some((c, _)) = b.by_cause.iter().max_by_key(|(_, ns)| **ns) {
        line.push_str(&format!(" | mostly {c}"));
    }
    for f in fired {
        line.push_str(&format!(" | TRIGGER {}: {}", f.kind, f.detail));
    }
    line
}

/// One line on stderr when a person is watching, else through `tracing`.
fn log_line(to_terminal: bool, line: &str) {
    if to_terminal {
        eprintln!("{line}");
    } else {
        tracing::info!(target: "starvetrace::watch", "{line}");
    }
}

/// `--on-trigger` split into words: whitespace separates, single or double
/// quotes group, no other shell syntax (write `sh -c '...'` for a shell).
pub fn split_command(s: &str) -> Result<Vec<String>> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    for c in s.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => cur.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            (None, c) => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if quote.is_some() {
        return Err(Error::Usage(format!(
            "--on-trigger has an unclosed quote: {s}"
        )));
    }
    if in_word {
        words.push(cur);
    }
    if words.is_empty() {
        return Err(Error::Usage("--on-trigger is empty".into()));
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_split_like_words_with_quotes() {
        assert_eq!(
            split_command("docker restart \"$X\"").unwrap(),
            ["docker", "restart", "$X"]
        );
        assert_eq!(
            split_command("sh -c 'docker restart \"$STARVETRACE_CONTAINER\"'").unwrap(),
            ["sh", "-c", "docker restart \"$STARVETRACE_CONTAINER\""]
        );
        assert_eq!(split_command("  a  ''  b ").unwrap(), ["a", "", "b"]);
        assert!(split_command("sh -c 'x").is_err());
        assert!(split_command("   ").is_err());
    }
}
