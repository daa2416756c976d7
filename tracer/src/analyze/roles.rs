//! Thread roles from the thread name (comm, cut to 15 bytes by the kernel).
//!
//! tokio names its threads `tokio-runtime-worker` (comm `tokio-runtime-w`)
//! before 1.54 and `tokio-rt-worker` from 1.54 on. Blocking-pool threads
//! carry the same default name, so they count as workers too: comm cannot
//! tell them apart. A thread named like its process is in a class of its own:
//! in programs that never name threads (the zeam field report) that is the
//! main thread and every thread it spawned, including the one inside
//! `block_on` that drives the swarm event loop.

use std::collections::{BTreeSet, HashMap};

pub use crate::model::role::Role;
use crate::model::{ThreadReport, cause::Cause, judgement::RuntimeSet, role::RoleSource};

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

/// Roles for every thread of a finished recording, and the runtime set the
/// verdict judges. Names first (tokio's defaults, `--threads`, the process's
/// own name); then behaviour tells the blocking pool apart from the workers:
/// tokio gives both the same name, but idle pool threads all park on the
/// pool's one condvar, while a worker parks on its own futex or polls the
/// I/O driver (epoll). Only when some tokio-named threads of a process act
/// like workers are the others called the pool: if all act alike (workers
/// blocked on one lock look the same) nothing is taken out.
pub fn assign(
    threads: &mut [ThreadReport],
    process_comm: impl Fn(u32) -> Option<String>,
    pattern: Option<&regex::Regex>,
) -> RuntimeSet {
    let mut comms: HashMap<u32, String> = threads
        .iter()
        .filter(|t| t.tid == t.tgid)
        .map(|t| (t.tgid, t.comm.clone()))
        .collect();
    for t in threads.iter() {
        if !comms.contains_key(&t.tgid)
            && let Some(c) = process_comm(t.tgid)
        {
            comms.insert(t.tgid, c);
        }
    }
    for t in threads.iter_mut() {
        let own = comms.get(&t.tgid).map(String::as_str).unwrap_or_default();
        (t.role, t.role_source) = by_name(&t.comm, own, pattern);
    }
    let pool = blocking_pool(threads);
    for t in threads.iter_mut().filter(|t| pool.contains(&t.tid)) {
        t.role = Role::BlockingPool;
        t.role_source = RoleSource::SharedCondvarBehaviour;
    }
    let count = |r: Role| threads.iter().filter(|t| t.role == r).count();
    let mut set = RuntimeSet {
        workers: count(Role::TokioWorker),
        block_on_candidates: count(Role::SameNameAsProcess),
        blocking_pool: count(Role::BlockingPool),
        pattern: pattern.map(|re| re.as_str().to_string()),
        pattern_matched_nothing: pattern
            .is_some_and(|re| !threads.iter().any(|t| re.is_match(&t.comm))),
        names_seen: Vec::new(),
    };
    if set.count() == 0 || set.pattern_matched_nothing {
        let names: BTreeSet<&str> = threads.iter().map(|t| t.comm.as_str()).collect();
        set.names_seen = names
            .into_iter()
            .take(MAX_NAMES)
            .map(str::to_string)
            .collect();
    }
    set
}

/// Distinct thread names listed when no runtime thread is found.
const MAX_NAMES: usize = 20;

fn by_name(comm: &str, process_comm: &str, pattern: Option<&regex::Regex>) -> (Role, RoleSource) {
    if TOKIO_WORKER_COMMS.contains(&comm) {
        (Role::TokioWorker, RoleSource::DefaultTokioName)
    } else if pattern.is_some_and(|re| re.is_match(comm)) {
        (Role::TokioWorker, RoleSource::ThreadsPattern)
    } else if comm == process_comm {
        (Role::SameNameAsProcess, RoleSource::ProcessName)
    } else {
        (Role::Named, RoleSource::OtherName)
    }
}

/// Share of a thread's futex waiting that must be on the shared address.
pub const POOL_FUTEX_SHARE: f64 = 0.9;

