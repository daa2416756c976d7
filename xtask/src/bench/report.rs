//! The Markdown report. Every figure in it comes from this run's results;
//! each goal is checked here and marked ✔ or ✘.

use std::fmt::Write as _;

use super::{
    attach::{self, Attach},
    capacity::Capacity,
    cost::CostRow,
    host::Host,
    opts::Opts,
    overhead::{self, ScenarioResult, Series},
    stacks::{LAB_CONFIGS, StackCost, USER_STACKS},
    stats,
    tracers::STARVETRACE,
};

#[derive(Clone, Debug, Default)]
pub struct Results {
    pub opts: Opts,
    pub traced: Vec<ScenarioResult>,
    pub others: Vec<ScenarioResult>,
    pub capacity: Option<Capacity>,
    pub attach: Option<Attach>,
    pub cost: Option<Vec<CostRow>>,
    pub stacks: Option<StackCost>,
    pub host_before: Option<Host>,
    pub host_after: Option<Host>,
    pub peer_versions: Vec<String>,
    pub elapsed_secs: f64,
}

/// One line of the goals table.
struct Goal {
    what: String,
    target: String,
    measured: String,
    met: bool,
}

const MIB: f64 = 1024.0;
const CAPACITY_GOAL: u64 = 500_000;
const CPU_GOAL_RATE: u64 = 100_000;
const CPU_GOAL_PCT: f64 = 10.0;
const RSS_GOAL_MIB: f64 = 64.0;
/// Our own bound for the many-threads step (the issue sets none): every
/// traced thread's books, histograms included, within 64 KiB on top.
const PER_THREAD_GOAL_KIB: f64 = 64.0;
const ATTACH_GOAL_SECS: f64 = 1.0;

fn mark(met: bool) -> &'static str {
    if met { "✔" } else { "✘" }
}

/// 228419.3 → "228.4k".
fn rate(v: f64) -> String {
    if !v.is_finite() {
        "—".into()
    } else if v >= 1e6 {
        format!("{:.2}M", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.1}k", v / 1e3)
    } else {
        format!("{v:.0}")
    }
}

fn ratio_goal(results: &[ScenarioResult], key: &str, label: &str) -> Option<Goal> {
    tracer_ratio_goal(results, key, STARVETRACE, label)
}

fn tracer_ratio_goal(
    results: &[ScenarioResult],
    key: &str,
    tracer: &str,
    label: &str,
) -> Option<Goal> {
    let sc = results.iter().find(|r| r.scenario.key == key)?;
    let s = sc.series(tracer)?;
    let target = format!("≥ {:.2}", sc.scenario.goal);
    Some(match s.median_ratio() {
        Some(r) => Goal {
            what: label.into(),
            target,
            measured: format!("{r:.3}"),
            met: r >= sc.scenario.goal && s.error.is_none(),
        },
        None => Goal {
            what: label.into(),
            target,
            measured: "failed".into(),
            met: false,
        },
    })
}

