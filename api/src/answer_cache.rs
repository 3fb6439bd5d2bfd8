//! Answers that have not changed since the last write, served without running the query again.
//!
//! A GraphQL answer depends on the request (document, operation, variables, the media type it is
//! sent as) and on what the store holds. On PostgreSQL, what a read sees is named exactly by its
//! snapshot (`pg_current_snapshot()`: the oldest running transaction, the next transaction id and
//! those in progress): two snapshots with the same name see the same committed transactions. So an
//! answer is stored under the request and the name of the snapshot it was read in, and a later
//! identical request is answered from it when the store's current snapshot has the same name, which
//! one pipelined statement on a connection of the cache's own tells. Any committed write (an ingest,
//! a run's progress, in any process) changes the name: nothing stale is ever served, and nothing
//! has to invalidate anything.
//!
//! Identical requests that miss at the same moment (an entry aged out under load, or the first
//! requests after a write) run once: the first runs, the others wait for it (at most the request
//! timeout) and then look again, which is the same check as any hit. Without this, every
//! connection of a load ran the same query at once whenever an entry aged out (p99 3x PostGraphile's).
//!
//! Not cached: SQLite (no such name), reads on replicas (their snapshots are named on another
//! server), mutations, subscriptions, batches, persisted queries, requests carrying a token, answers
//! with errors. Some fields are computed from the clock (a source's freshness, its next run): an
//! entry is used for at most [`MAX_AGE`].

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use actix_web::web::Bytes;
use store::{Backend, DbPool};

/// The longest an entry is served, for the fields computed from the clock.
pub const MAX_AGE: Duration = Duration::from_secs(5);

/// How long the cache waits before connecting again after its connection failed.
const RECONNECT_AFTER: Duration = Duration::from_secs(5);

/// The longest a request waits for the store's snapshot name (or the cache for its connection).
const PROBE_BOUND: Duration = Duration::from_secs(1);

/// What a request is answered from: everything the answer depends on besides the store.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct AnswerKey {
    pub query: String,
    pub operation: Option<String>,
    /// The variables as JSON.
    pub variables: String,
    /// The media type the answer is sent as (its status codes differ).
    pub media: &'static str,
}

/// A stored answer: the body, its entity tag, and the snapshot it was read in.
#[derive(Debug)]
pub(crate) struct Stored {
    pub body: Bytes,
    pub etag: String,
    snapshot: String,
    at: Instant,
}

impl Stored {
    /// An answer that is not kept (a GET on SQLite, say), for its entity tag.
    pub(crate) fn unkept(body: Bytes) -> Stored {
        Stored { etag: etag_of(&body), body, snapshot: String::new(), at: Instant::now() }
    }
}

/// Weighs an entry by its bytes, so the cache holds at most its size in answers.
#[derive(Clone)]
struct ByBytes;

impl quick_cache::Weighter<AnswerKey, Arc<Stored>> for ByBytes {
    fn weight(&self, key: &AnswerKey, stored: &Arc<Stored>) -> u64 {
        (key.query.len() + key.variables.len() + stored.body.len() + stored.snapshot.len() + 128) as u64
    }
}

/// The process's answer cache, shared by every worker.
pub struct AnswerCache {
    entries: Option<quick_cache::sync::Cache<AnswerKey, Arc<Stored>, ByBytes>>,
    probe: Arc<std::sync::Mutex<Probe>>,
    /// Requests running for a key that missed: identical requests wait until this ends.
    flights: Flights,
    hits: AtomicU64,
    misses: AtomicU64,
    shared: AtomicU64,
    waiting: AtomicU64,
}

type Flights = Arc<std::sync::Mutex<HashMap<AnswerKey, tokio::sync::watch::Receiver<()>>>>;

/// Counts a waiting request for as long as it lives (also when the request is dropped meanwhile).
struct Waiting<'a>(&'a AtomicU64);

