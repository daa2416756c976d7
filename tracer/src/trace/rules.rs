//! The pure rules that name a cause from kernel stack frame names.
//! (The syscall rule is the table in `sys::syscalls`.)

use crate::model::cause::Cause;

/// Frame-name rules, most specific first: a throttle or reclaim anywhere in
/// the stack explains the wait better than the fault or syscall around it.
/// Names are matched as substrings so `.isra.0`/`.constprop.0` suffixes and
/// renames like 6.1's `mem_cgroup_handle_over_high` vs 6.18's
/// `__mem_cgroup_handle_over_high` both match.
const FRAME_RULES: &[(&str, Cause)] = &[
    ("mem_cgroup_handle_over_high", Cause::MemcgHighThrottle),
    ("try_to_free_mem_cgroup_pages", Cause::MemcgReclaim),
    ("reclaim_high", Cause::MemcgReclaim),
    ("mem_cgroup_out_of_memory", Cause::MemcgReclaim),
    ("try_to_free_pages", Cause::DirectReclaim),
    ("__alloc_pages_direct_reclaim", Cause::DirectReclaim),
    ("shrink_node", Cause::DirectReclaim),
    ("reclaim_throttle", Cause::DirectReclaim),
    ("__alloc_pages_direct_compact", Cause::Compaction),
    ("try_to_compact_pages", Cause::Compaction),
    ("compact_zone", Cause::Compaction),
    ("balance_dirty_pages", Cause::WritebackThrottle),
    ("do_swap_page", Cause::PageFaultIo),
    ("swap_read_folio", Cause::PageFaultIo),
    ("swap_readpage", Cause::PageFaultIo),
    ("filemap_fault", Cause::PageFaultIo),
    ("handle_mm_fault", Cause::PageFaultIo),
    ("exc_page_fault", Cause::PageFaultIo),
    ("futex_wait", Cause::Futex),
    ("futex_q_lock", Cause::Futex),
    ("ep_poll", Cause::Epoll),
    ("do_epoll_wait", Cause::Epoll),
    ("do_sys_poll", Cause::Epoll),
    ("do_select", Cause::Epoll),
    ("hrtimer_nanosleep", Cause::Sleep),
    ("do_nanosleep", Cause::Sleep),
    ("io_schedule", Cause::Io),
    ("folio_wait_bit", Cause::Io),
    ("folio_wait_writeback", Cause::Io),
    ("wait_on_page_bit", Cause::Io),
    ("submit_bio_wait", Cause::Io),
    ("blk_mq_get_tag", Cause::Io),
    ("jbd2_", Cause::Io),
    ("ext4_", Cause::Io),
    ("xfs_", Cause::Io),
    ("btrfs_", Cause::Io),
    ("nfs_", Cause::Io),
    ("unix_stream_read", Cause::Io),
    ("tcp_recvmsg", Cause::Io),
    ("pipe_read", Cause::Io),
    ("pipe_write", Cause::Io),
];

/// Cause of a blocked interval from its kernel stack frame names (any
/// order). `None` when no rule matches.
pub fn from_frames<'a>(frames: impl IntoIterator<Item = &'a str>) -> Option<Cause> {
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
        assert_eq!(from_frames(stack), Some(Cause::MemcgHighThrottle));
        let old = [
            "schedule_timeout",
            "mem_cgroup_handle_over_high",
            "exit_to_user_mode_prepare",
        ];
        assert_eq!(from_frames(old), Some(Cause::MemcgHighThrottle));
    }

    #[test]
    fn reclaim_beats_fault_and_fault_beats_io_wait() {
        let reclaim = [
            "io_schedule",
            "shrink_folio_list",
            "try_to_free_mem_cgroup_pages",
            "handle_mm_fault",
        ];
        assert_eq!(from_frames(reclaim), Some(Cause::MemcgReclaim));
        let refault = [
            "io_schedule",
            "folio_wait_bit_common",
            "filemap_fault.isra.0",
            "__do_fault",
            "handle_mm_fault",
        ];
        assert_eq!(from_frames(refault), Some(Cause::PageFaultIo));
        let read = [
            "io_schedule",
            "folio_wait_bit_common",
            "filemap_read",
            "vfs_read",
        ];
        assert_eq!(from_frames(read), Some(Cause::Io));
    }

    #[test]
    fn idle_waits() {
        assert_eq!(
            from_frames(["schedule", "futex_wait_queue", "futex_wait"]),
            Some(Cause::Futex)
        );
        assert_eq!(
            from_frames(["schedule_hrtimeout_range", "ep_poll", "do_epoll_wait"]),
            Some(Cause::Epoll)
        );
        assert_eq!(from_frames(["schedule", "unknown_fn"]), None);
    }
}
