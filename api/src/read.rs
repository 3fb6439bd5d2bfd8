//! One read snapshot per GraphQL request: every resolver and loader of a request reads the same
//! committed state, so an ingest committing mid-request never shows up half in a response.
//!
//! For each request, [`ReadScope::begin`] gives a [`RequestReads`]: it opens (lazily, on the first
//! statement) a [`ReadSnapshot`], builds the request's loaders over it and puts both into the
//! request's data, and ends the snapshot when the request is done. The schema's one extension
//! (api/src/hooks.rs) calls it at each step. Mutations get an unpinned snapshot: they write
//! through the ingest coordinator on connections of their own, and what they return must be read
//! after their writes, outside any older snapshot.

use std::sync::{Mutex, PoisonError};

use async_graphql::parser::types::{ExecutableDocument, OperationType};
use async_graphql::{Context, Request, Response};
use store::{DbPool, ReadSnapshot, SnapshotGate};

use crate::answer_cache::SnapshotName;

/// Connections of the pool kept out of read snapshots: for ingest runs (a writer and its lease
/// heartbeat), mutations, health checks and metrics, so that a full load of readers never starves them.
const RESERVED: u32 = 2;

/// How many GraphQL requests and how many exports may hold a snapshot connection at once.
pub(crate) fn permits(pool: &DbPool) -> (usize, usize) {
    let readers = pool.max_size().saturating_sub(RESERVED).max(2) as usize;
    let exports = (readers / 4).max(2);
    (readers.saturating_sub(exports).max(1), exports)
}

/// The request's read snapshot, for resolvers that query the store directly.
pub(crate) fn snapshot<'a>(ctx: &'a Context<'_>) -> async_graphql::Result<&'a ReadSnapshot> {
    ctx.data::<ReadSnapshot>()
}

/// Gives every request its snapshot and loaders.
pub(crate) struct ReadScope {
    gate: SnapshotGate,
}

impl ReadScope {
    pub(crate) fn new(pool: DbPool) -> ReadScope {
        let (graphql, _) = permits(&pool);
        ReadScope { gate: SnapshotGate::new(pool, graphql) }
    }

    /// The reads of one request: a snapshot not opened yet.
    pub(crate) fn begin(&self) -> RequestReads {
        RequestReads { snapshot: self.gate.begin(), name: Mutex::new(None) }
    }
}

/// One request's snapshot, from its preparation to its answer.
pub(crate) struct RequestReads {
    snapshot: ReadSnapshot,
    /// Where to leave the snapshot's name when the answer may be cached (api/src/answer_cache.rs).
    name: Mutex<Option<SnapshotName>>,
}

impl RequestReads {
    /// Before parsing: the request's loaders and snapshot go into its data.
    pub(crate) fn prepare(&self, request: Request) -> Request {
        *self.name.lock().unwrap_or_else(PoisonError::into_inner) = request
            .data
            .get(&std::any::TypeId::of::<SnapshotName>())
            .and_then(|d| d.downcast_ref::<SnapshotName>())
            .cloned();
        crate::loaders::with_loaders(request, &self.snapshot).data(self.snapshot.clone())
    }

    /// Once the document is known: a mutation reads outside any snapshot (it must see its own writes),
    /// and a subscription, which lives for long, must not hold a connection for one either.
    pub(crate) fn parsed(&self, document: &ExecutableDocument, operation: Option<&str>) {
        if crate::graphql_http::selects_mutation(document, operation) || is_subscription(document) {
            self.snapshot.unpin();
        }
    }

    /// After execution: the snapshot's name is left for the answer cache (clean answers only), and the
    /// snapshot ends.
    pub(crate) async fn end(&self, response: &Response) {
        let name = self.name.lock().unwrap_or_else(PoisonError::into_inner).take();
        if let Some(name) = name.filter(|_| response.errors.is_empty())
            && let Some(identity) = self.snapshot.identity().await
        {
            name.set(identity);
        }
        self.snapshot.finish().await;
    }
}

/// Whether the document's operations include a subscription.
fn is_subscription(document: &ExecutableDocument) -> bool {
    document.operations.iter().any(|(_, op)| op.node.ty == OperationType::Subscription)
}
