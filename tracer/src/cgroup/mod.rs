//! The target cgroup's side of the story: PSI, memory.events, limits and
//! memory.stat, sampled every 100 ms beside the tracer. (Filled in by the
//! cgroup sampler work; this is the interface the rest of the tool uses.)

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct CgroupReport {}
