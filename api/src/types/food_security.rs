//! Food security (Cadre Harmonisé and IPC): the `FoodSecurityFigure` figure sets, their connection,
//! and the theme's fields on `Country` and `AdminArea`. An area's list includes the areas inside it.

use async_graphql::dataloader::DataLoader;
use async_graphql::{Context, Enum, ErrorExtensions, ID, Object, Result};
use store::ReadSnapshot;
use store::food_security::{CURRENT, FoodSecurityFilter, FoodSecurityRow, PROJECTED, SECOND_PROJECTED};

use super::AdminArea;
use super::Provenance;
use super::connection::Connection;
use crate::ApiError;
use crate::error::shared;
use crate::loaders::AreaLoader;
use crate::scalars::Date;

/// Which period of an analysis a figure set is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub enum FoodSecurityProjection {
    /// The analysis's current period (the situation when it was made).
    Current,
    /// Its (first) projection.
    Projected,
    /// IPC's second projection.
    SecondProjected,
}

impl FoodSecurityProjection {
    fn code(self) -> &'static str {
        match self {
            FoodSecurityProjection::Current => CURRENT,
            FoodSecurityProjection::Projected => PROJECTED,
            FoodSecurityProjection::SecondProjected => SECOND_PROJECTED,
        }
    }

    fn of(code: &str) -> FoodSecurityProjection {
        match code {
            PROJECTED => FoodSecurityProjection::Projected,
            SECOND_PROJECTED => FoodSecurityProjection::SecondProjected,
            _ => FoodSecurityProjection::Current,
        }
    }
}

/// People by phase of acute food insecurity in one area, for one analysis (Cadre Harmonisé exercise or
/// IPC analysis) and one period of it (current or projected), as the source reports them.
pub struct FoodSecurityFigure(pub FoodSecurityRow);

impl FoodSecurityFigure {
    /// Where the figures come from; their reference date is the start of their period.
    pub fn provenance(&self) -> Provenance {
        Provenance::new(self.0.resource_id, self.0.run_id, self.0.retrieved_at).dated(self.0.reference_period_start)
    }
}

/// A page of food security figure sets, in the order the source lists them.
pub type FoodSecurityFigureConnection = Connection<FoodSecurityFigure>;

