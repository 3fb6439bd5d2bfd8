//! The two-backend connection, the pool and the embedded migrations.

use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::r2d2::{ConnectionManager, CustomizeConnection, Pool};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use crate::StoreError;

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

pub type DbPool = Pool<ConnectionManager<AnyConnection>>;

pub const PG_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations/postgres");
pub const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations/sqlite");

/// Per-connection settings: SQLite needs foreign keys switched on, WAL for concurrent readers
/// and a busy timeout so that a writer waits instead of failing.
#[derive(Debug)]
struct SessionSettings;

impl CustomizeConnection<AnyConnection, diesel::r2d2::Error> for SessionSettings {
    fn on_acquire(&self, conn: &mut AnyConnection) -> Result<(), diesel::r2d2::Error> {
        let sql = match conn {
            AnyConnection::Sqlite(_) => {
                "PRAGMA busy_timeout = 10000; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;"
            }
            AnyConnection::Postgresql(_) => "SET TIME ZONE 'UTC';",
        };
        conn.batch_execute(sql).map_err(diesel::r2d2::Error::QueryError)
    }
}

/// Builds the pool for `url`. SQLite gets fewer connections (one writer at a time anyway; WAL lets
/// the readers go on side by side).
pub fn build_pool(url: &str) -> Result<DbPool, StoreError> {
    let backend = backend_of(url);
    let target = match backend {
        Backend::Postgres => url.to_string(),
        Backend::Sqlite => sqlite_path(url).to_string(),
    };
    // Each GraphQL request or export holds one connection for its snapshot, including while its
    // DataLoaders gather keys; two stay free for the ingest and health checks (api/src/read.rs).
    let size = match backend {
        Backend::Postgres => 16,
        Backend::Sqlite => 8,
    };
    if backend == Backend::Sqlite {
        // WAL is a property of the file: switch it on once, before connections race for the lock.
        use diesel::Connection;
        let mut conn = diesel::SqliteConnection::establish(&target)?;
        conn.batch_execute("PRAGMA busy_timeout = 10000; PRAGMA journal_mode = WAL;")?;
    }
    let manager = ConnectionManager::<AnyConnection>::new(target);
    Pool::builder()
        .max_size(size)
        .connection_timeout(Duration::from_secs(10))
        .connection_customizer(Box::new(SessionSettings))
        .build(manager)
        .map_err(StoreError::Pool)
}

/// Applies pending migrations of the connection's backend; a second call does nothing.
pub fn run_migrations(conn: &mut AnyConnection) -> Result<usize, StoreError> {
    let applied = match conn {
        AnyConnection::Postgresql(c) => c.run_pending_migrations(PG_MIGRATIONS).map(|v| v.len()),
        AnyConnection::Sqlite(c) => c.run_pending_migrations(SQLITE_MIGRATIONS).map(|v| v.len()),
    };
    applied.map_err(|e| StoreError::Migration(e.to_string()))
}

/// Runs one unit of DB work on a pooled connection, on tokio's blocking threads.
pub async fn with_conn<T, F>(pool: &DbPool, work: F) -> Result<T, StoreError>
where
    T: Send + 'static,
    F: FnOnce(&mut AnyConnection) -> Result<T, StoreError> + Send + 'static,
{
    let pool = pool.clone();
    tokio::task::spawn_blocking(move || {
        let mut conn = pool.get()?;
        work(&mut conn)
    })
    .await?
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
    use diesel::Connection;
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
