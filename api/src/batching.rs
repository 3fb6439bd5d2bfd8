//! When a loader sends its batch: once the request's resolvers can go no further without it.
//!
//! async-graphql resolves a request's fields in one task: the fields of a level, and the items of a
//! list, are futures polled together. A resolver that needs a linked row asks its loader for a key
//! and waits; the loader must send the keys of the whole level in one statement, so it must wait
//! until every resolver of the level has asked. A timer (async-graphql's default) guesses at that
//! moment and costs its length at every level; counting yields guesses too, and guesses wrong when
//! the machine is busy. Here the request's execution is polled through [`Tracked`], which knows the
//! moment exactly: its last poll returned pending, nothing has woken it since, no statement of the
//! request's snapshot is in flight and no loader's batch is out. Then nothing but a loader's
//! dispatch can move the request on, so every loader with keys sends them.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll, Wake, Waker};

use futures_util::task::AtomicWaker;
use tokio::sync::Notify;

thread_local! {
    /// The resolvers being polled on this thread now: loaders asked for a key during that poll
    /// belong to their request.
    static POLLING: RefCell<Option<Arc<Resolvers>>> = const { RefCell::new(None) };
}

/// One request's resolver tree, as its loaders see it.
pub(crate) struct Resolvers {
    /// Twice the number of wake-ups so far, plus one while the tree waits: its last poll returned
    /// pending and nothing woke it since (a wake-up adds two and clears the low bit, so a poll that
    /// saw a wake-up cannot mark the tree waiting).
    state: AtomicU64,
    /// Loader batches sent and not yet answered.
    batches: AtomicUsize,
    /// The request is done or dropped: no batch is needed any more.
    ended: AtomicBool,
    /// Told whenever the tree starts waiting, a batch is answered or the request ends.
    changed: Notify,
    /// The waker of whoever polls the tree.
    outer: AtomicWaker,
}

const WAITING: u64 = 1;

impl Resolvers {
    /// The resolvers polled on this thread now, if any (none for a subscription's stream).
    pub(crate) fn polling() -> Option<Arc<Resolvers>> {
        POLLING.with(|polling| polling.borrow().clone())
    }

    /// Whether only loaders' batches can move the request on now, given whether the request's
    /// snapshot has no statement in flight.
    fn only_loaders_can_go_on(&self, statements_quiet: &impl Fn() -> bool) -> bool {
        self.state.load(Ordering::SeqCst) & WAITING == WAITING
            && self.batches.load(Ordering::SeqCst) == 0
            && statements_quiet()
    }

    /// Waits until only loaders' batches can move the request on (`statements_quiet`: the request's
    /// snapshot has no statement in flight, `ReadSnapshot::is_quiet`). False: the request ended first.
    pub(crate) async fn until_only_loaders_can_go_on(&self, statements_quiet: impl Fn() -> bool) -> bool {
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if self.ended.load(Ordering::SeqCst) {
                return false;
            }
            if self.only_loaders_can_go_on(&statements_quiet) {
                return true;
            }
            changed.await;
        }
    }

    /// Counts a batch as out until the guard drops, after its answers reached the resolvers.
    pub(crate) fn batch_out(self: &Arc<Self>) -> BatchOut {
        self.batches.fetch_add(1, Ordering::SeqCst);
        BatchOut(self.clone())
    }

    fn end(&self) {
        self.ended.store(true, Ordering::SeqCst);
        self.changed.notify_waiters();
    }
}

impl Wake for Resolvers {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let _ = self.state.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |s| Some((s + 2) & !WAITING));
        self.outer.wake();
    }
}

/// A loader's batch, out until dropped.
pub(crate) struct BatchOut(Arc<Resolvers>);

impl Drop for BatchOut {
    fn drop(&mut self) {
        if self.0.batches.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.changed.notify_waiters();
        }
    }
}

/// A request's execution, polled so that its loaders know when its resolvers wait.
pub(crate) struct Tracked<F> {
    inner: Pin<Box<F>>,
    resolvers: Arc<Resolvers>,
    waker: Waker,
}

impl<F: Future> Tracked<F> {
    pub(crate) fn new(inner: F) -> Tracked<F> {
        let resolvers = Arc::new(Resolvers {
            state: AtomicU64::new(0),
            batches: AtomicUsize::new(0),
            ended: AtomicBool::new(false),
            changed: Notify::new(),
            outer: AtomicWaker::new(),
        });
        Tracked { inner: Box::pin(inner), waker: Waker::from(resolvers.clone()), resolvers }
    }
}

