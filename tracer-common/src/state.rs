//! Task state at switch-out, decoded from the raw `prev_state` that the
//! `sched_switch` BTF tracepoint passes (`task->__state`). These bit values
//! have been stable since long before 6.1 (include/linux/sched.h).

pub const TASK_RUNNING: u32 = 0x0;
pub const TASK_INTERRUPTIBLE: u32 = 0x1;
pub const TASK_UNINTERRUPTIBLE: u32 = 0x2;
/// The final switch-out of an exiting task (`do_task_dead`).
pub const TASK_DEAD: u32 = 0x80;
pub const TASK_NOLOAD: u32 = 0x400;
pub const TASK_RTLOCK_WAIT: u32 = 0x1000;

/// Runnable: preempted, yielded, or woken before it got to sleep.
pub const OFF_RUNNING: u32 = 0;
/// Interruptible sleep (S).
pub const OFF_SLEEPING: u32 = 1;
/// Uninterruptible sleep (D), killable included.
pub const OFF_DISK: u32 = 2;
/// Stopped, traced, parked, dead, or a state this build does not know.
pub const OFF_OTHER: u32 = 3;
pub const OFF_STATE_COUNT: usize = 4;

pub const OFF_STATE_NAMES: [&str; OFF_STATE_COUNT] = ["running", "sleeping", "disk", "other"];

/// Decode the switch-out state. `preempt` is the tracepoint's own flag: a
/// preempted task may still carry a sleep state it had not acted on yet.
#[inline(always)]
pub const fn decode_off_state(preempt: bool, raw: u32) -> u32 {
    if preempt || raw == TASK_RUNNING {
        OFF_RUNNING
    } else if raw & TASK_UNINTERRUPTIBLE != 0 && raw & TASK_NOLOAD == 0 {
        OFF_DISK
    } else if raw & (TASK_INTERRUPTIBLE | TASK_UNINTERRUPTIBLE | TASK_RTLOCK_WAIT) != 0 {
        OFF_SLEEPING
    } else {
        OFF_OTHER
    }
}

/// One-letter code as in `/proc/<pid>/stat`.
pub const fn off_state_letter(state: u32) -> char {
    match state {
        OFF_RUNNING => 'R',
        OFF_SLEEPING => 'S',
        OFF_DISK => 'D',
        _ => '?',
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preemption_wins_over_pending_sleep() {
        assert_eq!(decode_off_state(true, TASK_INTERRUPTIBLE), OFF_RUNNING);
        assert_eq!(decode_off_state(false, TASK_RUNNING), OFF_RUNNING);
    }

    #[test]
    fn sleeps_and_disk() {
        assert_eq!(decode_off_state(false, TASK_INTERRUPTIBLE), OFF_SLEEPING);
        assert_eq!(decode_off_state(false, TASK_UNINTERRUPTIBLE), OFF_DISK);
        // TASK_KILLABLE = WAKEKILL | UNINTERRUPTIBLE: still D.
        assert_eq!(
            decode_off_state(false, 0x100 | TASK_UNINTERRUPTIBLE),
            OFF_DISK
        );
        // TASK_IDLE = UNINTERRUPTIBLE | NOLOAD: an idle wait, not a blocked one.
        assert_eq!(
            decode_off_state(false, TASK_UNINTERRUPTIBLE | TASK_NOLOAD),
            OFF_SLEEPING
        );
        // TASK_FREEZABLE sleep still counts as a sleep.
        assert_eq!(
            decode_off_state(false, 0x2000 | TASK_INTERRUPTIBLE),
            OFF_SLEEPING
        );
    }

    #[test]
    fn stopped_parked_dead_are_other() {
        assert_eq!(decode_off_state(false, 0x4), OFF_OTHER);
        assert_eq!(decode_off_state(false, 0x40), OFF_OTHER);
        assert_eq!(decode_off_state(false, 0x80), OFF_OTHER);
    }
}
