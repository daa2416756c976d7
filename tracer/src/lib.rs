//! starvetrace: are this program's async runtime threads being starved, and by what?
//!
//! Data path, one direction:
//! `target` → `probes` → `collect` (+ `classify`, + `cgroup` sampler beside it)
//! → `model` → `verdict` → `report`.

pub mod account;
pub mod btf;
pub mod cgroup;
pub mod classify;
pub mod cli;
pub mod collect;
pub mod correlate;
pub mod demo;
pub mod error;
pub mod follow;
pub mod hist;
pub mod lab;
pub mod model;
pub mod probes;
pub mod record;
pub mod report;
pub mod roles;
pub mod seed;
pub mod snapshot;
pub mod snapshot_cmd;
pub mod sys;
pub mod resolve;
pub mod timeline;
pub mod verdict;
