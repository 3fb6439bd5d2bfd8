use async_graphql::connection::{Connection, Edge};
use async_graphql::dataloader::DataLoader;
use async_graphql::{Context, Object, Result};
use chrono::{NaiveDate, NaiveDateTime};
use store::idps::IdpTotal;

use super::{AdminArea, Dataset, IngestRun, ListInfo};
use crate::error::shared;
use crate::loaders::{AreaLoader, DatasetByResourceLoader, RunLoader};
use crate::pagination::Window;

/// The number of IDPs present in one area for one (operation, round, reporting date, assessment
/// type), summed over displacement reasons and origins, as IOM DTM reports them.
///
/// Double counting: DTM runs several operations in some countries (round numbers restart per
/// operation), and may report the same figure under both baseline (BA) and site (SA) assessments.
/// Never add figures across operations or assessment types without checking them.
pub struct IdpFigure(pub IdpTotal);

/// The number of IDPs present in one area for one (operation, round, reporting date, assessment
/// type), summed over displacement reasons and origins, as IOM DTM reports them.
///
/// Double counting: DTM runs several operations in some countries (round numbers restart per
/// operation), and may report the same figure under both baseline (BA) and site (SA) assessments.
/// Never add figures across operations or assessment types without checking them.
#[Object]
impl IdpFigure {
    /// The DTM operation, e.g. "Mali Conflict".
    async fn operation(&self) -> &str {
        &self.0.operation
    }
    /// The round number within the operation.
    async fn round(&self) -> i32 {
        self.0.round_number
    }
    /// The date DTM reports the figure for (not the data collection period).
    async fn reporting_date(&self) -> NaiveDate {
        self.0.reporting_date
    }
    /// `BA` (baseline assessment) or `SA` (site assessment).
    async fn assessment_type(&self) -> &str {
        &self.0.assessment_type
    }
    /// IDPs present: number of individuals.
    async fn individuals(&self) -> i64 {
        self.0.individuals
    }
    /// The admin level the source reported the figure at (0 = country).
    async fn admin_level(&self) -> i32 {
        self.0.admin_level
    }
    /// The country the figure is for.
    async fn country(&self, ctx: &Context<'_>) -> Result<Option<super::Country>> {
        let loader = ctx.data::<DataLoader<crate::loaders::CountryLoader>>()?;
        Ok(loader.load_one(self.0.country_iso3.clone()).await.map_err(shared)?.map(super::Country))
    }
    /// The area the figure is for. When the source's code matched none of ours (`areaMatched` is
    /// false), this is the nearest enclosing area we know; `sourcePcode` keeps the source's code.
    async fn area(&self, ctx: &Context<'_>) -> Result<Option<AdminArea>> {
        let Some(id) = self.0.area_id else { return Ok(None) };
        let loader = ctx.data::<DataLoader<AreaLoader>>()?;
        Ok(loader.load_one(id).await.map_err(shared)?.map(AdminArea))
    }
    /// Whether the source's area code matched one of our admin areas (after p-code normalisation).
    async fn area_matched(&self) -> bool {
        self.0.area_matched
    }
    /// The area code exactly as the source sent it (e.g. DTM's `TD07` for COD's `TCD07`).
    async fn source_pcode(&self) -> &str {
        &self.0.source_pcode
    }
    /// The area name exactly as the source sent it.
    async fn source_name(&self) -> &str {
        &self.0.source_name
    }
    /// The resource (file or API endpoint) the figure was read from, with its URL.
    async fn resource(&self, ctx: &Context<'_>) -> Result<Option<super::Resource>> {
        crate::loaders::resource_of(ctx, self.0.resource_id).await
    }
    /// The dataset the figure comes from, with its licence and credit.
    async fn dataset(&self, ctx: &Context<'_>) -> Result<Option<Dataset>> {
        let loader = ctx.data::<DataLoader<DatasetByResourceLoader>>()?;
        Ok(loader.load_one(self.0.resource_id).await.map_err(shared)?.map(Dataset))
    }
    /// The ingest run that last wrote this figure (of the source rows summed into it, the latest).
    async fn ingest_run(&self, ctx: &Context<'_>) -> Result<Option<IngestRun>> {
        let loader = ctx.data::<DataLoader<RunLoader>>()?;
        Ok(loader.load_one(self.0.run_id).await.map_err(shared)?.map(IngestRun))
    }
    /// The source's reference date for the figure (the reporting date).
    async fn data_as_of(&self) -> NaiveDate {
        self.0.reporting_date
    }
    /// When crisisgraph fetched the figure from its source (UTC).
    async fn retrieved_at(&self) -> NaiveDateTime {
        self.0.retrieved_at
    }
}

pub type IdpFigureConnection = Connection<usize, IdpFigure, ListInfo>;

/// Builds one page of a connection from the page's rows, its window and the total.
pub fn idp_page(rows: Vec<IdpTotal>, window: Window, total: usize) -> IdpFigureConnection {
    let mut connection = Connection::with_additional_fields(
        window.has_previous(),
        window.has_next(total),
        ListInfo { total_count: total as i64 },
    );
    connection.edges.extend(rows.into_iter().enumerate().map(|(i, row)| Edge::new(window.start + i, IdpFigure(row))));
    connection
}

/// How IDP figure lists are ordered. Every order ends with the figure's full key, so pages are stable.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, async_graphql::Enum)]
pub enum IdpOrderBy {
    /// Oldest reporting date first.
    #[default]
    DateAsc,
    /// Newest reporting date first.
    DateDesc,
    /// Largest figures first.
    IndividualsDesc,
    /// By the area's p-code as the source sent it, then oldest first.
    PcodeAsc,
}

impl From<IdpOrderBy> for store::idps::IdpOrder {
    fn from(order: IdpOrderBy) -> Self {
        match order {
            IdpOrderBy::DateAsc => store::idps::IdpOrder::DateAsc,
            IdpOrderBy::DateDesc => store::idps::IdpOrder::DateDesc,
            IdpOrderBy::IndividualsDesc => store::idps::IdpOrder::IndividualsDesc,
            IdpOrderBy::PcodeAsc => store::idps::IdpOrder::PcodeAsc,
        }
    }
}
