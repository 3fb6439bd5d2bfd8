//! The core of `Country`: its codes, name and admin areas. Each theme adds its own fields from its
//! module (see `crate::themes`).

use std::sync::Arc;

use async_graphql::dataloader::DataLoader;
use async_graphql::{Context, ErrorExtensions, ID, Object, Result};

use super::AdminArea;
use crate::ApiError;
use crate::error::shared;
use crate::loaders::CountryAreasLoader;

/// A country's row, shared by the parts of its `Country` object.
pub type CountryRef = Arc<store::models::Country>;

/// The core fields of a country: codes, name, admin areas.
pub struct CountryCore(pub CountryRef);

/// The global id of a country: `Country:<ISO3>`.
pub fn country_id(country: &store::models::Country) -> ID {
    super::node::global_id::<super::Country>(&country.iso3)
}

/// The id of the country's level-0 area (the country as an admin area), if the store has it.
pub async fn national_area(ctx: &Context<'_>, iso3: &str) -> Result<Option<i64>> {
    let loader = ctx.data::<DataLoader<CountryAreasLoader>>()?;
    let areas = loader.load_one((iso3.to_string(), 0)).await.map_err(shared)?.unwrap_or_default();
    Ok(areas.first().map(|a| a.id))
}

/// A country, by ISO 3166 alpha-3 code.
#[Object]
impl CountryCore {
    /// Global id (for `node(id:)` and client caches): `Country:<ISO3>`.
    async fn id(&self) -> ID {
        country_id(&self.0)
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
    /// Which themes hold figures for the country: for which period, at which admin levels, from which
    /// datasets (HDX HAPI's "data availability"). Themes without figures for it are left out.
    async fn themes(&self, ctx: &Context<'_>) -> Result<Vec<super::availability::ThemeAvailability>> {
        super::availability::themes_of_country(ctx, &self.0.iso3).await
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
        Ok(areas.into_iter().map(AdminArea::of).collect())
    }
    /// The country as an admin area (level 0): its regions, figures and aggregates.
    async fn area(&self, ctx: &Context<'_>) -> Result<Option<AdminArea>> {
        let loader = ctx.data::<DataLoader<CountryAreasLoader>>()?;
        let areas = loader.load_one((self.0.iso3.clone(), 0)).await.map_err(shared)?.unwrap_or_default();
        Ok(areas.into_iter().next().map(AdminArea::of))
    }
}

impl super::node::GlobalId for super::Country {
    type Key = String;
    fn parse_key(key: &str) -> Option<String> {
        Some(key.to_uppercase())
    }
    fn load(c: &mut store::AnyConnection, iso3: String) -> Result<Option<Self>, store::StoreError> {
        Ok(store::geography::countries_by_iso3(c, &[iso3])?.into_iter().next().map(super::Country::of))
    }
}
