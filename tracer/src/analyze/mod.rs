//! In: the finished recording (threads, cgroup samples) and the runtime
//! threads' intervals. Out: roles, runtime blackouts, cgroup-side evidence,
//! typed facts and a typed judgement on the memory-starvation hypothesis.

pub mod blackouts;
pub mod correlate;
pub mod evidence;
pub mod facts;
pub mod roles;
pub mod verdict;
