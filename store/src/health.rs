//! Whether the store answers: what the pool learns from connecting and from reads that got no
//! answer. While it is down, requests fail at once as unavailable (instead of each waiting out the
//! pool's timeout) and waiters for a connection are woken to fail too; the cause is logged when the
//! store goes down, when the cause changes, at most once a minute while it stays down (with how many
//! failures were not logged), and when it answers again: one line each, never one per attempt.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::StoreError;

/// How often an unchanged failure is logged again while the store stays down.
const LOG_EVERY: Duration = Duration::from_secs(60);

#[derive(Debug, Default)]
pub(crate) struct Health {
    down: AtomicBool,
    state: Mutex<State>,
    changed: tokio::sync::Notify,
}

#[derive(Debug, Default)]
struct State {
    failure: Option<Failure>,
}

#[derive(Debug)]
struct Failure {
    since: Instant,
    last: Instant,
    cause: String,
    logged_at: Instant,
    not_logged: u64,
}

impl Health {
    /// A connection attempt or a read failed because of the store (not the query).
    pub(crate) fn record_failure(&self, cause: &str) {
        let now = Instant::now();
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        match &mut state.failure {
            None => {
                tracing::warn!(cause, "the data store is unreachable");
                state.failure =
                    Some(Failure { since: now, last: now, cause: cause.to_string(), logged_at: now, not_logged: 0 });
            }
            Some(failure) => {
                failure.last = now;
                if failure.cause != cause || now.duration_since(failure.logged_at) >= LOG_EVERY {
                    tracing::warn!(
                        cause,
                        down_seconds = now.duration_since(failure.since).as_secs(),
                        failures_not_logged = failure.not_logged,
                        "the data store is still unreachable"
                    );
                    failure.cause = cause.to_string();
                    failure.logged_at = now;
                    failure.not_logged = 0;
                } else {
                    failure.not_logged += 1;
                }
            }
        }
        drop(state);
        self.down.store(true, Ordering::SeqCst);
        self.changed.notify_waiters();
    }

    /// The store answered: forget an earlier failure.
    pub(crate) fn record_success(&self) {
        if !self.down.load(Ordering::SeqCst) {
            return;
        }
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(failure) = state.failure.take() {
            tracing::info!(down_seconds = failure.since.elapsed().as_secs(), "the data store answers again");
        }
        self.down.store(false, Ordering::SeqCst);
    }

    /// The cause, when the store failed within the last `window` and has not answered since.
    pub(crate) fn failing(&self, window: Duration) -> Option<String> {
        if !self.down.load(Ordering::SeqCst) {
            return None;
        }
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.failure.as_ref().filter(|f| f.last.elapsed() < window).map(|f| f.cause.clone())
    }

    /// A read got no answer within `bound`: the store counts as down, and this is the error to give.
    pub(crate) fn unanswered(&self, bound: Duration) -> StoreError {
        let cause = format!("the database did not answer within {} s", bound.as_secs());
        self.record_failure(&cause);
        StoreError::Unavailable(cause)
    }

    /// Completes at the next recorded failure: for waiters that should give up then. Create it
    /// before checking [`Health::failing`], so that a failure in between is not missed.
    pub(crate) fn next_failure(&self) -> tokio::sync::futures::Notified<'_> {
        self.changed.notified()
    }
}
