//! Per-request read snapshots: every statement of one request reads the same committed state.
//!
//! A GraphQL request or an export reads through several statements (one per loader batch, one per
//! page). On separate pooled connections, an ingest committing between two of them would show a
//! response mixing rows from before and after the run. A [`ReadSnapshot`] instead pins one pooled
//! connection with an open read-only transaction (`REPEATABLE READ, READ ONLY` on PostgreSQL, a
//! deferred transaction on SQLite, where WAL gives each reader a snapshot) and runs every statement
//! of the request on it, one at a time.
//!
//! The connection is checked out lazily, on the first statement, after a permit of the
//! [`SnapshotGate`]: requests beyond the permits wait asynchronously (queue) instead of tying up
//! blocking threads in the pool's checkout, whose timeout would fail them, and the connections
//! left over stay free for ingest runs and health checks. The transaction always ends before the
//! connection goes back to the pool: explicitly with [`ReadSnapshot::finish`], or, when the request
//! is dropped (timeout, client gone), when the last handle goes. With read replicas configured, the
//! snapshot opens where their router says (store/src/replicas.rs).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::{Mutex, OwnedSemaphorePermit, Semaphore};

use crate::connection::Pooled;
use crate::{AnyConnection, DbPool, StoreError};

/// Hands out read snapshots over a pool, at most `permits` of them holding a connection at once.
#[derive(Clone)]
pub struct SnapshotGate {
    pool: DbPool,
    permits: Arc<Semaphore>,
}

impl SnapshotGate {
    /// A gate letting `permits` (at least one) snapshots hold a connection of `pool` at a time.
    pub fn new(pool: DbPool, permits: usize) -> SnapshotGate {
        SnapshotGate { pool, permits: Arc::new(Semaphore::new(permits.max(1))) }
    }

    /// A snapshot that opens on its first statement and pins one connection until it ends.
    pub fn begin(&self) -> ReadSnapshot {
        ReadSnapshot {
            inner: Arc::new(Inner {
                pool: self.pool.clone(),
                permits: self.permits.clone(),
                pinned: AtomicBool::new(true),
                state: Arc::new(Mutex::new(State::Idle)),
                opened_on: std::sync::OnceLock::new(),
                statements: AtomicUsize::new(0),
            }),
        }
    }

    /// The pool behind the gate.
    pub fn pool(&self) -> &DbPool {
        &self.pool
    }
}

/// One request's view of the store; cheap to clone, all clones share the one connection.
#[derive(Clone)]
pub struct ReadSnapshot {
    inner: Arc<Inner>,
}

struct Inner {
    pool: DbPool,
    permits: Arc<Semaphore>,
    /// False: each statement on a connection of its own, outside any transaction (for mutations).
    pinned: AtomicBool,
    state: Arc<Mutex<State>>,
    /// The pool the snapshot opened on (a read replica's or the primary's), whose health its reads tell.
    opened_on: std::sync::OnceLock<crate::DbPool>,
    /// Statements asked for and not yet answered to whoever asked (queued, running, or done on their
    /// blocking thread with the answer not yet handed back): zero means nobody waits on this snapshot.
    statements: AtomicUsize,
}

/// Counts one statement in [`Inner::statements`] until the `run` that asked for it returns or is dropped.
struct Asked<'a>(&'a AtomicUsize);

impl<'a> Asked<'a> {
    fn new(statements: &'a AtomicUsize) -> Asked<'a> {
        statements.fetch_add(1, Ordering::SeqCst);
        Asked(statements)
    }
}

impl Drop for Asked<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Inner {
    /// The pool whose health this snapshot's reads tell.
    fn health_pool(&self) -> &DbPool {
        self.opened_on.get().unwrap_or(&self.pool)
    }
}

enum State {
    /// Nothing read yet: no connection held.
    Idle,
    /// The transaction is open on the held connection.
    Open(Box<Held>),
    /// Finished: no more statements.
    Closed,
}

/// A connection inside its read transaction, and the gate permit it was taken under.
struct Held {
    conn: Option<Pooled>,
    permit: Option<OwnedSemaphorePermit>,
}

impl Held {
    /// Ends the transaction and returns the connection to the pool (blocking: a round trip).
    fn release(&mut self) {
        if let Some(mut conn) = self.conn.take() {
            use diesel::Connection;
            use diesel::connection::TransactionManager;
            // A failed rollback leaves diesel's transaction state broken: the pool then discards the
            // connection rather than reuse it with a transaction open.
            if let Err(e) = <AnyConnection as Connection>::TransactionManager::rollback_transaction(&mut *conn) {
                tracing::warn!(error = %e, "ending a read snapshot failed; the connection is discarded");
            }
            drop(conn);
        }
        self.permit.take();
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        if self.conn.is_none() {
            return;
        }
        let mut rest = Held { conn: self.conn.take(), permit: self.permit.take() };
        // Dropped on an async thread (a cancelled request): end the transaction on a blocking one.
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => {
                handle.spawn_blocking(move || rest.release());
            }
            Err(_) => rest.release(),
        }
    }
}

