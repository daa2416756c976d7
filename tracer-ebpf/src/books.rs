//! `watch`'s kernel-side books: every slice and interval of a traced thread
//! is added to the `AGG` map under its cause-determining key, and only long
//! intervals (or everything, while user space captures) still go through
//! the ring buffer.

use aya_ebpf::bindings::BPF_NOEXIST;
use tracer_common::{
    agg::{AGG_BUCKETS, AGG_OFF, AGG_ON_CPU, AGG_RUNQ, AggKey, CONTROL_CAPTURE, bucket_of},
    diag,
    event::{
        SW_NEXT_OFF_KNOWN, SW_NEXT_RUNQ_KNOWN, SW_NEXT_TRACED, SW_PREV_EXEC_KNOWN,
        SW_PREV_SLICE_KNOWN, SW_PREV_TRACED, SwitchEvent,
    },
    state::OFF_RUNNING,
};

use crate::{
    config,
    maps::{AGG, AGG_SCRATCH, CONTROL, count},
};

/// Is user space capturing every record (after a trigger)?
#[inline(always)]
pub fn capture_on() -> bool {
    CONTROL.get(CONTROL_CAPTURE).is_some_and(|v| *v != 0)
}

/// Book `event` (a switch, or an inferred switch-in) and say whether its
/// record should still be sent: its closing interval is long, or user space
/// is capturing. A function of its own (a BPF-to-BPF call): inlined, its
/// keys would push `sched_switch` past the 512-byte stack.
#[inline(never)]
pub fn book_switch(event: &SwitchEvent, prev_tgid: u32, next_tgid: u32) -> bool {
    if event.flags & SW_PREV_TRACED != 0 {
        let ran = if event.flags & SW_PREV_EXEC_KNOWN != 0 {
            Some(event.prev_exec_ns)
        } else if event.flags & SW_PREV_SLICE_KNOWN != 0 {
            Some(event.prev_slice_ns)
        } else {
            None
        };
        if let Some(ns) = ran {
            add(&key(event.prev_tid, AGG_ON_CPU), prev_tgid, ns);
        }
    }
    let mut long = false;
    if event.flags & SW_NEXT_TRACED != 0 && event.flags & SW_NEXT_OFF_KNOWN != 0 {
        let off = event.next_off_ns;
        let runq = if event.next_off_state == OFF_RUNNING {
            off
        } else if event.flags & SW_NEXT_RUNQ_KNOWN != 0 {
            event.next_runq_ns.min(off)
        } else {
            0
        };
        if runq > 0 {
            add(&key(event.next_tid, AGG_RUNQ), next_tgid, runq);
        }
        if event.next_off_state != OFF_RUNNING {
            let blocked = AggKey {
                tid: event.next_tid,
                kind: AGG_OFF,
                off_state: event.next_off_state,
                reclaim_kind: event.next_reclaim_kind,
                syscall: event.next_syscall,
                stack_id: event.next_stack_id,
            };
            add(&blocked, next_tgid, off - runq);
        }
        long = off >= config::emit_min_ns();
    }
    long || capture_on()
}

#[inline(always)]
fn key(tid: u32, kind: u32) -> AggKey {
    AggKey {
        tid,
        kind,
        off_state: 0,
        reclaim_kind: 0,
        syscall: -1,
        stack_id: -1,
    }
}

#[inline(always)]
fn add(key: &AggKey, tgid: u32, ns: u64) {
    let bucket = bucket_of(ns);
    if bump(key, bucket, ns) {
        return;
    }
    // A new entry is built in a per-CPU scratch slot: a 152-byte value on
    // the stack of every inlined call would pass the 512-byte BPF stack.
    let Some(init) = AGG_SCRATCH.get_ptr_mut(0) else {
        count(diag::AGG_MAP_FULL);
        return;
    };
    // SAFETY: per-CPU slot, and programs do not nest on one CPU.
    let init = unsafe { &mut *init };
    init.tgid = tgid;
    init.count = 1;
    init.sum_ns = ns;
    init.buckets = [0; AGG_BUCKETS];
    if let Some(slot) = init.buckets.get_mut(bucket) {
        *slot = 1;
    }
    match AGG.insert(key, &*init, BPF_NOEXIST as u64) {
        Ok(()) => {}
        // Another CPU inserted it first: add to theirs.
        Err(-17) if bump(key, bucket, ns) => {}
        Err(_) => count(diag::AGG_MAP_FULL),
    }
}

/// Add one interval to an existing entry; false if there is none.
#[inline(always)]
fn bump(key: &AggKey, bucket: usize, ns: u64) -> bool {
    let Some(v) = AGG.get_ptr_mut(key) else {
        return false;
    };
    // SAFETY: a valid map value pointer; a key belongs to one thread, and
    // its slices and intervals are booked by the switches that move it.
    let v = unsafe { &mut *v };
    v.count += 1;
    v.sum_ns += ns;
    if let Some(slot) = v.buckets.get_mut(bucket) {
        *slot += 1;
    }
    true
}
