//! The live event hub of one server process: turns run events (store/src/events.rs) into
//! `ingestRunUpdated` and `dataChanged` events for the subscriptions of this process.
//!
//! Where the run events come from:
//! - runs of this process: the pool's in-process channel, on both stores;
//! - on PostgreSQL, runs of every process (other replicas, the CLI): `LISTEN` on a connection of its
//!   own (tokio-postgres; diesel has no LISTEN), reconnecting with a backoff when it drops;
//! - on SQLite, runs of other processes (the CLI): the runs table, polled every [`POLL_EVERY`] while
//!   someone subscribes (and on PostgreSQL while the listener is down), for runs whose progress was
//!   written since the last poll.
//!
//! Each event only names a run: the hub re-reads the run and passes it on when it differs from what it
//! passed on last (the same run event often arrives twice: in process and by NOTIFY, or by a poll).
//! When a run has ended, its final state goes out first, then one `dataChanged` per country whose
//! data it changed (rows inserted or updated, committed, not dry), once.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use store::events::{CHANNEL, RunEvent};
use store::models::IngestRun;
use store::runs::{self, RunChange, phase};
use store::{Backend, DbPool, with_read_conn};
use tokio::sync::{broadcast, mpsc};

/// How often the runs table is polled where no notification channel reaches (SQLite, or PostgreSQL
/// while the listener is reconnecting).
pub const POLL_EVERY: Duration = Duration::from_millis(500);
/// How many events a slow subscriber may fall behind before it misses some.
const BUFFER: usize = 1024;
/// How many ended runs the hub remembers having announced (so that a late duplicate event of one is
/// not announced again).
const REMEMBERED_ENDS: usize = 4096;

/// What subscribers hear.
#[derive(Debug, Clone)]
pub enum LiveEvent {
    /// A run's state, phase or progress changed, or it ended.
    Run(Arc<IngestRun>),
    /// A run that ended committed changes to one country's data.
    Data(Arc<DataChangeEvent>),
}

/// One country's committed changes, with the run that made them.
#[derive(Debug)]
pub struct DataChangeEvent {
    pub change: RunChange,
    pub run: IngestRun,
}

/// The hub: cheap to clone; its tasks run as long as the tokio runtime that started them.
#[derive(Clone)]
pub struct LiveHub {
    sender: broadcast::Sender<LiveEvent>,
}

impl LiveHub {
    /// Starts the hub's tasks over `pool` (inside a tokio runtime).
    pub fn start(pool: DbPool) -> LiveHub {
        let (sender, _) = broadcast::channel(BUFFER);
        let (events, received) = mpsc::channel(BUFFER);
        let listening = Arc::new(AtomicBool::new(false));
        tokio::spawn(forward_in_process(pool.subscribe_events(), events.clone()));
        if pool.backend() == Backend::Postgres {
            tokio::spawn(listen(pool.clone(), events.clone(), listening.clone()));
        }
        tokio::spawn(Processor::new(pool, sender.clone(), listening).run(received));
        LiveHub { sender }
    }

    /// Events from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<LiveEvent> {
        self.sender.subscribe()
    }
}

