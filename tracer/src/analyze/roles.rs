//! Thread roles from the thread name (comm, cut to 15 bytes by the kernel).
//!
//! tokio names its threads `tokio-runtime-worker` (comm `tokio-runtime-w`)
//! before 1.54 and `tokio-rt-worker` from 1.54 on. Blocking-pool threads
//! carry the same default name, so they count as workers too: comm cannot
//! tell them apart. A thread named like its process is in a class of its own:
//! in programs that never name threads (the zeam field report) that is the
//! main thread and every thread it spawned, including the one inside
//! `block_on` that drives the swarm event loop.

pub use crate::model::role::Role;

/// Default tokio worker names, as comm shows them.
pub const TOKIO_WORKER_COMMS: [&str; 3] =
    ["tokio-runtime-w", "tokio-rt-worker", "tokio-runtime-worker"];

/// Whether `comm` is a runtime worker: a default tokio name or a match of
/// the user's regex.
pub fn is_worker(comm: &str, custom: Option<&regex::Regex>) -> bool {
    TOKIO_WORKER_COMMS.contains(&comm) || custom.is_some_and(|re| re.is_match(comm))
}

/// Role from the thread's comm alone: worker or named. Use
/// [`role_in_process`] when the process's comm is known, to find the
/// same-name-as-process class.
pub fn role_of(comm: &str, custom: Option<&regex::Regex>) -> Role {
    if is_worker(comm, custom) {
        Role::TokioWorker
    } else {
        Role::Named
    }
}

/// Role of a thread whose process (thread-group leader) has comm
/// `process_comm`. A worker name wins over "same name as process", so a
/// program named `tokio-rt-worker` still gets its workers right.
pub fn role_in_process(comm: &str, process_comm: &str, custom: Option<&regex::Regex>) -> Role {
    match role_of(comm, custom) {
        Role::Named if comm == process_comm => Role::SameNameAsProcess,
        r => r,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_tokio_names_old_and_new() {
        assert_eq!(role_of("tokio-runtime-w", None), Role::TokioWorker);
        assert_eq!(role_of("tokio-rt-worker", None), Role::TokioWorker);
        assert_eq!(role_of("tokio-runtime", None), Role::Named);
        assert_eq!(role_of("zeam-gossip-dec", None), Role::Named);
    }

    #[test]
    fn custom_regex() {
        let re = regex::Regex::new("^zeam-rt-").unwrap();
        assert_eq!(role_of("zeam-rt-3", Some(&re)), Role::TokioWorker);
        assert_eq!(role_of("zeam-rpc-dispat", Some(&re)), Role::Named);
        // The defaults still count with a custom regex.
        assert_eq!(role_of("tokio-rt-worker", Some(&re)), Role::TokioWorker);
    }

    #[test]
    fn same_name_as_process() {
        assert_eq!(
            role_in_process("zeam", "zeam", None),
            Role::SameNameAsProcess
        );
        assert_eq!(
            role_in_process("zeam-gossip-dec", "zeam", None),
            Role::Named
        );
        assert_eq!(
            role_in_process("tokio-rt-worker", "tokio-rt-worker", None),
            Role::TokioWorker
        );
        assert_eq!(
            Role::SameNameAsProcess.description(),
            "same name as process (may drive block_on)"
        );
    }
}
