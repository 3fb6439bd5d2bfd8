//! GraphQL object types. Each wraps a store model (kept apart, so the schema can evolve without
//! touching the tables) and resolves its links through the loaders.

mod aggregate;
mod appeal;
mod area;
mod country;
mod dataset;
mod idp;
mod node;
mod population;
mod run;
mod site;
mod source;

pub use aggregate::{IdpAggregate, IdpShare};
pub use appeal::{Appeal, FundingCoverage, OutsideFunding};
pub use area::AdminArea;
pub use area::{decode_cursor, page_size};
pub use country::Country;
pub use dataset::{Dataset, Resource};
pub use idp::{IdpOrderBy, idp_page};
pub use node::{Node, NodeKey};
pub use population::PopulationFigure;
pub use run::IngestRun;
pub use site::{Site, SiteConnection, site_page};
pub use source::SourceInfo;

use async_graphql::SimpleObject;

/// Extra fields of every list connection.
#[derive(Debug, Clone, SimpleObject)]
pub struct ListInfo {
    /// How many items the whole list has, across all pages.
    pub total_count: i64,
}
