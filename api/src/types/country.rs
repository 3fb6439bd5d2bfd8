use async_graphql::dataloader::DataLoader;
use async_graphql::{Context, ID, Object, Result};
use store::idps::{IdpFilter, PageBounds, count_idp_totals, idp_totals_page};

use super::AdminArea;
use super::idp::{IdpFigureConnection, idp_connection, idp_page_args};
use crate::ApiError;
use crate::error::{IntoGraphql, shared};
use crate::loaders::CountryAreasLoader;
use crate::scalars::Date;
use async_graphql::ErrorExtensions;

/// A country, by ISO 3166 alpha-3 code.
pub struct Country(pub store::models::Country);

impl Country {
    async fn national_area(&self, ctx: &Context<'_>) -> Result<Option<i64>> {
        let loader = ctx.data::<DataLoader<CountryAreasLoader>>()?;
        let areas = loader.load_one((self.0.iso3.clone(), 0)).await.map_err(shared)?.unwrap_or_default();
        Ok(areas.first().map(|a| a.id))
    }
}

/// A country, by ISO 3166 alpha-3 code.
#[Object]
impl Country {
    /// Global id (for `node(id:)` and client caches): `Country:<ISO3>`.
    pub async fn id(&self) -> ID {
        ID(format!("Country:{}", self.0.iso3))
    }
    /// ISO 3166-1 alpha-3 code, e.g. `MLI`.
    async fn iso3(&self) -> &str {
        &self.0.iso3
    }
    /// ISO 3166-1 alpha-2 code, e.g. `ML`.
    async fn iso2(&self) -> Option<&str> {
        self.0.iso2.as_deref()
    }
    /// The country's English short name (ISO 3166), e.g. "Mali".
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// The country's current admin areas at `level` (0 = the country itself), by p-code.
    async fn admin_areas(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "0 = the country itself, 1 = first-level divisions (Mali's regions), 2 = second...")]
        level: i32,
    ) -> Result<Vec<AdminArea>> {
        if !(0..=5).contains(&level) {
            return Err(ApiError::BadUserInput("`level` must be between 0 and 5".into()).extend());
        }
        let loader = ctx.data::<DataLoader<CountryAreasLoader>>()?;
        let areas = loader.load_one((self.0.iso3.clone(), level)).await.map_err(shared)?.unwrap_or_default();
        Ok(areas.into_iter().map(AdminArea).collect())
    }
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
    /// The national population: the newest published figure for the whole country.
    async fn population(&self, ctx: &Context<'_>) -> Result<Option<super::PopulationFigure>> {
        let loader = ctx.data::<DataLoader<crate::loaders::CountryPopulationLoader>>()?;
        let rows = loader.load_one(self.0.iso3.clone()).await.map_err(shared)?.unwrap_or_default();
        Ok(super::PopulationFigure::latest(rows))
    }
    /// The country as an admin area (level 0): its regions, figures and aggregates.
    async fn area(&self, ctx: &Context<'_>) -> Result<Option<AdminArea>> {
        let loader = ctx.data::<DataLoader<CountryAreasLoader>>()?;
        let areas = loader.load_one((self.0.iso3.clone(), 0)).await.map_err(shared)?.unwrap_or_default();
        Ok(areas.into_iter().next().map(AdminArea))
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
        let Some(area) = self.national_area(ctx).await? else { return Ok(Vec::new()) };
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
        let Some(area) = self.national_area(ctx).await? else { return Ok(Vec::new()) };
        let s = super::aggregate::selection(operation, None, None, assessment_type, from, to);
        super::aggregate::series_of(ctx, area, &s).await
    }
    /// Requirements, funding and percent funded of the appeals the country has a share of, per year
    /// (the country's share of multi-country plans), newest year first.
    async fn funding_coverage(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only this year.")] year: Option<i32>,
    ) -> Result<Vec<super::FundingCoverage>> {
        super::appeal::coverage_of(ctx, &self.0.iso3, year).await
    }
    /// The funding appeals the country has a share of, optionally of one `year`, newest first.
    async fn appeals(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only plans of this year.")] year: Option<i32>,
    ) -> Result<Vec<super::Appeal>> {
        let loader = ctx.data::<DataLoader<crate::loaders::CountryAppealsLoader>>()?;
        let rows = loader.load_one((self.0.iso3.clone(), year)).await.map_err(shared)?.unwrap_or_default();
        Ok(rows.into_iter().map(super::Appeal).collect())
    }
    /// Funding received outside any appeal, per year (FTS's "Not specified"), newest first.
    async fn funding_outside_appeals(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only this year.")] year: Option<i32>,
    ) -> Result<Vec<super::OutsideFunding>> {
        let reads = crate::read::snapshot(ctx)?.clone();
        let iso3 = self.0.iso3.clone();
        let rows = reads.run(move |c| store::appeals::outside_funding_of_country(c, &iso3, year)).await.gql()?;
        Ok(rows.into_iter().map(super::OutsideFunding).collect())
    }
    /// The country's displacement sites, by site code, then round; `first`/`after` page through them.
    async fn sites(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The first this many sites (at most 1000; default 100).")] first: Option<i32>,
        #[graphql(desc = "Sites after this cursor (an `endCursor` or edge `cursor` of this list).")] after: Option<
            String,
        >,
    ) -> Result<super::SiteConnection> {
        let filter = store::sites::SiteFilter { country_iso3: Some(self.0.iso3.clone()), area_ids: None };
        super::site_page(ctx, filter, after, first).await
    }
}
