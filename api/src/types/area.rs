//! The core of `AdminArea`: its p-code, name, level, validity and place in the hierarchy. Each theme
//! adds its own fields from its module (see `crate::themes`).

use std::sync::Arc;

use async_graphql::dataloader::DataLoader;
use async_graphql::{Context, ID, Object, Result};

use super::{AdminArea, Country};
use crate::error::shared;
use crate::loaders::{AreaLoader, ChildrenLoader, CountryLoader};
use crate::scalars::Date;

/// An area's row, shared by the parts of its `AdminArea` object.
pub type AreaRef = Arc<store::models::AdminArea>;

/// The core fields of an admin area: p-code, name, level, validity, parent, children, country.
pub struct AreaCore(pub AreaRef);

/// The global id of an area: `AdminArea:<key>`.
pub fn area_id(area: &store::models::AdminArea) -> ID {
    super::node::global_id::<AdminArea>(area.id)
}

/// An administrative area (region, cercle, department...) identified by its p-code. Level 0 is the
/// country as a whole. Boundaries change: an area is valid from `validFrom` until `validTo`.
#[Object]
impl AreaCore {
    /// Global id (for `node(id:)` and client caches): `AdminArea:<key>`.
    async fn id(&self) -> ID {
        area_id(&self.0)
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
        Ok(loader.load_one(id).await.map_err(shared)?.map(AdminArea::of))
    }
    /// The current areas directly inside this one, by p-code.
    async fn children(&self, ctx: &Context<'_>) -> Result<Vec<AdminArea>> {
        let loader = ctx.data::<DataLoader<ChildrenLoader>>()?;
        Ok(loader
            .load_one(self.0.id)
            .await
            .map_err(shared)?
            .unwrap_or_default()
            .into_iter()
            .map(AdminArea::of)
            .collect())
    }
    /// The country the area belongs to.
    async fn country(&self, ctx: &Context<'_>) -> Result<Option<Country>> {
        let loader = ctx.data::<DataLoader<CountryLoader>>()?;
        Ok(loader.load_one(self.0.country_iso3.clone()).await.map_err(shared)?.map(Country::of))
    }
}

impl super::node::GlobalId for AdminArea {
    type Key = i64;
    fn parse_key(key: &str) -> Option<i64> {
        super::node::number(key)
    }
    fn load(c: &mut store::AnyConnection, id: i64) -> Result<Option<Self>, store::StoreError> {
        Ok(store::geography::areas_by_ids(c, &[id])?.into_iter().next().map(AdminArea::of))
    }
}