/// Opens the read-only transaction on a fresh connection; on PostgreSQL each of its statements may
/// run for at most `statement_timeout` (then the server cancels it: the question was too expensive).
///
/// PostgreSQL also plans the reads' prepared statements once per connection (`plan_cache_mode =
/// force_generic_plan`, PostgreSQL 12 or later). They are the loaders' lookups by key arrays
/// (`= ANY($1)`), whose best plan does not depend on the keys; with the default, the server planned
/// them again on every execution, because a plan for an array of unknown length looks dearer than
/// one for the few keys at hand. That planning was about a fifth of the server's time on the bench's
/// Q1 (docs/benchmarks.md). Keyset pages are not prepared statements and are still planned for
/// their values.
fn begin_read(conn: &mut AnyConnection, statement_timeout: Duration) -> Result<(), StoreError> {
    use diesel::connection::AnsiTransactionManager;
    match conn {
        AnyConnection::Postgresql(c) => {
            // One round trip: the statements go as one simple-protocol message.
            let begin = format!(
                "BEGIN TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY; SET LOCAL statement_timeout = {}; \
                 SET LOCAL plan_cache_mode = force_generic_plan",
                statement_timeout.as_millis().max(1)
            );
            AnsiTransactionManager::begin_transaction_sql(c, &begin)?;
        }
        // Deferred: the snapshot is taken at the first read and kept until the end (WAL mode).
        AnyConnection::Sqlite(c) => AnsiTransactionManager::begin_transaction_sql(c, "BEGIN DEFERRED")?,
    }
    Ok(())
}

/// A permit of the gate, given up (unavailable) as soon as the store is known to be down, or when
/// none frees up within `bound` (the store holds every permitted connection without answering).
async fn permit(
    pool: &DbPool,
    permits: &Arc<Semaphore>,
    bound: Option<Duration>,
) -> Result<OwnedSemaphorePermit, StoreError> {
    let window = pool.settings().pool_wait;
    let wait = async {
        loop {
            let failure = pool.health().next_failure();
            if let Some(cause) = pool.health().failing(window) {
                return Err(StoreError::Unavailable(cause));
            }
            tokio::select! {
                permit = permits.clone().acquire_owned() => return permit.map_err(closed),
                () = failure => {}
            }
        }
    };
    match bound {
        None => wait.await,
        Some(bound) => tokio::time::timeout(bound, wait).await.unwrap_or_else(|_| {
            Err(StoreError::Unavailable(format!("no connection to the database freed up within {} s", bound.as_secs())))
        }),
    }
}

impl ReadSnapshot {
    /// From now on, each statement runs on a connection of its own outside any transaction: for
    /// mutations, which must see (and not hold back) the writes they cause. Only before the first read.
    pub fn unpin(&self) {
        self.inner.pinned.store(false, Ordering::SeqCst);
    }

