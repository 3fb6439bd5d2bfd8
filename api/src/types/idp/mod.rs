//! The IDP theme (IOM DTM): IDP figures and their lists, the country's and areas' `idps`,
//! `idpTotals`, `idpSeries` and `idpShare`, its loaders, and IDP figures' global ids.

mod loaders;

use async_graphql::dataloader::DataLoader;
use async_graphql::{Context, ErrorExtensions, ID, Object, Result};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::NaiveDate;
use store::idps::{
    IdpFilter, IdpOrder, IdpPage, IdpPosition, IdpTotal, IdpTotalKey, PageBounds, count_idp_totals, idp_totals_page,
};

use super::connection::Connection;
use super::{AdminArea, Dataset, IngestRun, Provenance};
use crate::ApiError;
use crate::error::{IntoGraphql, shared};
use crate::loaders::AreaLoader;
pub(crate) use loaders::{AreaAliasesLoader, AreaIdpsLoader, AreaIdpsQuery, SubtreeIdpsLoader};
use crate::pagination::PageArgs;
use crate::scalars::{Date, DateTime};

/// The number of IDPs present in one area for one (operation, round, reporting date, assessment
/// type), summed over displacement reasons and origins, as IOM DTM reports them.
///
/// Double counting: DTM runs several operations in some countries (round numbers restart per
/// operation), and may report the same figure under both baseline (BA) and site (SA) assessments.
/// Never add figures across operations or assessment types without checking them.
pub struct IdpFigure(pub IdpTotal);

impl IdpFigure {
    /// Where the figure comes from; its reference date is the reporting date.
    pub fn provenance(&self) -> Provenance {
        Provenance::new(self.0.resource_id, self.0.run_id, self.0.retrieved_at).dated(self.0.reporting_date)
    }
}

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
        idp_figure_id(&IdpTotalKey::of(&self.0))
    }
    /// Where the figure comes from: dataset, licence, credit, resource and its URL, ingest run,
    /// reference date and when it was read.
    #[graphql(name = "provenance")]
    async fn provenance_field(&self) -> Provenance {
        self.provenance()
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
        Ok(loader.load_one(self.0.country_iso3.clone()).await.map_err(shared)?.map(super::Country::of))
    }
    /// The area the figure is for. When the source's code matched none of ours (`areaMatched` is
    /// false), this is the nearest enclosing area we know; `sourcePcode` keeps the source's code.
    async fn area(&self, ctx: &Context<'_>) -> Result<Option<AdminArea>> {
        let Some(id) = self.0.area_id else { return Ok(None) };
        let loader = ctx.data::<DataLoader<AreaLoader>>()?;
        Ok(loader.load_one(id).await.map_err(shared)?.map(AdminArea::of))
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
        self.provenance().load_resource(ctx).await
    }
    /// The dataset the figure comes from, with its licence and credit.
    async fn dataset(&self, ctx: &Context<'_>) -> Result<Option<Dataset>> {
        self.provenance().load_dataset(ctx).await
    }
    /// The ingest run that last wrote this figure (of the source rows summed into it, the latest).
    async fn ingest_run(&self, ctx: &Context<'_>) -> Result<Option<IngestRun>> {
        self.provenance().load_ingest_run(ctx).await
    }
    /// The source's reference date for the figure (the reporting date).
    async fn data_as_of(&self) -> Date {
        self.0.reporting_date.into()
    }
    /// When crisisgraph fetched the figure from its source (UTC).
    async fn retrieved_at(&self) -> DateTime {
        self.provenance().retrieved()
    }
}

/// A page of IDP figures, in the list's order.
pub type IdpFigureConnection = Connection<IdpFigure>;

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
    let key = |row: &IdpTotal| cursor_key(&IdpPosition::of(row));
    Connection::keyset(page.rows, list_name(order), key, IdpFigure, page.has_previous, page.has_next, total)
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

// --- the theme's fields on `Country` and `AdminArea` ---

/// The theme's GraphQL (one line in the `themes!` list of `api/src/types/mod.rs`).
pub struct Theme;

impl crate::themes::Theme for Theme {
    type CountryFields = CountryIdps;
    type AreaFields = AreaIdps;
    type QueryFields = crate::themes::NoFields;

