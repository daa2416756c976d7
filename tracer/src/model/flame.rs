//! What the off-CPU flame graphs were made of: how many intervals carried
//! which stacks, how whole the user stacks were, and the innermost user
//! frames by time per memory cause. The folded stacks themselves go to
//! files (`--folded`, `--out`), not into the JSON.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct FlameSummary {
    /// User-space stacks were taken (`--user-stacks`).
    pub user_stacks: bool,
    /// Blocked intervals aggregated, and the distinct keys they made.
    pub intervals: u64,
    pub keys: u64,
    /// Intervals (and their blocked time) past the key cap: counted, not kept.
    pub overflow_intervals: u64,
    pub overflow_ns: u64,
    /// Blocked ns per cause over every aggregated interval.
    pub ns_by_cause: BTreeMap<String, u64>,
    /// Intervals with a user stack read back, and their blocked time.
    pub user_stack_intervals: u64,
    pub user_stack_ns: u64,
    /// Intervals whose user stack was lost in the kernel (-2) or could not
    /// be read back.
    pub user_stack_failed_intervals: u64,
    /// Intervals whose user stack does not reach a thread entry (`_start`,
    /// `clone3`, `start_thread`, `__libc_start_main`, ...) or is at most two
    /// frames deep: frames are missing at the root (no frame pointers).
    pub truncated_intervals: u64,
    pub truncated_ns: u64,
    /// Of those, stacks at most two frames deep.
    pub shallow_intervals: u64,
    /// Innermost user frame by blocked time, top five per memory cause.
    pub top_user_frames: BTreeMap<String, Vec<FrameShare>>,
    /// How the user frames were named.
    #[serde(default)]
    pub user: UserSymbols,
    /// Files written (folded stacks, SVGs).
    #[serde(default)]
    pub files: Vec<String>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct FrameShare {
    pub frame: String,
    pub ns: u64,
    /// Of the cause's blocked time in the flame data.
    pub share: f64,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct UserSymbols {
    /// Distinct user stacks read back from the kernel.
    pub stacks: u64,
    /// Processes whose frames were named from the live process.
    pub via_process: u64,
    /// Processes gone by the end, named from their files by path, checked
    /// against the build-id recorded while they ran.
    pub via_files: u64,
    /// Frames named, and frames left as `[module+0xoffset]` or `[unknown]`.
    pub frames_named: u64,
    pub frames_unnamed: u64,
    /// Frames not named because the file at the recorded path now has
    /// another build-id (rebuilt or replaced since).
    pub frames_build_id_mismatch: u64,
    /// Frames in no file-backed mapping (anonymous, JIT, or the process was
    /// gone before its mappings could be read).
    pub frames_unmapped: u64,
    /// Processes whose mappings could not be read at all.
    pub maps_unreadable: u64,
    /// Processes past the cap on remembered mappings.
    pub procs_over_cap: u64,
}
