//! Overhead: the same workload untraced (A) and traced (B) in pairs, the
//! order alternated pair by pair (A B, then B A, ...) so neither side always
//! runs first after a tracer detaches or while a slow drift in machine load
//! builds; every tracer gets its own pairs, and the tracers take turns
//! within a round. Ratios are judged by the rule in stats.rs.

use std::path::Path;

use anyhow::Result;

use super::{
    ctl::Outcome,
    lab::{Lab, Target, Workload},
    opts::Opts,
    stats::{Ci, MIN_PAIRS, Verdict},
    tracers::{STARVETRACE, Scope, Tracer},
    watch::{self, WATCH_HOST, WATCH_PID},
};

impl Scenario {
    /// The goal set for `tracer` in this scenario, if any.
    pub fn goal(&self, tracer: &str) -> Option<f64> {
        self.goals.iter().find(|(t, _)| *t == tracer).map(|g| g.1)
    }
}

#[derive(Clone, Debug)]
pub struct Scenario {
    pub key: &'static str,
    pub title: &'static str,
    pub workload: Workload,
    /// Lowest acceptable traced/untraced ratio, per tracer label (judged
    /// on the lower end of its 90% interval); tracers not listed are
    /// measured for comparison only.
    pub goals: Vec<(&'static str, f64)>,
    /// How to read this scenario's numbers, printed under its title.
    pub note: &'static str,
}

const CROSS_NOTE: &str = "Here an idle vCPU halts and is woken through the host by an IPI, which \
    dominates each round trip. Tracers that add work to every switch have made this workload faster, not \
    slower (the heaviest, offcputime, most of all), so a ratio above 1 reads as \"no measurable slowdown\", \
    not as a gain.";

const TOKIO_NOTE: &str = "The untraced rate is bimodal (the runtime either spreads the rounds over both \
    workers or keeps them on one), hence the wide baseline min–max: compare the per-pair ratios.";

/// What the traced program pays.
fn traced_scenarios() -> Vec<Scenario> {
    vec![
        Scenario {
            key: "pinned",
            title: "pipe ping-pong, both threads on one CPU (worst case)",
            workload: Workload::new("pinned"),
            goals: vec![(STARVETRACE, 0.80), (WATCH_PID, 0.90)],
            note: "",
        },
        Scenario {
            key: "cross",
            title: "pipe ping-pong, one thread per CPU (cross-CPU wakeups)",
            workload: Workload::new("cross"),
            goals: vec![(STARVETRACE, 0.97)],
            note: CROSS_NOTE,
        },
        Scenario {
            key: "tokio",
            title: "tokio: a task fanning messages out to 16 tasks over channels, 2 workers",
            workload: Workload::new("tokio"),
            goals: vec![(STARVETRACE, 0.97), (WATCH_HOST, 0.98)],
            note: TOKIO_NOTE,
        },
    ]
}

/// What everything else pays while an idle bystander is traced.
fn bystander_scenarios() -> Vec<Scenario> {
    vec![
        Scenario {
            key: "pinned",
            title: "untraced pipe ping-pong on one CPU while an idle process is traced",
            workload: Workload::new("pinned"),
            goals: vec![(STARVETRACE, 0.95), (WATCH_PID, 0.98)],
            note: "",
        },
        Scenario {
            key: "cross",
            title: "untraced pipe ping-pong across CPUs while an idle process is traced",
            workload: Workload::new("cross"),
            goals: vec![(STARVETRACE, 0.99)],
            note: CROSS_NOTE,
        },
    ]
}

#[derive(Clone, Debug, Default)]
pub struct Series {
    pub tracer: String,
    pub untraced: Vec<Outcome>,
    pub traced: Vec<Outcome>,
    /// Records starvetrace reported lost, summed over its runs.
    pub lost: u64,
    /// Pairs thrown away and run again because another job was busy.
    pub reruns: usize,
    /// Why this tracer's runs stopped, if they did.
    pub error: Option<String>,
}

impl Series {
    pub fn ratios(&self) -> Vec<f64> {
        self.untraced
            .iter()
            .zip(&self.traced)
            .map(|(a, b)| b.ops_per_sec() / a.ops_per_sec())
            .collect()
    }

    /// Mean of the per-pair ratios with its 90% interval.
    pub fn ci(&self) -> Option<Ci> {
        Ci::of(&self.ratios())
    }

    pub fn untraced_ops(&self) -> Vec<f64> {
        self.untraced.iter().map(Outcome::ops_per_sec).collect()
    }

    pub fn traced_ops(&self) -> Vec<f64> {
        self.traced.iter().map(Outcome::ops_per_sec).collect()
    }

    /// How busy the rest of the host was during each of this series' runs
    /// (% of one core).
    pub fn foreign(&self) -> Vec<f64> {
        self.untraced
            .iter()
            .chain(&self.traced)
            .map(|o| o.foreign_pct)
            .collect()
    }

