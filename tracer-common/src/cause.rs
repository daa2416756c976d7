//! Cause codes for off-CPU time, and the pure rules that map what the probes
//! saw (syscall number at switch-out, kernel stack frame names) to a cause.

pub const RUNQUEUE: u32 = 0;
pub const MEMCG_HIGH_THROTTLE: u32 = 1;
pub const MEMCG_RECLAIM: u32 = 2;
pub const DIRECT_RECLAIM: u32 = 3;
pub const COMPACTION: u32 = 4;
pub const PAGE_FAULT_IO: u32 = 5;
pub const WRITEBACK_THROTTLE: u32 = 6;
pub const IO: u32 = 7;
pub const FUTEX: u32 = 8;
pub const EPOLL: u32 = 9;
pub const SLEEP: u32 = 10;
pub const OTHER: u32 = 11;
pub const COUNT: usize = 12;

pub const NAMES: [&str; COUNT] = [
    "runqueue",
    "memcg_high_throttle",
    "memcg_reclaim",
    "direct_reclaim",
    "compaction",
    "page_fault_io",
    "writeback_throttle",
    "io",
    "futex",
    "epoll",
    "sleep",
    "other",
];

pub const DESCRIPTIONS: [&str; COUNT] = [
    "runnable, waiting for a CPU (preempted, or woken and not yet run)",
    "memory.high penalty sleep (mem_cgroup_handle_over_high)",
    "reclaim charged to the cgroup (mm_vmscan_memcg_reclaim_*, try_to_free_mem_cgroup_pages)",
    "global direct reclaim (mm_vmscan_direct_reclaim_*, try_to_free_pages)",
    "direct compaction during allocation",
    "waiting for a page during a fault (refault, swap-in, file read)",
    "dirty-page throttling (balance_dirty_pages)",
    "other block, file or network I/O wait",
    "futex wait: a lock, a condvar, or an idle-parked worker",
    "epoll/poll/select wait: an idle reactor",
    "timed sleep (nanosleep, clock_nanosleep, pause)",
    "anything else (see the top kernel frames in the report)",
];

/// Memory causes: the ones hypothesis 1 (memory starvation) is about.
pub const fn is_memory(cause: u32) -> bool {
    matches!(
        cause,
        MEMCG_HIGH_THROTTLE | MEMCG_RECLAIM | DIRECT_RECLAIM | COMPACTION | PAGE_FAULT_IO
    )
}

/// Idle causes: waiting for work rather than being kept from it.
pub const fn is_idle(cause: u32) -> bool {
    matches!(cause, FUTEX | EPOLL | SLEEP)
}

pub fn name(cause: u32) -> &'static str {
    NAMES.get(cause as usize).copied().unwrap_or("unknown")
}

pub fn from_name(name: &str) -> Option<u32> {
    NAMES.iter().position(|n| *n == name).map(|i| i as u32)
}

/// Cause of an interruptible sleep from the x86_64 syscall it was made in.
/// `None` when the syscall does not tell (the stack, if any, decides).
pub const fn from_syscall_x86_64(nr: i32) -> Option<u32> {
    match nr {
        // futex, futex_waitv
        202 | 449 => Some(FUTEX),
        // epoll_wait, epoll_pwait, epoll_pwait2, poll, select, pselect6, ppoll
        232 | 281 | 441 | 7 | 23 | 270 | 271 => Some(EPOLL),
        // nanosleep, clock_nanosleep, pause, rt_sigsuspend, rt_sigtimedwait
        35 | 230 | 34 | 130 | 128 => Some(SLEEP),
        // read, write, pread64, pwrite64, readv, writev, connect, accept,
        // sendto, recvfrom, sendmsg, recvmsg, fsync, fdatasync, io_getevents,
        // openat, sync_file_range, fallocate, accept4, preadv, pwritev,
        // recvmmsg, sendmmsg, preadv2, pwritev2, io_uring_enter
        0 | 1 | 17 | 18 | 19 | 20 | 42 | 43 | 44 | 45 | 46 | 47 | 74 | 75 | 208 | 257 | 277
        | 285 | 288 | 295 | 296 | 299 | 307 | 327 | 328 | 426 => Some(IO),
        _ => None,
    }
}

