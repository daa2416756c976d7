//! In: parsed command-line arguments.
//! Out: a finished recording or snapshot, rendered; each command wires the stages together.

pub mod demo;
pub mod record;
pub mod snapshot;
