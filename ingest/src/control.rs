//! How a running ingest is steered from outside: asked to stop (cancel, shutdown, lost lease) and
//! observed (progress).

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, OnceLock};

/// Why a run was asked to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// An operator cancelled it (`cancelIngest`): it ends `cancelled`.
    Cancelled,
    /// The process is shutting down and the grace period is over: it ends `interrupted`.
    Shutdown,
    /// Its lease expired and another process took over: it ends `interrupted`.
    LostLease,
}

/// A run's stop flag, shared by the run and whoever may stop it. Checked between steps and just
/// before every commit, so a stop always rolls back the transaction in progress; a fetch in flight
/// is abandoned at once ([`RunControl::stopped`]).
#[derive(Debug, Clone, Default)]
pub struct RunControl(Arc<(AtomicU8, tokio::sync::Notify, OnceLock<LeaseRef>)>);

/// The lease a run holds: checked inside its write transactions just before they commit.
#[derive(Debug, Clone)]
pub(crate) struct LeaseRef {
    pub(crate) source: String,
    pub(crate) holder: String,
    pub(crate) run_id: i64,
}

impl RunControl {
    /// Records the lease the run holds (once, when it starts).
    pub(crate) fn set_lease(&self, lease: LeaseRef) {
        let _ = self.0.2.set(lease);
    }

    pub(crate) fn lease(&self) -> Option<&LeaseRef> {
        self.0.2.get()
    }

    pub fn stop(&self, reason: StopReason) {
        let code = match reason {
            StopReason::Cancelled => 1,
            StopReason::Shutdown => 2,
            StopReason::LostLease => 3,
        };
        // The first reason wins.
        let _ = self.0.0.compare_exchange(0, code, Ordering::SeqCst, Ordering::SeqCst);
        self.0.1.notify_waiters();
    }

    /// Completes once the run has been asked to stop.
    pub async fn stopped(&self) {
        loop {
            let notified = self.0.1.notified();
            if self.stop_reason().is_some() {
                return;
            }
            notified.await;
        }
    }

    pub fn stop_reason(&self) -> Option<StopReason> {
        match self.0.0.load(Ordering::SeqCst) {
            1 => Some(StopReason::Cancelled),
            2 => Some(StopReason::Shutdown),
            3 => Some(StopReason::LostLease),
            _ => None,
        }
    }
}

/// Receives a run's progress: the CLI draws a bar from it, a server logs nothing.
pub trait Progress: Send + Sync {
    /// The run has `total` steps (fetches and writes).
    fn begin(&self, _total: u64) {}
    /// One step is done.
    fn step(&self, _message: &str) {}
}

/// Progress nobody watches.
pub struct Silent;

impl Progress for Silent {}
