//! In: the resolved target (a thread-group or cgroup filter) and the kernel's BTF.
//! Out: per-thread books of on-CPU, run-queue and off-CPU time by cause.

pub mod account;
pub mod books;
pub mod btf;
pub mod classify;
pub mod collect;
pub mod flame;
pub mod hist;
pub mod probes;
pub mod rules;
pub mod seed;
pub mod timeline;
pub mod ustack;
