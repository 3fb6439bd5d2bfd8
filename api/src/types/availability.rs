//! `Country.themes`: which themes hold figures for a country, for which period, at which admin levels
//! and from which datasets (HDX HAPI's "data availability"). Derived from the BI entities
//! (`store::availability`), so a new theme appears here without a line in this module.

use async_graphql::{Object, Result};

use super::Dataset;
use crate::scalars::{Date, DateTime};

/// One theme's figures for one country: how many, for which period, from which datasets.
pub struct ThemeAvailability {
    pub coverage: store::availability::ThemeCoverage,
    pub datasets: Vec<store::models::Dataset>,
}

/// One theme's figures for one country: how many, for which period, at which admin levels and from
/// which datasets (HDX HAPI's "data availability").
#[Object]
impl ThemeAvailability {
    /// The theme, named as its export is (`/export/<theme>.csv`): `idps`, `population`, `appeals`,
    /// `sites`, `needs`, `operational_presence`, `markets`, `food-prices`, `national_risk`, ...
    async fn theme(&self) -> &str {
        self.coverage.entity.export
    }
    /// The SQL view holding the same rows, for BI tools (`bi_idps`, ...).
    async fn view(&self) -> &str {
        self.coverage.entity.view
    }
    /// What one row is (the first sentence of the BI guide's paragraph on the theme).
    async fn description(&self) -> String {
        let doc = self.coverage.entity.doc.split_whitespace().collect::<Vec<_>>().join(" ");
        match doc.find(". ") {
            Some(end) => doc[..=end].to_string(),
            None => doc,
        }
    }
    /// How many rows (figures) the theme holds for the country, at every admin level.
    async fn rows(&self) -> i64 {
        self.coverage.rows
    }
    /// The first day its figures cover (a yearly figure covers its whole year); null for a theme whose
    /// rows are not dated (operational presence, markets).
    async fn period_start(&self) -> Option<Date> {
        self.coverage.period_start.map(Date)
    }
    /// The last day its figures cover; null for a theme whose rows are not dated.
    async fn period_end(&self) -> Option<Date> {
        self.coverage.period_end.map(Date)
    }
    /// The admin levels its figures are at (0 = the country), when the theme has levels.
    async fn admin_levels(&self) -> &[i32] {
        &self.coverage.admin_levels
    }
    /// The datasets its figures come from, with their licence and credit.
    async fn datasets(&self) -> Vec<Dataset> {
        self.datasets.iter().cloned().map(Dataset).collect()
    }
    /// When the most recently fetched of its figures was retrieved (UTC).
    async fn last_retrieved_at(&self) -> Option<DateTime> {
        self.coverage.last_retrieved_at.map(DateTime)
    }
    /// The export of the country's figures of this theme, relative to the server: CSV, or JSON with
    /// `.json`.
    async fn export_path(&self) -> String {
        format!("/export/{}.csv?country={}", self.coverage.entity.export, self.coverage.country_iso3)
    }
}

/// Resolves `Country.themes` through the request's batched loader.
pub async fn themes_of_country(ctx: &async_graphql::Context<'_>, iso3: &str) -> Result<Vec<ThemeAvailability>> {
    let loader = ctx.data::<async_graphql::dataloader::DataLoader<crate::loaders::CountryThemesLoader>>()?;
    let found = loader.load_one(iso3.to_string()).await.map_err(crate::error::shared)?.unwrap_or_default();
    Ok(found.into_iter().map(|(coverage, datasets)| ThemeAvailability { coverage, datasets }).collect())
}