fn goals(r: &Results) -> Vec<Goal> {
    let mut g = Vec::new();
    g.extend(ratio_goal(
        &r.traced,
        "pinned",
        "traced program, pinned ping-pong (worst case)",
    ));
    if let Some(sc) = r.traced.iter().find(|s| s.scenario.key == "pinned")
        && let (Some(st), Some(rq)) = (sc.series(STARVETRACE), sc.series("runqlat -p"))
        && let (Some(a), Some(b)) = (st.median_ratio(), rq.median_ratio())
    {
        g.push(Goal {
            what: "traced program, pinned: no worse than `runqlat -p` in the same run".into(),
            target: format!("≥ {b:.3}"),
            measured: format!("{a:.3}"),
            met: a >= b,
        });
    }
    g.extend(ratio_goal(
        &r.traced,
        "cross",
        "traced program, cross-CPU ping-pong",
    ));
    g.extend(ratio_goal(
        &r.traced,
        "tokio",
        "traced program, tokio ping-pong",
    ));
    g.extend(ratio_goal(
        &r.others,
        "pinned",
        "untraced program while another is traced, pinned",
    ));
    g.extend(ratio_goal(
        &r.others,
        "cross",
        "untraced program while another is traced, cross-CPU",
    ));
    if let Some(cap) = &r.capacity {
        let step = cap.at(CAPACITY_GOAL);
        let (measured, met) = match step {
            // The goal is met only if the rate was really reached (a
            // paced workload cannot exceed what the CPUs allow).
            Some(s) => (
                format!(
                    "{} switches/s, {} lost",
                    rate(s.switches_per_sec),
                    s.lost + s.ringbuf_full
                ),
                s.lossless() && s.switches_per_sec >= CAPACITY_GOAL as f64 * 0.95,
            ),
            None => ("not reached (loss at a lower rate)".into(), false),
        };
        g.push(Goal {
            what: "no records lost at 500k sched events/s".into(),
            target: "0 lost".into(),
            measured,
            met,
        });
        if let Some(s) = cap.at(CPU_GOAL_RATE) {
            let pct = s.cpu_pct.unwrap_or(f64::NAN);
            g.push(Goal {
                what: "starvetrace user-space CPU at 100k events/s".into(),
                target: format!("< {CPU_GOAL_PCT:.0}% of a core"),
                measured: format!("{pct:.1}%"),
                met: pct < CPU_GOAL_PCT,
            });
        }
        if let Some(kib) = cap.peak_rss_kib() {
            let mib = kib as f64 / MIB;
            g.push(Goal {
                what: "starvetrace peak RSS (any capacity step)".into(),
                target: format!("< {RSS_GOAL_MIB:.0} MiB"),
                measured: format!("{mib:.1} MiB"),
                met: mib < RSS_GOAL_MIB,
            });
        }
        if let Some(m) = &cap.many_threads
            && let Some(kib) = m.peak_rss_kib
        {
            let mib = kib as f64 / MIB;
            let bound = RSS_GOAL_MIB + m.threads as f64 * PER_THREAD_GOAL_KIB / 1024.0;
            g.push(Goal {
                what: format!(
                    "starvetrace peak RSS tracing {} busy threads (all in the report, none lost)",
                    m.threads
                ),
                target: format!(
                    "< {bound:.0} MiB ({RSS_GOAL_MIB:.0} MiB + {PER_THREAD_GOAL_KIB:.0} KiB per thread)"
                ),
                measured: format!("{mib:.1} MiB, {} threads, {} lost", m.reported, m.lost),
                met: mib < bound && m.reported == m.threads && m.lost == 0,
            });
        }
    }
    if let Some(st) = &r.stacks {
        g.extend(tracer_ratio_goal(
            std::slice::from_ref(&st.pinned),
            "pinned",
            USER_STACKS,
            "traced program, pinned ping-pong, with `--user-stacks` (opt-in)",
        ));
    }
    if let Some(a) = &r.attach {
        let m = a.median();
        g.push(Goal {
            what: format!("time to attach (median of {})", attach::RUNS),
            target: format!("< {ATTACH_GOAL_SECS:.0} s"),
            measured: format!("{:.0} ms", m * 1e3),
            met: m < ATTACH_GOAL_SECS,
        });
    }
    g
}

/// The goals table alone (also the README's Performance section).
pub fn summary(r: &Results) -> String {
    let mut s = String::from("| goal | target | measured | |\n|---|---|---|---|\n");
    for g in goals(r) {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} |",
            g.what,
            g.target,
            g.measured,
            mark(g.met)
        );
    }
    s
}

