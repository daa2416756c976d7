//! A Perfetto trace (opens in ui.perfetto.dev) of one recording: a track per
//! thread grouped by process, every on- and off-CPU interval a slice named
//! by its cause, the runtime blackouts on their own track, counter tracks
//! (PSI, memory), instant tracks (heartbeats) and the verdict.
//!
//! The file is a binary `Trace` of `TracePacket`s in the TrackEvent model,
//! built with Perfetto's own protos (the `perfetto_protos` crate). One packet
//! sequence, names inline (no interning); timestamps are CLOCK_MONOTONIC ns,
//! said by the sequence's `TracePacketDefaults` and by a `ClockSnapshot` of
//! MONOTONIC and BOOTTIME taken when the recording was written.
//!
//! Past `WriteOptions::max_slices` the shortest thread slices are merged:
//! drawn not as slices but as per-thread cumulative counters ("merged futex
//! ns"), totalled per name in the arguments of the "trace export" instant on
//! the "starvetrace" track, whose name says how many were merged.
//!
//! Self-contained (no `crate::` outside this folder) so the lead can feed it
//! from the recording and tests can feed it by hand:
//!
//! ```no_run
//! use tracer::report::perfetto::{
//!     ClockPair, ON_CPU, Process, Slice, Thread, TraceInput, WriteOptions, write_trace,
//! };
//!
//! let input = TraceInput {
//!     clock: ClockPair::now(),
//!     processes: vec![Process { pid: 7, name: "shop".into(), container: None }],
//!     threads: vec![Thread {
//!         tid: 8,
//!         pid: 7,
//!         name: "tokio-rt-worker".into(),
//!         role: Some("worker".into()),
//!         slices: vec![Slice::new(1_000, 2_000, ON_CPU), Slice::new(2_000, 9_000, "memcg_reclaim")],
//!     }],
//!     ..Default::default()
//! };
//! let options = WriteOptions { max_slices: Some(1_000_000), ..Default::default() };
//! let stats = write_trace("out/trace.pftrace".as_ref(), &input, &options)?;
//! println!("{} slices, {} merged, {} bytes", stats.slices_written, stats.slices_merged, stats.bytes);
//! # Ok::<(), tracer::report::perfetto::PerfettoError>(())
//! ```

mod budget;
mod encode;
mod expect;
pub mod input;
mod write;

#[cfg(test)]
mod tests;

use std::{
    collections::{BTreeMap, HashSet},
    fs::File,
    io,
    path::{Path, PathBuf},
};

pub use expect::expectations_json;
pub use input::*;
pub use write::{EXPORT_EVENT, merged_track_name, starvetrace_track_name};

/// Merged-slice counters get at most one point per this many ns.
pub const DEFAULT_MERGE_BIN_NS: u64 = 10_000_000;

#[derive(Debug, thiserror::Error)]
pub enum PerfettoError {
    #[error("cannot write Perfetto trace {}: {source}", path.display())]
    Write { path: PathBuf, source: io::Error },
    #[error("cannot write Perfetto trace: {0}")]
    Io(#[from] io::Error),
    #[error("cannot make a Perfetto trace of this input: {0}")]
    Invalid(String),
}

/// How the trace is cut down to size.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WriteOptions {
    /// At most this many thread slices are drawn (the longest); `None`
    /// draws all. Blackouts, counters and instants do not count.
    pub max_slices: Option<usize>,
    /// Bin width of the merged-slice counters, in ns.
    pub merge_bin_ns: u64,
}

impl Default for WriteOptions {
    fn default() -> Self {
        Self {
            max_slices: None,
            merge_bin_ns: DEFAULT_MERGE_BIN_NS,
        }
    }
}

/// What a write produced.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WriteStats {
    /// Thread slices drawn.
    pub slices_written: usize,
    /// Thread slices merged into counters instead.
    pub slices_merged: usize,
    /// Merged time per slice name, in ns.
    pub merged_ns_by_name: BTreeMap<String, u64>,
    /// Merged slices per slice name.
    pub merged_count_by_name: BTreeMap<String, u64>,
    /// Size of the trace.
    pub bytes: u64,
}

/// Writes the trace to `path`. Invalid input is refused before the file is
/// created; a failed write removes the partial file.
pub fn write_trace(
    path: &Path,
    input: &TraceInput,
    options: &WriteOptions,
) -> Result<WriteStats, PerfettoError> {
    validate(input)?;
    let failed = |source| PerfettoError::Write {
        path: path.to_path_buf(),
        source,
    };
    let mut file = File::create(path).map_err(failed)?;
    write::write_all(&mut file, input, options).map_err(|e| {
        // A truncated trace must not pass for a whole one.
        let _ = std::fs::remove_file(path);
        failed(e)
    })
}

/// Writes the trace to any writer (it is buffered inside).
pub fn write_to(
    out: &mut dyn io::Write,
    input: &TraceInput,
    options: &WriteOptions,
) -> Result<WriteStats, PerfettoError> {
    validate(input)?;
    Ok(write::write_all(out, input, options)?)
}

/// Checks what the trace format needs: unique pids, tids and track names;
/// slices time-ordered, non-overlapping, end not before start; counter
/// points time-ordered and finite; timestamps within the trace's i64.
pub fn validate(input: &TraceInput) -> Result<(), PerfettoError> {
    let bad = |what: String| Err(PerfettoError::Invalid(what));
    let mut pids = HashSet::new();
    for p in &input.processes {
        if !pids.insert(p.pid) {
            return bad(format!("process {} is listed twice", p.pid));
        }
    }
    let mut tids = HashSet::new();
    for t in &input.threads {
        if !tids.insert(t.tid) {
            return bad(format!("thread {} is listed twice", t.tid));
        }
        check_slices(&t.slices).or_else(|e| bad(format!("thread {}: {e}", t.tid)))?;
    }
    check_slices(&input.blackouts.slices).or_else(|e| bad(format!("{BLACKOUT_TRACK}: {e}")))?;
    let mut names = HashSet::new();
    for c in &input.counters {
        if !names.insert(c.name.as_str()) {
            return bad(format!("counter track {:?} is listed twice", c.name));
        }
        let mut prev = 0;
        for &(t, v) in &c.points {
            if t < prev || !fits(t) || !v.is_finite() {
                return bad(format!(
                    "counter track {:?}: point ({t}, {v}) out of order, past i64 or not finite",
                    c.name
                ));
            }
            prev = t;
        }
    }
    let mut names = HashSet::new();
    for track in &input.instant_tracks {
        if !names.insert(track.name.as_str()) {
            return bad(format!("instant track {:?} is listed twice", track.name));
        }
        if let Some(e) = track.events.iter().find(|e| !fits(e.t_ns)) {
            return bad(format!(
                "instant track {:?}: {} is past i64",
                track.name, e.t_ns
            ));
        }
    }
    if let Some(v) = input.verdict.as_ref().filter(|v| !fits(v.t_ns)) {
        return bad(format!("verdict time {} is past i64", v.t_ns));
    }
    Ok(())
}

/// The trace processor keeps timestamps as i64.
fn fits(t: u64) -> bool {
    i64::try_from(t).is_ok()
}

fn check_slices(slices: &[Slice]) -> Result<(), String> {
    let mut prev_end = 0;
    for s in slices {
        if s.end_ns < s.start_ns || !fits(s.end_ns) {
            return Err(format!("slice {s:?} ends before it starts or past i64"));
        }
        if s.start_ns < prev_end {
            return Err(format!(
                "slice {s:?} starts before the one before it ends ({prev_end})"
            ));
        }
        prev_end = s.end_ns;
    }
    Ok(())
}