    pub fn untraced_switches(&self) -> Vec<f64> {
        self.untraced
            .iter()
            .map(Outcome::switches_per_sec)
            .collect()
    }
}

#[derive(Clone, Debug)]
pub struct ScenarioResult {
    pub scenario: Scenario,
    pub series: Vec<Series>,
}

impl ScenarioResult {
    pub fn series(&self, tracer: &str) -> Option<&Series> {
        self.series.iter().find(|s| s.tracer == tracer)
    }

    /// The calibration's interval, if it ran here without failing.
    pub fn floor_ci(&self) -> Option<Ci> {
        self.series(FLOOR)
            .filter(|f| f.error.is_none())
            .and_then(Series::ci)
    }

    /// The rule (stats.rs), plus: a goal the calibration itself misses (the
    /// upper end of its interval is below the goal, on enough pairs) is out
    /// of reach here.
    pub fn judge(&self, ci: &Ci, goal: f64) -> Verdict {
        match Verdict::at_least(ci, goal) {
            Verdict::NotMet
                if self
                    .floor_ci()
                    .is_some_and(|f| f.n >= MIN_PAIRS && f.hi < goal) =>
            {
                Verdict::BelowFloor
            }
            v => v,
        }
    }
}

/// Row label of the calibration: the same `watch` command, run by the
/// dispatch-floor build (its `sched_switch` returns at once).
pub const FLOOR: &str = "empty sched_switch (dispatch-floor build)";

/// `t` run by the dispatch-floor build at `floor_bin`: its calibration.
pub fn floor_of(t: &Tracer, floor_bin: &Path) -> Tracer {
    Tracer {
        label: FLOOR,
        program: floor_bin.to_path_buf(),
        ..t.clone()
    }
}

/// starvetrace, `watch` where the scenario sets it a goal (and then the
/// calibration beside it), then the peers.
fn tracers_for(s: &Scenario, lab: &Lab, rest: &[Tracer]) -> Vec<Tracer> {
    let bin = &lab.bins.starvetrace;
    let mut tracers = vec![Tracer::starvetrace(bin)];
    let watches: Vec<Tracer> = [watch::pid_tracer(bin), watch::host_tracer(bin)]
        .into_iter()
        .filter(|t| s.goal(t.label).is_some())
        .collect();
    let floors: Vec<Tracer> = lab
        .bins
        .floor
        .iter()
        .flat_map(|floor| watches.iter().map(|t| floor_of(t, floor)))
        .collect();
    tracers.extend(watches);
    tracers.extend(floors);
    tracers.extend(rest.iter().cloned());
    tracers
}

pub fn traced(lab: &Lab, peers: &[Tracer], opts: &Opts) -> Result<Vec<ScenarioResult>> {
    traced_scenarios()
        .into_iter()
        .filter(|s| wanted(s, opts))
        .map(|s| {
            let tracers = tracers_for(&s, lab, peers);
            run_scenario(lab, s, &tracers, Target::Workload, opts)
        })
        .collect()
}

pub fn others(lab: &Lab, peers: &[Tracer], opts: &Opts) -> Result<Vec<ScenarioResult>> {
    // Per-process peers have an in-kernel filter too: the fair comparison.
    let mut rest: Vec<Tracer> = peers
        .iter()
        .filter(|p| p.scope == Scope::Pid && p.label.starts_with("runqlat"))
        .cloned()
        .collect();
    rest.extend(empty_programs(peers));
    bystander_scenarios()
        .into_iter()
        .filter(|s| wanted(s, opts))
        .map(|s| {
            let tracers = tracers_for(&s, lab, &rest);
            run_scenario(lab, s, &tracers, Target::Bystander, opts)
        })
        .collect()
}

/// bpftrace with empty programs on sched_switch and sched_wakeup: the cost
/// of being attached there at all.
fn empty_programs(peers: &[Tracer]) -> Option<Tracer> {
    let bpftrace = peers.iter().find(|p| p.package == "bpftrace")?;
    Some(Tracer {
        label: "empty programs (bpftrace)",
        args: vec![
            "-e".into(),
            "BEGIN { printf(\"bench-attached\\n\"); } \
             tracepoint:sched:sched_switch { } tracepoint:sched:sched_wakeup { }"
                .into(),
        ],
        ..bpftrace.clone()
    })
}

fn wanted(s: &Scenario, opts: &Opts) -> bool {
    opts.only.as_deref().is_none_or(|k| k == s.key)
}

/// A pair is run again (once) when the rest of the host used more than
/// this much CPU (% of one core) during either half: on a shared machine a
/// build starting mid-pair says nothing about the tracer.
pub const DISTURBED_PCT: f64 = 25.0;
/// At most this many pairs are re-run per scenario, so a machine that is
/// busy throughout cannot double the bench's run time.
pub const MAX_RERUNS: usize = 6;

/// Which half of a pair runs first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Order {
    UntracedFirst,
    TracedFirst,
}