pub fn render(r: &Results) -> String {
    let mut s = String::new();
    let h = r.host_before.clone().unwrap_or_default();
    let after = r.host_after.clone().unwrap_or_default();
    let _ = writeln!(s, "# Benchmarks\n");
    let _ = writeln!(
        s,
        "Generated by `cargo xtask bench {}` on {}. Every figure below comes from that one run; \
         regenerate rather than edit.\n",
        phase_args(&r.opts),
        h.date
    );
    let _ = writeln!(
        s,
        "- Host: Linux {}, {} × {} CPUs",
        h.kernel, h.cpu_model, h.cpus
    );
    let _ = writeln!(
        s,
        "- Load average (1/5/15 min): {} before, {} after",
        h.loadavg, after.loadavg
    );
    let _ = writeln!(
        s,
        "- {} untraced/traced pairs per configuration, {:.1} s per run, runs interleaved A B A B; whole run {:.0} s",
        r.opts.pairs, r.opts.duration, r.elapsed_secs
    );
    let foreign: Vec<f64> = r
        .traced
        .iter()
        .chain(&r.others)
        .flat_map(|sc| sc.series.iter().flat_map(Series::foreign))
        .collect();
    if !foreign.is_empty() {
        let _ = writeln!(
            s,
            "- CPU used by other jobs during the measured overhead runs: median {:.0}% of a core, max {:.0}%",
            stats::median(&foreign),
            stats::max(&foreign)
        );
    }
    if !r.peer_versions.is_empty() {
        let _ = writeln!(s, "- Peers: {}", r.peer_versions.join(", "));
    }
    if r.opts.quick {
        let _ = writeln!(
            s,
            "- **--quick run: short and few runs, numbers are rough**"
        );
    }
    let _ = writeln!(s, "\n## Goals\n\n{}", summary(r));

    if !r.traced.is_empty() {
        let _ = writeln!(
            s,
            "## Overhead on the traced program\n\n\
             ops/s as counted by the workload over its measured part; ratio = traced ÷ untraced ops/s of the same \
             pair. Tracers are attached before the workload is released and stopped (SIGINT; starvetrace ends with \
             the command it launched) after it. Every tracer has its own baseline runs; their min–max shows the noise. \
             \"other load\" is the CPU the rest of the host used during those runs (busy time from /proc/stat minus \
             the workload's and the tracer's own), in % of one core: high values mean another job disturbed them. \
             A pair during which it exceeded {:.0}% is run once more (at most {} per configuration).\n",
            overhead::DISTURBED_PCT,
            overhead::MAX_RERUNS
        );
        for sc in &r.traced {
            overhead_table(&mut s, sc);
        }
    }
    if !r.others.is_empty() {
        let has_floor = r.others.iter().any(|sc| {
            sc.series
                .iter()
                .any(|x| x.tracer.starts_with("empty programs"))
        });
        let floor = if has_floor {
            " The \"empty programs\" row is a floor for comparison: bpftrace with empty programs on the two hot \
             tracepoints a wakeup-timing run-queue tracer needs (sched_switch and sched_wakeup, as classic \
             tracepoints), i.e. what being attached there costs before any filter runs. starvetrace attaches only \
             sched_switch there (run-queue waits come from the kernel's sched_info)."
        } else {
            ""
        };
        let _ = writeln!(
            s,
            "## Overhead on everything else\n\n\
             The same ping-pong, untraced, while a tracer traces an idle process: what the in-kernel filter costs \
             every other task on the host.{floor}\n"
        );
        for sc in &r.others {
            overhead_table(&mut s, sc);
        }
    }
    if let Some(cap) = &r.capacity {
        capacity_table(&mut s, cap);
    }
    if let Some(a) = &r.attach {
        attach_table(&mut s, a);
    }
    if let Some(rows) = &r.cost {
        cost_table(&mut s, rows);
    }
    if let Some(st) = &r.stacks {
        s.push_str(&stacks_section(st));
    }
    s
}

/// Heading of the user-stacks section (a `user-stacks` run alone replaces
/// just this section of docs/BENCHMARKS.md).
pub const STACKS_HEADING: &str = "## User-space stacks (`record --user-stacks`)";

