use async_graphql::dataloader::DataLoader;
use async_graphql::{Context, Object, Result};
use store::idps::{IdpFilter, count_idp_totals, idp_totals};

use crate::error::shared;
use crate::loaders::CountryAreasLoader;

use super::area::{decode_cursor, page_size};
use super::idp::IdpFigureConnection;
use super::{AdminArea, idp_page};
use crate::ApiError;
use crate::error::IntoGraphql;
use crate::pagination::Window;
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
    /// Global id for `node(id:)`: `Country:<key>`.
    pub async fn node_id(&self) -> async_graphql::ID {
        async_graphql::ID(format!("Country:{}", self.0.iso3))
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
    async fn admin_areas(&self, ctx: &Context<'_>, level: i32) -> Result<Vec<AdminArea>> {
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
        #[graphql(default = 0)] admin_level: i32,
        #[graphql(default = false)] latest_round_only: bool,
        pcode: Option<String>,
        operation: Option<String>,
        round: Option<i32>,
        from: Option<chrono::NaiveDate>,
        to: Option<chrono::NaiveDate>,
        assessment_type: Option<String>,
        #[graphql(default)] order_by: super::IdpOrderBy,
        after: Option<String>,
        before: Option<String>,
        first: Option<i32>,
        last: Option<i32>,
    ) -> Result<IdpFigureConnection> {
        if !(0..=5).contains(&admin_level) {
            return Err(ApiError::BadUserInput("`adminLevel` must be between 0 and 5".into()).extend());
        }
        let (after, before) = (decode_cursor(after).gql()?, decode_cursor(before).gql()?);
        let (first, last) = (page_size(first, "first").gql()?, page_size(last, "last").gql()?);
        let reads = crate::read::snapshot(ctx)?.clone();
        let mut filter = IdpFilter {
            country_iso3: Some(self.0.iso3.clone()),
            admin_level: Some(admin_level),
            latest_round_only,
            operation,
            round,
            from,
            to,
            assessment_type: assessment_type.map(|t| t.to_uppercase()),
            order: order_by.into(),
            ..IdpFilter::default()
        };
        let root = pcode.map(|p| vec![p.trim().to_uppercase()]);
        // Counting every match costs a pass over them: skip it when the client asks neither for
        // `totalCount` nor for a page counted from the end, and read one row more to know if a next page exists.
        let counted = last.is_some() || before.is_some() || ctx.look_ahead().field("totalCount").exists();
        let (rows, window, total) = reads
            .run(move |c| {
                if let Some(root) = root {
                    filter.within_area_ids = Some(store::geography::area_ids_within(c, &root)?);
                }
                if !counted {
                    let start = after.map(|a| a + 1).unwrap_or(0);
                    let size = first.unwrap_or(crate::pagination::DEFAULT_PAGE);
                    // Validates the page size as the counted path does.
                    Window::new(0, None, None, first, None).map_err(|e| store::StoreError::Invalid(e.to_string()))?;
                    let mut rows = idp_totals(c, &filter, Some(size as i64 + 1), start as i64)?;
                    let more = rows.len() > size;
                    rows.truncate(size);
                    let end = start + rows.len();
                    return Ok((rows, Window { start, end }, end + usize::from(more)));
                }
                let total = count_idp_totals(c, &filter)? as usize;
                let window = Window::new(total, after, before, first, last)
                    .map_err(|e| store::StoreError::Invalid(e.to_string()))?;
                let rows = idp_totals(c, &filter, Some((window.end - window.start) as i64), window.start as i64)?;
                Ok((rows, window, total))
            })
            .await
            .map_err(|e| match e {
                store::StoreError::Invalid(message) => ApiError::LimitExceeded(message),
                other => ApiError::from(other),
            })
            .gql()?;
        Ok(idp_page(rows, window, total))
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
        operation: Option<String>,
        round: Option<i32>,
        date: Option<chrono::NaiveDate>,
        assessment_type: Option<String>,
    ) -> Result<Vec<super::IdpAggregate>> {
        let Some(area) = self.national_area(ctx).await? else { return Ok(Vec::new()) };
        let s = super::aggregate::selection(operation, round, date, assessment_type, None, None);
        super::aggregate::totals_of(ctx, area, &s).await
    }
    /// National IDP time series (see `AdminArea.idpSeries`).
    async fn idp_series(
        &self,
        ctx: &Context<'_>,
        from: Option<chrono::NaiveDate>,
        to: Option<chrono::NaiveDate>,
        operation: Option<String>,
        assessment_type: Option<String>,
    ) -> Result<Vec<super::IdpAggregate>> {
        let Some(area) = self.national_area(ctx).await? else { return Ok(Vec::new()) };
        let s = super::aggregate::selection(operation, None, None, assessment_type, from, to);
        super::aggregate::series_of(ctx, area, &s).await
    }
    /// Requirements, funding and percent funded of the appeals the country has a share of, per year
    /// (the country's share of multi-country plans), newest year first.
    async fn funding_coverage(&self, ctx: &Context<'_>, year: Option<i32>) -> Result<Vec<super::FundingCoverage>> {
        super::appeal::coverage_of(ctx, &self.0.iso3, year).await
    }
    /// The funding appeals the country has a share of, optionally of one `year`, newest first.
    async fn appeals(&self, ctx: &Context<'_>, year: Option<i32>) -> Result<Vec<super::Appeal>> {
        let loader = ctx.data::<DataLoader<crate::loaders::CountryAppealsLoader>>()?;
        let rows = loader.load_one((self.0.iso3.clone(), year)).await.map_err(shared)?.unwrap_or_default();
        Ok(rows.into_iter().map(super::Appeal).collect())
    }
    /// Funding received outside any appeal, per year (FTS's "Not specified"), newest first.
    async fn funding_outside_appeals(
        &self,
        ctx: &Context<'_>,
        year: Option<i32>,
    ) -> Result<Vec<super::OutsideFunding>> {
        let reads = crate::read::snapshot(ctx)?.clone();
        let iso3 = self.0.iso3.clone();
        let rows = reads.run(move |c| store::appeals::outside_funding_of_country(c, &iso3, year)).await.gql()?;
        Ok(rows.into_iter().map(super::OutsideFunding).collect())
    }
    /// The country's displacement sites, by site id; `first`/`after` page through them.
    async fn sites(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<super::SiteConnection> {
        let filter = store::sites::SiteFilter { country_iso3: Some(self.0.iso3.clone()), area_ids: None };
        super::site_page(ctx, filter, after, first).await
    }
}
