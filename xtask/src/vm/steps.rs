//! The harness's steps, each timed and each failure named after its step.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};

pub struct Steps {
    started: Instant,
    done: Vec<(&'static str, Duration)>,
}

impl Steps {
    pub fn new() -> Self {
        Steps {
            started: Instant::now(),
            done: Vec::new(),
        }
    }

    /// Runs one step; an error reads `vm-test step <name>: ...`.
    pub fn run<T>(&mut self, name: &'static str, f: impl FnOnce() -> Result<T>) -> Result<T> {
        let t = Instant::now();
        let r = f().with_context(|| format!("vm-test step {name}"));
        self.done.push((name, t.elapsed()));
        r
    }

    pub fn total(&self) -> Duration {
        self.started.elapsed()
    }

    /// `tools 0.1s, kernel 0.2s, ...; total 95.3s`
    pub fn summary(&self) -> String {
        let parts: Vec<String> = self
            .done
            .iter()
            .map(|(name, d)| format!("{name} {:.1}s", d.as_secs_f64()))
            .collect();
        format!(
            "{}; total {:.1}s",
            parts.join(", "),
            self.total().as_secs_f64()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_failed_step() {
        let mut s = Steps::new();
        assert_eq!(s.run("tools", || Ok(1)).unwrap(), 1);
        let err = s
            .run("boot", || -> Result<()> { anyhow::bail!("qemu died") })
            .unwrap_err();
        assert_eq!(format!("{err:#}"), "vm-test step boot: qemu died");
        let summary = s.summary();
        assert!(
            summary.starts_with("tools 0.0s, boot 0.0s; total "),
            "{summary}"
        );
    }
}