/// The user-stacks section: the pinned ping-pong with and without the
/// flag, and the memory-max lab's event rate.
pub fn stacks_section(st: &StackCost) -> String {
    let mut s = String::new();
    let when = super::host::Host::capture().date;
    let _ = writeln!(
        s,
        "{STACKS_HEADING}\n\nFrom `cargo xtask bench user-stacks` on {when}. User stacks are \
         taken at the same switch-outs as kernel stacks (`--stacks blocked`: uninterruptible sleeps), so they cost \
         something only where threads block in D state.\n"
    );
    overhead_table(&mut s, &st.pinned);
    let _ = writeln!(
        s,
        "### memory-max lab — event rate with and without user stacks\n\n\
         `starvetrace lab memory-max --duration {:.0}` ({} rounds of the three configurations, interleaved): its \
         runtime reads pages of a file that does not fit in the cgroup's limit, each read a major fault and a \
         blocked switch-out, where both stacks are taken. The lab is built without frame pointers (release \
         `starvetrace`), so each user-stack walk is short; a program built with them pays for a longer walk.\n",
        st.lab_secs,
        st.lab.len() / LAB_CONFIGS.len().max(1)
    );
    let _ = writeln!(
        s,
        "| configuration | lab page reads/s (median) | per run | vs untraced | starvetrace records/s | user stacks/s | lost |\n|---|---|---|---|---|---|---|"
    );
    let base = st.lab_rate("untraced");
    for config in LAB_CONFIGS {
        let runs = st.lab_runs(config);
        let Some(rate_m) = st.lab_rate(config) else {
            continue;
        };
        let per: Vec<String> = runs.iter().map(|r| rate(r.pages_per_sec)).collect();
        let med = |f: &dyn Fn(&super::stacks::LabRun) -> Option<f64>| {
            let v: Vec<f64> = runs.iter().filter_map(|r| f(r)).collect();
            if v.is_empty() {
                "—".to_string()
            } else {
                rate(stats::median(&v))
            }
        };
        let _ = writeln!(
            s,
            "| {config} | {} | {} | {} | {} | {} | {} |",
            rate(rate_m),
            per.join(" "),
            base.map_or("—".into(), |b| format!("{:.3}", rate_m / b)),
            med(&|r| r.records_per_sec),
            med(&|r| r.user_stacks_per_sec),
            runs.iter().map(|r| r.lost).sum::<u64>()
        );
    }
    if let (Some(a), Some(b)) = (st.lab_rate("starvetrace"), st.lab_rate(USER_STACKS)) {
        let _ = writeln!(
            s,
            "\nWith `--user-stacks` the lab read {:.3}× the pages per second it read traced without them.\n",
            b / a
        );
    }
    let _ = writeln!(
        s,
        "In the kernel (one more run per workload and configuration with BPF statistics on, as in \"Cost of \
         one BPF program run\"): `sched_switch`, which takes both stacks at every blocked switch-out, per \
         run. The fixture is the root test's `coldpages` (tracer/tests/fixtures), built with \
         `-C force-frame-pointers=yes`: its user stacks are whole, about 20 frames, the longest walk a \
         tokio program built that way makes.\n\n\
         | workload | configuration | runs | ns per run |\n|---|---|---|---|"
    );
    for (workload, config, stat) in &st.switch_cost {
        let _ = writeln!(
            s,
            "| {workload} | {config} | {} | {} |",
            stat.as_ref().map_or("—".into(), |p| p.run_cnt.to_string()),
            stat.as_ref()
                .and_then(|p| p.ns_per_run())
                .map_or("—".into(), |v| format!("{v:.0}"))
        );
    }
    let _ = writeln!(s);
    s
}

fn phase_args(o: &Opts) -> String {
    let phase = format!("{:?}", o.phase).to_lowercase();
    if o.quick {
        format!("{phase} --quick")
    } else {
        phase
    }
}

