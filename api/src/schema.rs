//! The GraphQL schema, independent of any HTTP server.

use async_graphql::dataloader::DataLoader;
use async_graphql::{EmptySubscription, Schema};
use store::DbPool;

use crate::loaders::{
    AppealClustersLoader, AppealSharesLoader, AreaAliasesLoader, AreaIdpsLoader, AreaLoader, AreaPopulationLoader,
    ChildrenLoader, CountryAppealsLoader, CountryAreasLoader, CountryLoader, CountryPopulationLoader,
    DatasetByResourceLoader, DatasetResourcesLoader, DatasetRunsLoader, RunLoader, SubtreeIdpsLoader,
};
use crate::mutation::MutationRoot;
use crate::operations::Operations;
use crate::query::QueryRoot;

pub type CrisisSchema = Schema<QueryRoot, MutationRoot, EmptySubscription>;

/// Deepest query accepted.
pub const MAX_DEPTH: usize = 12;
/// Largest query complexity accepted.
pub const MAX_COMPLEXITY: usize = 5_000;

/// Wraps a loader: batches wait a few milliseconds so that every sibling in a list joins one batch.
fn loader<T: async_graphql::dataloader::Loader<K>, K>(inner: T) -> DataLoader<T>
where
    K: Send + Sync + std::hash::Hash + Eq + Clone + 'static,
{
    DataLoader::new(inner, tokio::spawn).delay(std::time::Duration::from_millis(10)).max_batch_size(1000)
}

/// Builds the schema over a store. Must be called inside a tokio runtime (the loaders spawn tasks).
/// `operations` wires mutations and the `sources` report; `Operations::default()` serves reads only.
pub fn build_schema(pool: DbPool, operations: Operations) -> CrisisSchema {
    Schema::build(QueryRoot, MutationRoot, EmptySubscription)
        .data(operations)
        .data(loader(AreaLoader(pool.clone())))
        .data(loader(ChildrenLoader(pool.clone())))
        .data(loader(CountryLoader(pool.clone())))
        .data(loader(CountryAreasLoader(pool.clone())))
        .data(loader(DatasetByResourceLoader(pool.clone())))
        .data(loader(AreaIdpsLoader(pool.clone())))
        .data(loader(RunLoader(pool.clone())))
        .data(loader(SubtreeIdpsLoader(pool.clone())))
        .data(loader(AreaAliasesLoader(pool.clone())))
        .data(loader(crate::loaders::AreaSitesLoader(pool.clone())))
        .data(loader(crate::loaders::ResourceLoader(pool.clone())))
        .data(loader(AreaPopulationLoader(pool.clone())))
        .data(loader(CountryPopulationLoader(pool.clone())))
        .data(loader(CountryAppealsLoader(pool.clone())))
        .data(loader(AppealClustersLoader(pool.clone())))
        .data(loader(AppealSharesLoader(pool.clone())))
        .data(loader(DatasetResourcesLoader(pool.clone())))
        .data(loader(DatasetRunsLoader(pool.clone())))
        .data(pool)
        // Automatic persisted queries: clients may send a query's hash instead of its text.
        .extension(async_graphql::extensions::apollo_persisted_queries::ApolloPersistedQueries::new(
            async_graphql::extensions::apollo_persisted_queries::LruCacheStorage::new(512),
        ))
        .limit_depth(MAX_DEPTH)
        .limit_complexity(MAX_COMPLEXITY)
        .finish()
}

/// The schema in SDL, sorted (types, fields, arguments, enum values) so that a diff shows only real
/// changes: `crisisgraph schema` prints it, `/schema.graphql` serves it, `schema.graphql` holds it.
pub fn sdl() -> String {
    let options = async_graphql::SDLExportOptions::new().sorted_fields().sorted_arguments().sorted_enum_items();
    Schema::build(QueryRoot, MutationRoot, EmptySubscription).finish().sdl_with_options(options)
}
