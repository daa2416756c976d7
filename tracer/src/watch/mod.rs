//! `starvetrace watch`: the always-on mode. In: the targets the user named,
//! or every process with tokio-named threads. The kernel keeps per-thread
//! books by cause (no record per context switch); only long off-CPU
//! intervals cross the ring buffer, enough to find runtime blackouts longer
//! than `--emit-min-ms`. Out: one line per target per interval, Prometheus
//! metrics, and an evidence bundle when a trigger fires.

pub mod books;
pub mod bundle;
pub mod monitor;
pub mod on_trigger;
pub mod targets;
pub mod triggers;

mod run;
mod run_signals;
mod watched;

pub use run::run;