/// tids of default-named tokio threads that behave like idle blocking-pool
/// threads, in processes where other tokio threads behave like workers.
fn blocking_pool(threads: &[ThreadReport]) -> BTreeSet<u32> {
    let tokio: Vec<&ThreadReport> = threads
        .iter()
        .filter(|t| t.role_source == RoleSource::DefaultTokioName)
        .collect();
    // (tgid, futex address) → how many tokio threads waited there.
    let mut sharing: HashMap<(u32, u64), usize> = HashMap::new();
    for t in &tokio {
        for w in &t.futex_waits {
            *sharing.entry((t.tgid, w.addr)).or_default() += 1;
        }
    }
    let pool_like = |t: &ThreadReport| {
        let total: u64 = t.futex_waits.iter().map(|w| w.ns).sum();
        let shared: u64 = t
            .futex_waits
            .iter()
            .filter(|w| sharing.get(&(t.tgid, w.addr)).copied().unwrap_or(0) >= 2)
            .map(|w| w.ns)
            .sum();
        let epoll = t.causes.get(Cause::Epoll.name()).copied().unwrap_or(0);
        total > 0 && epoll == 0 && shared as f64 >= POOL_FUTEX_SHARE * total as f64
    };
    let mut out = BTreeSet::new();
    let tgids: BTreeSet<u32> = tokio.iter().map(|t| t.tgid).collect();
    for tgid in tgids {
        let (pool, workers): (Vec<&&ThreadReport>, Vec<&&ThreadReport>) = tokio
            .iter()
            .filter(|t| t.tgid == tgid)
            .partition(|t| pool_like(t));
        if !workers.is_empty() {
            out.extend(pool.iter().map(|t| t.tid));
        }
    }
    out
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

    fn thread(tid: u32, comm: &str, futex: &[(u64, u64)], epoll: u64) -> ThreadReport {
        let mut t = ThreadReport {
            tid,
            tgid: 100,
            comm: comm.into(),
            futex_waits: futex
                .iter()
                .map(|&(addr, ns)| crate::model::FutexWait { addr, ns })
                .collect(),
            ..Default::default()
        };
        if epoll > 0 {
            t.causes.insert("epoll".into(), epoll);
        }
        t
    }

    #[test]
    fn idle_blocking_pool_is_told_apart_from_workers() {
        let mut ts = vec![
            thread(100, "lab", &[(0x10, 5)], 0),
            thread(101, "tokio-rt-worker", &[(0xa1, 900)], 100),
            thread(102, "tokio-rt-worker", &[(0xa2, 900)], 0),
            thread(103, "tokio-rt-worker", &[(0xc0, 1000)], 0),
            thread(104, "tokio-rt-worker", &[(0xc0, 1000)], 0),
            thread(105, "tokio-rt-worker", &[(0xc0, 990), (0xd0, 10)], 0),
        ];
        let set = assign(&mut ts, |_| None, None);
        assert_eq!(
            (set.workers, set.block_on_candidates, set.blocking_pool),
            (2, 1, 3)
        );
        assert_eq!(ts[3].role, Role::BlockingPool);
        assert_eq!(ts[3].role_source, RoleSource::SharedCondvarBehaviour);
        assert_eq!(ts[1].role_source, RoleSource::DefaultTokioName);
        assert_eq!(ts[0].role, Role::SameNameAsProcess);
    }

    #[test]
    fn workers_blocked_on_one_lock_stay_workers() {
        let mut ts = vec![
            thread(101, "tokio-rt-worker", &[(0xbeef, 1000)], 0),
            thread(102, "tokio-rt-worker", &[(0xbeef, 1000)], 0),
        ];
        let set = assign(&mut ts, |_| Some("lab".into()), None);
        assert_eq!((set.workers, set.blocking_pool), (2, 0));
    }

    #[test]
    fn a_pattern_names_workers_and_an_empty_match_is_said() {
        let re = regex::Regex::new("^zeam-rt").unwrap();
        let mut ts = vec![
            thread(100, "zeam", &[], 0),
            thread(101, "zeam-rt-1", &[], 0),
        ];
        let set = assign(&mut ts, |_| None, Some(&re));
        assert_eq!(
            (ts[1].role, ts[1].role_source),
            (Role::TokioWorker, RoleSource::ThreadsPattern)
        );
        assert!(!set.pattern_matched_nothing);
        let re = regex::Regex::new("^nope").unwrap();
        let set = assign(&mut ts, |_| None, Some(&re));
        assert!(set.pattern_matched_nothing);
        assert_eq!(set.names_seen, vec!["zeam", "zeam-rt-1"]);
    }

    #[test]
    fn no_runtime_thread_lists_the_names() {
        let mut ts = vec![
            thread(100, "java", &[], 0),
            thread(101, "GC Thread#0", &[], 0),
        ];
        let set = assign(&mut ts, |_| None, None);
        assert_eq!(set.count(), 1, "the main thread is named like its process");
        let mut ts = vec![thread(101, "GC Thread#0", &[], 0)];
        let set = assign(&mut ts, |_| Some("java".into()), None);
        assert_eq!(
            (set.count(), set.names_seen.clone()),
            (0, vec!["GC Thread#0".to_string()])
        );
    }
}
