//! `cargo xtask bench [overhead|capacity|attach|cost|all]`: what starvetrace
//! costs the traced program, the rest of the host and itself, measured next
//! to the tools users would otherwise run (libbpf-tools, bpftrace, perf) in
//! the same run. Prints a Markdown report; a full `all` run also writes it
//! to docs/BENCHMARKS.md (and the README's Performance section), so every
//! published figure comes from one run of this harness.

mod attach;
mod bpf;
mod capacity;
mod cost;
mod ctl;
mod host;
mod lab;
mod opts;
mod overhead;
mod proc;
mod readme;
mod report;
mod stacks;
mod stats;
mod tools;
mod tracers;

use std::path::Path;

use anyhow::{Context as _, Result};

use self::opts::Phase;

pub fn run(root: &Path, args: &[String]) -> Result<()> {
    let Some(opts) = opts::parse(args)? else {
        println!("{}", opts::HELP);
        return Ok(());
    };
    host::require_root()?;
    let bins = host::build(root, opts.no_build)?;
    if !opts.no_install {
        host::install_peers();
    }
    let peers = if opts.no_peers {
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
    if opts.wants(Phase::UserStacks) {
        results.stacks = Some(stacks::run(root, &lab, &opts)?);
    }
    results.elapsed_secs = started.elapsed().as_secs_f64();
    results.host_before = Some(before);
    results.host_after = Some(host::Host::capture());
    results.peer_versions = tracers::versions(&peers);

    let doc = report::render(&results);
    println!("{doc}");
    if opts.phase == Phase::UserStacks
        && opts.out.is_none()
        && !opts.no_write
        && !opts.quick
        && let Some(stacks) = &results.stacks
    {
        // Alone, this phase refreshes only its own section of the full
        // run's report.
        let path = opts::default_output(root);
        readme::splice(
            &path,
            report::STACKS_HEADING,
            &report::stacks_section(stacks),
        )?;
        eprintln!(
            "bench: updated the user-stacks section of {}",
            path.display()
        );
    }
    if let Some(path) = opts.output(root) {
        std::fs::write(&path, &doc).with_context(|| format!("writing {}", path.display()))?;
        eprintln!("bench: wrote {}", path.display());
        // The README links to docs/BENCHMARKS.md: keep the two in step,
        // and leave it alone when the report went elsewhere.
        if path == opts::default_output(root) {
            readme::update(&root.join("README.md"), &report::summary(&results))?;
        }
    }
    Ok(())
}
