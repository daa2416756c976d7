//! Cause of each off-CPU interval: kernel stack (symbolized) first, then the
//! reclaim the thread was inside, then the syscall it slept in.

use std::collections::HashMap;

use aya::maps::{MapData, StackTraceMap};
use blazesym::symbolize::{
    Symbolized, Symbolizer,
    source::{Kernel, Source},
};
use tracer_common::{
    event::{RECLAIM_DIRECT, RECLAIM_MEMCG, SwitchEvent},
    state::OFF_RUNNING,
    task::TaskState,
};

use super::{account::CauseOf, rules};
use crate::{model::cause::Cause, sys::syscalls::cause_x86_64};

/// Where frame names for a stack id come from (the kernel's stack map in
/// production, a table in tests).
pub trait StackSource {
    /// Frame names, innermost first. `None` when the stack cannot be read.
    fn frame_names(&mut self, stack_id: i32) -> Option<Vec<String>>;
}

/// Kernel stacks from the `STACKS` map, symbolized with blazesym from kallsyms.
pub struct KernelStacks {
    map: StackTraceMap<MapData>,
    symbolizer: Symbolizer,
    source: Source<'static>,
}

impl KernelStacks {
    pub fn new(map: StackTraceMap<MapData>) -> Self {
        let kernel = Kernel {
            // kallsyms only: looking for vmlinux debug files is slow and
            // pointless on distribution kernels.
            vmlinux: blazesym::MaybeDefault::None,
            ..Kernel::default()
        };
        Self {
            map,
            symbolizer: Symbolizer::new(),
            source: Source::Kernel(kernel),
        }
    }
}

impl StackSource for KernelStacks {
    fn frame_names(&mut self, stack_id: i32) -> Option<Vec<String>> {
        let stack = self.map.get(&(stack_id as u32), 0).ok()?;
        let addrs: Vec<u64> = stack.frames().iter().map(|f| f.ip).collect();
        let syms = self
            .symbolizer
            .symbolize(&self.source, blazesym::symbolize::Input::AbsAddr(&addrs))
            .ok()?;
        Some(
            syms.iter()
                .zip(&addrs)
                .map(|(s, a)| match s {
                    Symbolized::Sym(sym) => sym.name.to_string(),
                    Symbolized::Unknown(_) => format!("{a:#x}"),
                })
                .collect(),
        )
    }
}

struct Resolved {
    frames: Vec<String>,
    cause: Option<Cause>,
}

pub struct Classifier<S> {
    stacks: S,
    cache: HashMap<i32, Option<Resolved>>,
    /// Stack ids that could not be read back or symbolized.
    pub failed_lookups: u64,
    /// Switch-outs whose stack the kernel failed to take (negative id -2).
    pub missing_stacks: u64,
}

/// Bound on cached stacks; a pathological workload cannot grow it forever.
const MAX_CACHED_STACKS: usize = 65_536;

impl<S: StackSource> Classifier<S> {
    pub fn new(stacks: S) -> Self {
        Self {
            stacks,
            cache: HashMap::new(),
            failed_lookups: 0,
            missing_stacks: 0,
        }
    }

    fn resolve(&mut self, stack_id: i32) -> Option<&Resolved> {
        if stack_id == -2 {
            self.missing_stacks += 1;
        }
        if stack_id < 0 {
            return None;
        }
        if !self.cache.contains_key(&stack_id) {
            let resolved = self.stacks.frame_names(stack_id).map(|frames| {
                let cause = rules::from_frames(frames.iter().map(String::as_str));
                Resolved { frames, cause }
            });
            if resolved.is_none() {
                self.failed_lookups += 1;
            }
            if self.cache.len() >= MAX_CACHED_STACKS {
                self.cache.clear();
            }
            self.cache.insert(stack_id, resolved);
        }
        self.cache.get(&stack_id).and_then(Option::as_ref)
    }

    /// The cause of a blocked interval from what the probes saw at its
    /// switch-out (also how `watch` names its kernel-side keys). The shared
    /// rule: stack, then reclaim state, then syscall.
    pub fn cause(
        &mut self,
        off_state: u32,
        stack_id: i32,
        reclaim_kind: u32,
        syscall: i32,
    ) -> Cause {
        if off_state == OFF_RUNNING {
            return Cause::Runqueue;
        }
        if let Some(c) = self.resolve(stack_id).and_then(|r| r.cause) {
            return c;
        }
        match reclaim_kind {
            RECLAIM_MEMCG => return Cause::MemcgReclaim,
            RECLAIM_DIRECT => return Cause::DirectReclaim,
            _ => {}
        }
        cause_x86_64(syscall.into()).unwrap_or(Cause::Other)
    }
}

