//! Every off-CPU interval of every traced thread, in order, within a fixed
//! budget: what runtime blackouts, the evidence windows and timeline traces
//! are built from. Kept in memory only (not in the JSON): a busy thread makes
//! hundreds of thousands a minute.

use std::collections::BTreeMap;

use super::cause::Cause;

/// One off-CPU interval: blocked for `cause` from `start_ns`, then runnable
/// (waiting for a CPU) for the last `runq_ns` of it, until `end_ns`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OffSpan {
    pub start_ns: u64,
    pub end_ns: u64,
    pub runq_ns: u64,
    pub cause: Cause,
    /// Uninterruptible (D) at switch-out: never an idle wait, whatever the cause.
    pub disk: bool,
}

impl OffSpan {
    /// An interval in whole milliseconds, for tests of what reads the log.
    #[cfg(test)]
    pub fn ms(start: u64, end: u64, runq: u64, cause: Cause, disk: bool) -> Self {
        const MS: u64 = 1_000_000;
        Self {
            start_ns: start * MS,
            end_ns: end * MS,
            runq_ns: runq * MS,
            cause,
            disk,
        }
    }

    /// Where the blocked part ends and the run-queue wait begins.
    pub fn wake_ns(&self) -> u64 {
        self.end_ns - self.runq_ns.min(self.end_ns - self.start_ns)
    }

    /// The blocked part waited for work (an idle park), not on the system.
    pub fn blocked_is_idle(&self) -> bool {
        !self.disk && self.cause.is_idle()
    }
}

/// One thread's intervals and the stretch of time it existed in the trace.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ThreadSpans {
    /// When the thread was first seen (the trace start for threads that
    /// existed before it).
    pub first_ns: u64,
    /// When it exited, or the end of the trace.
    pub last_ns: u64,
    pub off: Chunked<OffSpan>,
}

/// Elements per chunk of a `Chunked` list (64 KiB of `OffSpan`s).
const CHUNK: usize = 2048;

/// A list that grows by whole chunks once past the first: a busy thread's
/// intervals cost their own size, not up to twice it as a doubling `Vec`
/// leaves, and growing never copies what is already there (two copies
/// alive at once made `record`'s peak memory).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chunked<T> {
    chunks: Vec<Vec<T>>,
    len: usize,
}

impl<T> Default for Chunked<T> {
    fn default() -> Self {
        Self {
            chunks: Vec::new(),
            len: 0,
        }
    }
}

impl<T> Chunked<T> {
    pub fn push(&mut self, value: T) {
        match self.chunks.last_mut() {
            Some(last) if last.len() < CHUNK => last.push(value),
            // The first chunk grows as a `Vec` does (most threads have few
            // intervals); later ones are allocated whole.
            Some(_) => {
                let mut chunk = Vec::with_capacity(CHUNK);
                chunk.push(value);
                self.chunks.push(chunk);
            }
            None => self.chunks.push(vec![value]),
        }
        self.len += 1;
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &T> + Clone {
        self.chunks.iter().flatten()
    }

    pub fn iter_mut(&mut self) -> impl DoubleEndedIterator<Item = &mut T> {
        self.chunks.iter_mut().flatten()
    }
}

impl<T> FromIterator<T> for Chunked<T> {
    fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> Self {
        let mut out = Self::default();
        for v in iter {
            out.push(v);
        }
        out
    }
}

impl<T> From<Vec<T>> for Chunked<T> {
    fn from(v: Vec<T>) -> Self {
        v.into_iter().collect()
    }
}

impl<'a, T> IntoIterator for &'a Chunked<T> {
    type Item = &'a T;
    type IntoIter = std::iter::Flatten<std::slice::Iter<'a, Vec<T>>>;

    fn into_iter(self) -> Self::IntoIter {
        self.chunks.iter().flatten()
    }
}

/// The log, bounded by `budget` intervals in all; past it intervals are
/// counted, not kept, and `complete_until_ns` says how far it is whole.
#[derive(Clone, Debug, Default)]
pub struct SpanLog {
    pub threads: BTreeMap<u32, ThreadSpans>,
    pub budget: usize,
    pub kept: usize,
    pub dropped: u64,
    /// Start of the first interval that did not fit, if any did not.
    pub complete_until_ns: Option<u64>,
}

impl SpanLog {
    pub fn new(budget: usize) -> Self {
        Self {
            budget,
            ..Self::default()
        }
    }

    /// Note that `tid` exists from `at_ns` on (first sight).
    pub fn seen(&mut self, tid: u32, at_ns: u64) {
        let t = self.threads.entry(tid).or_insert_with(|| ThreadSpans {
            first_ns: at_ns,
            last_ns: at_ns,
            off: Chunked::default(),
        });
        t.first_ns = t.first_ns.min(at_ns);
        t.last_ns = t.last_ns.max(at_ns);
    }

    /// Append one interval of `tid`; false when the budget is spent.
    pub fn push(&mut self, tid: u32, span: OffSpan) -> bool {
        self.seen(tid, span.start_ns);
        self.ended(tid, span.end_ns);
        if self.kept >= self.budget {
            self.dropped += 1;
            self.complete_until_ns = Some(
                self.complete_until_ns
                    .map_or(span.start_ns, |t| t.min(span.start_ns)),
            );
            return false;
        }
        if let Some(t) = self.threads.get_mut(&tid) {
            t.off.push(span);
        }
        self.kept += 1;
        true
    }

    /// The thread exited (or the trace ended) at `at_ns`.
    pub fn ended(&mut self, tid: u32, at_ns: u64) {
        if let Some(t) = self.threads.get_mut(&tid) {
            t.last_ns = t.last_ns.max(at_ns);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_keeps_order_and_allocates_whole_chunks_past_the_first() {
        let n = CHUNK * 2 + 5;
        let list: Chunked<usize> = (0..n).collect();
        assert_eq!(list.len(), n);
        assert!(list.iter().copied().eq(0..n));
        assert_eq!(list.chunks.len(), 3);
        assert!(list.chunks.iter().all(|c| c.capacity() == CHUNK));
        assert_eq!(list.iter().next_back(), Some(&(n - 1)));
    }

    fn span(start: u64, end: u64, runq: u64, cause: Cause) -> OffSpan {
        OffSpan {
            start_ns: start,
            end_ns: end,
            runq_ns: runq,
            cause,
            disk: false,
        }
    }

    #[test]
    fn budget_counts_what_it_drops() {
        let mut log = SpanLog::new(2);
        assert!(log.push(1, span(10, 20, 0, Cause::Futex)));
        assert!(log.push(2, span(15, 30, 5, Cause::Io)));
        assert!(!log.push(1, span(40, 50, 0, Cause::Futex)));
        assert_eq!(
            (log.kept, log.dropped, log.complete_until_ns),
            (2, 1, Some(40))
        );
        assert_eq!(
            log.threads[&1].last_ns, 50,
            "a dropped interval still marks presence"
        );
        assert_eq!(span(10, 20, 4, Cause::Io).wake_ns(), 16);
        assert_eq!(
            span(10, 20, 40, Cause::Io).wake_ns(),
            10,
            "run-queue wait clipped to the interval"
        );
    }
}
