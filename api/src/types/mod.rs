//! GraphQL object types. Each wraps a store model (kept apart, so the schema can evolve without
//! touching the tables) and resolves its links through the loaders.

mod aggregate;
mod appeal;
mod area;
pub(crate) mod connection;
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
pub use country::Country;
pub use dataset::{Dataset, Resource};
pub use idp::{IdpFigure, IdpOrderBy};
pub use node::{Node, NodeKey, row_id};
pub use population::PopulationFigure;
pub use run::{IngestRun, IngestRunConnection};
pub use site::{Site, SiteConnection, site_page};
pub use source::SourceInfo;
