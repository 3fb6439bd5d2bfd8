//! Humanitarian needs (HNO): the `HumanitarianNeed` figure sets, their connection, the area total
//! (`needsTotal`), and the theme's fields on `Country` and `AdminArea`.
//!
//! "All" is the same code whatever the source: sector `ALL` (the intersectoral figure, never a sum of
//! sectors), and `all` for population group, gender, age range and disability.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use async_graphql::dataloader::{DataLoader, Loader};
use async_graphql::{Context, Enum, ID, Object, Result};
use chrono::NaiveDate;
use store::ReadSnapshot;
use store::needs::{NeedFilter, NeedRow};

use super::connection::Connection;
use super::{AdminArea, Provenance, Sector};
use crate::ApiError;
use crate::error::{IntoGraphql, SharedStoreError, shared};
use crate::loaders::AreaLoader;

/// One set of humanitarian needs figures as the source reports it: for a plan year, an area, a
/// sector and a population group (by gender, age range and disability), the population, people in
/// need, targeted, affected and reached.
pub struct HumanitarianNeed(pub NeedRow);

impl HumanitarianNeed {
    /// Where the figures come from; their reference date is the start of the plan year.
    pub fn provenance(&self) -> Provenance {
        Provenance::new(self.0.resource_id, self.0.run_id, self.0.retrieved_at).dated(plan_year_start(self.0.year))
    }
}

fn plan_year_start(year: i32) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(year, 1, 1)
}

/// A page of humanitarian needs figure sets, in the order the source lists them.
pub type HumanitarianNeedConnection = Connection<HumanitarianNeed>;

/// "all" as an empty dimension reads: null where the source gives the group only in its category.
fn dimension(value: &str) -> Option<&str> {
    (!value.is_empty()).then_some(value)
}

/// One set of humanitarian needs figures as the source reports it: for a plan year, an area, a
/// sector and a population group (by gender, age range and disability), the population, people in
/// need, targeted, affected and reached.
#[Object]
impl HumanitarianNeed {
    /// Global id (for `node(id:)` and client caches): `HumanitarianNeed:<key>`.
    pub async fn id(&self) -> ID {
        ID(format!("HumanitarianNeed:{}", self.0.id))
    }
    /// Where the figures come from: dataset, licence, credit, resource and its URL, ingest run, reference
    /// date (the start of the plan year) and when they were read.
    #[graphql(name = "provenance")]
    async fn provenance_field(&self) -> Provenance {
        self.provenance()
    }
    /// The plan year (humanitarian response plan) the figures are for.
    async fn year(&self) -> i32 {
        self.0.year
    }
    /// 0 for the country as a whole, 1 and 2 for its areas, as the source places the row.
    async fn admin_level(&self) -> i32 {
        self.0.admin_level
    }
    /// The area the figures are for; when `areaMatched` is false, the nearest enclosing area known
    /// (null when none is).
    async fn area(&self, ctx: &Context<'_>) -> Result<Option<AdminArea>> {
        let Some(id) = self.0.area_id else { return Ok(None) };
        let loader = ctx.data::<DataLoader<AreaLoader>>()?;
        Ok(loader.load_one(id).await.map_err(shared)?.map(AdminArea::of))
    }
    /// Whether the source's area code matched one of our areas (an unmatched code, such as Mali's
    /// `ML011`, is kept with the source's code).
    async fn area_matched(&self) -> bool {
        self.0.area_matched
    }
    /// The area code exactly as the source gives it (the ISO3 code for a national figure).
    async fn source_pcode(&self) -> &str {
        &self.0.source_pcode
    }
    /// The sector: `ALL` is the source's own intersectoral figure (people in need of any sector, counted
    /// once), never a sum of sectors.
    async fn sector(&self) -> Sector {
        Sector::of(&self.0.sector)
    }
    /// The global HPC file's free-text category (e.g. `Children - Female - IDP`, `total`); null where the
    /// source gives the group in its own columns.
    async fn category(&self) -> Option<&str> {
        dimension(&self.0.category)
    }
    /// The population group: `all`, or the source's code (`IDP`, `RRI` returnees...); null where the
    /// source gives it only in `category`.
    async fn population_group(&self) -> Option<&str> {
        dimension(&self.0.population_group)
    }
    /// `all`, `f` or `m`; null where the source gives it only in `category`.
    async fn gender(&self) -> Option<&str> {
        dimension(&self.0.gender)
    }
    /// `all`, or a range such as `0-17`, `65+`; null where the source gives it only in `category`.
    async fn age_range(&self) -> Option<&str> {
        dimension(&self.0.age_range)
    }
    /// Persons with disabilities: `all`, `y` or `n`; null where the source gives it only in `category`.
    async fn disabled_marker(&self) -> Option<&str> {
        dimension(&self.0.disabled_marker)
    }
    /// The population of the group in the area, as the plan counts it.
    async fn population(&self) -> Option<i64> {
        self.0.population
    }
    /// People in need (PIN). Modelled fractions are rounded to the nearest person.
    async fn in_need(&self) -> Option<i64> {
        self.0.in_need
    }
    /// People the plan targets.
    async fn targeted(&self) -> Option<i64> {
        self.0.targeted
    }
    /// People affected.
    async fn affected(&self) -> Option<i64> {
        self.0.affected
    }
    /// People reached.
    async fn reached(&self) -> Option<i64> {
        self.0.reached
    }
}

