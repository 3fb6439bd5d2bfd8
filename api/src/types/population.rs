use std::collections::HashMap;

use async_graphql::dataloader::{DataLoader, Loader};
use async_graphql::{Context, Object, Result};
use store::ReadSnapshot;
use store::population::PopulationRow;

use super::{AdminArea, Dataset, IngestRun, Provenance};
use crate::error::{SharedStoreError, shared};
use crate::loaders::AreaLoader;

/// The population of one area for one reference year, as published (COD-PS), with the boundary
/// edition it was published for. Figures of an older edition are attached to today's area only
/// where the territory is the same (e.g. Mali's 2018 cercle of Ménaka, `ML0704`, is today's region
/// `ML10`); where it changed (2018 Gao, which still held Ménaka) the figure is not any current area's.
pub struct PopulationFigure {
    /// The rows of one (area, edition, reference year): one per sex.
    rows: Vec<PopulationRow>,
    /// Where the figure comes from (its total's row).
    provenance: Provenance,
}

impl PopulationFigure {
    /// The newest figure among `rows` (all of one area or country), if any has a total.
    pub fn latest(mut rows: Vec<PopulationRow>) -> Option<PopulationFigure> {
        let best = rows
            .iter()
            .filter(|r| r.sex == "all" && r.age_range == "all")
            .max_by_key(|r| (r.reference_year, r.id))?
            .clone();
        rows.retain(|r| {
            r.reference_year == best.reference_year
                && r.source_pcode == best.source_pcode
                && r.boundary_edition == best.boundary_edition
                && r.age_range == "all"
        });
        let provenance = Provenance::new(best.resource_id, best.run_id, best.retrieved_at)
            .dated(chrono::NaiveDate::from_ymd_opt(best.reference_year, 1, 1));
        Some(PopulationFigure { rows, provenance })
    }

    /// The total population, if the figure has one.
    pub fn total_people(&self) -> Option<i64> {
        self.of_sex("all").map(|r| r.population)
    }

    fn of_sex(&self, sex: &str) -> Option<&PopulationRow> {
        self.rows.iter().find(|r| r.sex == sex)
    }

    /// Where the figure comes from; its reference date is the first day of its reference year.
    pub fn provenance(&self) -> Provenance {
        self.provenance.clone()
    }

    fn total_row(&self) -> Option<&PopulationRow> {
        self.of_sex("all").or(self.rows.first())
    }
}

/// The population of one area for one reference year, as published (COD-PS), with the boundary
/// edition it was published for. Figures of an older edition are attached to today's area only
/// where the territory is the same (e.g. Mali's 2018 cercle of Ménaka, `ML0704`, is today's region
/// `ML10`); where it changed (2018 Gao, which still held Ménaka) the figure is not any current area's.
#[Object]
impl PopulationFigure {
    /// Where the figure comes from: dataset, licence, credit, resource and its URL, ingest run,
    /// reference date and when it was read.
    #[graphql(name = "provenance")]
    async fn provenance_field(&self) -> Provenance {
        self.provenance()
    }
    /// Total population (all sexes, all ages).
    async fn total(&self) -> Option<i64> {
        self.of_sex("all").map(|r| r.population)
    }
    /// Female population, where the source gives it.
    async fn female(&self) -> Option<i64> {
        self.of_sex("f").map(|r| r.population)
    }
    /// Male population, where the source gives it.
    async fn male(&self) -> Option<i64> {
        self.of_sex("m").map(|r| r.population)
    }
    /// The year the figures are for (COD-PS: the projection year).
    async fn reference_year(&self) -> Option<i32> {
        self.total_row().map(|r| r.reference_year)
    }
    /// The source's reference date: COD-PS projections are for a year, so the first day of
    /// `referenceYear`.
    async fn data_as_of(&self) -> Option<crate::scalars::Date> {
        self.total_row().and_then(|r| chrono::NaiveDate::from_ymd_opt(r.reference_year, 1, 1)).map(crate::scalars::Date)
    }
    /// When crisisgraph read the figures from the source (UTC).
    async fn retrieved_at(&self) -> Option<crate::scalars::DateTime> {
        self.total_row().map(|r| r.retrieved_at.into())
    }
    /// The boundary edition the figures were published for, e.g. Mali's 9-region 2018 edition.
    async fn boundary_edition(&self) -> Option<&str> {
        self.total_row().map(|r| r.boundary_edition.as_str())
    }
    /// The area code exactly as the source gives it (`ML0704` for the 2018 cercle of Ménaka).
    async fn source_pcode(&self) -> Option<&str> {
        self.total_row().map(|r| r.source_pcode.as_str())
    }
    /// The area name exactly as the source gives it.
    async fn source_name(&self) -> Option<&str> {
        self.total_row().map(|r| r.source_name.as_str())
    }
    /// The admin level in the source's own edition (Ménaka: 2 in 2018, a cercle).
    async fn source_admin_level(&self) -> Option<i32> {
        self.total_row().map(|r| r.admin_level)
    }
    /// The current area the figure covers exactly; when `areaMatched` is false, the nearest
    /// enclosing area (the figure is not that area's).
    async fn area(&self, ctx: &Context<'_>) -> Result<Option<AdminArea>> {
        let Some(id) = self.total_row().and_then(|r| r.area_id) else { return Ok(None) };
        let loader = ctx.data::<DataLoader<AreaLoader>>()?;
        Ok(loader.load_one(id).await.map_err(shared)?.map(AdminArea::of))
    }
    /// Whether the figure covers exactly the territory of `area`.
    async fn area_matched(&self) -> bool {
        self.total_row().is_some_and(|r| r.area_matched)
    }
    /// The resource (file) the figure was read from, with its URL.
    async fn resource(&self, ctx: &Context<'_>) -> Result<Option<super::Resource>> {
        self.provenance().load_resource(ctx).await
    }
    /// The dataset the figure comes from, with its licence and credit.
    async fn dataset(&self, ctx: &Context<'_>) -> Result<Option<Dataset>> {
        self.provenance().load_dataset(ctx).await
    }
    /// The ingest run that last wrote the figure.
    async fn ingest_run(&self, ctx: &Context<'_>) -> Result<Option<IngestRun>> {
        self.provenance().load_ingest_run(ctx).await
    }
}

