//! crisisgraph's API: the GraphQL schema (types, loaders, limits) and the actix-web routes that
//! serve it. The schema knows nothing of HTTP ([`schema`]); [`server`] wires it to actix-web, the
//! way async-graphql's own examples keep the model apart from the transport.

mod aggregates;
pub mod answer_cache;
mod batching;
pub mod console;
mod error;
pub mod export;
pub mod graphiql;
mod graphql_http;
mod hooks;
pub mod limits;
pub mod live;
mod loaders;
pub mod metrics;
mod mutation;
pub mod odata;
pub mod operations;
mod pagination;
mod query;
mod read;
pub mod scalars;
pub mod schema;
pub mod server;
pub mod subscription;
mod themes;
mod types;

pub use error::ApiError;
pub use operations::Operations;
pub use schema::{CrisisSchema, build_schema};
