//! Each scenario's result: judged from what the guest wrote, printed as a
//! `VMTEST` line and a table, and handed back whole ([`Suite`]) so that
//! `cargo xtask test` counts skips without reading the output again.

use anyhow::{Result, bail};

use super::{
    scenarios::{self, Expectation, GuestRun, Judgement},
    serial::DataChannel,
};
use crate::skips::Skip;

#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum Status {
    Pass,
    Fail,
    /// The guest cannot produce the scenario (the lab refused it); the
    /// reason is the judgement's detail.
    Skip,
}

impl Status {
    fn word(self) -> &'static str {
        match self {
            Status::Pass => "PASS",
            Status::Fail => "FAIL",
            Status::Skip => "SKIP",
        }
    }
}

pub struct Row {
    pub exp: &'static Expectation,
    pub status: Status,
    pub judgement: Judgement,
    pub secs: Option<f64>,
}

/// Every planned scenario's row, in plan order.
pub struct Suite {
    pub rows: Vec<Row>,
}

impl Suite {
    /// One skip per SKIP row, named `<step>/<scenario>` (`cargo xtask test`
    /// runs one step per kernel series: `vm-test-6.12/memory-high`).
    pub fn skips_as(&self, step: &str) -> Vec<Skip> {
        self.rows
            .iter()
            .filter(|r| r.status == Status::Skip)
            .map(|r| Skip::new(format!("{step}/{}", r.exp.name), &r.judgement.detail))
            .collect()
    }

    /// Fails when any scenario failed.
    pub fn check(&self) -> Result<()> {
        let failed: Vec<&str> = self
            .rows
            .iter()
            .filter(|r| r.status == Status::Fail)
            .map(|r| r.exp.name)
            .collect();
        if !failed.is_empty() {
            bail!(
                "vm-test: {} of {} scenarios failed: {}",
                failed.len(),
                self.rows.len(),
                failed.join(", ")
            );
        }
        Ok(())
    }

    /// Seconds the scenarios themselves took in the guest.
    pub fn scenario_secs(&self) -> f64 {
        self.rows.iter().filter_map(|r| r.secs).sum()
    }
}

pub fn judge_all(plan: &[&'static Expectation], data: &DataChannel) -> Suite {
    let rows = plan
        .iter()
        .map(|&exp| {
            let Some(run) = data.runs.get(exp.name) else {
                return Row {
                    exp,
                    status: Status::Fail,
                    judgement: Judgement::failed(
                        "no result from the guest (not reached: timeout or crash)".into(),
                    ),
                    secs: None,
                };
            };
            let (status, judgement) = match unsupported(run) {
                Some(why) => (Status::Skip, Judgement::failed(why)),
                None => {
                    let j = scenarios::judge(exp, run);
                    (if j.pass { Status::Pass } else { Status::Fail }, j)
                }
            };
            Row {
                exp,
                status,
                judgement,
                secs: Some(run.secs),
            }
        })
        .collect();
    Suite { rows }
}

/// The lab's refusal (`LabError::Unsupported`, tracer/src/lab/error.rs): the
/// guest cannot produce the scenario's effect, so there is nothing to judge.
/// Any other failure stays a FAIL.
fn unsupported(run: &GuestRun) -> Option<String> {
    const SAYS: &str = "is not supported on this host: ";
    if run.rc == 0 {
        return None;
    }
    let line = run.stderr.lines().find(|l| l.contains(SAYS))?;
    let from = line.find("scenario `").unwrap_or(0);
    Some(line[from..].trim().to_string())
}

pub fn print_table(suite: &Suite) {
    for r in &suite.rows {
        println!(
            "VMTEST {} {} outcome={} alternative={} dominant={} heartbeat=[{}] detail={}",
            r.exp.name,
            r.status.word(),
            r.judgement.outcome,
            r.judgement.alternative,
            r.judgement.dominant,
            r.judgement.heartbeat,
            r.judgement.detail
        );
    }
    let header = [
        "scenario",
        "expected",
        "outcome",
        "alternative",
        "dominant memory cause",
        "lab heartbeat lateness",
        "result",
        "time",
    ];
    let cells: Vec<[String; 8]> = suite
        .rows
        .iter()
        .map(|r| {
            [
                r.exp.name.to_string(),
                r.exp.expected.to_string(),
                r.judgement.outcome.clone(),
                r.judgement.alternative.clone(),
                r.judgement.dominant.clone(),
                r.judgement.heartbeat.clone(),
                r.status.word().to_string(),
                r.secs.map_or("-".into(), |s| format!("{s:.1}s")),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &cells {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |row: &[String]| {
        let parts: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        println!("| {} |", parts.join(" | "));
    };
    println!();
    line(&header.map(String::from));
    println!(
        "|{}|",
        widths
            .iter()
            .map(|w| "-".repeat(w + 2))
            .collect::<Vec<_>>()
            .join("|")
    );
    for row in &cells {
        line(row);
    }
    println!();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guest(rc: i32, stderr: &str) -> GuestRun {
        GuestRun {
            rc,
            secs: 1.5,
            stderr: stderr.into(),
            ..Default::default()
        }
    }

    fn suite(runs: Vec<(&str, GuestRun)>, plan: &[&str]) -> Suite {
        let mut data = DataChannel::default();
        for (name, run) in runs {
            data.runs.insert(name.to_string(), run);
        }
        let plan: Vec<&Expectation> = plan.iter().map(|n| scenarios::find(n).unwrap()).collect();
        judge_all(&plan, &data)
    }

    #[test]
    fn a_refused_scenario_is_a_skip_with_the_labs_reason() {
        let s = suite(
            vec![(
                "memory-high",
                guest(
                    1,
                    "starvetrace demo: scenario `memory-high`\n\
                     starvetrace: error: lab: scenario `memory-high` is not supported on this \
                     host: memory.high needs cgroup v2\n",
                ),
            )],
            &["memory-high"],
        );
        assert_eq!(s.rows[0].status, Status::Skip);
        assert_eq!(
            s.skips_as("vm-test-6.12"),
            [Skip::new(
                "vm-test-6.12/memory-high",
                "scenario `memory-high` is not supported on this host: memory.high needs cgroup v2"
            )]
        );
        assert!(s.check().is_ok());
    }

    #[test]
    fn other_failures_and_missing_runs_fail() {
        let s = suite(
            vec![("cpu", guest(2, "error: unrecognized subcommand 'demo'\n"))],
            &["cpu", "lock"],
        );
        assert_eq!(s.rows[0].status, Status::Fail);
        assert_eq!(s.rows[1].status, Status::Fail);
        assert!(s.rows[1].judgement.detail.contains("not reached"));
        assert!(s.skips_as("vm-test-6.1").is_empty());
        let err = s.check().unwrap_err().to_string();
        assert_eq!(err, "vm-test: 2 of 2 scenarios failed: cpu, lock");
        // A clean exit is judged on its report, whatever stderr says.
        assert!(unsupported(&guest(0, "x is not supported on this host: y")).is_none());
    }
}
