//! Line up the traced threads' stall timeline with the cgroup's pressure
//! samples. (Filled in once the cgroup sampler lands.)

use crate::{model::Recording, verdict::Pressure};

pub fn pressure(_rec: &Recording) -> Pressure {
    Pressure::default()
}
