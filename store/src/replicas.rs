//! Reads on PostgreSQL streaming replicas (`CRISISGRAPH_READ_DATABASE_URL`), never older than the
//! newest ingest this process heard of.
//!
//! Replication itself is PostgreSQL's (a standby made with `pg_basebackup -R`); this module only
//! decides where a read snapshot (a GraphQL request's or an export's, [`crate::SnapshotGate`]) opens.
//! Every ingest announces its commit's LSN with its run-end event (store/src/events.rs), in process
//! and by `NOTIFY` to every server; [`Replicas`] keeps the newest one heard. A snapshot opens on a
//! replica (in turn) whose replayed LSN has reached it: the replayed LSN is cached per replica and
//! asked again only while it is not far enough, polling for up to the configured bound; after the
//! bound, or when every replica is down, the read goes to the primary. Writes never come here.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use diesel::RunQueryDsl;
use diesel::sql_types::{BigInt, Nullable};

use crate::connection::Pooled;
use crate::{AnyConnection, DbPool, StoreError, StoreSettings};

/// How often a replica's replayed LSN is asked again while a read waits for it.
const POLL_EVERY: Duration = Duration::from_millis(5);
/// Longest a read waits for a replica's connection before it reads on the primary instead: a replica
/// that went away is otherwise retried for the pool's whole wait.
const OPEN_WAIT: Duration = Duration::from_secs(1);

/// The read replicas an operator configured (src/config.rs).
#[derive(Debug, Clone)]
pub struct ReplicaSettings {
    /// `postgres://` URLs of streaming replicas of the primary; empty: every read on the primary.
    pub urls: Vec<String>,
    /// Longest a read waits for a replica to replay the newest ingest before it goes to the primary.
    pub max_wait: Duration,
}

impl Default for ReplicaSettings {
    fn default() -> Self {
        ReplicaSettings { urls: Vec::new(), max_wait: Duration::from_secs(1) }
    }
}

/// Why a read went to the primary although replicas are configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fallback {
    /// No replica had replayed the newest ingest within the bound.
    Lag,
    /// Every replica was down, or the chosen one failed to open the read.
    Down,
}

/// What `/metrics` shows of the replicas: counters since the process started.
#[derive(Debug, Clone, Default)]
pub struct ReadCounts {
    /// Read snapshots opened on each replica, in the configured order.
    pub replica_reads: Vec<u64>,
    /// Read snapshots opened on the primary.
    pub primary_reads: u64,
    pub fallbacks_lag: u64,
    pub fallbacks_down: u64,
    /// Whether each replica currently counts as reachable.
    pub replica_up: Vec<bool>,
    /// The newest commit LSN heard (as a byte position in the WAL).
    pub newest_commit_lsn: u64,
}

struct Replica {
    pool: DbPool,
    /// Its replayed LSN when last asked; it only grows.
    replayed: AtomicU64,
    /// One refresh at a time: concurrent readers wait for it instead of asking too.
    refreshing: tokio::sync::Mutex<()>,
    reads: AtomicU64,
}

/// The replicas of one primary, and the newest commit this process heard of.
pub struct Replicas {
    replicas: Vec<Replica>,
    max_wait: Duration,
    next: AtomicUsize,
    newest: AtomicU64,
    primary_reads: AtomicU64,
    fallbacks_lag: AtomicU64,
    fallbacks_down: AtomicU64,
}

/// Where one read snapshot opens: a replica's index, or `None` for the primary.
pub(crate) type Route = Option<usize>;

impl Replicas {
    /// Pools for the replicas of `settings`, with `primary`'s current LSN as the newest commit heard:
    /// no read of this process sees data older than when it started. A replica that is down now is
    /// only logged (reads skip it until it answers).
    pub(crate) fn connect(
        primary: &mut AnyConnection,
        replicas: &ReplicaSettings,
        store: &StoreSettings,
    ) -> Result<Replicas, StoreError> {
        let mut pools = Vec::with_capacity(replicas.urls.len());
        for url in &replicas.urls {
            if crate::backend_of(url) != crate::Backend::Postgres {
                return Err(StoreError::Invalid(format!(
                    "a read replica must be a postgres:// URL, not {:?}",
                    redacted(url)
                )));
            }
            pools.push(crate::connection::build_replica_pool(url, store)?);
        }
        let newest = wal_position(primary, WAL_WRITTEN)?.unwrap_or(0);
        Ok(Replicas {
            replicas: pools
                .into_iter()
                .map(|pool| Replica {
                    pool,
                    replayed: AtomicU64::new(0),
                    refreshing: tokio::sync::Mutex::new(()),
                    reads: AtomicU64::new(0),
                })
                .collect(),
            max_wait: replicas.max_wait,
            next: AtomicUsize::new(0),
            newest: AtomicU64::new(newest),
            primary_reads: AtomicU64::new(0),
            fallbacks_lag: AtomicU64::new(0),
            fallbacks_down: AtomicU64::new(0),
        })
    }

    /// An ingest committed at `lsn` (heard in process or by `NOTIFY`).
    pub(crate) fn heard_commit(&self, lsn: u64) {
        self.newest.fetch_max(lsn, Ordering::SeqCst);
    }