    fn loaders(request: async_graphql::Request, snapshot: &store::ReadSnapshot) -> async_graphql::Request {
        let s = || snapshot.clone();
        request
            .data(crate::loaders::loader(AreaIdpsLoader(s()), snapshot))
            .data(crate::loaders::loader(SubtreeIdpsLoader(s()), snapshot))
            .data(crate::loaders::loader(AreaAliasesLoader(s()), snapshot))
    }
}

crate::themes::part!(
    /// A country's IDP figures, totals and series (IOM DTM).
    CountryIdps: Country
);

/// A country's IDP figures, totals and series (IOM DTM).
#[async_graphql::Object]
impl CountryIdps {
    /// IDP figures of the country at admin level `adminLevel` (0 = national figures). Filters:
    /// `pcode` (that area and every area inside it), `operation`, `round`, reporting dates `from`/`to`
    /// (inclusive), `assessmentType`; `latestRoundOnly` keeps, per area and operation, only the latest
    /// round. Ordered by `orderBy` (oldest first by default); the order is stable for paging.
    #[allow(clippy::too_many_arguments)]
    #[graphql(complexity = "crate::pagination::page_cost(first, last, child_complexity)")]
    async fn idps(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 0, desc = "The admin level the figures are reported at (0 = national).")] admin_level: i32,
        #[graphql(default = false, desc = "Keep, per area and operation, only the latest round.")]
        latest_round_only: bool,
        #[graphql(desc = "Only figures of this area and every area inside it (its p-code, e.g. `ML05`).")]
        pcode: Option<String>,
        #[graphql(desc = "Only this DTM operation, e.g. \"Mali Conflict\".")] operation: Option<String>,
        #[graphql(desc = "Only this round.")] round: Option<i32>,
        #[graphql(desc = "Reporting dates from this day (inclusive).")] from: Option<Date>,
        #[graphql(desc = "Reporting dates up to this day (inclusive).")] to: Option<Date>,
        #[graphql(desc = "Only `BA` (baseline) or `SA` (site assessment) figures.")] assessment_type: Option<String>,
        #[graphql(default, desc = "The list's order; every order is stable for paging.")] order_by: super::IdpOrderBy,
        #[graphql(desc = "Rows after this cursor (an `endCursor` or edge `cursor` of this list).")] after: Option<
            String,
        >,
        #[graphql(desc = "Rows before this cursor (a `startCursor` or edge `cursor` of this list).")] before: Option<
            String,
        >,
        #[graphql(desc = "The first this many rows (at most 1000; default 100).")] first: Option<i32>,
        #[graphql(desc = "The last this many rows (at most 1000), counted back from `before` or the end.")]
        last: Option<i32>,
    ) -> Result<IdpFigureConnection> {
        if !(0..=5).contains(&admin_level) {
            return Err(ApiError::BadUserInput("`adminLevel` must be between 0 and 5".into()).extend());
        }
        let order: store::idps::IdpOrder = order_by.into();
        let page = idp_page_args(order, after, before, first, last).gql()?;
        let reads = crate::read::snapshot(ctx)?.clone();
        let mut filter = IdpFilter {
            country_iso3: Some(self.0.iso3.clone()),
            admin_level: Some(admin_level),
            latest_round_only,
            operation,
            round,
            from: from.map(|d| d.0),
            to: to.map(|d| d.0),
            assessment_type: assessment_type.map(|t| t.to_uppercase()),
            order,
            ..IdpFilter::default()
        };
        let root = pcode.map(|p| vec![p.trim().to_uppercase()]);
        // Counting every match costs a pass over them: only when the client asks for `totalCount`.
        let counted = ctx.look_ahead().field("totalCount").exists();
        let (found, total) = reads
            .run(move |c| {
                if let Some(root) = root {
                    filter.within_area_ids = Some(store::geography::area_ids_within(c, &root)?);
                }
                let bounds = PageBounds {
                    after: page.after.as_ref(),
                    before: page.before.as_ref(),
                    size: page.size(),
                    backward: page.backward(),
                };
                let found = idp_totals_page(c, &filter, bounds)?;
                let total = if counted { count_idp_totals(c, &filter)? } else { 0 };
                Ok((found, total))
            })
            .await
            .gql()?;
        Ok(idp_connection(found, order, total))
    }
    /// National IDP totals, one per DTM operation (see `AdminArea.idpTotals`).
    async fn idp_totals(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only this DTM operation.")] operation: Option<String>,
        #[graphql(desc = "This round (of each operation).")] round: Option<i32>,
        #[graphql(desc = "The latest round reported on or before this day.")] date: Option<Date>,
        #[graphql(desc = "Only `BA` or `SA` figures (by default BA is preferred over SA).")] assessment_type: Option<
            String,
        >,
    ) -> Result<Vec<super::IdpAggregate>> {
        let Some(area) = super::country::national_area(ctx, &self.0.iso3).await? else { return Ok(Vec::new()) };
        let s = super::aggregate::selection(operation, round, date, assessment_type, None, None);
        super::aggregate::totals_of(ctx, area, &s).await
    }
    /// National IDP time series (see `AdminArea.idpSeries`).
    async fn idp_series(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Reporting dates from this day (inclusive).")] from: Option<Date>,
        #[graphql(desc = "Reporting dates up to this day (inclusive).")] to: Option<Date>,
        #[graphql(desc = "Only this DTM operation.")] operation: Option<String>,
        #[graphql(desc = "Only `BA` or `SA` figures (by default BA is preferred over SA).")] assessment_type: Option<
            String,
        >,
    ) -> Result<Vec<super::IdpAggregate>> {
        let Some(area) = super::country::national_area(ctx, &self.0.iso3).await? else { return Ok(Vec::new()) };
        let s = super::aggregate::selection(operation, None, None, assessment_type, from, to);
        super::aggregate::series_of(ctx, area, &s).await
    }
}