/// How a needs total was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub enum NeedsMethod {
    /// The source reported a figure for this very area.
    ReportedAtLevel,
    /// The source reported none for this area: the figures of the areas directly below it are added up
    /// (of the same sector; sectors are never added into each other).
    SummedFromChildren,
}

/// An area's people in need and targeted for one plan year and sector, for everyone (every group,
/// gender, age and disability), with the rule that produced it.
#[derive(Clone)]
pub struct NeedsAggregate {
    year: i32,
    sector: String,
    in_need: Option<i64>,
    targeted: Option<i64>,
    method: NeedsMethod,
    areas_counted: usize,
    areas_at_level: usize,
    first: NeedRow,
}

/// An area's people in need and targeted for one plan year and sector, for everyone (every group,
/// gender, age and disability), with the rule that produced it.
#[Object]
impl NeedsAggregate {
    /// The plan year.
    async fn year(&self) -> i32 {
        self.year
    }
    /// The sector (`ALL`: intersectoral).
    async fn sector(&self) -> Sector {
        Sector::of(&self.sector)
    }
    /// People in need: reported for the area, or the sum over the areas below it (null when no figure
    /// was given).
    async fn in_need(&self) -> Option<i64> {
        self.in_need
    }
    /// People targeted, obtained the same way.
    async fn targeted(&self) -> Option<i64> {
        self.targeted
    }
    /// Whether the figures are the area's own (`REPORTED_AT_LEVEL`) or added up from the areas directly
    /// below it (`SUMMED_FROM_CHILDREN`).
    async fn method(&self) -> NeedsMethod {
        self.method
    }
    /// How many areas' figures were used (1 when reported at level).
    async fn areas_counted(&self) -> i32 {
        self.areas_counted as i32
    }
    /// How many areas lie directly below the area (coverage of a sum: compare with `areasCounted`).
    async fn areas_at_level(&self) -> i32 {
        self.areas_at_level as i32
    }
    /// Where the figures come from (of the first figure used, for a sum).
    async fn provenance(&self) -> Provenance {
        HumanitarianNeed(self.first.clone()).provenance()
    }
}

/// Adds up a figure, null only when no area gave it.
fn sum(values: impl Iterator<Item = Option<i64>>) -> Option<i64> {
    values.fold(None, |total, v| match (total, v) {
        (t, None) => t,
        (None, Some(v)) => Some(v),
        (Some(t), Some(v)) => Some(t.saturating_add(v)),
    })
}

/// The sector code of a `sector` argument (any spelling sources use), or a bad-request error.
fn sector_code(sector: Option<String>) -> Result<Option<String>, ApiError> {
    sector
        .map(|s| {
            ingest::kit::reference::sector(&s)
                .map(|found| found.code.clone())
                .ok_or_else(|| ApiError::BadUserInput(format!("unknown sector {s:?}: use a code such as ALL, FSC, WSH")))
        })
        .transpose()
}

