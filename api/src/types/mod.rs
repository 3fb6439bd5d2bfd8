//! GraphQL object types. Each wraps a store model (kept apart, so the schema can evolve without
//! touching the tables) and resolves its links through the loaders.
//!
//! A theme (IDPs, population, funding, sites...) is one module here, named on one line of the
//! `themes!` list below: its object types, its connection, its loaders and its fields on `Country`
//! and `AdminArea` (see `crate::themes`).

mod aggregate;
mod area;
mod availability;
pub(crate) mod connection;
mod country;
mod dataset;
mod live;
pub(crate) mod node;
mod provenance;
mod run;
mod sector;
mod source;

// The core node types, then the themes, one line each: the theme's module and its node types.
crate::themes::themes! {
    core: Country, AdminArea, Dataset, Resource, IngestRun;
    idp: IdpFigure;
    population;
    appeal: Appeal;
    site: Site;
    needs: HumanitarianNeed;
    presence: OperationalPresence, Organisation;
    national_risk;
    refugees;
    food_security: FoodSecurityFigure;
    food_prices: Market, FoodPrice;
    conflict_events: ConflictEventFigure;
}

pub use aggregate::{IdpAggregate, IdpShare};
pub use appeal::{Appeal, FundingCoverage, OutsideFunding};
pub use dataset::{Dataset, Resource};
pub use idp::IdpOrderBy;
pub use live::{DataChange, WebhookDelivery};
pub use node::row_id;
pub use population::PopulationFigure;
pub use provenance::Provenance;
pub use run::{IngestRun, IngestRunConnection};
pub use sector::Sector;
pub use site::{SiteConnection, site_page};
pub use source::SourceInfo;
