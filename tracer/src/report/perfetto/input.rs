//! What the Perfetto writer draws, in its own neutral terms: nothing here
//! knows about the recording, so the caller decides what each track holds.
//! Every timestamp is CLOCK_MONOTONIC in nanoseconds.

use std::borrow::Cow;

/// Slice and event names: causes are a small fixed set, so `&'static str`
/// avoids one allocation per slice across a million slices.
pub type Name = Cow<'static, str>;

/// The name of an on-CPU slice on a thread track.
pub const ON_CPU: &str = "on-cpu";

/// The track the runtime blackouts are drawn on.
pub const BLACKOUT_TRACK: &str = "runtime blackouts";

/// The track holding the verdict and the export's metadata.
pub const STARVETRACE_TRACK: &str = "starvetrace";

/// Everything one trace file shows.
#[derive(Clone, Debug, Default)]
pub struct TraceInput {
    /// Both clocks read at the same moment, written as a `ClockSnapshot` so
    /// the trace can be merged with other traces of the host.
    pub clock: ClockPair,
    pub processes: Vec<Process>,
    /// One track per thread, grouped under its process by `pid`.
    pub threads: Vec<Thread>,
    /// Counter tracks; names must be unique.
    pub counters: Vec<Counter>,
    /// Stretches when no runtime thread could run, on their own track.
    pub blackouts: Blackouts,
    /// Tracks of instant events (the lab's heartbeats); names must be unique.
    pub instant_tracks: Vec<InstantTrack>,
    /// Shown as an instant on the "starvetrace" track and in its name.
    pub verdict: Option<Verdict>,
}

/// CLOCK_MONOTONIC and CLOCK_BOOTTIME read together, in ns.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClockPair {
    pub monotonic_ns: u64,
    pub boottime_ns: u64,
}

impl ClockPair {
    /// Reads both clocks now, back to back.
    pub fn now() -> Self {
        Self {
            monotonic_ns: read_clock(libc::CLOCK_MONOTONIC),
            boottime_ns: read_clock(libc::CLOCK_BOOTTIME),
        }
    }
}

fn read_clock(id: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: valid pointer to a timespec; both clock ids exist on Linux.
    unsafe { libc::clock_gettime(id, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// A process: the parent of its threads' tracks.
#[derive(Clone, Debug, Default)]
pub struct Process {
    pub pid: i32,
    pub name: String,
    /// Shown as a `[container]` prefix of the process name and as a label.
    pub container: Option<String>,
}

/// A traced thread and its time line.
#[derive(Clone, Debug, Default)]
pub struct Thread {
    pub tid: i32,
    pub pid: i32,
    pub name: String,
    /// The thread's role (worker, blocking, …), shown after its name.
    pub role: Option<String>,
    /// Time-ordered and non-overlapping (touching is fine): every off-CPU
    /// interval named by its cause and every on-CPU interval named [`ON_CPU`].
    pub slices: Vec<Slice>,
}

/// A named interval `[start_ns, end_ns]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Slice {
    pub start_ns: u64,
    pub end_ns: u64,
    pub name: Name,
}

impl Slice {
    pub fn new(start_ns: u64, end_ns: u64, name: impl Into<Name>) -> Self {
        Self {
            start_ns,
            end_ns,
            name: name.into(),
        }
    }

    pub fn dur_ns(&self) -> u64 {
        self.end_ns.saturating_sub(self.start_ns)
    }
}

/// A counter track: time-ordered `(t_ns, value)` points, finite values.
#[derive(Clone, Debug, Default)]
pub struct Counter {
    pub name: String,
    pub unit: Unit,
    /// Nest the track under this process (if listed) instead of the top level.
    pub pid: Option<i32>,
    pub points: Vec<(u64, f64)>,
}

/// A counter's unit, as the Perfetto UI labels it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Unit {
    #[default]
    Count,
    Bytes,
    Nanoseconds,
    /// Any other unit, by name ("%", "us", …).
    Named(String),
}

/// The runtime blackouts: time-ordered, non-overlapping slices named by
/// their dominant cause.
#[derive(Clone, Debug, Default)]
pub struct Blackouts {
    /// Nest the track under this process (if listed) instead of the top level.
    pub pid: Option<i32>,
    pub slices: Vec<Slice>,
}

/// A track of instant events.
#[derive(Clone, Debug, Default)]
pub struct InstantTrack {
    pub name: String,
    /// Nest the track under this process (if listed) instead of the top level.
    pub pid: Option<i32>,
    pub events: Vec<InstantEvent>,
}

/// One instant, with arguments shown in the UI's details panel.
#[derive(Clone, Debug)]
pub struct InstantEvent {
    pub t_ns: u64,
    pub name: Name,
    pub args: Vec<Arg>,
}

/// A named argument of an instant event.
#[derive(Clone, Debug, PartialEq)]
pub struct Arg {
    pub key: String,
    pub value: ArgValue,
}

impl Arg {
    pub fn new(key: impl Into<String>, value: impl Into<ArgValue>) -> Self {
        Self {
            key: key.into(),
            value: value.into(),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum ArgValue {
    Str(String),
    Int(i64),
    Uint(u64),
    Float(f64),
    Bool(bool),
}

impl From<&str> for ArgValue {
    fn from(v: &str) -> Self {
        Self::Str(v.to_string())
    }
}
impl From<String> for ArgValue {
    fn from(v: String) -> Self {
        Self::Str(v)
    }
}
impl From<i64> for ArgValue {
    fn from(v: i64) -> Self {
        Self::Int(v)
    }
}
impl From<u64> for ArgValue {
    fn from(v: u64) -> Self {
        Self::Uint(v)
    }
}
impl From<f64> for ArgValue {
    fn from(v: f64) -> Self {
        Self::Float(v)
    }
}
impl From<bool> for ArgValue {
    fn from(v: bool) -> Self {
        Self::Bool(v)
    }
}

/// The verdict, as an instant at `t_ns` carrying `outcome`, `summary` and
/// `args` as debug annotations.
#[derive(Clone, Debug, Default)]
pub struct Verdict {
    pub t_ns: u64,
    pub outcome: String,
    pub summary: String,
    pub args: Vec<Arg>,
}
