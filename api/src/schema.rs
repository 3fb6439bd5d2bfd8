//! The GraphQL schema, independent of any HTTP server.

use async_graphql::dataloader::DataLoader;
use async_graphql::{EmptyMutation, EmptySubscription, Schema};
use store::DbPool;

use crate::loaders::{AreaIdpsLoader, AreaLoader, ChildrenLoader, CountryLoader, DatasetByResourceLoader};
use crate::query::QueryRoot;

pub type CrisisSchema = Schema<QueryRoot, EmptyMutation, EmptySubscription>;

/// Deepest query accepted.
pub const MAX_DEPTH: usize = 12;
/// Largest query complexity accepted.
pub const MAX_COMPLEXITY: usize = 5_000;

/// Builds the schema over a store. Must be called inside a tokio runtime (the loaders spawn tasks).
pub fn build_schema(pool: DbPool) -> CrisisSchema {
    Schema::build(QueryRoot, EmptyMutation, EmptySubscription)
        .data(DataLoader::new(AreaLoader(pool.clone()), tokio::spawn))
        .data(DataLoader::new(ChildrenLoader(pool.clone()), tokio::spawn))
        .data(DataLoader::new(CountryLoader(pool.clone()), tokio::spawn))
        .data(DataLoader::new(DatasetByResourceLoader(pool.clone()), tokio::spawn))
        .data(DataLoader::new(AreaIdpsLoader(pool.clone()), tokio::spawn))
        .data(pool)
        .limit_depth(MAX_DEPTH)
        .limit_complexity(MAX_COMPLEXITY)
        .finish()
}

/// The schema in SDL, as `crisisgraph schema` prints it.
pub fn sdl() -> String {
    Schema::build(QueryRoot, EmptyMutation, EmptySubscription).finish().sdl()
}
