//! When `watch` writes an evidence bundle: the trigger thresholds and what
//! fired. Thresholds of zero turn a trigger off.

use serde::Serialize;

use crate::model::watch::TriggerKind;

#[derive(Clone, Copy, Debug)]
pub struct TriggerConfig {
    /// A runtime blackout at least this long (ns).
    pub blackout_ns: u64,
    /// A runtime thread that has not run for this long (ns) while runnable
    /// or in D state.
    pub stall_ns: u64,
    /// memory.events `high` + `max` per second.
    pub memory_events_per_s: f64,
    /// memory.pressure `full avg10`, percent.
    pub psi_full_avg10: f64,
}

/// One trigger that fired, with what made it fire.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Fired {
    pub kind: TriggerKind,
    /// CLOCK_MONOTONIC ns and wall clock of the tick that saw it.
    pub at_ns: u64,
    pub at_unix_ms: u64,
    /// The measured value and the threshold, in words.
    pub detail: String,
}

/// What one tick measured for a target, as the triggers read it.
#[derive(Clone, Debug, Default)]
pub struct Readings {
    /// Longest stall in the detail window (ongoing ones up to now): runtime
    /// blackouts joined across gaps shorter than watch's resolution, ns.
    pub longest_blackout_ns: u64,
    /// Longest a runtime thread has not run while runnable or in D, with
    /// its tid and state letter.
    pub longest_stall: Option<(u32, char, u64)>,
    pub memory_events_per_s: Option<f64>,
    pub psi_full_avg10: Option<f64>,
}

impl TriggerConfig {
    /// The triggers `r` fires, in `TriggerKind` order.
    pub fn check(&self, r: &Readings, at_ns: u64, at_unix_ms: u64) -> Vec<Fired> {
        let mut out = Vec::new();
        let mut fire = |kind, detail: String| {
            out.push(Fired {
                kind,
                at_ns,
                at_unix_ms,
                detail,
            })
        };
        if self.blackout_ns > 0 && r.longest_blackout_ns >= self.blackout_ns {
            fire(
                TriggerKind::Blackout,
                format!(
                    "runtime stalled (blacked out, gaps under the resolution joined) for {:.2} s (trigger at {:.2} s)",
                    secs(r.longest_blackout_ns),
                    secs(self.blackout_ns)
                ),
            );
        }
        if let Some((tid, state, ns)) = r.longest_stall
            && self.stall_ns > 0
            && ns >= self.stall_ns
        {
            fire(
                TriggerKind::Stall,
                format!(
                    "runtime thread {tid} has not run for {:.2} s, state {state} (trigger at {:.2} s)",
                    secs(ns),
                    secs(self.stall_ns)
                ),
            );
        }
        if let Some(rate) = r.memory_events_per_s
            && self.memory_events_per_s > 0.0
            && rate >= self.memory_events_per_s
        {
            fire(
                TriggerKind::MemoryEvents,
                format!(
                    "memory.events high+max at {rate:.0}/s (trigger at {:.0}/s)",
                    self.memory_events_per_s
                ),
            );
        }
        if let Some(psi) = r.psi_full_avg10
            && self.psi_full_avg10 > 0.0
            && psi >= self.psi_full_avg10
        {
            fire(
                TriggerKind::Psi,
                format!(
                    "memory.pressure full avg10 {psi:.1}% (trigger at {:.1}%)",
                    self.psi_full_avg10
                ),
            );
        }
        out
    }
}

fn secs(ns: u64) -> f64 {
    ns as f64 / 1e9
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> TriggerConfig {
        TriggerConfig {
            blackout_ns: 1_000_000_000,
            stall_ns: 2_000_000_000,
            memory_events_per_s: 100.0,
            psi_full_avg10: 10.0,
        }
    }

    #[test]
    fn quiet_readings_fire_nothing() {
        let r = Readings {
            longest_blackout_ns: 999_999_999,
            longest_stall: Some((7, 'D', 1_999_999_999)),
            memory_events_per_s: Some(99.0),
            psi_full_avg10: Some(9.9),
        };
        assert!(config().check(&r, 1, 2).is_empty());
    }

    #[test]
    fn each_threshold_fires_its_own_kind() {
        let r = Readings {
            longest_blackout_ns: 1_000_000_000,
            longest_stall: Some((7, 'R', 2_000_000_000)),
            memory_events_per_s: Some(100.0),
            psi_full_avg10: Some(10.0),
        };
        let kinds: Vec<TriggerKind> = config().check(&r, 1, 2).iter().map(|f| f.kind).collect();
        assert_eq!(kinds, TriggerKind::ALL.to_vec());
    }

    #[test]
    fn zero_turns_a_trigger_off() {
        let off = TriggerConfig {
            blackout_ns: 0,
            stall_ns: 0,
            memory_events_per_s: 0.0,
            psi_full_avg10: 0.0,
        };
        let r = Readings {
            longest_blackout_ns: u64::MAX,
            longest_stall: Some((7, 'D', u64::MAX)),
            memory_events_per_s: Some(1e9),
            psi_full_avg10: Some(100.0),
        };
        assert!(off.check(&r, 1, 2).is_empty());
    }
}