fn overhead_table(s: &mut String, sc: &ScenarioResult) {
    let switches: Vec<f64> = sc
        .series
        .iter()
        .flat_map(Series::untraced_switches)
        .collect();
    let _ = writeln!(
        s,
        "### {} — {}\n\nUntraced, the workload does {} context switches/s (getrusage). {}\n",
        sc.scenario.key,
        sc.scenario.title,
        rate(stats::median(&switches)),
        sc.scenario.note
    );
    let _ = writeln!(
        s,
        "| tracer | untraced ops/s | traced ops/s | ratio per pair | median ratio | baseline min–max | other load | goal |"
    );
    let _ = writeln!(s, "|---|---|---|---|---|---|---|---|");
    for x in &sc.series {
        let goal = if x.tracer == STARVETRACE {
            match x.median_ratio() {
                Some(m) => format!(
                    "≥ {:.2} {}",
                    sc.scenario.goal,
                    mark(m >= sc.scenario.goal && x.error.is_none())
                ),
                None => format!("≥ {:.2} ✘", sc.scenario.goal),
            }
        } else {
            "—".into()
        };
        let mut name = x.tracer.clone();
        if x.tracer == STARVETRACE && x.lost > 0 {
            let _ = write!(name, " ({} records lost)", x.lost);
        }
        if x.reruns > 0 {
            let _ = write!(name, " ({} disturbed pairs re-run)", x.reruns);
        }
        if x.ratios().is_empty() {
            let why = x
                .error
                .as_deref()
                .unwrap_or("no runs")
                .lines()
                .next()
                .unwrap_or_default()
                .replace('|', "/");
            let _ = writeln!(s, "| {name} | — | — | failed: {why} | — | — | — | {goal} |");
            continue;
        }
        let u = x.untraced_ops();
        let ratios = x
            .ratios()
            .iter()
            .map(|r| format!("{r:.2}"))
            .collect::<Vec<_>>()
            .join(" ");
        let partial = if x.error.is_some() {
            " (then failed)"
        } else {
            ""
        };
        let _ = writeln!(
            s,
            "| {name} | {} | {} | {ratios}{partial} | **{:.3}** | {}–{} (±{:.1}%) | {:.0}% (max {:.0}%) | {goal} |",
            rate(stats::median(&u)),
            rate(stats::median(&x.traced_ops())),
            x.median_ratio().unwrap_or(f64::NAN),
            rate(stats::min(&u)),
            rate(stats::max(&u)),
            stats::spread_pct(&u),
            stats::median(&x.foreign()),
            stats::max(&x.foreign()),
        );
    }
    let _ = writeln!(s);
}

