use async_graphql::dataloader::DataLoader;
use async_graphql::{Context, ID, Object, Result};
use chrono::NaiveDate;
use store::idps::{IdpOrder, IdpPage, IdpPosition, IdpTotal, IdpTotalKey};

use super::connection::connection;
use super::{AdminArea, Dataset, IngestRun};
use crate::ApiError;
use crate::error::shared;
use crate::loaders::{AreaLoader, DatasetByResourceLoader, RunLoader};
use crate::pagination::{PageArgs, encode_cursor};
use crate::scalars::{Date, DateTime};

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
    /// Global id (for `node(id:)` and client caches); the same for the same figure across re-ingests.
    pub async fn id(&self) -> ID {
        super::node::idp_figure_id(&IdpTotalKey::of(&self.0))
    }
    /// The DTM operation, e.g. "Mali Conflict".
    async fn operation(&self) -> &str {
        &self.0.operation
    }
    /// The round number within the operation.
    async fn round(&self) -> i32 {
        self.0.round_number
    }
    /// The date DTM reports the figure for (not the data collection period).
    async fn reporting_date(&self) -> Date {
        self.0.reporting_date.into()
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
    async fn data_as_of(&self) -> Date {
        self.0.reporting_date.into()
    }
    /// When crisisgraph fetched the figure from its source (UTC).
    async fn retrieved_at(&self) -> DateTime {
        self.0.retrieved_at.into()
    }
}

connection!(
    IdpFigureConnection,
    IdpFigureEdge,
    IdpFigure,
    "A page of IDP figures (a Relay connection), in the list's order.",
    "One IDP figure of a page, with its cursor."
);

/// The cursor key of an IDP list: a figure's position (see [`IdpPosition`]), as JSON.
type IdpCursorKey = (i64, NaiveDate, String, i32, String, String, i64, i64);

fn cursor_key(p: &IdpPosition) -> IdpCursorKey {
    (
        p.individuals,
        p.reporting_date,
        p.operation.clone(),
        p.round_number,
        p.assessment_type.clone(),
        p.source_pcode.clone(),
        p.resource_id,
        p.id,
    )
}

fn position(
    (individuals, reporting_date, operation, round_number, assessment_type, source_pcode, resource_id, id): IdpCursorKey,
) -> IdpPosition {
    IdpPosition { individuals, reporting_date, operation, round_number, assessment_type, source_pcode, resource_id, id }
}

/// The name an IDP list's cursors carry: a cursor of one order is refused by another.
fn list_name(order: IdpOrder) -> &'static str {
    match order {
        IdpOrder::DateAsc => "idps:DATE_ASC",
        IdpOrder::DateDesc => "idps:DATE_DESC",
        IdpOrder::IndividualsDesc => "idps:INDIVIDUALS_DESC",
        IdpOrder::PcodeAsc => "idps:PCODE_ASC",
    }
}

/// A client's page of an IDP list in `order`, its cursors decoded.
pub fn idp_page_args(
    order: IdpOrder,
    after: Option<String>,
    before: Option<String>,
    first: Option<i32>,
    last: Option<i32>,
) -> Result<PageArgs<IdpPosition>, ApiError> {
    let args = PageArgs::<IdpCursorKey>::parse(list_name(order), after, before, first, last)?;
    Ok(PageArgs {
        after: args.after.map(position),
        before: args.before.map(position),
        first: args.first,
        last: args.last,
    })
}

/// The connection of one page of an IDP list in `order`.
pub fn idp_connection(page: IdpPage, order: IdpOrder, total: i64) -> IdpFigureConnection {
    let rows = page
        .rows
        .into_iter()
        .map(|row| {
            let cursor = encode_cursor(list_name(order), &cursor_key(&IdpPosition::of(&row)));
            (IdpFigure(row), cursor)
        })
        .collect();
    IdpFigureConnection::new(rows, page.has_previous, page.has_next, total)
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
