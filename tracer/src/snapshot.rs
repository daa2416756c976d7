//! "Where is every thread right now": state, time since it last ran, wchan,
//! kernel stack, syscall. (Interface stub; filled in by the snapshot work.)

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Snapshot {}