/// People by phase of acute food insecurity in one area, for one analysis (Cadre Harmonisé exercise or
/// IPC analysis) and one period of it (current or projected), as the source reports them.
#[Object]
impl FoodSecurityFigure {
    /// Global id (for `node(id:)` and client caches): `FoodSecurityFigure:<key>`.
    pub async fn id(&self) -> ID {
        ID(format!("FoodSecurityFigure:{}", self.0.id))
    }
    /// Where the figures come from: dataset, licence, credit, resource and its URL, ingest run, reference
    /// date (the start of the period) and when they were read.
    #[graphql(name = "provenance")]
    async fn provenance_field(&self) -> Provenance {
        self.provenance()
    }
    /// The area the figures are for; when `areaMatched` is false, the nearest enclosing area known
    /// (the country for IPC's areas, which the source names without a code).
    async fn area(&self, ctx: &Context<'_>) -> Result<Option<AdminArea>> {
        let Some(id) = self.0.area_id else { return Ok(None) };
        let loader = ctx.data::<DataLoader<AreaLoader>>()?;
        Ok(loader.load_one(id).await.map_err(shared)?.map(AdminArea::of))
    }
    /// 0 for the country as a whole, 1 to 3 for its areas, as the source places the row.
    async fn admin_level(&self) -> i32 {
        self.0.admin_level
    }
    /// Whether the source's area code matched one of our areas (Cadre Harmonisé's older Mali codes
    /// that match nothing are kept with their code).
    async fn area_matched(&self) -> bool {
        self.0.area_matched
    }
    /// The area code exactly as the source gives it (the ISO3 code for a national figure; empty for
    /// IPC's areas, named only).
    async fn source_pcode(&self) -> &str {
        &self.0.source_pcode
    }
    /// The area's name as the source gives it.
    async fn source_area_name(&self) -> &str {
        &self.0.source_area_name
    }
    /// The analysis: Cadre Harmonisé's exercise (`Sep-Dec 2021`) or IPC's date of analysis (`Apr 2023`).
    async fn analysis(&self) -> &str {
        &self.0.analysis
    }
    /// Whether the figures are for the analysis's current period or a projection.
    async fn projection(&self) -> FoodSecurityProjection {
        FoodSecurityProjection::of(&self.0.projection)
    }
    /// First day of the period the figures are for.
    async fn reference_period_start(&self) -> Date {
        Date(self.0.reference_period_start)
    }
    /// Last day of that period.
    async fn reference_period_end(&self) -> Date {
        Date(self.0.reference_period_end)
    }
    /// Whether the source says a later analysis is the one to use for this period (Cadre Harmonisé's
    /// `usethisperiod` N: two exercises can project the same months).
    async fn superseded(&self) -> bool {
        self.0.superseded
    }
    /// The population analysed.
    async fn population(&self) -> Option<i64> {
        self.0.population
    }
    /// People in phase 1 (minimal).
    async fn phase1(&self) -> Option<i64> {
        self.0.phase1
    }
    /// People in phase 2 (stressed).
    async fn phase2(&self) -> Option<i64> {
        self.0.phase2
    }
    /// People in phase 3 (crisis).
    async fn phase3(&self) -> Option<i64> {
        self.0.phase3
    }
    /// People in phase 4 (emergency).
    async fn phase4(&self) -> Option<i64> {
        self.0.phase4
    }
    /// People in phase 5 (catastrophe or famine).
    async fn phase5(&self) -> Option<i64> {
        self.0.phase5
    }
    /// People in phase 3 or worse, as the source gives it (never recomputed here).
    async fn phase3_plus(&self) -> Option<i64> {
        self.0.phase3_plus
    }
    /// The area's phase (1-5), where the source classifies it (Cadre Harmonisé); null otherwise.
    async fn phase_class(&self) -> Option<i32> {
        self.0.phase_class
    }
}

/// The name food security lists' cursors carry.
const LIST: &str = "foodSecurity";

/// One page of the figure sets matching `filter` (with, given `within`, the area and the areas inside
/// it, or the figures the source gave under that code), after the cursor `after`.
async fn food_security_page(
    ctx: &Context<'_>,
    filter: FoodSecurityFilter,
    within: Option<String>,
    after: Option<String>,
    first: Option<i32>,
) -> Result<FoodSecurityFigureConnection> {
    if let (Some(from), Some(to)) = (filter.from, filter.to)
        && to < from
    {
        return Err(ApiError::BadUserInput("`to` is before `from`".into()).extend());
    }
    super::connection::figure_page::<store::food_security::FoodSecurityFigures, _>(ctx, LIST, filter, within, after, first, FoodSecurityFigure).await
}

// --- the theme's fields on `Country` and `AdminArea` ---

/// The theme's GraphQL (one line in the `themes!` list of `api/src/types/mod.rs`).
pub struct Theme;

impl crate::themes::Theme for Theme {
    type CountryFields = CountryFoodSecurity;
    type AreaFields = AreaFoodSecurity;
    type QueryFields = crate::themes::NoFields;

    fn loaders(request: async_graphql::Request, _snapshot: &ReadSnapshot) -> async_graphql::Request {
        request
    }
}

/// A country's food security figures (Cadre Harmonisé, IPC).
pub struct CountryFoodSecurity(super::country::CountryRef);

impl crate::themes::Part<store::models::Country> for CountryFoodSecurity {
    fn of(row: &std::sync::Arc<store::models::Country>) -> Self {
        CountryFoodSecurity(row.clone())
    }
}

