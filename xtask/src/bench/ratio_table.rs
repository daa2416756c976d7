//! One overhead scenario as a Markdown table: per tracer, the medians of
//! its untraced and traced runs, every per-pair ratio, their mean with its
//! 90% interval and n, the baseline's noise, the other load, and the goal
//! judged on the interval's lower end.

use std::fmt::Write as _;

use super::{
    overhead::{ScenarioResult, Series},
    stats::{self, Verdict},
    text::{first_line, rate},
    tracers::STARVETRACE,
};

/// The goal cell: `≥ 0.80 ✔`, `—` for a tracer without a goal.
fn goal_cell(sc: &ScenarioResult, x: &Series) -> String {
    let Some(goal) = sc.scenario.goal(&x.tracer) else {
        return "—".into();
    };
    let verdict = match (x.ci(), &x.error) {
        (Some(ci), None) => sc.judge(&ci, goal),
        _ => Verdict::NotMet,
    };
    format!("≥ {goal:.2} {}", verdict.mark())
}

pub fn overhead_table(s: &mut String, sc: &ScenarioResult) {
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
        "| tracer | untraced ops/s (median) | traced ops/s (median) | ratio per pair | mean ratio [90% CI] | n | baseline min–max | other load | goal |"
    );
    let _ = writeln!(s, "|---|---|---|---|---|---|---|---|---|");
    for x in &sc.series {
        let goal = goal_cell(sc, x);
        let mut name = x.tracer.clone();
        if x.tracer == STARVETRACE && x.lost > 0 {
            let _ = write!(name, " ({} records lost)", x.lost);
        }
        if x.reruns > 0 {
            let _ = write!(name, " ({} disturbed pairs re-run)", x.reruns);
        }
        let Some(ci) = x.ci() else {
            let why = first_line(x.error.as_deref().unwrap_or("no runs"));
            let _ = writeln!(
                s,
                "| {name} | — | — | failed: {why} | — | 0 | — | — | {goal} |"
            );
            continue;
        };
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
            "| {name} | {} | {} | {ratios}{partial} | **{}** | {} | {}–{} (±{:.1}%) | {:.0}% (max {:.0}%) | {goal} |",
            rate(stats::median(&u)),
            rate(stats::median(&x.traced_ops())),
            ci.show(3),
            ci.n,
            rate(stats::min(&u)),
            rate(stats::max(&u)),
            stats::spread_pct(&u),
            stats::median(&x.foreign()),
            stats::max(&x.foreign()),
        );
    }
    let _ = writeln!(s);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::{ctl::Outcome, lab::Workload, overhead::Scenario};

    fn series(tracer: &str, ratios: &[f64], error: Option<&str>) -> Series {
        let o = |ops: f64| Outcome {
            ops: ops.round() as u64,
            secs: 1.0,
            switches: 2 * ops as u64,
            ..Default::default()
        };
        Series {
            tracer: tracer.into(),
            untraced: ratios.iter().map(|_| o(200_000.0)).collect(),
            traced: ratios.iter().map(|r| o(r * 200_000.0)).collect(),
            error: error.map(String::from),
            ..Default::default()
        }
    }

    #[test]
    fn rows_show_mean_interval_n_and_goal() {
        let tight = [0.84, 0.85, 0.83, 0.84, 0.86, 0.85, 0.84, 0.83, 0.85];
        let sc = ScenarioResult {
            scenario: Scenario {
                key: "pinned",
                title: "pipe ping-pong",
                workload: Workload::new("pinned"),
                goals: vec![(STARVETRACE, 0.80), ("starvetrace watch --pid", 0.90)],
                note: "",
            },
            series: vec![
                series(STARVETRACE, &tight, None),
                series(
                    "starvetrace watch --pid",
                    &[],
                    Some("no `watch` here\nmore"),
                ),
                series("runqlat -p", &[0.75, 0.74], None),
            ],
        };
        let mut s = String::new();
        overhead_table(&mut s, &sc);
        let rows: Vec<&str> = s.lines().filter(|l| l.starts_with("| ")).collect();
        assert!(rows[0].contains("mean ratio [90% CI] | n |"), "{s}");
        assert!(
            rows[1].contains("| **0.843 [0.837, 0.850]** | 9 |"),
            "{}",
            rows[1]
        );
        assert!(rows[1].ends_with("| ≥ 0.80 ✔ |"), "{}", rows[1]);
        assert!(
            rows[2].contains("failed: no `watch` here | — | 0 |"),
            "{}",
            rows[2]
        );
        assert!(rows[2].ends_with("| ≥ 0.90 ✘ |"), "{}", rows[2]);
        assert!(
            rows[3].contains("| 2 |") && rows[3].ends_with("| — |"),
            "{}",
            rows[3]
        );
        assert!(s.contains("400.0k context switches/s"), "{s}");
    }
}
