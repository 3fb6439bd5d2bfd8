use async_graphql::dataloader::DataLoader;
use async_graphql::{Context, ID, Object, Result};

use super::Country;
use super::idp::{IdpFigureConnection, idp_connection, idp_page_args};
use crate::error::IntoGraphql;
use crate::error::shared;
use crate::loaders::{AreaIdpsLoader, AreaIdpsQuery, AreaLoader, ChildrenLoader, CountryLoader};
use crate::scalars::Date;

/// An administrative area (region, cercle, department...) identified by its p-code. Level 0 is the
/// country as a whole. Boundaries change: an area is valid from `validFrom` until `validTo`.
pub struct AdminArea(pub store::models::AdminArea);

/// An administrative area (region, cercle, department...) identified by its p-code. Level 0 is the
/// country as a whole. Boundaries change: an area is valid from `validFrom` until `validTo`.
#[Object]
impl AdminArea {
    /// Global id (for `node(id:)` and client caches): `AdminArea:<key>`.
    pub async fn id(&self) -> ID {
        ID(format!("AdminArea:{}", self.0.id))
    }
    /// The p-code (COD), e.g. `ML05` for Mopti; for level 0, the country's ISO3 code.
    async fn pcode(&self) -> &str {
        &self.0.pcode
    }
    /// The area's name in the boundary list (COD), e.g. "Mopti".
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// 0 = country, 1 = first-level division (e.g. Mali's regions), 2 = second (cercles)...
    async fn level(&self) -> i32 {
        self.0.level
    }
    /// The first day the boundary edition listing this area is valid.
    async fn valid_from(&self) -> Date {
        self.0.valid_from.into()
    }
    /// The day a later edition replaced it; null while current.
    async fn valid_to(&self) -> Option<Date> {
        self.0.valid_to.map(Date)
    }
    /// The enclosing area (the country's level-0 area for a level-1 area).
    async fn parent(&self, ctx: &Context<'_>) -> Result<Option<AdminArea>> {
        let Some(id) = self.0.parent_id else { return Ok(None) };
        let loader = ctx.data::<DataLoader<AreaLoader>>()?;
        Ok(loader.load_one(id).await.map_err(shared)?.map(AdminArea))
    }
    /// The current areas directly inside this one, by p-code.
    async fn children(&self, ctx: &Context<'_>) -> Result<Vec<AdminArea>> {
        let loader = ctx.data::<DataLoader<ChildrenLoader>>()?;
        Ok(loader.load_one(self.0.id).await.map_err(shared)?.unwrap_or_default().into_iter().map(AdminArea).collect())
    }
    /// The country the area belongs to.
    async fn country(&self, ctx: &Context<'_>) -> Result<Option<Country>> {
        let loader = ctx.data::<DataLoader<CountryLoader>>()?;
        Ok(loader.load_one(self.0.country_iso3.clone()).await.map_err(shared)?.map(Country))
    }
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
    /// The area's population: the newest published figure covering exactly this area's territory
    /// (null where the only figures are for a different territory, e.g. Gao before Ménaka split off).
    async fn population(&self, ctx: &Context<'_>) -> Result<Option<super::PopulationFigure>> {
        let loader = ctx.data::<DataLoader<crate::loaders::AreaPopulationLoader>>()?;
        let rows = loader.load_one(self.0.id).await.map_err(shared)?.unwrap_or_default();
        Ok(super::PopulationFigure::latest(rows))
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
    /// Displacement sites in this area or any area inside it, by site code, then round.
    async fn sites(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The first this many sites (at most 1000; default 100).")] first: Option<i32>,
        #[graphql(desc = "Sites after this cursor (an `endCursor` or edge `cursor` of this list).")] after: Option<
            String,
        >,
    ) -> Result<super::SiteConnection> {
        let loader = ctx.data::<DataLoader<crate::loaders::AreaSitesLoader>>()?;
        let all = loader.load_one(self.0.id).await.map_err(shared)?.unwrap_or_default();
        super::site::site_connection(all, after, first).gql()
    }
}
