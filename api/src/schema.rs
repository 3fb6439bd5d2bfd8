//! The GraphQL schema, independent of any HTTP server.

use async_graphql::Schema;
use store::DbPool;

use crate::mutation::MutationRoot;
use crate::operations::Operations;
use crate::subscription::SubscriptionRoot;
use crate::types::QueryRoot;

pub type CrisisSchema = Schema<QueryRoot, MutationRoot, SubscriptionRoot>;

pub use crate::limits::{MAX_COMPLEXITY, MAX_DEPTH};

/// Builds the schema over a store. Each request reads from one snapshot of it;
/// execution must run inside a tokio runtime (the loaders spawn tasks).
/// `operations` wires mutations and the `sources` report; `Operations::default()` serves reads only.
pub fn build_schema(pool: DbPool, operations: Operations) -> CrisisSchema {
    let mut builder = Schema::build(QueryRoot::default(), MutationRoot, SubscriptionRoot);
    if let Some(live) = operations.live.clone() {
        builder = builder.data(live);
    }
    builder
        .data(operations)
        // The one extension: the read snapshot, persisted queries, the limits and GET's queries-only rule
        // (api/src/hooks.rs says why one).
        .extension(crate::hooks::RequestHooks::new(pool))
        .limit_directives(crate::limits::MAX_DIRECTIVES)
        .finish()
}

/// The schema in SDL, sorted (types, fields, arguments, enum values) so that a diff shows only real
/// changes: `crisisgraph schema` prints it, `/schema.graphql` serves it, `schema.graphql` holds it.
pub fn sdl() -> String {
    let options = async_graphql::SDLExportOptions::new().sorted_fields().sorted_arguments().sorted_enum_items();
    Schema::build(QueryRoot::default(), MutationRoot, SubscriptionRoot).finish().sdl_with_options(options)
}
