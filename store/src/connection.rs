//! The two-backend connection, the pool and the embedded migrations.
//!
//! The pool knows whether the store is reachable ([`crate::health`]): while connecting fails, or a
//! read got no answer, requests fail at once as unavailable instead of each waiting out the pool's
//! timeout, and the cause is logged once (then at most once a minute), not per attempt.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use diesel::Connection;
use diesel::connection::SimpleConnection;
use diesel::r2d2::{ManageConnection, Pool, PooledConnection, R2D2Connection};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use crate::StoreError;
use crate::health::Health;

/// A connection to either backend. Most queries run on it directly; statements that `MultiBackend`
/// cannot express (ON CONFLICT, batch inserts on SQLite) match on the variant.
#[derive(diesel::MultiConnection)]
pub enum AnyConnection {
    Postgresql(diesel::PgConnection),
    Sqlite(diesel::SqliteConnection),
}

/// Which database a URL points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

/// A `postgres://` or `postgresql://` URL is PostgreSQL; anything else is a SQLite file path
/// (an optional `sqlite://` prefix is accepted).
pub fn backend_of(url: &str) -> Backend {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") { Backend::Postgres } else { Backend::Sqlite }
}

fn sqlite_path(url: &str) -> &str {
    url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")).unwrap_or(url)
}

/// How the store's connections behave; every field is an operator setting (src/config.rs).
#[derive(Debug, Clone)]
pub struct StoreSettings {
    /// Longest wait for a connection of the pool before the store counts as unavailable.
    pub pool_wait: Duration,
    /// PostgreSQL: longest a read (a GraphQL request's or export's statement, a health check) may
    /// run on the server (`statement_timeout`); a read that gets no answer at all within this plus
    /// [`READ_MARGIN`] means the server is frozen or unreachable.
    pub read_timeout: Duration,
    /// PostgreSQL: how often the server checks, during a long statement, that the client is still
    /// there (`client_connection_check_interval`): a killed ingest's statement stops instead of
    /// running to its end while holding its locks.
    pub client_check_interval: Duration,
    /// SQLite: how long a writer waits for the database's write lock (`busy_timeout`).
    pub busy_timeout: Duration,
}

impl Default for StoreSettings {
    fn default() -> Self {
        StoreSettings {
            pool_wait: Duration::from_secs(5),
            read_timeout: Duration::from_secs(20),
            client_check_interval: Duration::from_secs(2),
            busy_timeout: Duration::from_secs(10),
        }
    }
}

/// What a read may take beyond the server's own statement timeout (the server's answer that it
/// cancelled the statement) before the client stops waiting for it.
pub const READ_MARGIN: Duration = Duration::from_secs(2);

/// Opens connections of one backend and sets up each session; records whether connecting works.
#[derive(Debug)]
pub struct Manager {
    backend: Backend,
    /// The URL as connected to: for PostgreSQL with `connect_timeout` added, for SQLite the file path.
    target: String,
    settings: StoreSettings,
    health: Arc<Health>,
}

impl Manager {
    fn establish(&self) -> Result<AnyConnection, StoreError> {
        let mut conn = match self.backend {
            Backend::Postgres => diesel::PgConnection::establish(&self.target).map(AnyConnection::Postgresql),
            Backend::Sqlite => diesel::SqliteConnection::establish(&self.target).map(AnyConnection::Sqlite),
        }
        .map_err(|e| StoreError::Unreachable(one_line(&e.to_string())))?;
        self.set_up_session(&mut conn)?;
        Ok(conn)
    }

    /// SQLite needs foreign keys switched on and a busy timeout so that a writer waits instead of
    /// failing; PostgreSQL sessions read time in UTC and stop a statement whose client is gone.
    fn set_up_session(&self, conn: &mut AnyConnection) -> Result<(), StoreError> {
        match conn {
            AnyConnection::Sqlite(_) => conn.batch_execute(&format!(
                "PRAGMA busy_timeout = {}; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;",
                self.settings.busy_timeout.as_millis()
            ))?,
            AnyConnection::Postgresql(_) => {
                conn.batch_execute("SET TIME ZONE 'UTC'")?;
                let check = format!(
                    "SET client_connection_check_interval = {}",
                    self.settings.client_check_interval.as_millis().max(1)
                );
                // PostgreSQL 14 and later; older servers simply cannot notice a vanished client.
                if let Err(e) = conn.batch_execute(&check) {
                    tracing::debug!(error = %e, "client_connection_check_interval is not supported here");
                }
            }
        }
        Ok(())
    }
}

