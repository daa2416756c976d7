//! In: the target's cgroup directories (beside the trace, every 100 ms).
//! Out: a `CgroupReport`: PSI, memory.events, limits, memory.stat, cpu.stat.
//!
//! - [`mounts`]: where the hierarchies are mounted (from mountinfo, never
//!   assuming /sys/fs/cgroup) and a process's directories in each.
//! - [`read`]: one reading of every file, with absent files remembered.
//! - [`sampler`]: the sampling thread with a bounded sample store.
//! - [`tally`]: whole-window deltas and maxima of the samples.
//! - [`follow`]: the sampler that follows the target into a child cgroup.
//!
//! Hosts differ: pure v2 has everything in one directory; hybrid hosts (v1
//! memory + cgroup2 for PSI) split it; v1-only hosts have no PSI per cgroup.
//! Whatever a host lacks is listed in `CgroupReport::missing`.

pub mod files;
pub mod follow;
pub mod mounts;
pub mod read;
pub mod sampler;
pub mod tally;

pub use files::parse_psi;
pub use mounts::{
    CgroupMounts, Mount, ProcCgroups, Roots, paths_of_pid, paths_of_pid_in, v1_controllers,
};
pub use read::Reader;
// The report's data types live in the model; they are named here too
// because this stage makes them.
pub use crate::model::cgroup::{
    CgroupDeltas, CgroupLimits, CgroupPaths, CgroupReport, CgroupSample, Limit, Psi, PsiKind,
    PsiSeries, UNLIMITED,
};
pub use sampler::{MAX_SAMPLES, Sampler};
