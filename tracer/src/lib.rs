//! starvetrace: are this program's async runtime threads being starved, and by what?
//!
//! The crate is named `tracer` by the project layout (beside `tracer-common`
//! and `tracer-ebpf`); the binary it builds is `starvetrace`.
//!
//! Data path, one direction, in module order below:
//! `resolve` → `trace` (+ `cgroup` beside it) → `analyze` → `model` → `report`
//! (and `metrics`, the same figures for Prometheus),
//! with `cmd` on top, `watch` beside it (the same stages kept running), wiring the stages into commands and `snapshot` (the
//! /proc view of every thread) feeding both `trace` and the report. `lab` is
//! apart: the workloads `demo` traces. `sys`, `error` and `cli` are the edges.

/// What to trace: PIDs, a cgroup, a launched command.
pub mod resolve;

/// The eBPF probes and the books they feed.
pub mod trace;

/// The cgroup sampler, beside `trace`.
pub mod cgroup;

/// Facts and the typed verdict, from the finished recording.
pub mod analyze;

/// The finished recording's types (a leaf).
pub mod model;

/// Every word and picture the user reads.
pub mod report;

/// What `watch` exports to Prometheus (an output stage beside `report`).
pub mod metrics;

/// The commands, on top of the stages.
pub mod cmd;

/// The always-on mode: kernel-side books, triggers, evidence bundles.
pub mod watch;

/// Where every thread is now, from /proc.
pub mod snapshot;

/// Workloads that starve a runtime on purpose (apart from the data path).
pub mod lab;

pub mod cli;
pub mod error;
pub mod sys;