/// Frame-name rules, most specific first: a throttle or reclaim anywhere in
/// the stack explains the wait better than the fault or syscall around it.
/// Names are matched as substrings so `.isra.0`/`.constprop.0` suffixes and
/// renames like 6.1's `mem_cgroup_handle_over_high` vs 6.18's
/// `__mem_cgroup_handle_over_high` both match.
const FRAME_RULES: &[(&str, u32)] = &[
    ("mem_cgroup_handle_over_high", MEMCG_HIGH_THROTTLE),
    ("try_to_free_mem_cgroup_pages", MEMCG_RECLAIM),
    ("reclaim_high", MEMCG_RECLAIM),
    ("mem_cgroup_out_of_memory", MEMCG_RECLAIM),
    ("try_to_free_pages", DIRECT_RECLAIM),
    ("__alloc_pages_direct_reclaim", DIRECT_RECLAIM),
    ("shrink_node", DIRECT_RECLAIM),
    ("reclaim_throttle", DIRECT_RECLAIM),
    ("__alloc_pages_direct_compact", COMPACTION),
    ("try_to_compact_pages", COMPACTION),
    ("compact_zone", COMPACTION),
    ("balance_dirty_pages", WRITEBACK_THROTTLE),
    ("do_swap_page", PAGE_FAULT_IO),
    ("swap_read_folio", PAGE_FAULT_IO),
    ("swap_readpage", PAGE_FAULT_IO),
    ("filemap_fault", PAGE_FAULT_IO),
    ("handle_mm_fault", PAGE_FAULT_IO),
    ("exc_page_fault", PAGE_FAULT_IO),
    ("futex_wait", FUTEX),
    ("futex_q_lock", FUTEX),
    ("ep_poll", EPOLL),
    ("do_epoll_wait", EPOLL),
    ("do_sys_poll", EPOLL),
    ("do_select", EPOLL),
    ("hrtimer_nanosleep", SLEEP),
    ("do_nanosleep", SLEEP),
    ("io_schedule", IO),
    ("folio_wait_bit", IO),
    ("folio_wait_writeback", IO),
    ("wait_on_page_bit", IO),
    ("submit_bio_wait", IO),
    ("blk_mq_get_tag", IO),
    ("jbd2_", IO),
    ("ext4_", IO),
    ("xfs_", IO),
    ("btrfs_", IO),
    ("nfs_", IO),
    ("unix_stream_read", IO),
    ("tcp_recvmsg", IO),
    ("pipe_read", IO),
    ("pipe_write", IO),
];

/// Cause of a blocked interval from its kernel stack frame names (any
/// order). `None` when no rule matches.
pub fn from_frames<'a>(frames: impl IntoIterator<Item = &'a str>) -> Option<u32> {
    let mut best: Option<usize> = None;
    for frame in frames {
        if let Some(rank) = FRAME_RULES.iter().position(|(pat, _)| frame.contains(pat)) {
            best = Some(best.map_or(rank, |b| b.min(rank)));
        }
    }
    best.map(|rank| FRAME_RULES[rank].1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_round_trip() {
        for (code, name) in NAMES.iter().enumerate() {
            assert_eq!(from_name(name), Some(code as u32));
        }
        assert_eq!(DESCRIPTIONS.len(), NAMES.len());
    }

    #[test]
    fn throttle_beats_the_fault_it_interrupts() {
        let stack = [
            "__schedule",
            "schedule",
            "schedule_timeout",
            "__mem_cgroup_handle_over_high",
            "try_charge_memcg",
            "handle_mm_fault",
            "exc_page_fault",
        ];
        assert_eq!(from_frames(stack), Some(MEMCG_HIGH_THROTTLE));
        let old = [
            "schedule_timeout",
            "mem_cgroup_handle_over_high",
            "exit_to_user_mode_prepare",
        ];
        assert_eq!(from_frames(old), Some(MEMCG_HIGH_THROTTLE));
    }

    #[test]
    fn reclaim_beats_fault_and_fault_beats_io_wait() {
        let reclaim = [
            "io_schedule",
            "shrink_folio_list",
            "try_to_free_mem_cgroup_pages",
            "handle_mm_fault",
        ];
        assert_eq!(from_frames(reclaim), Some(MEMCG_RECLAIM));
        let refault = [
            "io_schedule",
            "folio_wait_bit_common",
            "filemap_fault.isra.0",
            "__do_fault",
            "handle_mm_fault",
        ];
        assert_eq!(from_frames(refault), Some(PAGE_FAULT_IO));
        let read = [
            "io_schedule",
            "folio_wait_bit_common",
            "filemap_read",
            "vfs_read",
        ];
        assert_eq!(from_frames(read), Some(IO));
    }

    #[test]
    fn idle_waits() {
        assert_eq!(
            from_frames(["schedule", "futex_wait_queue", "futex_wait"]),
            Some(FUTEX)
        );
        assert_eq!(
            from_frames(["schedule_hrtimeout_range", "ep_poll", "do_epoll_wait"]),
            Some(EPOLL)
        );
        assert_eq!(from_frames(["schedule", "unknown_fn"]), None);
    }

    #[test]
    fn syscalls() {
        assert_eq!(from_syscall_x86_64(202), Some(FUTEX));
        assert_eq!(from_syscall_x86_64(232), Some(EPOLL));
        assert_eq!(from_syscall_x86_64(230), Some(SLEEP));
        assert_eq!(from_syscall_x86_64(0), Some(IO));
        assert_eq!(from_syscall_x86_64(-1), None);
        assert!(is_memory(PAGE_FAULT_IO) && !is_memory(FUTEX));
        assert!(is_idle(EPOLL) && !is_idle(RUNQUEUE));
    }
}
