//! One read snapshot per GraphQL request: every resolver and loader of a request reads the same
//! committed state, so an ingest committing mid-request never shows up half in a response.
//!
//! [`ReadScope`] is a schema extension: for each request it opens (lazily, on the first statement) a
//! [`ReadSnapshot`], builds the request's loaders over it and puts both into the request's data,
//! and ends the snapshot when the request is done. Mutations get an unpinned snapshot: they write
//! through the ingest coordinator on connections of their own, and what they return must be read
//! after their writes, outside any older snapshot.

use std::sync::{Arc, Mutex, PoisonError};

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextParseQuery, NextPrepareRequest, NextRequest,
};
use async_graphql::parser::types::{DocumentOperations, ExecutableDocument, OperationType};
use async_graphql::{Context, Request, Response, ServerResult, Variables};
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

/// The schema extension giving every request its snapshot and loaders.
pub(crate) struct ReadScope {
    gate: SnapshotGate,
}

impl ReadScope {
    pub(crate) fn new(pool: DbPool) -> ReadScope {
        let (graphql, _) = permits(&pool);
        ReadScope { gate: SnapshotGate::new(pool, graphql) }
    }
}

impl ExtensionFactory for ReadScope {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(RequestReads { snapshot: self.gate.begin(), operation: Mutex::new(None), name: Mutex::new(None) })
    }
}

struct RequestReads {
    snapshot: ReadSnapshot,
    /// The operation the request names, to tell whether it is a mutation.
    operation: Mutex<Option<String>>,
    /// Where to leave the snapshot's name when the answer may be cached (api/src/answer_cache.rs).
    name: Mutex<Option<SnapshotName>>,
}

#[async_graphql::async_trait::async_trait]
impl Extension for RequestReads {
    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        let response = crate::batching::Tracked::new(next.run(ctx)).await;
        let name = self.name.lock().unwrap_or_else(PoisonError::into_inner).take();
        if let Some(name) = name.filter(|_| response.errors.is_empty())
            && let Some(identity) = self.snapshot.identity().await
        {
            name.set(identity);
        }
        self.snapshot.finish().await;
        response
    }

    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        *self.operation.lock().unwrap_or_else(PoisonError::into_inner) = request.operation_name.clone();
        *self.name.lock().unwrap_or_else(PoisonError::into_inner) = request
            .data
            .get(&std::any::TypeId::of::<SnapshotName>())
            .and_then(|d| d.downcast_ref::<SnapshotName>())
            .cloned();
        let request = crate::loaders::with_loaders(request, &self.snapshot).data(self.snapshot.clone());
        next.run(ctx, request).await
    }

    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let document = next.run(ctx, query, variables).await?;
        let name = self.operation.lock().unwrap_or_else(PoisonError::into_inner).clone();
        // A subscription lives for long: it must not hold a connection for its snapshot either.
        if is_mutation(&document, name.as_deref()) || is_subscription(&document) {
            self.snapshot.unpin();
        }
        Ok(document)
    }
}

/// Whether the operation a request runs is a mutation (with several operations and no name, the
/// request fails validation anyway).
fn is_mutation(document: &ExecutableDocument, name: Option<&str>) -> bool {
    match &document.operations {
        DocumentOperations::Single(op) => op.node.ty == OperationType::Mutation,
        DocumentOperations::Multiple(ops) => match name {
            Some(name) => ops.iter().any(|(n, op)| n.as_str() == name && op.node.ty == OperationType::Mutation),
            None => ops.values().any(|op| op.node.ty == OperationType::Mutation),
        },
    }
}

/// Whether the document's operations include a subscription.
fn is_subscription(document: &ExecutableDocument) -> bool {
    document.operations.iter().any(|(_, op)| op.node.ty == OperationType::Subscription)
}