    /// Runs one unit of read work in the snapshot, on tokio's blocking threads. Statements of one
    /// snapshot run one after the other.
    pub async fn run<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut AnyConnection) -> Result<T, StoreError> + Send + 'static,
    {
        let inner = &self.inner;
        let _asked = Asked::new(&inner.statements);
        let bound = inner.pool.read_bound();
        // Another statement of this request holds the connection; should it never get an answer, this
        // one gives up after the same bound.
        let lock = inner.state.clone().lock_owned();
        let mut state = match bound {
            None => lock.await,
            Some(bound) => tokio::time::timeout(bound, lock).await.map_err(|_| {
                StoreError::Unavailable(format!("the database did not answer within {} s", bound.as_secs()))
            })?,
        };
        if !inner.pinned.load(Ordering::SeqCst) && matches!(*state, State::Idle) {
            drop(state);
            let _permit = permit(&inner.pool, &inner.permits, bound).await?;
            return crate::with_read_conn(&inner.pool, work).await;
        }
        let permit = match *state {
            State::Idle => Some(permit(&inner.pool, &inner.permits, bound).await?),
            State::Open(_) => None,
            State::Closed => return Err(StoreError::Invalid("the request's read snapshot has ended".into())),
        };
        let replicas = inner.pool.replicas().cloned();
        let route = match (&permit, &replicas) {
            (Some(_), Some(replicas)) => replicas.route().await,
            _ => None,
        };
        let pool = inner.pool.clone();
        let opened_on = self.inner.clone();
        let statement_timeout = pool.settings().read_timeout;
        let read = tokio::task::spawn_blocking(move || {
            if let Some(permit) = permit {
                let begin = |conn: &mut AnyConnection| begin_read(conn, statement_timeout);
                let conn = match &replicas {
                    Some(replicas) => {
                        let (conn, on) = replicas.open(&pool, route, begin)?;
                        let _ = opened_on.opened_on.set(on);
                        conn
                    }
                    None => pool.checkout_opening(begin, DbPool::checkout)?,
                };
                *state = State::Open(Box::new(Held { conn: Some(conn), permit: Some(permit) }));
            }
            match &mut *state {
                State::Open(held) => match held.conn.as_mut() {
                    Some(conn) => work(conn),
                    None => Err(StoreError::Invalid("the request's read snapshot has no connection".into())),
                },
                _ => Err(StoreError::Invalid("the request's read snapshot has no connection".into())),
            }
        });
        let result = match bound {
            None => read.await?,
            // The blocking thread stays with the unanswered statement; the request stops waiting for it.
            Some(bound) => match tokio::time::timeout(bound, read).await {
                Ok(joined) => joined?,
                Err(_) => return Err(inner.health_pool().health().unanswered(bound)),
            },
        };
        if result.is_ok() {
            inner.health_pool().health().record_success();
        }
        result
    }

    /// What this snapshot sees, as PostgreSQL names it (`pg_current_snapshot()`: the oldest running
    /// transaction, the next transaction id and those in progress). Two snapshots with the same
    /// identity see exactly the same committed transactions, so an answer read in one is the answer
    /// of the other: the key of the answer cache (api/src/answer_cache.rs). `None` when the snapshot
    /// never opened, is not pinned, opened on a read replica, or is SQLite's (which has no such name).
    pub async fn identity(&self) -> Option<String> {
        let inner = &self.inner;
        if !inner.pinned.load(Ordering::SeqCst)
            || inner.pool.backend() != crate::Backend::Postgres
            || inner.pool.replicas().is_some()
            || !matches!(*inner.state.lock().await, State::Open(_))
        {
            return None;
        }
        match self.run(current_snapshot).await {
            Ok(identity) => Some(identity),
            Err(e) => {
                tracing::debug!(error = %e, "reading the snapshot's identity failed");
                None
            }
        }
    }

    /// Whether no statement of this snapshot runs, waits to run, or waits to hand back its answer:
    /// counted from the call of [`ReadSnapshot::run`] to its return, so that a statement just done
    /// on its blocking thread still counts until whoever asked has its answer (and has been woken).
    pub fn is_quiet(&self) -> bool {
        self.inner.statements.load(Ordering::SeqCst) == 0
    }

    /// Waits until the statements of this snapshot running or queued now have run.
    pub async fn quiet(&self) {
        drop(self.inner.state.lock().await);
    }

    /// Ends the transaction and gives the connection back; later statements fail. Idempotent.
    pub async fn finish(&self) {
        let lock = self.inner.state.lock();
        let mut state = match self.inner.pool.read_bound() {
            None => lock.await,
            Some(bound) => match tokio::time::timeout(bound, lock).await {
                Ok(state) => state,
                // A statement that never got its answer holds the connection; it is given back (and
                // its transaction ended) when that statement returns and the snapshot is dropped.
                Err(_) => return,
            },
        };
        if let State::Open(mut held) = std::mem::replace(&mut *state, State::Closed) {
            drop(state);
            if let Err(e) = tokio::task::spawn_blocking(move || held.release()).await {
                tracing::warn!(error = %e, "ending a read snapshot failed");
            }
        }
    }
}

/// PostgreSQL: the current snapshot's identity (see [`ReadSnapshot::identity`]); outside a
/// transaction, that of the statement itself: what the store holds now.
pub fn current_snapshot(conn: &mut AnyConnection) -> Result<String, StoreError> {
    use diesel::RunQueryDsl;
    Ok(diesel::select(diesel::dsl::sql::<diesel::sql_types::Text>("pg_current_snapshot()::text")).get_result(conn)?)
}

fn closed(_: tokio::sync::AcquireError) -> StoreError {
    StoreError::Invalid("the read gate is closed".into())
}
