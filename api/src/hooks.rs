//! The schema's one extension: every per-request hook of the server, in a fixed order.
//!
//! async-graphql wraps the resolution of every field and of every list item in each extension's
//! `resolve`, a boxed future per extension, whether the extension overrides `resolve` or not. With
//! four extensions (the read snapshot, persisted queries, the limits, GET's queries-only rule), a page
//! of 1,000 rows of five fields went through about 24,000 such layers; those frames alone were about
//! 10 % of the server's CPU on it (docs/benchmarks.md, fifth run). One extension keeps that to one
//! layer per value. The hooks themselves stay with what they serve: the snapshot in api/src/read.rs,
//! the limits in api/src/limits.rs, the GET rule in api/src/graphql_http.rs, and persisted queries
//! in async-graphql's own extension, which this one calls.

use std::sync::{Arc, Mutex, PoisonError};

use async_graphql::extensions::apollo_persisted_queries::{ApolloPersistedQueries, LruCacheStorage};
use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextParseQuery, NextPrepareRequest, NextRequest, NextValidation,
};
use async_graphql::parser::types::ExecutableDocument;
use async_graphql::{Request, Response, ServerError, ServerResult, ValidationResult, Variables};
use store::DbPool;

use crate::graphql_http::ByGet;
use crate::limits::ComplexityBudget;
use crate::read::{ReadScope, RequestReads};

/// Automatic persisted queries kept (by hash) per server.
const PERSISTED_QUERIES: usize = 512;

/// Builds each request's hooks.
pub(crate) struct RequestHooks {
    reads: ReadScope,
    /// Clients may send a query's hash instead of its text, once the text was sent with it.
    persisted: ApolloPersistedQueries<LruCacheStorage>,
}

impl RequestHooks {
    pub(crate) fn new(pool: DbPool) -> RequestHooks {
        RequestHooks {
            reads: ReadScope::new(pool),
            persisted: ApolloPersistedQueries::new(LruCacheStorage::new(PERSISTED_QUERIES)),
        }
    }
}

impl ExtensionFactory for RequestHooks {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(Hooks { reads: self.reads.begin(), persisted: self.persisted.create(), operation: Mutex::new(None) })
    }
}

/// One request's hooks.
struct Hooks {
    reads: RequestReads,
    persisted: Arc<dyn Extension>,
    /// The operation the request names.
    operation: Mutex<Option<String>>,
}

#[async_graphql::async_trait::async_trait]
impl Extension for Hooks {
    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        // Polled through the tracker that tells the loaders when to send (api/src/batching.rs).
        let response = crate::batching::Tracked::new(next.run(ctx)).await;
        self.reads.end(&response).await;
        response
    }

    /// The snapshot and loaders go into the request's data, then a persisted query's hash is replaced
    /// by its text (or the text is kept under its hash).
    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        *self.operation.lock().unwrap_or_else(PoisonError::into_inner) = request.operation_name.clone();
        let request = self.reads.prepare(request);
        self.persisted.prepare_request(ctx, request, next).await
    }

    /// In this order: a mutation by GET is refused, then a document over the depth limits; a mutation or
    /// a subscription then reads outside the request's snapshot.
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let document = next.run(ctx, query, variables).await?;
        let operation = self.operation.lock().unwrap_or_else(PoisonError::into_inner).clone();
        crate::graphql_http::refuse_mutation_by_get(
            ctx.data_opt::<ByGet>().is_some(),
            &document,
            operation.as_deref(),
        )?;
        crate::limits::check_depth(&document)?;
        self.reads.parsed(&document, operation.as_deref());
        Ok(document)
    }

    /// A valid operation's complexity is taken from the request's budget.
    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        let result = next.run(ctx).await?;
        crate::limits::spend_complexity(ctx.data_opt::<ComplexityBudget>(), result.complexity)?;
        Ok(result)
    }
}
