//! Follows the guest's console (xtask/vm/init.sh prints `vmtest: NAME: CMD`
//! when a scenario starts and `VMTEST NAME RAN ...` when it ends), so that a
//! wedged guest is named, and stopped once a scenario has run well past the
//! limit the guest itself enforces, instead of using up the whole budget.

use std::{
    collections::{BTreeMap, VecDeque},
    time::{Duration, Instant},
};

use super::initramfs::PlanLine;

/// Console lines kept for the message when the guest stalls or times out.
const TAIL_LINES: usize = 6;
/// Past its limit the guest dumps what is stuck and kills it (init.sh's
/// `run_limited`, at most ~15 s) and polls once a second, which under TCG
/// drifts; this is the slack before the host calls the guest wedged.
const GRACE_SECS: u64 = 60;

pub struct Progress {
    limits: BTreeMap<String, u32>,
    current: Option<(String, Instant)>,
    finished: usize,
    tail: VecDeque<String>,
}

impl Progress {
    pub fn new(plan: &[PlanLine]) -> Self {
        Self {
            limits: plan
                .iter()
                .map(|p| (p.name.clone(), p.limit_secs))
                .collect(),
            current: None,
            finished: 0,
            tail: VecDeque::with_capacity(TAIL_LINES),
        }
    }

    pub fn see(&mut self, line: &str, at: Instant) {
        let line = line.trim();
        if line.is_empty() {
            return;
        }
        if self.tail.len() == TAIL_LINES {
            self.tail.pop_front();
        }
        self.tail.push_back(line.to_string());
        if let Some(name) = self.started(line) {
            let same = self.current.as_ref().is_some_and(|(n, _)| n == name);
            if !same {
                self.current = Some((name.to_string(), at));
            }
        } else if let Some(rest) = line.strip_prefix("VMTEST ")
            && rest.split_whitespace().nth(1) == Some("RAN")
        {
            self.current = None;
            self.finished += 1;
        }
    }

    /// A planned scenario's name from its start line (other `vmtest: ` lines,
    /// such as the boot summary, do not name one).
    fn started<'a>(&self, line: &'a str) -> Option<&'a str> {
        let (name, _) = line.strip_prefix("vmtest: ")?.split_once(": ")?;
        self.limits.contains_key(name).then_some(name)
    }

    /// Why the guest counts as wedged: its scenario has run past the guest's
    /// own limit by more than the kill and the slack take.
    pub fn stalled(&self, now: Instant) -> Option<String> {
        let (name, since) = self.current.as_ref()?;
        let limit = u64::from(self.limits[name]);
        let allowed = Duration::from_secs(limit + limit / 2 + GRACE_SECS);
        let running = now.saturating_duration_since(*since);
        (running > allowed).then(|| {
            format!(
                "the guest is wedged in scenario `{name}`: it has run {} s, past its \
                 limit of {limit} s, and the guest's own watchdog did not end it; {}",
                running.as_secs(),
                self.last_lines()
            )
        })
    }

    /// Where the guest was, for the message when the whole budget ran out.
    pub fn whereabouts(&self, now: Instant) -> String {
        let done = format!("{} of {} scenarios ended", self.finished, self.limits.len());
        match &self.current {
            Some((name, since)) => format!(
                "{done}; `{name}` had been running {} s; {}",
                now.saturating_duration_since(*since).as_secs(),
                self.last_lines()
            ),
            None => format!("{done}, none running; {}", self.last_lines()),
        }
    }

    fn last_lines(&self) -> String {
        if self.tail.is_empty() {
            return "the console printed nothing".into();
        }
        let lines: Vec<&str> = self.tail.iter().map(String::as_str).collect();
        format!("last console lines: {}", lines.join(" | "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> Vec<PlanLine> {
        ["smoke", "cpu"]
            .iter()
            .map(|n| PlanLine {
                name: (*n).into(),
                kind: "demo",
                duration_secs: 10,
                limit_secs: 90,
            })
            .collect()
    }

    #[test]
    fn a_scenario_past_its_limit_and_grace_is_a_stall() {
        let t0 = Instant::now();
        let mut p = Progress::new(&plan());
        p.see("vmtest: kernel 6.1.0-57-cloud-amd64, 2 cpus", t0);
        p.see("vmtest: smoke: starvetrace record -- sh", t0);
        p.see("VMTEST smoke RAN rc=0 secs=4.0", t0);
        p.see("vmtest: cpu: starvetrace demo --scenario cpu", t0);
        // The guest's own messages about the same scenario do not restart it.
        let later = t0 + Duration::from_secs(100);
        p.see("vmtest: cpu: still running after 90s; what is left:", later);
        assert!(p.stalled(t0 + Duration::from_secs(194)).is_none());
        let why = p.stalled(t0 + Duration::from_secs(196)).expect("stalled");
        assert!(why.contains("`cpu`") && why.contains("196 s"), "{why}");
        assert!(why.contains("still running after 90s"), "{why}");
        let at = p.whereabouts(t0 + Duration::from_secs(196));
        assert!(at.starts_with("1 of 2 scenarios ended; `cpu`"), "{at}");
    }

    #[test]
    fn an_ended_scenario_cannot_stall() {
        let t0 = Instant::now();
        let mut p = Progress::new(&plan());
        p.see("vmtest: cpu: starvetrace demo --scenario cpu", t0);
        p.see("VMTEST cpu RAN rc=137 secs=90.0", t0);
        assert!(p.stalled(t0 + Duration::from_secs(10_000)).is_none());
        assert!(
            p.whereabouts(t0)
                .starts_with("1 of 2 scenarios ended, none running")
        );
    }
}
