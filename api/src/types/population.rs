use async_graphql::dataloader::DataLoader;
use async_graphql::{Context, Object, Result};
use store::population::PopulationRow;

use super::{AdminArea, Dataset, IngestRun};
use crate::error::shared;
use crate::loaders::{AreaLoader, DatasetByResourceLoader, RunLoader};

/// The population of one area for one reference year, as published (COD-PS), with the boundary
/// edition it was published for. Figures of an older edition are attached to today's area only
/// where the territory is the same (e.g. Mali's 2018 cercle of Ménaka, `ML0704`, is today's region
/// `ML10`); where it changed (2018 Gao, which still held Ménaka) the figure is not any current area's.
pub struct PopulationFigure {
    /// The rows of one (area, edition, reference year): one per sex.
    rows: Vec<PopulationRow>,
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
        Some(PopulationFigure { rows })
    }

    /// The total population, if the figure has one.
    pub fn total_people(&self) -> Option<i64> {
        self.of_sex("all").map(|r| r.population)
    }

    fn of_sex(&self, sex: &str) -> Option<&PopulationRow> {
        self.rows.iter().find(|r| r.sex == sex)
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
        Ok(loader.load_one(id).await.map_err(shared)?.map(AdminArea))
    }
    /// Whether the figure covers exactly the territory of `area`.
    async fn area_matched(&self) -> bool {
        self.total_row().is_some_and(|r| r.area_matched)
    }
    /// The resource (file) the figure was read from, with its URL.
    async fn resource(&self, ctx: &Context<'_>) -> Result<Option<super::Resource>> {
        let Some(resource) = self.total_row().map(|r| r.resource_id) else { return Ok(None) };
        crate::loaders::resource_of(ctx, resource).await
    }
    /// The dataset the figure comes from, with its licence and credit.
    async fn dataset(&self, ctx: &Context<'_>) -> Result<Option<Dataset>> {
        let Some(resource) = self.total_row().map(|r| r.resource_id) else { return Ok(None) };
        let loader = ctx.data::<DataLoader<DatasetByResourceLoader>>()?;
        Ok(loader.load_one(resource).await.map_err(shared)?.map(Dataset))
    }
    /// The ingest run that last wrote the figure.
    async fn ingest_run(&self, ctx: &Context<'_>) -> Result<Option<IngestRun>> {
        let Some(run) = self.total_row().map(|r| r.run_id) else { return Ok(None) };
        let loader = ctx.data::<DataLoader<RunLoader>>()?;
        Ok(loader.load_one(run).await.map_err(shared)?.map(IngestRun))
    }
}
