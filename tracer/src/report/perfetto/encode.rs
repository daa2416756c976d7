//! Perfetto packets, built with the official protos (`perfetto_protos`)
//! and written one at a time: a `Trace` is its repeated `packet` field
//! (number 1) back to back, so streaming packets is the same bytes as
//! encoding one `Trace`, without holding a million slices' message.

use std::io::Write;

use perfetto_protos::{
    builtin_clock::BuiltinClock,
    clock_snapshot::{
        ClockSnapshot,
        clock_snapshot::{Clock, clock::BuiltinClocks},
    },
    counter_descriptor::{CounterDescriptor, counter_descriptor},
    debug_annotation::{DebugAnnotation, debug_annotation},
    process_descriptor::ProcessDescriptor,
    thread_descriptor::ThreadDescriptor,
    trace_packet::{TracePacket, trace_packet},
    trace_packet_defaults::TracePacketDefaults,
    track_descriptor::TrackDescriptor,
    track_event::{TrackEvent, track_event},
};
use protobuf::CodedOutputStream;

use super::input::{Arg, ArgValue, ClockPair, Process, Thread, Unit};

/// `Trace.packet`'s field number in trace.proto.
const TRACE_PACKET_FIELD: u32 = 1;
/// One writer, one packet sequence.
pub(crate) const SEQUENCE_ID: u32 = 1;

/// Packets into a writer; `CodedOutputStream` buffers, so the writer
/// need not.
pub(crate) struct Sink<'a> {
    os: CodedOutputStream<'a>,
}

impl<'a> Sink<'a> {
    pub fn new(out: &'a mut dyn Write) -> Self {
        Self {
            os: CodedOutputStream::new(out),
        }
    }

    fn put(&mut self, mut p: TracePacket) -> protobuf::Result<()> {
        p.optional_trusted_packet_sequence_id = Some(
            trace_packet::Optional_trusted_packet_sequence_id::TrustedPacketSequenceId(SEQUENCE_ID),
        );
        self.os.write_message(TRACE_PACKET_FIELD, &p)
    }

    /// The first two packets. One starts the sequence's incremental state
    /// (so its defaults apply) and makes MONOTONIC the default clock of
    /// every later packet. The other snapshots MONOTONIC against BOOTTIME,
    /// so the trace can be merged with others of the host, and makes
    /// MONOTONIC the trace's primary clock: its timestamps stay
    /// starvetrace's own, unconverted.
    pub fn start(&mut self, clock: ClockPair) -> protobuf::Result<()> {
        let mut defaults = TracePacketDefaults::new();
        defaults.set_timestamp_clock_id(BuiltinClock::BUILTIN_CLOCK_MONOTONIC as u32);
        let mut p = TracePacket::new();
        p.set_sequence_flags(trace_packet::SequenceFlags::SEQ_INCREMENTAL_STATE_CLEARED as u32);
        p.trace_packet_defaults = Some(defaults).into();
        self.put(p)?;

        let mut snapshot = ClockSnapshot::new();
        for (id, ts) in [
            (BuiltinClocks::BOOTTIME, clock.boottime_ns),
            (BuiltinClocks::MONOTONIC, clock.monotonic_ns),
        ] {
            let mut c = Clock::new();
            c.set_clock_id(id as u32);
            c.set_timestamp(ts);
            snapshot.clocks.push(c);
        }
        snapshot.set_primary_trace_clock(BuiltinClock::BUILTIN_CLOCK_MONOTONIC);
        let mut p = TracePacket::new();
        p.set_timestamp(clock.boottime_ns);
        p.set_timestamp_clock_id(BuiltinClock::BUILTIN_CLOCK_BOOTTIME as u32);
        p.data = Some(trace_packet::Data::ClockSnapshot(snapshot));
        self.put(p)
    }

    pub fn track(&mut self, d: TrackDescriptor) -> protobuf::Result<()> {
        let mut p = TracePacket::new();
        p.data = Some(trace_packet::Data::TrackDescriptor(d));
        self.put(p)
    }

    /// A timestamped event; its clock comes from the sequence's defaults,
    /// hence the flag saying it needs that state.
    pub fn event(&mut self, ts_ns: u64, e: TrackEvent) -> protobuf::Result<()> {
        let mut p = TracePacket::new();
        p.set_timestamp(ts_ns);
        p.set_sequence_flags(trace_packet::SequenceFlags::SEQ_NEEDS_INCREMENTAL_STATE as u32);
        p.data = Some(trace_packet::Data::TrackEvent(e));
        self.put(p)
    }

