//! starvetrace: are this program's async runtime threads being starved, and by what?
//!
//! Data path, one direction:
//! `target` → `probes` → `collect` (+ `classify`, + `cgroup` sampler beside it)
//! → `model` → `verdict` → `report`.

pub mod analyze;
pub mod cgroup;
pub mod cli;
pub mod cmd;
pub mod error;
pub mod lab;
pub mod model;
pub mod report;
pub mod resolve;
pub mod snapshot;
pub mod sys;
pub mod trace;