impl<'a> Waiting<'a> {
    fn on(count: &'a AtomicU64) -> Waiting<'a> {
        count.fetch_add(1, Ordering::Relaxed);
        Waiting(count)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// What the cache has for a request.
pub(crate) enum Lookup {
    /// An answer read in a snapshot that sees what the store holds now.
    Hit(Arc<Stored>),
    /// Nothing usable: the request runs. Identical requests wait while it holds the [`Flight`].
    Miss(Option<Flight>),
}

/// Held by the request that runs for a key that missed, until its answer is kept (or it failed):
/// dropping it wakes the identical requests waiting for it.
pub(crate) struct Flight {
    key: AnswerKey,
    flights: Flights,
    _done: tokio::sync::watch::Sender<()>,
}

impl Drop for Flight {
    fn drop(&mut self) {
        self.flights.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(&self.key);
    }
}

/// The cache's own connection, on which it reads the store's current snapshot.
#[derive(Default)]
struct Probe {
    client: Option<Arc<tokio_postgres::Client>>,
    failed_at: Option<Instant>,
    /// A connection is being opened.
    connecting: bool,
}

/// How often the cache answered, for `/metrics`.
#[derive(Debug, Clone, Copy, Default)]
pub struct CacheCounts {
    pub hits: u64,
    pub misses: u64,
    /// Requests answered from an identical request that ran while they waited.
    pub shared: u64,
    /// Requests waiting now for an identical one.
    pub waiting: u64,
}

impl std::fmt::Debug for AnswerCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AnswerCache").field("enabled", &self.entries.is_some()).finish()
    }
}

impl AnswerCache {
    /// A cache holding up to `megabytes` of answers; 0 turns it off.
    pub fn new(megabytes: u64) -> AnswerCache {
        let bytes = megabytes.saturating_mul(1024 * 1024);
        let entries = (bytes > 0).then(|| quick_cache::sync::Cache::with_weighter(1024, bytes, ByBytes));
        AnswerCache {
            entries,
            probe: Arc::new(std::sync::Mutex::new(Probe::default())),
            flights: Flights::default(),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            shared: AtomicU64::new(0),
            waiting: AtomicU64::new(0),
        }
    }

    /// Whether answers read from `pool` can be cached at all.
    pub(crate) fn serves(&self, pool: &DbPool) -> bool {
        self.entries.is_some() && pool.backend() == Backend::Postgres && !pool.has_replicas()
    }

    /// The stored answer to `key` if it was read in a snapshot that sees what the store holds now;
    /// else, when an identical request is running, its answer once it is kept (waiting at most
    /// `wait`); else a miss, whose request leads the identical ones arriving while it runs.
    pub(crate) async fn answer(&self, pool: &DbPool, key: &AnswerKey, wait: Duration) -> Lookup {
        if self.entries.is_none() {
            return Lookup::Miss(None);
        }
        if let Some(stored) = self.current_answer(pool, key).await {
            self.hits.fetch_add(1, Ordering::Relaxed);
            return Lookup::Hit(stored);
        }
        let running = {
            let mut flights = self.flights.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            match flights.get(key) {
                Some(running) => running.clone(),
                None => {
                    let (done, running) = tokio::sync::watch::channel(());
                    flights.insert(key.clone(), running);
                    self.misses.fetch_add(1, Ordering::Relaxed);
                    return Lookup::Miss(Some(Flight { key: key.clone(), flights: self.flights.clone(), _done: done }));
                }
            }
        };
        {
            let _waiting = Waiting::on(&self.waiting);
            let mut running = running;
            // Ends when the running request drops its flight (its sender): kept, failed or timed out.
            let _ = tokio::time::timeout(wait, running.changed()).await;
        }
        match self.current_answer(pool, key).await {
            Some(stored) => {
                self.shared.fetch_add(1, Ordering::Relaxed);
                Lookup::Hit(stored)
            }
            None => {
                self.misses.fetch_add(1, Ordering::Relaxed);
                Lookup::Miss(None)
            }
        }
    }

    /// The stored answer to `key`, if younger than [`MAX_AGE`] and read in a snapshot with the name
    /// of the store's current one.
    async fn current_answer(&self, pool: &DbPool, key: &AnswerKey) -> Option<Arc<Stored>> {
        let stored = self.entries.as_ref()?.get(key).filter(|s| s.at.elapsed() < MAX_AGE)?;
        // Read after the request arrived: any write committed before it changes the snapshot's name.
        let now = self.current_snapshot(pool).await;
        (now.as_deref() == Some(stored.snapshot.as_str())).then_some(stored)
    }

    /// Keeps `body`, read in the snapshot named `snapshot`, as the answer to `key`.
    pub(crate) fn keep(&self, pool: &DbPool, key: AnswerKey, snapshot: String, body: Bytes) -> Arc<Stored> {
        let stored = Arc::new(Stored { etag: etag_of(&body), body, snapshot, at: Instant::now() });
        if let Some(entries) = &self.entries {
            entries.insert(key, stored.clone());
            self.open_connection(pool);
        }
        stored
    }

    pub fn counts(&self) -> CacheCounts {
        CacheCounts {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            shared: self.shared.load(Ordering::Relaxed),
            waiting: self.waiting.load(Ordering::Relaxed),
        }
    }

