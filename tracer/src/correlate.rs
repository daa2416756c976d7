//! Line up the traced threads' stall timeline with the cgroup's pressure
//! samples. (Filled in once the cgroup sampler lands.)

use crate::{model::Recording, verdict::Pressure};

pub fn pressure(_rec: &Recording) -> Pressure {
    Pressure::default()
}

/// PSI memory "some" share per timeline bucket, when the cgroup was sampled.
pub fn psi_some_series(_rec: &Recording) -> Option<Vec<f64>> {
    None
}