// --- the theme's loaders and its fields on `Country` and `AdminArea` ---

/// Area id → the area's population figures (every sex and edition), newest reference year first.
pub struct AreaPopulationLoader(pub ReadSnapshot);
/// Country ISO3 → the national (level 0) population figures, newest reference year first.
pub struct CountryPopulationLoader(pub ReadSnapshot);

impl Loader<i64> for AreaPopulationLoader {
    type Value = Vec<PopulationRow>;
    type Error = SharedStoreError;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, Vec<PopulationRow>>, Self::Error> {
        let ids = keys.to_vec();
        let rows = self.0.run(move |c| store::population::population_of_areas(c, &ids)).await?;
        let mut out: HashMap<i64, Vec<PopulationRow>> = HashMap::new();
        for row in rows {
            if let Some(area) = row.area_id {
                out.entry(area).or_default().push(row);
            }
        }
        Ok(out)
    }
}

impl Loader<String> for CountryPopulationLoader {
    type Value = Vec<PopulationRow>;
    type Error = SharedStoreError;

    async fn load(&self, keys: &[String]) -> Result<HashMap<String, Vec<PopulationRow>>, Self::Error> {
        let codes = keys.to_vec();
        let rows = self.0.run(move |c| store::population::national_population(c, &codes)).await?;
        let mut out: HashMap<String, Vec<PopulationRow>> = HashMap::new();
        for row in rows {
            out.entry(row.country_iso3.clone()).or_default().push(row);
        }
        Ok(out)
    }
}


/// The theme's GraphQL (one line in the `themes!` list of `api/src/types/mod.rs`).
pub struct Theme;

impl crate::themes::Theme for Theme {
    type CountryFields = CountryPopulation;
    type AreaFields = AreaPopulation;
    type QueryFields = crate::themes::NoFields;

    fn loaders(request: async_graphql::Request, snapshot: &ReadSnapshot) -> async_graphql::Request {
        request
            .data(crate::loaders::loader(AreaPopulationLoader(snapshot.clone()), snapshot))
            .data(crate::loaders::loader(CountryPopulationLoader(snapshot.clone()), snapshot))
    }
}

crate::themes::part!(
    /// A country's national population (COD-PS).
    CountryPopulation: Country
);

/// A country's national population (COD-PS).
#[async_graphql::Object]
impl CountryPopulation {
    /// The national population: the newest published figure for the whole country.
    async fn population(&self, ctx: &Context<'_>) -> Result<Option<super::PopulationFigure>> {
        let loader = ctx.data::<DataLoader<CountryPopulationLoader>>()?;
        let rows = loader.load_one(self.0.iso3.clone()).await.map_err(shared)?.unwrap_or_default();
        Ok(super::PopulationFigure::latest(rows))
    }
}

crate::themes::part!(
    /// An area's population (COD-PS).
    AreaPopulation: AdminArea
);

/// An area's population (COD-PS).
#[async_graphql::Object]
impl AreaPopulation {
    /// The area's population: the newest published figure covering exactly this area's territory
    /// (null where the only figures are for a different territory, e.g. Gao before Ménaka split off).
    async fn population(&self, ctx: &Context<'_>) -> Result<Option<super::PopulationFigure>> {
        let loader = ctx.data::<DataLoader<AreaPopulationLoader>>()?;
        let rows = loader.load_one(self.0.id).await.map_err(shared)?.unwrap_or_default();
        Ok(super::PopulationFigure::latest(rows))
    }
}