impl ManageConnection for Manager {
    type Connection = AnyConnection;
    type Error = StoreError;

    fn connect(&self) -> Result<AnyConnection, StoreError> {
        match self.establish() {
            Ok(conn) => {
                self.health.record_success();
                Ok(conn)
            }
            Err(e) => {
                self.health.record_failure(&e.to_string());
                Err(e)
            }
        }
    }

    fn is_valid(&self, conn: &mut AnyConnection) -> Result<(), StoreError> {
        if OPENING_STATEMENT_CHECKS.get() {
            return Ok(());
        }
        conn.ping().map_err(StoreError::Query)
    }

    fn has_broken(&self, conn: &mut AnyConnection) -> bool {
        std::thread::panicking() || conn.is_broken()
    }
}

thread_local! {
    /// Set while [`DbPool::checkout_opening`] takes a connection on this thread: the caller's own
    /// first statement tells whether the connection is alive, so the pool's ping is skipped (r2d2
    /// validates on the calling thread).
    static OPENING_STATEMENT_CHECKS: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Skips the pool's ping on this thread while it lives, whatever way the checkout ends.
struct PingSkipped;

impl PingSkipped {
    fn new() -> PingSkipped {
        OPENING_STATEMENT_CHECKS.set(true);
        PingSkipped
    }
}

impl Drop for PingSkipped {
    fn drop(&mut self) {
        OPENING_STATEMENT_CHECKS.set(false);
    }
}

/// A database error on one line: libpq spreads its messages over several, with hints.
pub(crate) fn one_line(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A connection checked out of the pool.
pub(crate) type Pooled = PooledConnection<Manager>;

/// The store's connection pool, with what it knows about the store's health. Cheap to clone.
#[derive(Clone)]
pub struct DbPool {
    pool: Pool<Manager>,
    shared: Arc<PoolShared>,
}

struct PoolShared {
    backend: Backend,
    settings: StoreSettings,
    health: Arc<Health>,
    /// The URL the pool was built from: the PostgreSQL event listener opens its own connection to it.
    url: String,
    /// Run events raised in this process ([`crate::events`]).
    events: tokio::sync::broadcast::Sender<crate::events::RunEvent>,
    /// Read replicas, when configured ([`DbPool::attach_replicas`]): where read snapshots open.
    replicas: std::sync::OnceLock<Arc<crate::replicas::Replicas>>,
}

impl DbPool {
    pub fn backend(&self) -> Backend {
        self.shared.backend
    }

    pub fn settings(&self) -> &StoreSettings {
        &self.shared.settings
    }

    pub fn max_size(&self) -> u32 {
        self.pool.max_size()
    }

    pub(crate) fn health(&self) -> &Health {
        &self.shared.health
    }

    /// The URL the pool was built from.
    pub fn url(&self) -> &str {
        &self.shared.url
    }

    /// Announces a run event to this process's listeners ([`DbPool::subscribe_events`]); nobody
    /// listening is fine. A commit LSN it carries is heard by the read replicas' router.
    pub fn publish_event(&self, event: crate::events::RunEvent) {
        if let Some(lsn) = event.lsn {
            self.heard_commit(lsn);
        }
        let _ = self.shared.events.send(event);
    }

    /// An ingest (of any process) committed at `lsn`: reads wait for a replica that replayed it.
    pub fn heard_commit(&self, lsn: u64) {
        if let Some(replicas) = self.shared.replicas.get() {
            replicas.heard_commit(lsn);
        }
    }

    /// Sends read snapshots of this pool's gates to the replicas of `settings` from now on (blocking:
    /// builds their pools). Once per pool; the primary must be PostgreSQL (SQLite has no replicas).
    pub fn attach_replicas(&self, settings: &crate::ReplicaSettings) -> Result<(), StoreError> {
        if settings.urls.is_empty() {
            return Ok(());
        }
        if self.backend() != Backend::Postgres {
            return Err(StoreError::Invalid("read replicas need a PostgreSQL primary; SQLite has no replicas".into()));
        }
        let mut primary = self.checkout()?;
        let replicas = crate::replicas::Replicas::connect(&mut primary, settings, &self.shared.settings)?;
        self.shared
            .replicas
            .set(Arc::new(replicas))
            .map_err(|_| StoreError::Invalid("the read replicas are already set".into()))
    }

    /// Whether reads go to read replicas.
    pub fn has_replicas(&self) -> bool {
        self.shared.replicas.get().is_some()
    }

    /// The read replicas' router, when replicas are configured.
    pub(crate) fn replicas(&self) -> Option<&Arc<crate::replicas::Replicas>> {
        self.shared.replicas.get()
    }

    /// Reads per target and fallbacks, when replicas are configured (for `/metrics`).
    pub fn read_counts(&self) -> Option<crate::ReadCounts> {
        self.replicas().map(|r| r.counts())
    }

    /// Run events raised in this process from now on.
    pub fn subscribe_events(&self) -> tokio::sync::broadcast::Receiver<crate::events::RunEvent> {
        self.shared.events.subscribe()
    }

    /// A connection, waiting up to the pool's wait; at once unavailable while the store is known to be
    /// down (then only an idle connection, which is tested first, is taken).
    pub(crate) fn checkout(&self) -> Result<Pooled, StoreError> {
        if let Some(cause) = self.health().failing(self.shared.settings.pool_wait) {
            return self.pool.try_get().ok_or(StoreError::Unavailable(cause));
        }
        self.pool.get().map_err(|e| match self.health().failing(self.shared.settings.pool_wait) {
            Some(cause) => StoreError::Unavailable(cause),
            None => StoreError::Pool(e),
        })
    }

    /// A connection on which `open` has run, `open` being its check: the pool's ping at checkout (a
    /// round trip on every read snapshot) is skipped. A connection on which `open` fails because the
    /// connection itself is gone (the server restarted, or ended the session) is discarded and the next
    /// one tried, as the ping would have done; any other failure of `open` is the caller's.
    pub(crate) fn checkout_opening(
        &self,
        open: impl Fn(&mut AnyConnection) -> Result<(), StoreError>,
        checkout: impl Fn(&DbPool) -> Result<Pooled, StoreError>,
    ) -> Result<Pooled, StoreError> {
        // Every idle connection may be dead after a restart: one more try than the pool holds.
        let mut tries_left = self.max_size();
        loop {
            let skipped = PingSkipped::new();
            let taken = checkout(self);
            drop(skipped);
            let mut conn = taken?;
            match open(&mut conn) {
                Ok(()) => return Ok(conn),
                // diesel marks a connection whose session is gone as broken: r2d2 drops it on return.
                Err(e) if conn.is_broken() && tries_left > 0 => {
                    tries_left -= 1;
                    tracing::debug!(error = %e, "a pooled connection was gone; trying another");
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// A connection within `wait` at most (for a read replica: a replica that has gone away must not
    /// hold a read for the pool's whole wait when the primary can take it).
    pub(crate) fn checkout_within(&self, wait: Duration) -> Result<Pooled, StoreError> {
        if let Some(cause) = self.health().failing(self.shared.settings.pool_wait) {
            return self.pool.try_get().ok_or(StoreError::Unavailable(cause));
        }
        self.pool.get_timeout(wait.min(self.shared.settings.pool_wait)).map_err(StoreError::Pool)
    }

    /// How long a read may go unanswered before the client gives up on it: on PostgreSQL its
    /// statement timeout plus [`READ_MARGIN`]; `None` on SQLite, which has no server to lose.
    pub(crate) fn read_bound(&self) -> Option<Duration> {
        match self.shared.backend {
            Backend::Postgres => Some(self.shared.settings.read_timeout + READ_MARGIN),
            Backend::Sqlite => None,
        }
    }
}

pub const PG_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations/postgres");
pub const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations/sqlite");

/// [`build_pool_with`] with the default settings.
pub fn build_pool(url: &str) -> Result<DbPool, StoreError> {
    build_pool_with(url, &StoreSettings::default())
}

/// Builds the pool for `url`, after one connection made directly: a store that cannot be reached
/// fails here at once with its real cause (refused, unknown database, unknown role...) on one line,
/// instead of after the pool's wait with a generic message. SQLite gets fewer connections (one
/// writer at a time anyway; WAL lets the readers go on side by side).
pub fn build_pool_with(url: &str, settings: &StoreSettings) -> Result<DbPool, StoreError> {
    build(url, settings, true)
}

/// A read replica's pool: like the primary's, but a replica down now is only logged (and recorded
/// in its health): reads skip it until it answers.
pub(crate) fn build_replica_pool(url: &str, settings: &StoreSettings) -> Result<DbPool, StoreError> {
    build(url, settings, false)
}

fn build(url: &str, settings: &StoreSettings, must_connect: bool) -> Result<DbPool, StoreError> {
    let backend = backend_of(url);
    let target = match backend {
        Backend::Postgres => with_connect_timeout(url, settings.pool_wait),
        Backend::Sqlite => sqlite_path(url).to_string(),
    };
    // Each GraphQL request or export holds one connection for its snapshot, including while its
    // DataLoaders gather keys; two stay free for the ingest and health checks (api/src/read.rs).
    let size = match backend {
        Backend::Postgres => 16,
        Backend::Sqlite => 8,
    };
    let health = Arc::new(Health::default());
    let manager = Manager { backend, target, settings: settings.clone(), health: health.clone() };
    match manager.establish() {
        Ok(mut first) => {
            if let AnyConnection::Sqlite(_) = first {
                // WAL is a property of the file: switch it on once, before connections race for the lock.
                first.batch_execute("PRAGMA journal_mode = WAL;")?;
            }
        }
        Err(e) if must_connect => return Err(e),
        Err(e) => health.record_failure(&e.to_string()),
    }
    let pool = Pool::builder()
        .max_size(size)
        // Connections open on demand, never in the background: r2d2 otherwise fills the pool from its
        // worker threads at once, and a short process (an `ingest` told "already running") then exits
        // while a worker is inside libpq's connect, which crashed the process at exit (SIGSEGV in
        // `r2d2-worker`, seen once in about a dozen runs of tests/crash.rs on PostgreSQL).
        .min_idle(Some(0))
        .connection_timeout(settings.pool_wait.max(Duration::from_millis(100)))
        // Connection failures are recorded (and logged, rate-limited) by the manager's health.
        .error_handler(Box::new(diesel::r2d2::NopErrorHandler))
        .build_unchecked(manager);
    let (events, _) = tokio::sync::broadcast::channel(crate::events::IN_PROCESS_BUFFER);
    let shared = PoolShared {
        backend,
        settings: settings.clone(),
        health,
        url: url.to_string(),
        events,
        replicas: std::sync::OnceLock::new(),
    };
    Ok(DbPool { pool, shared: Arc::new(shared) })
}

/// libpq's own connect timeout (`connect_timeout`, seconds) unless the URL sets one: a server that
/// accepts the TCP connection but never answers must not hold a connection attempt forever.
fn with_connect_timeout(url: &str, wait: Duration) -> String {
    if url.contains("connect_timeout=") {
        return url.to_string();
    }
    let seconds = wait.as_secs().max(2);
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}connect_timeout={seconds}")
}

/// The file of a SQLite connection's main database, as SQLite opened it.
pub(crate) fn sqlite_file(conn: &mut diesel::SqliteConnection) -> Result<PathBuf, StoreError> {
    use diesel::RunQueryDsl;
    #[derive(diesel::QueryableByName)]
    struct DatabaseEntry {
        #[diesel(sql_type = diesel::sql_types::Text)]
        name: String,
        #[diesel(sql_type = diesel::sql_types::Text)]
        file: String,
    }
    let entries: Vec<DatabaseEntry> = diesel::sql_query("PRAGMA database_list").load(conn)?;
    match entries.into_iter().find(|e| e.name == "main") {
        Some(main) if !main.file.is_empty() => Ok(PathBuf::from(main.file)),
        _ => Err(StoreError::Invalid("an in-memory SQLite database cannot hold source leases".into())),
    }
}

/// Applies pending migrations of the connection's backend, then brings the BI views up to their
/// declarations ([`crate::bi::create_views`]); a second call does nothing.
pub fn run_migrations(conn: &mut AnyConnection) -> Result<usize, StoreError> {
    let applied = match conn {
        AnyConnection::Postgresql(c) => c.run_pending_migrations(PG_MIGRATIONS).map(|v| v.len()),
        AnyConnection::Sqlite(c) => c.run_pending_migrations(SQLITE_MIGRATIONS).map(|v| v.len()),
    };
    let applied = applied.map_err(|e| StoreError::Migration(e.to_string()))?;
    crate::bi::create_views(conn).map_err(|e| StoreError::Migration(format!("the BI views: {e}")))?;
    Ok(applied)
}

/// Runs one unit of DB work on a pooled connection, on tokio's blocking threads. For ingest work,
/// which may legitimately run for minutes; reads use [`with_read_conn`].
pub async fn with_conn<T, F>(pool: &DbPool, work: F) -> Result<T, StoreError>
where
    T: Send + 'static,
    F: FnOnce(&mut AnyConnection) -> Result<T, StoreError> + Send + 'static,
{
    let pool = pool.clone();
    tokio::task::spawn_blocking(move || {
        let mut conn = pool.checkout()?;
        work(&mut conn)
    })
    .await?
}

/// Runs one short read on a pooled connection: like [`with_conn`], but on PostgreSQL it gives up
/// (unavailable) when the server does not answer within its read bound, and marks the store down.
pub async fn with_read_conn<T, F>(pool: &DbPool, work: F) -> Result<T, StoreError>
where
    T: Send + 'static,
    F: FnOnce(&mut AnyConnection) -> Result<T, StoreError> + Send + 'static,
{
    let read = with_conn(pool, work);
    match pool.read_bound() {
        None => read.await,
        Some(bound) => match tokio::time::timeout(bound, read).await {
            Ok(result) => result,
            Err(_) => Err(pool.health().unanswered(bound)),
        },
    }
}

/// Executes a statement on the concrete backend: for statements `MultiBackend` cannot express.
#[macro_export]
macro_rules! on_backend {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            $crate::AnyConnection::Postgresql($c) => $body,
            $crate::AnyConnection::Sqlite($c) => $body,
        }
    };
}

/// Runs `work` in one transaction that takes the write lock at once. On SQLite a plain (deferred)
/// transaction that reads first and writes later fails when another connection wrote in between;
/// `BEGIN IMMEDIATE` makes it wait for the lock instead (up to the busy timeout). PostgreSQL needs nothing special.
pub fn write_transaction<T, E, F>(conn: &mut AnyConnection, work: F) -> Result<T, E>
where
    F: FnOnce(&mut AnyConnection) -> Result<T, E>,
    E: From<diesel::result::Error>,
{
    use diesel::connection::{AnsiTransactionManager, TransactionManager};
    if let AnyConnection::Sqlite(inner) = conn {
        AnsiTransactionManager::begin_transaction_sql(inner, "BEGIN IMMEDIATE")?;
    } else {
        return conn.transaction(work);
    }
    match work(conn) {
        Ok(value) => {
            <AnyConnection as Connection>::TransactionManager::commit_transaction(conn)?;
            Ok(value)
        }
        Err(error) => {
            <AnyConnection as Connection>::TransactionManager::rollback_transaction(conn)?;
            Err(error)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connect_timeout_is_added_unless_the_url_has_one() {
        let wait = Duration::from_secs(5);
        assert_eq!(with_connect_timeout("postgres://h/db", wait), "postgres://h/db?connect_timeout=5");
        assert_eq!(
            with_connect_timeout("postgres://h/db?sslmode=disable", wait),
            "postgres://h/db?sslmode=disable&connect_timeout=5"
        );
        assert_eq!(
            with_connect_timeout("postgres://h/db?connect_timeout=1", wait),
            "postgres://h/db?connect_timeout=1"
        );
    }

    #[test]
    fn libpq_messages_become_one_line() {
        let message =
            "connection to server at \"127.0.0.1\", port 9 failed: Connection refused\n\tIs the server running?\n";
        assert_eq!(
            one_line(message),
            "connection to server at \"127.0.0.1\", port 9 failed: Connection refused Is the server running?"
        );
    }
}