impl<S: StackSource> CauseOf for Classifier<S> {
    fn blocked_cause(&mut self, ev: &SwitchEvent) -> Cause {
        self.cause(
            ev.next_off_state,
            ev.next_stack_id,
            ev.next_reclaim_kind,
            ev.next_syscall,
        )
    }

    fn open_cause(&mut self, st: &TaskState) -> Cause {
        self.cause(
            st.off_state,
            st.off_stack_id,
            st.off_reclaim_kind,
            st.off_syscall,
        )
    }

    fn top_frames(&mut self, stack_id: i32) -> Option<String> {
        let r = self.resolve(stack_id)?;
        // Skip the scheduler's own frames: they are on every blocked stack.
        let frames: Vec<&str> = r
            .frames
            .iter()
            .map(String::as_str)
            .filter(|f| !f.starts_with("__schedule") && !f.starts_with("schedule"))
            .take(4)
            .collect();
        Some(frames.join(" ← "))
    }
}

impl<S: StackSource> super::flame::FrameNames for Classifier<S> {
    fn kernel(&mut self, id: i32) -> Option<Vec<String>> {
        self.resolve(id).map(|r| r.frames.clone())
    }
}

#[cfg(test)]
mod tests {
    use tracer_common::state::{OFF_DISK, OFF_SLEEPING};

    use super::*;

    struct Table(HashMap<i32, Vec<&'static str>>);

    impl StackSource for Table {
        fn frame_names(&mut self, id: i32) -> Option<Vec<String>> {
            self.0
                .get(&id)
                .map(|f| f.iter().map(|s| s.to_string()).collect())
        }
    }

    fn classifier() -> Classifier<Table> {
        let mut t = HashMap::new();
        t.insert(
            1,
            vec![
                "__schedule",
                "schedule",
                "schedule_timeout",
                "__mem_cgroup_handle_over_high",
            ],
        );
        t.insert(
            2,
            vec![
                "__schedule",
                "schedule",
                "io_schedule",
                "folio_wait_bit_common",
                "filemap_fault",
            ],
        );
        t.insert(3, vec!["__schedule", "schedule", "some_driver_wait"]);
        Classifier::new(Table(t))
    }

    fn ev(state: u32, stack: i32, reclaim: u32, syscall: i32) -> SwitchEvent {
        SwitchEvent {
            next_off_state: state,
            next_stack_id: stack,
            next_reclaim_kind: reclaim,
            next_syscall: syscall,
            ..Default::default()
        }
    }

    #[test]
    fn stack_first_then_reclaim_then_syscall() {
        let mut c = classifier();
        assert_eq!(
            c.blocked_cause(&ev(OFF_DISK, 1, 0, -1)),
            Cause::MemcgHighThrottle
        );
        assert_eq!(c.blocked_cause(&ev(OFF_DISK, 2, 0, 0)), Cause::PageFaultIo);
        assert_eq!(
            c.blocked_cause(&ev(OFF_DISK, 3, RECLAIM_MEMCG, -1)),
            Cause::MemcgReclaim
        );
        assert_eq!(c.blocked_cause(&ev(OFF_SLEEPING, -1, 0, 202)), Cause::Futex);
        assert_eq!(c.blocked_cause(&ev(OFF_SLEEPING, -1, 0, -1)), Cause::Other);
        assert_eq!(
            c.blocked_cause(&ev(OFF_RUNNING, 1, 0, 202)),
            Cause::Runqueue
        );
    }

    #[test]
    fn failed_lookups_are_counted_once_per_stack() {
        let mut c = classifier();
        assert_eq!(c.blocked_cause(&ev(OFF_DISK, 99, 0, 0)), Cause::Io);
        assert_eq!(c.blocked_cause(&ev(OFF_DISK, 99, 0, 0)), Cause::Io);
        assert_eq!(c.failed_lookups, 1);
        c.blocked_cause(&ev(OFF_DISK, -2, 0, -1));
        assert_eq!(c.missing_stacks, 1);
        assert_eq!(c.top_frames(3).as_deref(), Some("some_driver_wait"));
    }
}