    /// Flushes; returns the bytes written.
    pub fn finish(mut self) -> protobuf::Result<u64> {
        self.os.flush()?;
        Ok(self.os.total_bytes_written())
    }
}

fn event(track: u64, kind: track_event::Type) -> TrackEvent {
    let mut e = TrackEvent::new();
    e.set_track_uuid(track);
    e.set_type(kind);
    e
}

pub(crate) fn slice_begin(track: u64, name: &str) -> TrackEvent {
    let mut e = event(track, track_event::Type::TYPE_SLICE_BEGIN);
    e.set_name(name.to_string());
    e
}

pub(crate) fn slice_end(track: u64) -> TrackEvent {
    event(track, track_event::Type::TYPE_SLICE_END)
}

pub(crate) fn instant(track: u64, name: &str, args: Vec<DebugAnnotation>) -> TrackEvent {
    let mut e = event(track, track_event::Type::TYPE_INSTANT);
    e.set_name(name.to_string());
    e.debug_annotations = args;
    e
}

pub(crate) fn counter_f64(track: u64, value: f64) -> TrackEvent {
    let mut e = event(track, track_event::Type::TYPE_COUNTER);
    e.set_double_counter_value(value);
    e
}

pub(crate) fn counter_i64(track: u64, value: i64) -> TrackEvent {
    let mut e = event(track, track_event::Type::TYPE_COUNTER);
    e.set_counter_value(value);
    e
}

pub(crate) fn annotation(arg: &Arg) -> DebugAnnotation {
    let mut a = DebugAnnotation::new();
    a.set_name(arg.key.clone());
    a.value = Some(match &arg.value {
        ArgValue::Str(s) => debug_annotation::Value::StringValue(s.clone()),
        ArgValue::Int(v) => debug_annotation::Value::IntValue(*v),
        ArgValue::Uint(v) => debug_annotation::Value::UintValue(*v),
        ArgValue::Float(v) => debug_annotation::Value::DoubleValue(*v),
        ArgValue::Bool(v) => debug_annotation::Value::BoolValue(*v),
    });
    a
}

/// A nested annotation; the UI shows its entries as `name.key`.
pub(crate) fn dict(name: &str, entries: Vec<DebugAnnotation>) -> DebugAnnotation {
    let mut a = DebugAnnotation::new();
    a.set_name(name.to_string());
    a.dict_entries = entries;
    a
}

pub(crate) fn named_track(uuid: u64, name: &str, parent: Option<u64>) -> TrackDescriptor {
    let mut d = TrackDescriptor::new();
    d.set_uuid(uuid);
    d.set_name(name.to_string());
    d.parent_uuid = parent;
    d
}

pub(crate) fn counter_track(
    uuid: u64,
    name: &str,
    unit: &Unit,
    parent: Option<u64>,
) -> TrackDescriptor {
    let mut c = CounterDescriptor::new();
    match unit {
        Unit::Count => c.set_unit(counter_descriptor::Unit::UNIT_COUNT),
        Unit::Bytes => c.set_unit(counter_descriptor::Unit::UNIT_SIZE_BYTES),
        Unit::Nanoseconds => c.set_unit(counter_descriptor::Unit::UNIT_TIME_NS),
        Unit::Named(n) => c.set_unit_name(n.clone()),
    }
    let mut d = named_track(uuid, name, parent);
    d.counter = Some(c).into();
    d
}

/// Shown as "[container] name"; the container is also a process label.
pub(crate) fn process_track(uuid: u64, p: &Process) -> TrackDescriptor {
    let mut pd = ProcessDescriptor::new();
    pd.set_pid(p.pid);
    pd.set_process_name(match &p.container {
        Some(c) => format!("[{c}] {}", p.name),
        None => p.name.clone(),
    });
    if let Some(c) = &p.container {
        pd.process_labels.push(format!("container={c}"));
    }
    let mut d = TrackDescriptor::new();
    d.set_uuid(uuid);
    d.process = Some(pd).into();
    d
}

/// Grouped under its process by pid (the Perfetto SDK sets no parent on
/// thread tracks either); the role follows the name.
pub(crate) fn thread_track(uuid: u64, t: &Thread) -> TrackDescriptor {
    let mut td = ThreadDescriptor::new();
    td.set_pid(t.pid);
    td.set_tid(t.tid);
    td.set_thread_name(match &t.role {
        Some(r) if !r.is_empty() => format!("{} [{r}]", t.name),
        _ => t.name.clone(),
    });
    let mut d = TrackDescriptor::new();
    d.set_uuid(uuid);
    d.thread = Some(td).into();
    d
}