/// The name needs lists' cursors carry.
const LIST: &str = "humanitarianNeeds";

/// One page of the figure sets matching `filter`, after the cursor `after` (keyset on the row id).
async fn needs_page(
    ctx: &Context<'_>,
    filter: NeedFilter,
    within: Option<String>,
    after: Option<String>,
    first: Option<i32>,
) -> Result<HumanitarianNeedConnection> {
    super::connection::figure_page::<store::needs::Needs, _>(ctx, LIST, filter, within, after, first, HumanitarianNeed).await
}

/// (area id, plan year, sector) → the area's own total, else the sum of the areas directly below it:
/// one batched read per plan year and sector, however many areas a query asks for.
pub struct NeedsTotalLoader(pub ReadSnapshot);

/// An area, a plan year and a sector code.
type TotalKey = (i64, i32, String);

impl Loader<TotalKey> for NeedsTotalLoader {
    type Value = NeedsAggregate;
    type Error = SharedStoreError;

    async fn load(&self, keys: &[TotalKey]) -> Result<HashMap<TotalKey, NeedsAggregate>, Self::Error> {
        let keys = keys.to_vec();
        let found = self
            .0
            .run(move |c| {
                let mut groups: BTreeMap<(i32, String), Vec<i64>> = BTreeMap::new();
                for (area, year, sector) in &keys {
                    groups.entry((*year, sector.clone())).or_default().push(*area);
                }
                let mut out = HashMap::new();
                for ((year, sector), areas) in groups {
                    let own = store::needs::totals_of_areas(c, &areas, year, &sector)?;
                    let lacking: Vec<i64> =
                        areas.iter().copied().filter(|a| !own.iter().any(|r| r.area_id == Some(*a))).collect();
                    let children = store::geography::current_children_of(c, &lacking)?;
                    let child_ids: Vec<i64> = children.iter().map(|a| a.id).collect();
                    let below = store::needs::totals_of_areas(c, &child_ids, year, &sector)?;
                    for area in areas {
                        let mine: Vec<NeedRow> = own.iter().filter(|r| r.area_id == Some(area)).cloned().collect();
                        let total = if mine.is_empty() {
                            let kids: Vec<i64> =
                                children.iter().filter(|a| a.parent_id == Some(area)).map(|a| a.id).collect();
                            let rows: Vec<NeedRow> =
                                below.iter().filter(|r| r.area_id.is_some_and(|a| kids.contains(&a))).cloned().collect();
                            aggregate(rows, NeedsMethod::SummedFromChildren, kids.len())
                        } else {
                            aggregate(mine, NeedsMethod::ReportedAtLevel, 1)
                        };
                        if let Some(total) = total {
                            out.insert((area, year, sector.clone()), total);
                        }
                    }
                }
                Ok(out)
            })
            .await?;
        Ok(found)
    }
}

/// The total of `rows` (one per area), obtained by `method`; none without rows.
fn aggregate(rows: Vec<NeedRow>, method: NeedsMethod, areas_at_level: usize) -> Option<NeedsAggregate> {
    let first = rows.first()?.clone();
    Some(NeedsAggregate {
        year: first.year,
        sector: first.sector.clone(),
        in_need: sum(rows.iter().map(|r| r.in_need)),
        targeted: sum(rows.iter().map(|r| r.targeted)),
        method,
        areas_counted: rows.iter().filter_map(|r| r.area_id).collect::<BTreeSet<_>>().len(),
        areas_at_level,
        first,
    })
}

// --- the theme's fields on `Country` and `AdminArea` ---

/// The theme's GraphQL (one line in the `themes!` list of `api/src/types/mod.rs`).
pub struct Theme;

impl crate::themes::Theme for Theme {
    type CountryFields = CountryNeeds;
    type AreaFields = AreaNeeds;
    type QueryFields = crate::themes::NoFields;

    fn loaders(request: async_graphql::Request, snapshot: &ReadSnapshot) -> async_graphql::Request {
        request.data(crate::loaders::loader(NeedsTotalLoader(snapshot.clone()), snapshot))
    }
}