    /// Where the next read snapshot should open: the next replica in turn that has replayed the newest
    /// commit heard (as last seen, or asked now), asking again until the bound; else the primary.
    pub(crate) async fn route(&self) -> Route {
        let need = self.newest.load(Ordering::SeqCst);
        let count = self.replicas.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let window = |r: &Replica| r.pool.settings().pool_wait;
        let mut candidates: Vec<usize> = (0..count)
            .map(|k| (start + k) % count)
            .filter(|&i| self.replicas[i].pool.health().failing(window(&self.replicas[i])).is_none())
            .collect();
        let deadline = Instant::now() + self.max_wait;
        while !candidates.is_empty() {
            let mut answered = Vec::with_capacity(candidates.len());
            for &i in &candidates {
                if self.replicas[i].replayed.load(Ordering::SeqCst) >= need {
                    return Some(i);
                }
                match self.refresh(i, need, deadline).await {
                    Ok(true) => return Some(i),
                    Ok(false) => answered.push(i),
                    Err(e) => {
                        tracing::debug!(replica = i + 1, error = %e, "a read replica did not say its replay position")
                    }
                }
            }
            candidates = answered;
            let now = Instant::now();
            if now >= deadline || candidates.is_empty() {
                break;
            }
            tokio::time::sleep(POLL_EVERY.min(deadline - now)).await;
        }
        let reason = if candidates.is_empty() { Fallback::Down } else { Fallback::Lag };
        self.fell_back(reason);
        None
    }

    /// Asks replica `i` its replayed LSN (unless a concurrent refresh already saw it reach `need`);
    /// whether it has reached `need`.
    async fn refresh(&self, i: usize, need: u64, deadline: Instant) -> Result<bool, StoreError> {
        let replica = &self.replicas[i];
        let wait = deadline.saturating_duration_since(Instant::now()).max(POLL_EVERY);
        let Ok(_turn) = tokio::time::timeout(wait, replica.refreshing.lock()).await else { return Ok(false) };
        if replica.replayed.load(Ordering::SeqCst) >= need {
            return Ok(true);
        }
        let asked = crate::with_conn(&replica.pool, |c| wal_position(c, WAL_REPLAYED));
        let replayed = match tokio::time::timeout(wait.max(Duration::from_millis(200)), asked).await {
            Ok(answer) => answer?,
            Err(_) => return Ok(false),
        };
        let replayed = replayed.unwrap_or(0);
        replica.replayed.fetch_max(replayed, Ordering::SeqCst);
        replica.pool.health().record_success();
        Ok(replayed >= need)
    }

    fn fell_back(&self, reason: Fallback) {
        let counter = match reason {
            Fallback::Lag => &self.fallbacks_lag,
            Fallback::Down => &self.fallbacks_down,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Opens a read on `route` with `begin`; a replica that fails to open it hands the read to the
    /// primary. The connection, and the pool it came from (whose health the read's outcome tells).
    pub(crate) fn open(
        &self,
        primary: &DbPool,
        route: Route,
        begin: impl Fn(&mut AnyConnection) -> Result<(), StoreError>,
    ) -> Result<(Pooled, DbPool), StoreError> {
        if let Some(i) = route {
            let replica = &self.replicas[i];
            // A replica that gives no connection able to begin the read counts as failing.
            let opened =
                replica.pool.checkout_opening(&begin, |pool| pool.checkout_within(OPEN_WAIT)).inspect_err(|e| {
                    replica.pool.health().record_failure(&e.to_string());
                });
            match opened {
                Ok(conn) => {
                    replica.reads.fetch_add(1, Ordering::Relaxed);
                    return Ok((conn, replica.pool.clone()));
                }
                Err(e) => {
                    tracing::debug!(replica = i + 1, error = %e, "a read replica failed; reading on the primary");
                    self.fell_back(Fallback::Down);
                }
            }
        }
        let conn = primary.checkout_opening(&begin, DbPool::checkout)?;
        self.primary_reads.fetch_add(1, Ordering::Relaxed);
        Ok((conn, primary.clone()))
    }

    pub(crate) fn counts(&self) -> ReadCounts {
        ReadCounts {
            replica_reads: self.replicas.iter().map(|r| r.reads.load(Ordering::Relaxed)).collect(),
            primary_reads: self.primary_reads.load(Ordering::Relaxed),
            fallbacks_lag: self.fallbacks_lag.load(Ordering::Relaxed),
            fallbacks_down: self.fallbacks_down.load(Ordering::Relaxed),
            replica_up: self
                .replicas
                .iter()
                .map(|r| r.pool.health().failing(r.pool.settings().pool_wait).is_none())
                .collect(),
            newest_commit_lsn: self.newest.load(Ordering::SeqCst),
        }
    }
}

/// The primary's WAL write position.
const WAL_WRITTEN: &str = "SELECT (pg_current_wal_lsn() - '0/0'::pg_lsn)::bigint AS lsn";
/// How far a standby has replayed (a server not in recovery: its write position).
const WAL_REPLAYED: &str = "SELECT (CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() \
     ELSE pg_current_wal_lsn() END - '0/0'::pg_lsn)::bigint AS lsn";

#[derive(diesel::QueryableByName)]
struct Position {
    #[diesel(sql_type = Nullable<BigInt>)]
    lsn: Option<i64>,
}

/// A WAL position asked with `query`; `None` on SQLite (no WAL positions) or when the server has none.
fn wal_position(conn: &mut AnyConnection, query: &str) -> Result<Option<u64>, StoreError> {
    let AnyConnection::Postgresql(c) = conn else { return Ok(None) };
    let row: Position = diesel::sql_query(query).get_result(c)?;
    Ok(row.lsn.and_then(|l| u64::try_from(l).ok()))
}

/// The LSN an ingest's commit reached: read right after the commit, on the connection that made it
/// (`None` on SQLite).
pub fn commit_lsn(conn: &mut AnyConnection) -> Result<Option<u64>, StoreError> {
    wal_position(conn, WAL_WRITTEN)
}

/// A URL without its password, for messages.
fn redacted(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => format!("{}://…@{}", &url[..scheme], &url[at + 1..]),
        _ => url.to_string(),
    }
}