/// Passes this process's run events to the processor.
async fn forward_in_process(mut from: broadcast::Receiver<RunEvent>, to: mpsc::Sender<RunEvent>) {
    loop {
        match from.recv().await {
            Ok(event) => {
                if to.send(event).await.is_err() {
                    return;
                }
            }
            // Missed events are caught up by the next event of the same run (or the poll).
            Err(broadcast::error::RecvError::Lagged(_)) => {}
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}

/// PostgreSQL: `LISTEN`s on [`CHANNEL`] and passes the notifications on; reconnects after a failure
/// (waiting 1 s, doubling to 30 s). `listening` says whether the channel is up. A commit LSN an
/// event carries goes to the pool at once (reads on replicas wait for it), subscribers or not.
async fn listen(pool: DbPool, to: mpsc::Sender<RunEvent>, listening: Arc<AtomicBool>) {
    use futures_util::StreamExt;
    let url = pool.url().to_string();
    let mut wait = Duration::from_secs(1);
    loop {
        match tokio_postgres::connect(&url, tokio_postgres::NoTls).await {
            Ok((client, mut connection)) => {
                let (notes, mut received) = mpsc::unbounded_channel();
                let driver = tokio::spawn(async move {
                    let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
                    while let Some(message) = messages.next().await {
                        match message {
                            Ok(tokio_postgres::AsyncMessage::Notification(n)) => {
                                let _ = notes.send(n.payload().to_string());
                            }
                            Ok(_) => {}
                            Err(e) => {
                                tracing::warn!(error = %e, "the run event listener lost its connection");
                                return;
                            }
                        }
                    }
                });
                match client.batch_execute(&format!("LISTEN {CHANNEL}")).await {
                    Ok(()) => {
                        tracing::info!("listening for run events of every process (PostgreSQL NOTIFY)");
                        listening.store(true, Ordering::SeqCst);
                        wait = Duration::from_secs(1);
                        while let Some(payload) = received.recv().await {
                            let Some(event) = RunEvent::parse(&payload) else { continue };
                            if let Some(lsn) = event.lsn {
                                pool.heard_commit(lsn);
                            }
                            if to.send(event).await.is_err() {
                                return;
                            }
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "LISTEN failed"),
                }
                listening.store(false, Ordering::SeqCst);
                drop(client);
                driver.abort();
            }
            Err(e) => tracing::warn!(error = %e, "the run event listener cannot connect; polling meanwhile"),
        }
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(Duration::from_secs(30));
    }
}

/// The comparable part of a run: what subscribers see change.
type Seen = (String, String, i64, Option<i64>, i64, i64, i64, i64, i64, i64, Option<String>);

fn seen(run: &IngestRun) -> Seen {
    (
        run.status.clone(),
        run.phase.clone(),
        run.steps_done,
        run.steps_total,
        run.rows_so_far,
        run.fetched,
        run.inserted,
        run.updated,
        run.unchanged,
        run.rejected,
        run.error.clone(),
    )
}

/// Re-reads the runs events name and announces what changed.
struct Processor {
    pool: DbPool,
    sender: broadcast::Sender<LiveEvent>,
    listening: Arc<AtomicBool>,
    /// What was last announced of each running run.
    last: HashMap<i64, Seen>,
    /// Runs whose end was announced, oldest first.
    ended: VecDeque<i64>,
    ended_set: HashSet<i64>,
    /// Where the next poll starts (progress written at or after it).
    polled_to: Option<chrono::NaiveDateTime>,
}

impl Processor {
    fn new(pool: DbPool, sender: broadcast::Sender<LiveEvent>, listening: Arc<AtomicBool>) -> Self {
        Processor {
            pool,
            sender,
            listening,
            last: HashMap::new(),
            ended: VecDeque::new(),
            ended_set: HashSet::new(),
            polled_to: None,
        }
    }

    async fn run(mut self, mut received: mpsc::Receiver<RunEvent>) {
        let mut poll = tokio::time::interval(POLL_EVERY);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                event = received.recv() => match event {
                    Some(event) => self.on_event(event).await,
                    None => return,
                },
                _ = poll.tick() => self.poll().await,
            }
        }
    }

    async fn on_event(&mut self, event: RunEvent) {
        if self.sender.receiver_count() == 0 || self.ended_set.contains(&event.run_id) {
            return;
        }
        let run_id = event.run_id;
        match with_read_conn(&self.pool, move |c| runs::find_run(c, run_id)).await {
            Ok(run) => self.announce(run).await,
            Err(e) => {
                tracing::debug!(run_id, kind = ?event.kind, error = %e, "could not read a run for its event");
            }
        }
    }

    /// Reads the runs that moved since the last poll, when no notification channel reaches here.
    async fn poll(&mut self) {
        let polling = self.pool.backend() == Backend::Sqlite || !self.listening.load(Ordering::SeqCst);
        if !polling || self.sender.receiver_count() == 0 {
            self.polled_to = None;
            return;
        }
        let now = store::now_utc();
        // The first poll after a quiet time starts now: subscribers hear of what moves from now on.
        let since = self.polled_to.unwrap_or(now) - chrono::Duration::seconds(1);
        match with_read_conn(&self.pool, move |c| runs::runs_progressed_since(c, since)).await {
            Ok(runs) => {
                self.polled_to = Some(now);
                for run in runs {
                    if !self.ended_set.contains(&run.id) {
                        self.announce(run).await;
                    }
                }
            }
            Err(e) => tracing::debug!(error = %e, "could not poll the runs table"),
        }
    }

    /// Announces `run` if it differs from what was announced of it; when it has ended, also its data
    /// changes, once.
    async fn announce(&mut self, run: IngestRun) {
        let now = seen(&run);
        if self.last.get(&run.id) == Some(&now) {
            return;
        }
        let ended = run.status != runs::status::RUNNING;
        if !ended {
            self.last.insert(run.id, now);
            let _ = self.sender.send(LiveEvent::Run(Arc::new(run)));
            return;
        }
        // Ended: the final state, then the data changes.
        self.last.remove(&run.id);
        self.remember_end(run.id);
        let run_id = run.id;
        let changes = if run.phase == phase::FINISHED && !run.dry_run {
            with_read_conn(&self.pool, move |c| runs::changes_of_run(c, run_id)).await.unwrap_or_else(|e| {
                tracing::warn!(run_id, error = %e, "could not read the run's changes; no dataChanged for it");
                Vec::new()
            })
        } else {
            Vec::new()
        };
        let _ = self.sender.send(LiveEvent::Run(Arc::new(run.clone())));
        for change in changes.into_iter().filter(|c| c.inserted + c.updated > 0) {
            let _ = self.sender.send(LiveEvent::Data(Arc::new(DataChangeEvent { change, run: run.clone() })));
        }
    }

    fn remember_end(&mut self, run_id: i64) {
        if self.ended_set.insert(run_id) {
            self.ended.push_back(run_id);
        }
        while self.ended.len() > REMEMBERED_ENDS {
            if let Some(old) = self.ended.pop_front() {
                self.ended_set.remove(&old);
            }
        }
    }
}

impl std::fmt::Debug for LiveHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveHub").field("subscribers", &self.sender.receiver_count()).finish()
    }
}