/// Puts the polled resolvers back as they were when the poll ends, even by a panic.
struct Restore(Option<Arc<Resolvers>>);

impl Drop for Restore {
    fn drop(&mut self) {
        let previous = self.0.take();
        POLLING.with(|polling| *polling.borrow_mut() = previous);
    }
}

impl<F: Future> Future for Tracked<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.get_mut();
        this.resolvers.outer.register(cx.waker());
        let before = this.resolvers.state.fetch_and(!WAITING, Ordering::SeqCst) & !WAITING;
        let polled = {
            let _restore = Restore(POLLING.with(|polling| polling.replace(Some(this.resolvers.clone()))));
            this.inner.as_mut().poll(&mut Context::from_waker(&this.waker))
        };
        match polled {
            Poll::Pending => {
                let marked =
                    this.resolvers.state.compare_exchange(before, before | WAITING, Ordering::SeqCst, Ordering::SeqCst);
                if marked.is_ok() {
                    this.resolvers.changed.notify_waiters();
                }
                Poll::Pending
            }
            Poll::Ready(output) => {
                this.resolvers.end();
                Poll::Ready(output)
            }
        }
    }
}

impl<F> Drop for Tracked<F> {
    fn drop(&mut self) {
        self.resolvers.end();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};

    use tokio::sync::oneshot;
    use tokio::task::JoinHandle;

    use super::{Resolvers, Tracked};

    /// A stand-in for a request: asks its "loader" (records the resolvers polling it), then waits for
    /// the answer.
    async fn request(asked: Arc<Mutex<Option<Arc<Resolvers>>>>, answer: oneshot::Receiver<u32>) -> u32 {
        *asked.lock().expect("lock") = Resolvers::polling();
        answer.await.unwrap_or(0)
    }

    /// Starts a tracked request that has asked its loader for a key and waits: its task, the resolvers
    /// its loader saw, and the sender of its answer.
    async fn waiting_request() -> (JoinHandle<u32>, Arc<Resolvers>, oneshot::Sender<u32>) {
        let asked = Arc::new(Mutex::new(None));
        let (send, answer) = oneshot::channel();
        let tracked = tokio::spawn(Tracked::new(request(asked.clone(), answer)));
        tokio::task::yield_now().await;
        let resolvers = asked.lock().expect("lock").clone().expect("the loader saw its request's resolvers");
        (tracked, resolvers, send)
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_batch_goes_once_the_tree_waits_and_statements_are_quiet() {
        let (tracked, resolvers, send) = waiting_request().await;
        assert!(Resolvers::polling().is_none(), "outside the request's poll, no resolvers are current");

        // The tree waits, but a statement is still in flight: no batch yet.
        let statement_done = Arc::new(AtomicBool::new(false));
        let done = statement_done.clone();
        let dispatch = tokio::spawn({
            let resolvers = resolvers.clone();
            async move { resolvers.until_only_loaders_can_go_on(move || done.load(Ordering::SeqCst)).await }
        });
        for _ in 0..5 {
            tokio::task::yield_now().await;
        }
        assert!(!dispatch.is_finished(), "sent while a statement was in flight");

        // A batch out holds the others back too, until it is answered.
        let out = resolvers.batch_out();
        statement_done.store(true, Ordering::SeqCst);
        // (A statement's answer would wake the tree, which tells the waiters once it waits again.)
        resolvers.changed.notify_waiters();
        for _ in 0..5 {
            tokio::task::yield_now().await;
        }
        assert!(!dispatch.is_finished(), "sent while another batch was out");
        drop(out);
        assert!(dispatch.await.expect("dispatch task"), "the batch was not sent");

        let _ = send.send(7);
        assert_eq!(tracked.await.expect("request task"), 7);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_dropped_request_lets_its_waiting_batches_go_without_sending() {
        let (tracked, resolvers, _send) = waiting_request().await;
        let dispatch = tokio::spawn(async move { resolvers.until_only_loaders_can_go_on(|| false).await });
        tokio::task::yield_now().await;
        tracked.abort();
        assert!(!dispatch.await.expect("dispatch task"), "a batch went for a request that is gone");
    }
}
