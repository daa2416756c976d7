//! Label sets of the exposition. Label values come from the model's enums
//! (`as_str`/`name`), never from free strings, so each family's cardinality
//! is bounded by its targets times the enums' sizes; no TID label anywhere.

use std::fmt::Write as _;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};

use crate::model::{
    cause::Cause,
    role::Role,
    watch::{Health, TargetId, TriggerKind},
};

/// Implements `EncodeLabelValue` for a newtype over a model enum (the model
/// stays a leaf: it knows nothing of Prometheus).
macro_rules! enum_label {
    ($name:ident, $inner:ty, $method:ident) => {
        #[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
        pub struct $name(pub $inner);

        impl EncodeLabelValue for $name {
            fn encode(&self, encoder: &mut LabelValueEncoder) -> std::fmt::Result {
                encoder.write_str(self.0.$method())
            }
        }
    };
}

enum_label!(RoleValue, Role, as_str);
enum_label!(CauseValue, Cause, name);
enum_label!(HealthValue, Health, as_str);
enum_label!(TriggerValue, TriggerKind, as_str);

/// What happened to an evidence bundle.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub enum BundleOutcome {
    Written,
    Failed,
}

impl BundleOutcome {
    pub const ALL: [BundleOutcome; 2] = [BundleOutcome::Written, BundleOutcome::Failed];

    pub const fn as_str(self) -> &'static str {
        match self {
            BundleOutcome::Written => "written",
            BundleOutcome::Failed => "failed",
        }
    }
}

impl EncodeLabelValue for BundleOutcome {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> std::fmt::Result {
        encoder.write_str(self.as_str())
    }
}

/// `{target, process}`: who the series is about.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TargetLabels {
    pub target: String,
    pub process: String,
}

impl From<&TargetId> for TargetLabels {
    fn from(t: &TargetId) -> Self {
        TargetLabels {
            target: t.key.clone(),
            process: t.process.clone(),
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OffCpuLabels {
    #[prometheus(flatten)]
    pub target: TargetLabels,
    pub role: RoleValue,
    pub cause: CauseValue,
}

/// The state-set convention of OpenMetrics: the label is named after the
/// metric.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HealthLabels {
    #[prometheus(flatten)]
    pub target: TargetLabels,
    pub starvetrace_health: HealthValue,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TriggerLabels {
    #[prometheus(flatten)]
    pub target: TargetLabels,
    pub trigger: TriggerValue,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BundleLabels {
    pub outcome: BundleOutcome,
}