/// A country's food security figures (Cadre Harmonisé, IPC).
#[Object]
impl CountryFoodSecurity {
    /// The country's food security figure sets (people by phase of acute food insecurity), as the
    /// sources list them: by analysis, current or projected period, and area.
    #[allow(clippy::too_many_arguments)]
    #[graphql(complexity = "crate::pagination::page_cost(first, None, child_complexity)")]
    async fn food_security(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only figures at this admin level (0: national).")] admin_level: Option<i32>,
        #[graphql(desc = "Only figures for this area and the areas inside it, or given under this source code.")]
        pcode: Option<String>,
        #[graphql(desc = "Only periods that end on or after this day.")] from: Option<Date>,
        #[graphql(desc = "Only periods that start on or before this day.")] to: Option<Date>,
        #[graphql(desc = "Only the current period, or only a projection.")] projection: Option<FoodSecurityProjection>,
        #[graphql(desc = "Only this analysis, as `analysis` names it (`Sep-Dec 2021`, `Apr 2023`).")] analysis: Option<
            String,
        >,
        #[graphql(desc = "Only the area the source names so (`Kabul Urban`), exactly.")] area_name: Option<String>,
        #[graphql(desc = "The first this many figure sets (at most 1000; default 100).")] first: Option<i32>,
        #[graphql(desc = "Figure sets after this cursor (an `endCursor` or edge `cursor` of this list).")]
        after: Option<String>,
    ) -> Result<FoodSecurityFigureConnection> {
        let filter = FoodSecurityFilter {
            country_iso3: Some(self.0.iso3.clone()),
            admin_level,
            from: from.map(|d| d.0),
            to: to.map(|d| d.0),
            projection: projection.map(|p| p.code().to_string()),
            analysis,
            source_area_name: area_name,
            ..FoodSecurityFilter::default()
        };
        food_security_page(ctx, filter, pcode.map(|p| p.trim().to_uppercase()), after, first).await
    }
}

/// An area's food security figures (Cadre Harmonisé, IPC).
pub struct AreaFoodSecurity(super::area::AreaRef);

impl crate::themes::Part<store::models::AdminArea> for AreaFoodSecurity {
    fn of(row: &std::sync::Arc<store::models::AdminArea>) -> Self {
        AreaFoodSecurity(row.clone())
    }
}

/// An area's food security figures (Cadre Harmonisé, IPC).
#[Object]
impl AreaFoodSecurity {
    /// Food security figure sets of this area and every area inside it (and those the source gave under
    /// this area's code), as the sources list them.
    #[allow(clippy::too_many_arguments)]
    #[graphql(complexity = "crate::pagination::page_cost(first, None, child_complexity)")]
    async fn food_security(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only periods that end on or after this day.")] from: Option<Date>,
        #[graphql(desc = "Only periods that start on or before this day.")] to: Option<Date>,
        #[graphql(desc = "Only the current period, or only a projection.")] projection: Option<FoodSecurityProjection>,
        #[graphql(desc = "Only this analysis, as `analysis` names it (`Sep-Dec 2021`, `Apr 2023`).")] analysis: Option<
            String,
        >,
        #[graphql(desc = "The first this many figure sets (at most 1000; default 100).")] first: Option<i32>,
        #[graphql(desc = "Figure sets after this cursor (an `endCursor` or edge `cursor` of this list).")]
        after: Option<String>,
    ) -> Result<FoodSecurityFigureConnection> {
        let filter = FoodSecurityFilter {
            from: from.map(|d| d.0),
            to: to.map(|d| d.0),
            projection: projection.map(|p| p.code().to_string()),
            analysis,
            ..FoodSecurityFilter::default()
        };
        food_security_page(ctx, filter, Some(self.0.pcode.clone()), after, first).await
    }
}

impl super::node::GlobalId for FoodSecurityFigure {
    type Key = i64;
    fn parse_key(key: &str) -> Option<i64> {
        super::node::number(key)
    }
    fn load(c: &mut store::AnyConnection, id: i64) -> Result<Option<Self>, store::StoreError> {
        Ok(store::food_security::food_security_by_ids(c, &[id])?.into_iter().next().map(FoodSecurityFigure))
    }
}