    /// Starts opening the cache's connection in the background unless it is open, being opened, or
    /// failed less than [`RECONNECT_AFTER`] ago.
    fn open_connection(&self, pool: &DbPool) {
        let mut probe = self.probe.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if probe.client.as_ref().is_some_and(|c| !c.is_closed()) || probe.connecting {
            return;
        }
        probe.client = None;
        if probe.failed_at.is_none_or(|at| at.elapsed() >= RECONNECT_AFTER) {
            probe.connecting = true;
            tokio::spawn(connect(self.probe.clone(), pool.url().to_string()));
        }
    }

    /// The name of the store's current snapshot, on the cache's connection. `None` when it cannot
    /// be read within [`PROBE_BOUND`] (the request then runs as if nothing were cached): while the
    /// connection is being opened (in the background, not by the request), for [`RECONNECT_AFTER`]
    /// after it failed or a read of it went unanswered (a frozen server must not hold requests).
    async fn current_snapshot(&self, pool: &DbPool) -> Option<String> {
        let client = {
            let probe = self.probe.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            match &probe.client {
                Some(client) if !client.is_closed() => client.clone(),
                _ => {
                    drop(probe);
                    self.open_connection(pool);
                    return None;
                }
            }
        };
        // The simple protocol: one round trip, pipelined with other requests' on the one connection.
        let read = tokio::time::timeout(PROBE_BOUND, client.simple_query("SELECT pg_current_snapshot()::text")).await;
        let messages = match read {
            Ok(Ok(messages)) => messages,
            Ok(Err(_)) | Err(_) => {
                let mut probe = self.probe.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                if probe.client.as_ref().is_some_and(|c| Arc::ptr_eq(c, &client)) {
                    tracing::warn!("the answer cache's connection did not answer; answers are not cached meanwhile");
                    probe.client = None;
                    probe.failed_at = Some(Instant::now());
                }
                return None;
            }
        };
        messages.into_iter().find_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(row) => row.get(0).map(str::to_string),
            _ => None,
        })
    }
}

/// Opens the cache's connection (within [`PROBE_BOUND`]) and leaves it, or the failure, in `probe`.
async fn connect(probe: Arc<std::sync::Mutex<Probe>>, url: String) {
    let opened = tokio::time::timeout(PROBE_BOUND, tokio_postgres::connect(&url, tokio_postgres::NoTls)).await;
    let client = match opened {
        Ok(Ok((client, connection))) => {
            tokio::spawn(async move {
                if let Err(e) = connection.await {
                    tracing::debug!(error = %e, "the answer cache's connection ended");
                }
            });
            Some(Arc::new(client))
        }
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "the answer cache cannot connect; answers are not cached meanwhile");
            None
        }
        Err(_) => {
            tracing::warn!("the answer cache's connection did not open in time; answers are not cached meanwhile");
            None
        }
    };
    let mut probe = probe.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    probe.connecting = false;
    if client.is_none() {
        probe.failed_at = Some(Instant::now());
    }
    probe.client = client;
}

/// Where a request's read snapshot leaves its name (`RequestReads::end` in api/src/read.rs), for the
/// answer to be kept under it.
#[derive(Debug, Clone, Default)]
pub(crate) struct SnapshotName(Arc<std::sync::Mutex<Option<String>>>);

impl SnapshotName {
    pub(crate) fn set(&self, name: String) {
        *self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(name);
    }

    pub(crate) fn take(&self) -> Option<String> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take()
    }
}

/// A strong entity tag for an answer's bytes.
pub(crate) fn etag_of(body: &[u8]) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(body);
    format!("\"{}\"", hex::encode(&digest[..12]))
}

/// Whether an `If-None-Match` header value names `etag` (or is `*`).
pub(crate) fn matches(if_none_match: &str, etag: &str) -> bool {
    if_none_match.split(',').map(str::trim).any(|tag| tag == "*" || tag == etag || tag.strip_prefix("W/") == Some(etag))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entity_tags_follow_the_bytes_and_if_none_match_lists_them() {
        let a = etag_of(b"{\"data\":1}");
        assert_eq!(a, etag_of(b"{\"data\":1}"));
        assert_ne!(a, etag_of(b"{\"data\":2}"));
        assert!(a.starts_with('"') && a.ends_with('"') && a.len() == 26, "{a}");
        assert!(matches(&format!("\"x\", {a}"), &a));
        assert!(matches(&format!("W/{a}"), &a));
        assert!(matches("*", &a));
        assert!(!matches("\"x\"", &a));
    }
}
