use async_graphql::connection::CursorType;
use async_graphql::dataloader::DataLoader;
use async_graphql::{Context, Object, Result};
use chrono::NaiveDate;

use super::idp::IdpFigureConnection;
use super::{Country, idp_page};
use crate::ApiError;
use crate::error::IntoGraphql;
use crate::error::shared;
use crate::loaders::{AreaIdpsLoader, AreaIdpsQuery, AreaLoader, ChildrenLoader, CountryLoader};
use crate::pagination::Window;

/// An administrative area (region, cercle, department...) identified by its p-code. Level 0 is the
/// country as a whole. Boundaries change: an area is valid from `validFrom` until `validTo`.
pub struct AdminArea(pub store::models::AdminArea);

/// Parses a Relay cursor given by a client.
pub fn decode_cursor(cursor: Option<String>) -> Result<Option<usize>, ApiError> {
    cursor
        .map(|c| usize::decode_cursor(&c).map_err(|_| ApiError::BadUserInput(format!("invalid cursor {c:?}"))))
        .transpose()
}

pub fn page_size(value: Option<i32>, name: &str) -> Result<Option<usize>, ApiError> {
    value
        .map(|v| usize::try_from(v).map_err(|_| ApiError::BadUserInput(format!("`{name}` must not be negative"))))
        .transpose()
}

/// An administrative area (region, cercle, department...) identified by its p-code. Level 0 is the
/// country as a whole. Boundaries change: an area is valid from `validFrom` until `validTo`.
#[Object]
impl AdminArea {
    /// Global id for `node(id:)`: `AdminArea:<key>`.
    pub async fn node_id(&self) -> async_graphql::ID {
        async_graphql::ID(format!("AdminArea:{}", self.0.id))
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
    async fn valid_from(&self) -> NaiveDate {
        self.0.valid_from
    }
    /// The day a later edition replaced it; null while current.
    async fn valid_to(&self) -> Option<NaiveDate> {
        self.0.valid_to
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
        #[graphql(default = false)] latest_round_only: bool,
        operation: Option<String>,
        round: Option<i32>,
        from: Option<NaiveDate>,
        to: Option<NaiveDate>,
        assessment_type: Option<String>,
        after: Option<String>,
        before: Option<String>,
        first: Option<i32>,
        last: Option<i32>,
    ) -> Result<IdpFigureConnection> {
        let (after, before) = (decode_cursor(after).gql()?, decode_cursor(before).gql()?);
        let (first, last) = (page_size(first, "first").gql()?, page_size(last, "last").gql()?);
        // Refuses a page over the maximum before anything is read.
        Window::new(0, after, before, first, last).gql()?;
        let query = AreaIdpsQuery {
            latest_round_only,
            operation,
            round,
            from,
            to,
            assessment_type: assessment_type.map(|t| t.to_uppercase()),
            after,
            before,
            first,
            last,
            counted: last.is_some() || before.is_some() || ctx.look_ahead().field("totalCount").exists(),
        };
        let loader = ctx.data::<DataLoader<AreaIdpsLoader>>()?;
        Ok(match loader.load_one((self.0.id, query)).await.map_err(shared)? {
            Some(page) => idp_page(page.rows, page.window, page.total),
            None => idp_page(Vec::new(), Window { start: 0, end: 0 }, 0),
        })
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
        operation: Option<String>,
        round: Option<i32>,
        date: Option<NaiveDate>,
        assessment_type: Option<String>,
    ) -> Result<Vec<super::IdpAggregate>> {
        let s = super::aggregate::selection(operation, round, date, assessment_type, None, None);
        super::aggregate::totals_of(ctx, self.0.id, &s).await
    }
    /// IDP time series for this area: one point per operation and round between `from` and `to`
    /// (inclusive), each reported for the area or summed from the areas below it.
    async fn idp_series(
        &self,
        ctx: &Context<'_>,
        from: Option<NaiveDate>,
        to: Option<NaiveDate>,
        operation: Option<String>,
        assessment_type: Option<String>,
    ) -> Result<Vec<super::IdpAggregate>> {
        let s = super::aggregate::selection(operation, None, None, assessment_type, from, to);
        super::aggregate::series_of(ctx, self.0.id, &s).await
    }
    /// IDPs per population, per operation (same selection as `idpTotals`). Null with a reason where
    /// the figures do not describe the same territory, e.g. Ménaka (ML10) before the 2021 boundaries.
    async fn idp_share(
        &self,
        ctx: &Context<'_>,
        operation: Option<String>,
        round: Option<i32>,
        date: Option<NaiveDate>,
    ) -> Result<Vec<super::IdpShare>> {
        let s = super::aggregate::selection(operation, round, date, None, None, None);
        super::aggregate::shares_of(ctx, &self.0, &s).await
    }
    /// Displacement sites in this area or any area inside it, by site id.
    async fn sites(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<super::SiteConnection> {
        let loader = ctx.data::<DataLoader<crate::loaders::AreaSitesLoader>>()?;
        let all = loader.load_one(self.0.id).await.map_err(shared)?.unwrap_or_default();
        let window =
            Window::new(all.len(), decode_cursor(after).gql()?, None, page_size(first, "first").gql()?, None).gql()?;
        Ok(super::site::site_connection(all, window))
    }
}
