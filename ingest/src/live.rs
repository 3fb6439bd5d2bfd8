//! A run's live progress in the store: its phase (`queued` → `fetching` → `parsing` → `writing` →
//! `finished`), steps done of the total, and rows read so far, written by the process running it so
//! that every server (and the console) sees the run move, and announced as run events
//! ([`store::events`]).
//!
//! The run never waits for these writes: it updates a [`tokio::sync::watch`] value, and one writer
//! task per run writes the latest value at most every [`MIN_INTERVAL`] (so a run of many small steps
//! costs a few writes a second, never one per row). A failed write is logged, never the run's.

use std::sync::Arc;
use std::time::Duration;

use store::events::{self, EventKind, RunEvent};
use store::runs::{self, RunProgress, phase};
use store::{DbPool, with_conn};
use tokio::sync::{Notify, watch};

use crate::control::Progress;

/// The shortest time between two progress writes of one run.
pub const MIN_INTERVAL: Duration = Duration::from_millis(250);

/// One run's live progress: forwards steps to the caller's [`Progress`] (the CLI's bar) and keeps
/// the store's copy current.
pub(crate) struct RunTracker {
    state: watch::Sender<RunProgress>,
    inner: Arc<dyn Progress>,
    /// Wakes the writer from its wait between writes when the run ends.
    closing: Arc<Notify>,
}

impl RunTracker {
    /// Starts tracking run `run_id` (phase `queued`) and its writer task, which ends with
    /// [`RunTracker::close`].
    pub(crate) fn start(
        pool: DbPool,
        run_id: i64,
        inner: Arc<dyn Progress>,
    ) -> (RunTracker, tokio::task::JoinHandle<()>) {
        let initial = RunProgress { phase: phase::QUEUED, ..RunProgress::default() };
        let (state, receiver) = watch::channel(initial);
        let closing = Arc::new(Notify::new());
        let writer = tokio::spawn(write_progress(pool, run_id, receiver, closing.clone()));
        (RunTracker { state, inner, closing }, writer)
    }

    /// The run moved to `phase` (a no-op when it is there already).
    pub(crate) fn phase(&self, phase: &'static str) {
        self.state.send_if_modified(|p| {
            let changed = p.phase != phase;
            p.phase = phase;
            changed
        });
    }

    /// The run read `rows` more source rows.
    pub(crate) fn rows_read(&self, rows: i64) {
        if rows > 0 {
            self.state.send_modify(|p| p.rows_so_far += rows);
        }
    }

    /// Ends tracking: the writer writes what is left and ends (awaited by the caller before the run's
    /// final record is written, so no progress write comes after it).
    pub(crate) fn close(self) {
        drop(self.state);
        // A permit is kept if the writer is not waiting yet: its next wait ends at once.
        self.closing.notify_one();
    }
}

impl Progress for RunTracker {
    fn begin(&self, total: u64) {
        self.state.send_modify(|p| p.steps_total = Some(i64::try_from(total).unwrap_or(i64::MAX)));
        self.inner.begin(total);
    }

    fn step(&self, message: &str) {
        self.state.send_modify(|p| p.steps_done += 1);
        self.inner.step(message);
    }
}

/// Writes the run's latest progress whenever it changes, at most every [`MIN_INTERVAL`], until the
/// tracker closes; then writes the last value if it was not written yet.
async fn write_progress(pool: DbPool, run_id: i64, mut receiver: watch::Receiver<RunProgress>, closing: Arc<Notify>) {
    let mut written = None;
    // The first value (queued) is written at once: the run shows up as queued before any work.
    receiver.mark_changed();
    while receiver.changed().await.is_ok() {
        let progress = receiver.borrow_and_update().clone();
        write_once(&pool, run_id, &progress).await;
        written = Some(progress);
        if receiver.has_changed().is_err() {
            // The run ended: what is left is written below, without waiting.
            break;
        }
        tokio::select! {
            () = tokio::time::sleep(MIN_INTERVAL) => {}
            () = closing.notified() => {}
        }
    }
    let last = receiver.borrow().clone();
    if written.as_ref() != Some(&last) {
        write_once(&pool, run_id, &last).await;
    }
}

async fn write_once(pool: &DbPool, run_id: i64, progress: &RunProgress) {
    let progress = progress.clone();
    let event = RunEvent { run_id, kind: EventKind::Progress, lsn: None };
    let written = with_conn(pool, move |c| {
        runs::record_progress(c, run_id, &progress)?;
        events::notify(c, event)
    })
    .await;
    match written {
        Ok(()) => pool.publish_event(event),
        Err(e) => tracing::warn!(run_id, error = %e, "could not record the run's progress; the run goes on"),
    }
}