fn capacity_table(s: &mut String, cap: &Capacity) {
    let _ = writeln!(
        s,
        "## Capacity\n\n\
         One pinned pipe ping-pong pair per CPU, paced to a total context-switch rate, traced by starvetrace for \
         {:.1} s per step; the ladder stops at the first loss. \"seen\" is the switches starvetrace accounted to \
         the traced threads. CPU is starvetrace's utime+stime over the measured part; RSS is its VmHWM, sampled \
         until it exited.\n",
        cap.duration
    );
    let _ = writeln!(
        s,
        "| target switches/s | achieved switches/s | seen by starvetrace /s | lost | ringbuf_full | starvetrace CPU (% of a core) | peak RSS |"
    );
    let _ = writeln!(s, "|---|---|---|---|---|---|---|");
    for st in &cap.steps {
        let target = if st.target == 0 {
            "flat out".into()
        } else {
            rate(st.target as f64)
        };
        let _ = writeln!(
            s,
            "| {target} | {} | {} | {} | {} | {} | {} |",
            rate(st.switches_per_sec),
            st.seen_per_sec.map_or("—".into(), rate),
            st.lost,
            st.ringbuf_full,
            st.cpu_pct.map_or("—".into(), |c| format!("{c:.1}%")),
            st.peak_rss_kib
                .map_or("—".into(), |k| format!("{:.1} MiB", k as f64 / MIB)),
        );
    }
    let top = cap.max_lossless().map(|t| rate(t.switches_per_sec));
    let line = match (top, cap.steps.iter().all(|st| st.lossless())) {
        (Some(top), true) => format!(
            "No record was lost at any step; {top} switches/s, flat out, is as fast as this machine runs the traced \
             workload."
        ),
        (Some(top), false) => format!("Highest rate with zero lost records: {top} switches/s."),
        (None, _) => "Records were lost already at the first step.".into(),
    };
    let _ = writeln!(s, "\n{line}\n");
    if let Some(m) = &cap.many_threads {
        let _ = writeln!(
            s,
            "Many threads: {} threads each looping over a sleep, a timed futex wait and a spin (10 µs to 100 ms, \
             log-uniform), traced for {:.1} s: {} switches/s, {} of the threads in the report, {} records lost, \
             starvetrace CPU {}, peak RSS {}. Per-thread histograms are 2-significant-digit HDR with 32-bit counts \
             (see README), which is what keeps this bounded.\n",
            m.threads,
            cap.duration,
            rate(m.switches_per_sec),
            m.reported,
            m.lost,
            m.cpu_pct
                .map_or("—".into(), |c| format!("{c:.1}% of a core")),
            m.peak_rss_kib
                .map_or("—".into(), |k| format!("{:.1} MiB", k as f64 / MIB)),
        );
    }
}

fn attach_table(s: &mut String, a: &Attach) {
    let _ = writeln!(
        s,
        "## Time to attach\n\n\
         From spawning `starvetrace record --format json --quiet -- CMD` until CMD runs (starvetrace starts it only \
         after every probe is attached; the report is checked to contain CMD's thread). Median of {}.\n",
        attach::RUNS
    );
    let _ = writeln!(s, "| | median | min | max | goal |\n|---|---|---|---|---|");
    let ms = |v: f64| format!("{:.0} ms", v * 1e3);
    let m = a.median();
    let _ = writeln!(
        s,
        "| starvetrace record -- CMD | {} | {} | {} | < 1 s {} |",
        ms(m),
        ms(stats::min(&a.traced)),
        ms(stats::max(&a.traced)),
        mark(m < ATTACH_GOAL_SECS)
    );
    let ms1 = |v: f64| format!("{:.1} ms", v * 1e3);
    let _ = writeln!(
        s,
        "| the same command without a tracer | {} | {} | {} | — |\n",
        ms1(stats::median(&a.plain)),
        ms1(stats::min(&a.plain)),
        ms1(stats::max(&a.plain))
    );
}

fn cost_table(s: &mut String, rows: &[CostRow]) {
    let _ = writeln!(
        s,
        "## Cost of one BPF program run\n\n\
         Kernel BPF statistics (BPF_ENABLE_STATS, the switch behind `kernel.bpf_stats_enabled`, off again afterwards) \
         during one pinned ping-pong run per tracer: run_time_ns ÷ run_cnt from the tracer's /proc/PID/fdinfo. \
         Programs that did not run are left out.\n"
    );
    let _ = writeln!(
        s,
        "| tracer | traced | program | runs | ns per run |\n|---|---|---|---|---|"
    );
    for r in rows {
        if let Some(e) = &r.error {
            let why = e.lines().next().unwrap_or_default().replace('|', "/");
            let _ = writeln!(s, "| {} | {} | failed: {why} | — | — |", r.tracer, r.target);
            continue;
        }
        for p in r.progs.iter().filter(|p| p.run_cnt > 0) {
            let _ = writeln!(
                s,
                "| {} | {} | `{}` | {} | {:.0} |",
                r.tracer,
                r.target,
                p.name,
                p.run_cnt,
                p.ns_per_run().unwrap_or(f64::NAN)
            );
        }
    }
    let _ = writeln!(s);
}