crate::themes::part!(
    /// An area's IDP figures, totals, series and share of the population (IOM DTM).
    AreaIdps: AdminArea
);

/// An area's IDP figures, totals, series and share of the population (IOM DTM).
#[async_graphql::Object]
impl AreaIdps {
    /// IDP figures reported for exactly this area, oldest first (by date, operation, round,
    /// assessment type). `latestRoundOnly` keeps, per operation, only the latest round; `operation`,
    /// `round`, `from`/`to` (reporting dates, inclusive) and `assessmentType` narrow the list.
    #[graphql(complexity = "crate::pagination::page_cost(first, last, child_complexity)")]
    #[allow(clippy::too_many_arguments)]
    async fn idps(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = false, desc = "Keep, per operation, only the latest round.")] latest_round_only: bool,
        #[graphql(desc = "Only this DTM operation, e.g. \"Mali Conflict\".")] operation: Option<String>,
        #[graphql(desc = "Only this round.")] round: Option<i32>,
        #[graphql(desc = "Reporting dates from this day (inclusive).")] from: Option<Date>,
        #[graphql(desc = "Reporting dates up to this day (inclusive).")] to: Option<Date>,
        #[graphql(desc = "Only `BA` (baseline) or `SA` (site assessment) figures.")] assessment_type: Option<String>,
        #[graphql(desc = "Rows after this cursor (an `endCursor` or edge `cursor` of this list).")] after: Option<
            String,
        >,
        #[graphql(desc = "Rows before this cursor (a `startCursor` or edge `cursor` of this list).")] before: Option<
            String,
        >,
        #[graphql(desc = "The first this many rows (at most 1000; default 100).")] first: Option<i32>,
        #[graphql(desc = "The last this many rows (at most 1000), counted back from `before` or the end.")]
        last: Option<i32>,
    ) -> Result<IdpFigureConnection> {
        let order = store::idps::IdpOrder::DateAsc;
        let page = idp_page_args(order, after, before, first, last).gql()?;
        let query = AreaIdpsQuery {
            latest_round_only,
            operation,
            round,
            from: from.map(|d| d.0),
            to: to.map(|d| d.0),
            assessment_type: assessment_type.map(|t| t.to_uppercase()),
            page,
            counted: ctx.look_ahead().field("totalCount").exists(),
        };
        let loader = ctx.data::<DataLoader<AreaIdpsLoader>>()?;
        let found = loader.load_one((self.0.id, query)).await.map_err(shared)?.unwrap_or_default();
        Ok(idp_connection(found.page, order, found.total))
    }
    /// IDP totals for this area, one per DTM operation: for `round`, or the latest round on or before
    /// `date`, or else the latest round. When the source has no figure for the area itself, the
    /// figures of the areas below it are added up (`method: SUMMED_FROM_CHILDREN`, with coverage).
    async fn idp_totals(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only this DTM operation.")] operation: Option<String>,
        #[graphql(desc = "This round (of each operation).")] round: Option<i32>,
        #[graphql(desc = "The latest round reported on or before this day.")] date: Option<Date>,
        #[graphql(desc = "Only `BA` or `SA` figures (by default BA is preferred over SA).")] assessment_type: Option<
            String,
        >,
    ) -> Result<Vec<super::IdpAggregate>> {
        let s = super::aggregate::selection(operation, round, date, assessment_type, None, None);
        super::aggregate::totals_of(ctx, self.0.id, &s).await
    }
    /// IDP time series for this area: one point per operation and round between `from` and `to`
    /// (inclusive), each reported for the area or summed from the areas below it.
    async fn idp_series(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Reporting dates from this day (inclusive).")] from: Option<Date>,
        #[graphql(desc = "Reporting dates up to this day (inclusive).")] to: Option<Date>,
        #[graphql(desc = "Only this DTM operation.")] operation: Option<String>,
        #[graphql(desc = "Only `BA` or `SA` figures (by default BA is preferred over SA).")] assessment_type: Option<
            String,
        >,
    ) -> Result<Vec<super::IdpAggregate>> {
        let s = super::aggregate::selection(operation, None, None, assessment_type, from, to);
        super::aggregate::series_of(ctx, self.0.id, &s).await
    }
    /// IDPs per population, per operation (same selection as `idpTotals`). Null with a reason where
    /// the figures do not describe the same territory, e.g. Ménaka (ML10) before the 2021 boundaries.
    async fn idp_share(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only this DTM operation.")] operation: Option<String>,
        #[graphql(desc = "This round (of each operation).")] round: Option<i32>,
        #[graphql(desc = "The latest round reported on or before this day.")] date: Option<Date>,
    ) -> Result<Vec<super::IdpShare>> {
        let s = super::aggregate::selection(operation, round, date, None, None, None);
        super::aggregate::shares_of(ctx, &self.0, &s).await
    }
}