/// A country's humanitarian needs (HNO).
pub struct CountryNeeds(super::country::CountryRef);

impl crate::themes::Part<store::models::Country> for CountryNeeds {
    fn of(row: &std::sync::Arc<store::models::Country>) -> Self {
        CountryNeeds(row.clone())
    }
}

/// A country's humanitarian needs (HNO).
#[Object]
impl CountryNeeds {
    /// The country's humanitarian needs figure sets (HNO), as the sources list them: by plan year, area,
    /// sector and population group. Every sector is its own figure (`ALL` is the intersectoral one).
    #[allow(clippy::too_many_arguments)]
    async fn humanitarian_needs(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only this plan year.")] year: Option<i32>,
        #[graphql(desc = "Only this sector: `ALL` (intersectoral), `FSC`, `WSH`... (any spelling sources use).")]
        sector: Option<String>,
        #[graphql(desc = "Only figures at this admin level (0: national).")] admin_level: Option<i32>,
        #[graphql(desc = "Only figures for this area and the areas inside it, or given under this source code.")]
        pcode: Option<String>,
        #[graphql(desc = "The first this many figure sets (at most 1000; default 100).")] first: Option<i32>,
        #[graphql(desc = "Figure sets after this cursor (an `endCursor` or edge `cursor` of this list).")]
        after: Option<String>,
    ) -> Result<HumanitarianNeedConnection> {
        let filter = NeedFilter {
            country_iso3: Some(self.0.iso3.clone()),
            year,
            sector: sector_code(sector).gql()?,
            admin_level,
            ..NeedFilter::default()
        };
        needs_page(ctx, filter, pcode, after, first).await
    }
}

/// An area's humanitarian needs (HNO).
pub struct AreaNeeds(super::area::AreaRef);

impl crate::themes::Part<store::models::AdminArea> for AreaNeeds {
    fn of(row: &std::sync::Arc<store::models::AdminArea>) -> Self {
        AreaNeeds(row.clone())
    }
}

/// An area's humanitarian needs (HNO).
#[Object]
impl AreaNeeds {
    /// Humanitarian needs figure sets (HNO) of this area and every area inside it, as the sources list
    /// them.
    async fn humanitarian_needs(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only this plan year.")] year: Option<i32>,
        #[graphql(desc = "Only this sector: `ALL` (intersectoral), `FSC`, `WSH`... (any spelling sources use).")]
        sector: Option<String>,
        #[graphql(desc = "The first this many figure sets (at most 1000; default 100).")] first: Option<i32>,
        #[graphql(desc = "Figure sets after this cursor (an `endCursor` or edge `cursor` of this list).")]
        after: Option<String>,
    ) -> Result<HumanitarianNeedConnection> {
        let filter = NeedFilter { year, sector: sector_code(sector).gql()?, ..NeedFilter::default() };
        needs_page(ctx, filter, Some(self.0.pcode.clone()), after, first).await
    }
    /// People in need and targeted in this area for a plan year and sector, for everyone: the area's own
    /// figure where the source reports one, else the sum of the areas directly below it (`method` says
    /// which). Sectors are never added into each other. Null when neither exists.
    async fn needs_total(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The plan year.")] year: i32,
        #[graphql(desc = "The sector (default `ALL`, the intersectoral figure).", default = "ALL")] sector: String,
    ) -> Result<Option<NeedsAggregate>> {
        let sector = sector_code(Some(sector)).gql()?.unwrap_or_else(|| "ALL".into());
        let loader = ctx.data::<DataLoader<NeedsTotalLoader>>()?;
        loader.load_one((self.0.id, year, sector)).await.map_err(shared)
    }
}

impl super::node::GlobalId for HumanitarianNeed {
    type Key = i64;
    fn parse_key(key: &str) -> Option<i64> {
        super::node::number(key)
    }
    fn load(c: &mut store::AnyConnection, id: i64) -> Result<Option<Self>, store::StoreError> {
        Ok(store::needs::needs_by_ids(c, &[id])?.into_iter().next().map(HumanitarianNeed))
    }
}
