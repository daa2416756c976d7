//! The x86_64 syscalls a blocked thread is likely to be in: one table for
//! the names the snapshot shows and the causes the classifier gives.

use crate::model::cause::Cause;

/// (number, name, cause of an interruptible sleep in it). A `None` cause:
/// the syscall does not tell (the stack, if any, decides).
pub const X86_64: &[(i64, &str, Option<Cause>)] = &[
    (0, "read", Some(Cause::Io)),
    (1, "write", Some(Cause::Io)),
    (3, "close", None),
    (7, "poll", Some(Cause::Epoll)),
    (9, "mmap", None),
    (11, "munmap", None),
    (17, "pread64", Some(Cause::Io)),
    (18, "pwrite64", Some(Cause::Io)),
    (19, "readv", Some(Cause::Io)),
    (20, "writev", Some(Cause::Io)),
    (23, "select", Some(Cause::Epoll)),
    (24, "sched_yield", None),
    (34, "pause", Some(Cause::Sleep)),
    (35, "nanosleep", Some(Cause::Sleep)),
    (42, "connect", Some(Cause::Io)),
    (43, "accept", Some(Cause::Io)),
    (44, "sendto", Some(Cause::Io)),
    (45, "recvfrom", Some(Cause::Io)),
    (46, "sendmsg", Some(Cause::Io)),
    (47, "recvmsg", Some(Cause::Io)),
    (61, "wait4", None),
    (72, "fcntl", None),
    (74, "fsync", Some(Cause::Io)),
    (75, "fdatasync", Some(Cause::Io)),
    (128, "rt_sigtimedwait", Some(Cause::Sleep)),
    (130, "rt_sigsuspend", Some(Cause::Sleep)),
    (202, "futex", Some(Cause::Futex)),
    (208, "io_getevents", Some(Cause::Io)),
    (230, "clock_nanosleep", Some(Cause::Sleep)),
    (232, "epoll_wait", Some(Cause::Epoll)),
    (247, "waitid", None),
    (257, "openat", Some(Cause::Io)),
    (270, "pselect6", Some(Cause::Epoll)),
    (271, "ppoll", Some(Cause::Epoll)),
    (277, "sync_file_range", Some(Cause::Io)),
    (281, "epoll_pwait", Some(Cause::Epoll)),
    (285, "fallocate", Some(Cause::Io)),
    (288, "accept4", Some(Cause::Io)),
    (295, "preadv", Some(Cause::Io)),
    (296, "pwritev", Some(Cause::Io)),
    (299, "recvmmsg", Some(Cause::Io)),
    (307, "sendmmsg", Some(Cause::Io)),
    (327, "preadv2", Some(Cause::Io)),
    (328, "pwritev2", Some(Cause::Io)),
    (426, "io_uring_enter", Some(Cause::Io)),
    (441, "epoll_pwait2", Some(Cause::Epoll)),
    (449, "futex_waitv", Some(Cause::Futex)),
];

/// The futex(2) syscall number on x86_64.
pub const FUTEX: i64 = 202;

fn entry(nr: i64) -> Option<&'static (i64, &'static str, Option<Cause>)> {
    X86_64.iter().find(|e| e.0 == nr)
}

/// Name of an x86_64 syscall in the table; -1 is "not in a syscall".
pub fn name_x86_64(nr: i64) -> Option<&'static str> {
    if nr == -1 {
        return Some("none (not in a syscall)");
    }
    entry(nr).map(|e| e.1)
}

/// Cause of an interruptible sleep from the x86_64 syscall it was made in.
pub fn cause_x86_64(nr: i64) -> Option<Cause> {
    entry(nr).and_then(|e| e.2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syscalls() {
        assert_eq!(cause_x86_64(202), Some(Cause::Futex));
        assert_eq!(cause_x86_64(232), Some(Cause::Epoll));
        assert_eq!(cause_x86_64(230), Some(Cause::Sleep));
        assert_eq!(cause_x86_64(0), Some(Cause::Io));
        assert_eq!(cause_x86_64(-1), None);
        assert_eq!(cause_x86_64(3), None);
        assert_eq!(name_x86_64(FUTEX), Some("futex"));
        assert_eq!(name_x86_64(-1), Some("none (not in a syscall)"));
        assert_eq!(name_x86_64(100_000), None);
    }

    #[test]
    fn numbers_are_unique() {
        let mut nrs: Vec<i64> = X86_64.iter().map(|e| e.0).collect();
        nrs.sort_unstable();
        nrs.dedup();
        assert_eq!(nrs.len(), X86_64.len());
    }
}
