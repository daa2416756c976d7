//! A cause for each thread from what /proc shows, and the threads that wait
//! on the same futex.

use std::collections::BTreeMap;

use crate::{
    model::{
        cause::Cause,
        snapshot::{FutexGroup, RUNQUEUE_OR_RUNNING, SyscallNow, ThreadSnapshot},
    },
    sys::syscalls::cause_x86_64,
    trace::rules,
};

/// Cause from the shared rules: R → runqueue-or-running; else the kernel
/// stack (most specific), the syscall, the wchan, in that order.
pub fn guess_cause(
    state: &str,
    stack: &[String],
    syscall: Option<&SyscallNow>,
    wchan: Option<&str>,
) -> (String, String) {
    if state == "R" {
        return (RUNQUEUE_OR_RUNNING.into(), "state R".into());
    }
    if let Some(c) = rules::from_frames(stack.iter().map(String::as_str)) {
        return (c.name().into(), "kernel stack".into());
    }
    if cfg!(target_arch = "x86_64")
        && let Some(c) = syscall.and_then(|s| cause_x86_64(s.nr))
    {
        return (c.name().into(), "syscall".into());
    }
    if let Some(c) = wchan.and_then(|w| rules::from_frames([w])) {
        return (c.name().into(), "wchan".into());
    }
    (Cause::Other.name().into(), "none".into())
}

pub fn futex_groups(threads: &[ThreadSnapshot]) -> Vec<FutexGroup> {
    let mut by: BTreeMap<(u32, u64), FutexGroup> = BTreeMap::new();
    for t in threads.iter().filter(|t| t.state != "R") {
        let Some(addr) = t.syscall.as_ref().and_then(|s| s.futex_addr) else {
            continue;
        };
        let g = by.entry((t.pid, addr)).or_insert_with(|| FutexGroup {
            pid: t.pid,
            addr,
            ..Default::default()
        });
        g.tids.push(t.tid);
        g.comms.push(t.comm.clone());
        g.min_age_ns = match (g.min_age_ns, t.since_last_ran_ns) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }
    let mut v: Vec<FutexGroup> = by.into_values().collect();
    v.sort_by(|a, b| b.tids.len().cmp(&a.tids.len()).then(a.addr.cmp(&b.addr)));
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sys(nr: i64) -> SyscallNow {
        SyscallNow {
            nr,
            ..Default::default()
        }
    }

    #[test]
    fn cause_rules() {
        let frames = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(guess_cause("R", &[], None, None).0, RUNQUEUE_OR_RUNNING);
        let throttle = frames(&["__mem_cgroup_handle_over_high", "exit_to_user_mode_loop"]);
        assert_eq!(
            guess_cause("D", &throttle, Some(&sys(202)), None),
            ("memcg_high_throttle".into(), "kernel stack".into())
        );
        if cfg!(target_arch = "x86_64") {
            // No stack (not root): the syscall decides.
            assert_eq!(
                guess_cause("S", &[], Some(&sys(232)), None),
                ("epoll".into(), "syscall".into())
            );
        }
        assert_eq!(
            guess_cause("S", &[], None, Some("do_nanosleep")),
            ("sleep".into(), "wchan".into())
        );
        assert_eq!(
            guess_cause("D", &[], None, None),
            ("other".into(), "none".into())
        );
    }
}
