//! In: parsed command-line arguments.
//! Out: a finished recording or snapshot, rendered; each command wires the stages together.

pub mod demo;
pub mod flame;
pub mod lab;
pub mod perfetto;
pub mod record;
pub mod report;
pub mod snapshot;
pub mod verdict;
