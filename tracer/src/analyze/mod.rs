//! In: the finished recording (threads, timeline, cgroup samples).
//! Out: typed facts and a typed judgement on the memory-starvation hypothesis.

pub mod correlate;
pub mod facts;
pub mod roles;
pub mod verdict;
