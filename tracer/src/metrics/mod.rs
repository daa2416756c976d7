//! Prometheus/OpenMetrics exposition for `watch`, with the Prometheus
//! project's own client (`prometheus-client`). An output stage like
//! `report`: it imports the model's enums for label values, never the
//! reverse.
//!
//! Families (all per target carry `target` = [`TargetId::key`] and
//! `process` = its comm; none carries a TID, so series stay bounded):
//!
//! | name | type | labels |
//! |---|---|---|
//! | `starvetrace_off_cpu_seconds_total` | counter | target, process, role, cause |
//! | `starvetrace_blackout_seconds_total` | counter | target, process |
//! | `starvetrace_blackouts_total` | counter | target, process |
//! | `starvetrace_blackout_length_seconds` | histogram | target, process |
//! | `starvetrace_health` | gauge (state set) | target, process, starvetrace_health |
//! | `starvetrace_triggers_total` | counter | target, process, trigger |
//! | `starvetrace_bundles_total` | counter | outcome |
//! | `starvetrace_lost_events_total` | counter | |
//! | `starvetrace_watched_targets` | gauge | |
//! | `process_cpu_seconds_total` | counter | |
//! | `process_resident_memory_bytes` | gauge | |
//!
//! The last two are our own process, under the names every Prometheus
//! client library uses for them (so existing dashboards find them).

mod labels;
mod proc_self;
mod serve;
#[cfg(test)]
mod tests;

use std::sync::Mutex;

use prometheus_client::{
    encoding::{prometheus_text, text::encode},
    metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram},
    registry::{Registry, Unit},
};

pub use labels::BundleOutcome;
use labels::{
    BundleLabels, CauseValue, HealthLabels, HealthValue, OffCpuLabels, RoleValue, TargetLabels,
    TriggerLabels, TriggerValue,
};
pub use serve::{CONTENT_TYPE, Server, parse_listen, serve};

use crate::model::{
    cause::Cause,
    role::Role,
    watch::{Health, TargetId, TriggerKind},
};

/// The two text formats Prometheus reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// OpenMetrics 1.0 text: what Prometheus asks for first, and the default.
    OpenMetrics,
    /// The classic Prometheus text format 0.0.4, for clients that ask for
    /// `text/plain` only (older scrapers, `promtool check metrics`).
    PrometheusText,
}

impl Format {
    pub const fn content_type(self) -> &'static str {
        match self {
            Format::OpenMetrics => CONTENT_TYPE,
            Format::PrometheusText => prometheus_text::CONTENT_TYPE,
        }
    }
}

/// Blackout length buckets, seconds: from what a heartbeat barely notices
/// (1 ms) to a minute-long wedge.
const BLACKOUT_BUCKETS: [f64; 14] = [
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

type SecondsCounter = Counter<f64, std::sync::atomic::AtomicU64>;

fn blackout_histogram() -> Histogram {
    Histogram::new(BLACKOUT_BUCKETS)
}

/// Every family `watch` exports, in one registry. Share it as `Arc<Metrics>`:
/// updates are atomic and take `&self`.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    off_cpu: Family<OffCpuLabels, SecondsCounter>,
    blackout_seconds: Family<TargetLabels, SecondsCounter>,
    blackouts: Family<TargetLabels, Counter>,
    blackout_length: Family<TargetLabels, Histogram, fn() -> Histogram>,
    health: Family<HealthLabels, Gauge>,
    triggers: Family<TriggerLabels, Counter>,
    bundles: Family<BundleLabels, Counter>,
    lost_events: Counter,
    watched_targets: Gauge,
    cpu_seconds: SecondsCounter,
    resident_bytes: Gauge,
    /// Last totals seen of what we mirror as counters (kernel-side lost
    /// events, our CPU time): a counter only moves by the difference.
    last: Mutex<Totals>,
}