// --- global ids: an IDP figure's id is its natural key, so it survives re-ingests ---

/// The JSON form of an IDP figure's natural key inside its id.
type FigureKey = (String, i32, String, String, i32, NaiveDate, String, i64);

/// The global id of the IDP figure with natural key `key`.
pub fn idp_figure_id(key: &IdpTotalKey) -> ID {
    let parts: FigureKey = (
        key.country_iso3.clone(),
        key.admin_level,
        key.source_pcode.clone(),
        key.operation.clone(),
        key.round_number,
        key.reporting_date,
        key.assessment_type.clone(),
        key.resource_id,
    );
    super::node::global_id::<IdpFigure>(URL_SAFE_NO_PAD.encode(serde_json::to_vec(&parts).unwrap_or_default()))
}

impl super::node::GlobalId for IdpFigure {
    type Key = IdpTotalKey;
    fn parse_key(key: &str) -> Option<IdpTotalKey> {
        let bytes = URL_SAFE_NO_PAD.decode(key).ok()?;
        let (country_iso3, admin_level, source_pcode, operation, round_number, reporting_date, assessment_type, resource_id): FigureKey =
            serde_json::from_slice(&bytes).ok()?;
        Some(IdpTotalKey {
            country_iso3,
            admin_level,
            source_pcode,
            operation,
            round_number,
            reporting_date,
            assessment_type,
            resource_id,
        })
    }
    fn load(c: &mut store::AnyConnection, key: IdpTotalKey) -> Result<Option<Self>, store::StoreError> {
        Ok(store::idps::idp_total_by_key(c, &key)?.map(IdpFigure))
    }
}