impl Order {
    /// Pair `i` (from 0) of a series: untraced first when `i` is even,
    /// traced first when odd. A re-run pair keeps its index, so its order.
    pub fn of_pair(i: usize) -> Order {
        if i.is_multiple_of(2) {
            Order::UntracedFirst
        } else {
            Order::TracedFirst
        }
    }
}

pub fn run_scenario(
    lab: &Lab,
    scenario: Scenario,
    tracers: &[Tracer],
    target: Target,
    opts: &Opts,
) -> Result<ScenarioResult> {
    let mut series: Vec<Series> = tracers
        .iter()
        .map(|t| Series {
            tracer: t.label.to_string(),
            // A starvetrace without `watch` (not merged yet): say so once
            // instead of failing every pair.
            error: t.is_watch().then(|| watch::missing(&t.program)).flatten(),
            ..Default::default()
        })
        .collect();
    for s in series.iter().filter(|s| s.error.is_some()) {
        eprintln!(
            "bench: {} {}: skipping {}: {}",
            if target == Target::Bystander {
                "bystander"
            } else {
                "traced"
            },
            scenario.key,
            s.tracer,
            s.error.as_deref().unwrap_or_default()
        );
    }
    let what = if target == Target::Bystander {
        "bystander"
    } else {
        "traced"
    };
    let mut reruns = 0;
    for round in 1..=opts.pairs {
        for (t, s) in tracers.iter().zip(series.iter_mut()) {
            let mut retry = true;
            while s.error.is_none() {
                let untraced = || lab.measure(&scenario.workload, None, false, opts.duration);
                let traced =
                    || lab.measure(&scenario.workload, Some((t, target)), false, opts.duration);
                // An untraced run failing is a harness fault: stop. A
                // failing tracer ends its series (its pair is not finished).
                let (a, b) = match Order::of_pair(s.untraced.len()) {
                    Order::UntracedFirst => {
                        let a = untraced()?;
                        (Some(a), traced())
                    }
                    Order::TracedFirst => (None, traced()),
                };
                let b = match b {
                    Ok(b) => b,
                    Err(e) => {
                        eprintln!(
                            "bench: {what} {}: {} failed, skipping it: {e:#}",
                            scenario.key, t.label
                        );
                        s.error = Some(format!("{e:#}"));
                        break;
                    }
                };
                let a = match a {
                    Some(a) => a,
                    None => untraced()?,
                };
                let foreign = a.outcome.foreign_pct.max(b.outcome.foreign_pct);
                eprintln!(
                    "bench: {what} {} {round}/{}: {:<18} {:>10.0} → {:>10.0} ops/s  ratio {:.3}  (other load {foreign:.0}%)",
                    scenario.key,
                    opts.pairs,
                    t.label,
                    a.outcome.ops_per_sec(),
                    b.outcome.ops_per_sec(),
                    b.outcome.ops_per_sec() / a.outcome.ops_per_sec()
                );
                if retry && foreign > DISTURBED_PCT && reruns < MAX_RERUNS {
                    eprintln!("bench: another job was busy during that pair; running it again");
                    retry = false;
                    reruns += 1;
                    s.reruns += 1;
                    continue;
                }
                if let Some(lost) = b
                    .tracer
                    .as_ref()
                    .and_then(|r| r.report.as_ref())
                    .and_then(|r| r["lost_events"].as_u64())
                {
                    s.lost += lost;
                }
                s.untraced.push(a.outcome);
                s.traced.push(b.outcome);
                break;
            }
        }
    }
    Ok(ScenarioResult { scenario, series })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pair_order_alternates() {
        let orders: Vec<Order> = (0..4).map(Order::of_pair).collect();
        assert_eq!(
            orders,
            [
                Order::UntracedFirst,
                Order::TracedFirst,
                Order::UntracedFirst,
                Order::TracedFirst
            ]
        );
    }

    #[test]
    fn watch_runs_where_it_has_a_goal() {
        let traced = traced_scenarios();
        let goal =
            |key: &str, t: &str| traced.iter().find(|s| s.key == key).and_then(|s| s.goal(t));
        assert_eq!(goal("pinned", WATCH_PID), Some(0.90));
        assert_eq!(goal("tokio", WATCH_HOST), Some(0.98));
        assert_eq!(goal("cross", WATCH_PID), None);
        let by = bystander_scenarios();
        assert_eq!(by[0].goal(WATCH_PID), Some(0.98));
        assert_eq!(by[0].goal(STARVETRACE), Some(0.95));
    }

    fn outcome(ops: u64) -> Outcome {
        Outcome {
            ops,
            secs: 1.0,
            ..Default::default()
        }
    }

    #[test]
    fn ratios_are_per_pair() {
        let s = Series {
            untraced: vec![outcome(100), outcome(200)],
            traced: vec![outcome(90), outcome(160)],
            ..Default::default()
        };
        assert_eq!(s.ratios(), vec![0.9, 0.8]);
        let ci = s.ci().unwrap();
        assert!((ci.mean - 0.85).abs() < 1e-12 && ci.n == 2);
    }
}