#[derive(Debug, Default)]
struct Totals {
    lost_events: u64,
    cpu_seconds: f64,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::default();
        let off_cpu = Family::default();
        let blackout_seconds = Family::default();
        let blackouts = Family::default();
        let blackout_length = Family::new_with_constructor(blackout_histogram as fn() -> Histogram);
        let health = Family::default();
        let triggers = Family::default();
        let bundles = Family::<BundleLabels, Counter>::default();
        let lost_events = Counter::default();
        let watched_targets = Gauge::default();
        let cpu_seconds = SecondsCounter::default();
        let resident_bytes = Gauge::default();
        // Counters' `_total` and the unit suffix are added by the encoder.
        registry.register_with_unit(
            "starvetrace_off_cpu",
            "Time runtime threads spent off-CPU, by role and cause",
            Unit::Seconds,
            off_cpu.clone(),
        );
        registry.register_with_unit(
            "starvetrace_blackout",
            "Time no runtime thread was on a CPU while one had work (runtime blackouts)",
            Unit::Seconds,
            blackout_seconds.clone(),
        );
        registry.register(
            "starvetrace_blackouts",
            "Runtime blackouts that ended",
            blackouts.clone(),
        );
        registry.register_with_unit(
            "starvetrace_blackout_length",
            "Length of each runtime blackout",
            Unit::Seconds,
            blackout_length.clone(),
        );
        registry.register(
            "starvetrace_health",
            "The target's health over the last window: 1 for the current state, 0 for the others (an OpenMetrics state set, exposed as a gauge)",
            health.clone(),
        );
        registry.register(
            "starvetrace_triggers",
            "Evidence triggers that fired, by kind",
            triggers.clone(),
        );
        registry.register(
            "starvetrace_bundles",
            "Evidence bundles, by outcome",
            bundles.clone(),
        );
        registry.register(
            "starvetrace_lost_events",
            "Kernel records lost (ring buffer full), all targets",
            lost_events.clone(),
        );
        registry.register(
            "starvetrace_watched_targets",
            "Targets being watched now",
            watched_targets.clone(),
        );
        registry.register_with_unit(
            "process_cpu",
            "starvetrace's own user and system CPU time",
            Unit::Seconds,
            cpu_seconds.clone(),
        );
        registry.register_with_unit(
            "process_resident_memory",
            "starvetrace's own resident memory (VmRSS)",
            Unit::Bytes,
            resident_bytes.clone(),
        );
        // Both outcomes from the start: a rate over a series that appears
        // only at its first failure misses that failure.
        for outcome in BundleOutcome::ALL {
            drop(bundles.get_or_create(&BundleLabels { outcome }));
        }
        Metrics {
            registry,
            off_cpu,
            blackout_seconds,
            blackouts,
            blackout_length,
            health,
            triggers,
            bundles,
            lost_events,
            watched_targets,
            cpu_seconds,
            resident_bytes,
            last: Mutex::new(Totals::default()),
        }
    }

    /// Off-CPU time of a target's threads of `role`, kept off by `cause`.
    pub fn add_off_cpu(&self, target: &TargetId, role: Role, cause: Cause, seconds: f64) {
        let Some(seconds) = valid_seconds(seconds) else {
            return;
        };
        let labels = OffCpuLabels {
            target: target.into(),
            role: RoleValue(role),
            cause: CauseValue(cause),
        };
        self.off_cpu.get_or_create(&labels).inc_by(seconds);
    }

    /// One finished runtime blackout of `seconds`.
    pub fn add_blackout(&self, target: &TargetId, seconds: f64) {
        let Some(seconds) = valid_seconds(seconds) else {
            return;
        };
        let labels = TargetLabels::from(target);
        self.blackout_seconds.get_or_create(&labels).inc_by(seconds);
        self.blackouts.get_or_create(&labels).inc();
        self.blackout_length.get_or_create(&labels).observe(seconds);
    }

    /// The target's current health: its state's series 1, every other 0.
    pub fn set_health(&self, target: &TargetId, health: Health) {
        for state in Health::ALL {
            let labels = HealthLabels {
                target: target.into(),
                starvetrace_health: HealthValue(state),
            };
            self.health
                .get_or_create(&labels)
                .set(i64::from(state == health));
        }
    }

    pub fn trigger_fired(&self, target: &TargetId, kind: TriggerKind) {
        let labels = TriggerLabels {
            target: target.into(),
            trigger: TriggerValue(kind),
        };
        self.triggers.get_or_create(&labels).inc();
    }

    pub fn bundle_written(&self, ok: bool) {
        let outcome = if ok {
            BundleOutcome::Written
        } else {
            BundleOutcome::Failed
        };
        self.bundles.get_or_create(&BundleLabels { outcome }).inc();
    }

    /// Mirrors the kernel side's running total of lost records. A total
    /// below the last one means the kernel side started over (programs
    /// reloaded): all of it is new.
    pub fn set_lost_events(&self, total: u64) {
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        let delta = total.checked_sub(last.lost_events).unwrap_or(total);
        last.lost_events = total;
        self.lost_events.inc_by(delta);
    }

    pub fn set_watched_targets(&self, n: usize) {
        self.watched_targets
            .set(i64::try_from(n).unwrap_or(i64::MAX));
    }

    /// Reads our own CPU time (/proc/self/stat) and resident memory
    /// (/proc/self/status) into `process_cpu_seconds_total` and
    /// `process_resident_memory_bytes`. The server calls it at every scrape.
    pub fn refresh_self(&self) -> std::io::Result<()> {
        let usage = proc_self::read()?;
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        if usage.cpu_seconds > last.cpu_seconds {
            self.cpu_seconds
                .inc_by(usage.cpu_seconds - last.cpu_seconds);
            last.cpu_seconds = usage.cpu_seconds;
        }
        self.resident_bytes
            .set(i64::try_from(usage.resident_bytes).unwrap_or(i64::MAX));
        Ok(())
    }

    /// Removes every series of `target` (it is gone, or no longer watched),
    /// so the exposition does not grow as targets come and go.
    pub fn forget_target(&self, target: &TargetId) {
        let t = TargetLabels::from(target);
        for role in Role::ALL {
            for cause in Cause::ALL {
                self.off_cpu.remove(&OffCpuLabels {
                    target: t.clone(),
                    role: RoleValue(role),
                    cause: CauseValue(cause),
                });
            }
        }
        self.blackout_seconds.remove(&t);
        self.blackouts.remove(&t);
        self.blackout_length.remove(&t);
        for state in Health::ALL {
            self.health.remove(&HealthLabels {
                target: t.clone(),
                starvetrace_health: HealthValue(state),
            });
        }
        for kind in TriggerKind::ALL {
            self.triggers.remove(&TriggerLabels {
                target: t.clone(),
                trigger: TriggerValue(kind),
            });
        }
    }

    /// The whole exposition in OpenMetrics text format, `# EOF` included.
    pub fn encode(&self) -> String {
        self.encode_as(Format::OpenMetrics)
    }

    /// The exposition in `format`.
    pub fn encode_as(&self, format: Format) -> String {
        let mut out = String::new();
        let result = match format {
            Format::OpenMetrics => encode(&mut out, &self.registry),
            Format::PrometheusText => prometheus_text::encode(&mut out, &self.registry),
        };
        // Writing to a String cannot fail; an error here would be the
        // encoder's own, and a partial exposition is still better than none.
        if let Err(e) = result {
            tracing::warn!("metrics: encoding stopped early: {e}");
        }
        out
    }
}

/// Seconds a counter may add: finite and not negative (a counter never
/// goes down; NaN would poison it for good).
fn valid_seconds(seconds: f64) -> Option<f64> {
    (seconds.is_finite() && seconds >= 0.0).then_some(seconds)
}
