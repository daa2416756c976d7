//! `cargo xtask bench [overhead|capacity|attach|cost|user-stacks|watch|all]`:
//! what starvetrace (`record` and `watch`) costs the traced program, the
//! rest of the host and itself, measured next to the tools users would
//! otherwise run (libbpf-tools, bpftrace, perf) in the same run. Prints a
//! Markdown report; a full `all` run also writes it to docs/BENCHMARKS.md
//! (and the README's Performance section), so every published figure comes
//! from one run of this harness. `cargo xtask bench soak` is separate (half
//! an hour of `watch` with targets coming and going).

mod attach;
mod bpf;
mod capacity;
mod cost;
mod ctl;
mod goals;
mod host;
mod lab;
mod opts;
mod overhead;
mod proc;
mod ratio_table;
mod readme;
mod report;
mod results;
mod soak;
mod soak_rule;
mod stacks;
mod stats;
mod text;
mod thresholds;
mod tools;
mod tracers;
mod watch;
mod watch_cost;

use std::path::Path;

use anyhow::{Context as _, Result};

use self::opts::Phase;

pub fn run(root: &Path, args: &[String]) -> Result<()> {
    let Some(opts) = opts::parse(args)? else {
        println!("{}", opts::HELP);
        return Ok(());
    };
    host::require_root()?;
    let calibrate = opts.wants(Phase::Overhead) || opts.wants(Phase::Cost);
    let bins = host::build(root, opts.no_build, calibrate)?;
    if opts.phase == Phase::Soak {
        return run_soak(root, &bins, &opts);
    }
    let measures_peers = opts.wants(Phase::Overhead) || opts.wants(Phase::Cost);
    if !opts.no_install && !opts.no_peers && measures_peers {
        host::install_peers();
    }
    let peers = if opts.no_peers || !measures_peers {
        Vec::new()
    } else {
        tracers::discover_peers()
    };
    let before = host::Host::capture();
    eprintln!(
        "bench: {} pairs of {:.1} s runs; load average {}; peers: {}",
        opts.pairs,
        opts.duration,
        before.loadavg,
        if peers.is_empty() {
            "none".to_string()
        } else {
            peers.iter().map(|p| p.label).collect::<Vec<_>>().join(", ")
        }
    );
    let lab = lab::Lab::new(&bins, opts.duration)?;
    let started = std::time::Instant::now();
    let mut results = report::Results {
        opts: opts.clone(),
        ..Default::default()
    };
    if opts.wants(Phase::Overhead) {
        results.traced = overhead::traced(&lab, &peers, &opts)?;
        results.others = overhead::others(&lab, &peers, &opts)?;
    }
    if opts.wants(Phase::Capacity) {
        results.capacity = Some(capacity::run(&lab, &opts)?);
    }
    if opts.wants(Phase::Attach) {
        results.attach = Some(attach::run(&lab, &opts)?);
    }
    if opts.wants(Phase::Cost) {
        results.cost = Some(cost::run(&lab, &peers)?);
    }
    if opts.wants(Phase::Watch) {
        results.watch = Some(watch_cost::run(&lab, &opts)?);
    }
    if opts.wants(Phase::UserStacks) {
        results.stacks = Some(stacks::run(root, &lab, &opts)?);
    }
    results.elapsed_secs = started.elapsed().as_secs_f64();
    results.host_before = Some(before);
    results.host_after = Some(host::Host::capture());
    results.peer_versions = tracers::versions(&peers);

    let doc = report::render(&results);
    println!("{doc}");
    refresh_own_section(root, &opts, &results)?;
    if let Some(path) = opts.output(root) {
        // A full run does not soak: keep the last soak's section.
        let soak = std::fs::read_to_string(&path)
            .ok()
            .and_then(|old| readme::section(&old, soak_rule::SOAK_HEADING));
        std::fs::write(&path, &doc).with_context(|| format!("writing {}", path.display()))?;
        if let Some(soak) = soak {
            readme::splice(&path, soak_rule::SOAK_HEADING, &soak)?;
        }
        eprintln!("bench: wrote {}", path.display());
        // The README links to docs/BENCHMARKS.md: keep the two in step,
        // and leave it alone when the report went elsewhere.
        if path == opts::default_output(root) {
            readme::update(&root.join("README.md"), &goals::summary(&results))?;
        }
    }
    Ok(())
}

/// Alone, `user-stacks` and `watch` refresh only their own section of the
/// full run's report (and `watch` its goal rows there and in the README).
fn refresh_own_section(root: &Path, opts: &opts::Opts, results: &report::Results) -> Result<()> {
    if opts.out.is_some() || opts.no_write || opts.quick {
        return Ok(());
    }
    let path = opts::default_output(root);
    match (opts.phase, &results.stacks, &results.watch) {
        (Phase::UserStacks, Some(stacks), _) => readme::splice(
            &path,
            report::STACKS_HEADING,
            &report::stacks_section(stacks),
        )?,
        (Phase::Watch, _, Some(w)) if opts.pairs >= stats::MIN_PAIRS => {
            readme::splice(&path, watch_cost::HEADING, &watch_cost::section(w))?;
            let rows = goals::watch_rows(w);
            readme::replace_rows(&path, &rows)?;
            readme::replace_rows(&root.join("README.md"), &rows)?;
        }
        _ => return Ok(()),
    }
    eprintln!(
        "bench: updated the {:?} section of {}",
        opts.phase,
        path.display()
    );
    Ok(())
}

/// `cargo xtask bench soak`: print the soak's section; a full-length run
/// also replaces that section of docs/BENCHMARKS.md (or writes `--out`).
/// Exits non-zero when the growth was not flat.
fn run_soak(root: &Path, bins: &host::Bins, opts: &opts::Opts) -> Result<()> {
    let lab = lab::Lab::new(bins, opts.duration)?;
    let when = host::Host::capture().date;
    let result = soak::run(&lab, opts.minutes)?;
    let section = soak_rule::section(&result, &when);
    println!("{section}");
    let path = if opts.no_write {
        None
    } else if let Some(p) = &opts.out {
        Some(p.clone())
    } else {
        (opts.minutes >= opts::SOAK_MINUTES).then(|| opts::default_output(root))
    };
    if let Some(path) = path {
        readme::splice(&path, soak_rule::SOAK_HEADING, &section)?;
        eprintln!("bench: updated the soak section of {}", path.display());
    }
    match result.flatness() {
        Some(f) if f.rss_ok && f.fds_ok => Ok(()),
        Some(f) => anyhow::bail!(
            "soak: watch's growth is not flat (VmRSS {:.1} → {:.1} MiB, fds {} → {})",
            f.start_rss_mib,
            f.end_rss_mib,
            f.start_fds,
            f.end_fds
        ),
        None => anyhow::bail!("soak: no end sample"),
    }
}
