//! Operational presence (3W): who works where, in which sector. `OperationalPresence` nodes (one
//! organisation in one area and sector), `Organisation` nodes (canonicalised with HDX HAPI's mapping),
//! the global `Sector` type, and the theme's fields on `Country` and `AdminArea`.

use std::collections::HashMap;

use async_graphql::dataloader::{DataLoader, Loader};
use async_graphql::{Context, ErrorExtensions, ID, Object, Result};
use store::ReadSnapshot;
use store::presence::{OrganisationRow, PresenceFilter, PresenceRow};

use super::connection::Connection;
use super::{AdminArea, Provenance, Sector};
use crate::ApiError;
use crate::error::{IntoGraphql, SharedStoreError, shared};
use crate::loaders::AreaLoader;
use crate::pagination::PageArgs;

/// The sector code an argument names: a code (`FSC`), an alias (`WASH`) or a name in English or
/// French (`Santé`).
fn sector_code(argument: Option<String>) -> Result<Option<String>> {
    match argument.map(|s| s.trim().to_string()).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(text) => match ingest::kit::reference::sector(&text) {
            Some(s) => Ok(Some(s.code.clone())),
            None => Err(ApiError::BadUserInput(format!(
                "unknown sector {text:?}: give a code of the global coordination groups (FSC, HEA, WSH...), ALL, MS or CSS"
            ))
            .extend()),
        },
    }
}

/// An organisation (UN agency, NGO, Red Cross society, government body...), under its canonical
/// acronym and name: the spellings of the 3W files are mapped as HDX HAPI maps them (OIM is IOM, OMS
/// is WHO), and organisations whose acronym and name differ only in case, accents or punctuation are one.
pub struct Organisation(pub OrganisationRow);

/// An organisation (UN agency, NGO, Red Cross society, government body...), under its canonical
/// acronym and name: the spellings of the 3W files are mapped as HDX HAPI maps them (OIM is IOM, OMS
/// is WHO), and organisations whose acronym and name differ only in case, accents or punctuation are one.
#[Object]
impl Organisation {
    /// Global id (for `node(id:)` and client caches): `Organisation:<key>`.
    pub async fn id(&self) -> ID {
        ID(format!("Organisation:{}", self.0.id))
    }
    /// The canonical acronym, e.g. `IOM`, `WHO`, `NRC` (empty when no source gives one).
    async fn acronym(&self) -> &str {
        &self.0.acronym
    }
    /// The canonical name, e.g. "International Organization for Migration".
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// The organisation's type (OCHA's organisation types): "International NGO", "National NGO",
    /// "United Nations", "Red Cross / Red Crescent", "Government"...; null when no source gives one.
    #[graphql(name = "type")]
    async fn org_type(&self) -> Option<&str> {
        self.0.org_type.as_deref()
    }
    /// The type's HR.info code, e.g. `437` for International NGO.
    async fn type_code(&self) -> Option<&str> {
        self.0.org_type_code.as_deref()
    }
    /// Where the organisation works: its presences in every country, by row; optionally in one sector.
    #[graphql(complexity = "crate::pagination::page_cost(first, None, child_complexity)")]
    async fn presence(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only this sector: a code (`FSC`), or a name in English or French.")] sector: Option<String>,
        #[graphql(desc = "The first this many presences (at most 1000; default 100).")] first: Option<i32>,
        #[graphql(desc = "Presences after this cursor (an `endCursor` or edge `cursor` of this list).")] after: Option<
            String,
        >,
    ) -> Result<OperationalPresenceConnection> {
        let filter = PresenceFilter {
            sector_code: sector_code(sector)?,
            organisation_ids: Some(vec![self.0.id]),
            ..PresenceFilter::default()
        };
        presence_page(ctx, filter, after, first).await
    }
}

/// One organisation working in one area and one sector, as a country's 3W (who does what where)
/// reports it: the file's many activities of the organisation there are one presence.
pub struct OperationalPresence(pub PresenceRow);

impl OperationalPresence {
    /// Where the presence comes from; a 3W gives no date of its own for a row.
    pub fn provenance(&self) -> Provenance {
        Provenance::new(self.0.resource_id, self.0.run_id, self.0.retrieved_at)
    }
}

/// A page of operational presences.
pub type OperationalPresenceConnection = Connection<OperationalPresence>;

/// One organisation working in one area and one sector, as a country's 3W (who does what where)
/// reports it: the file's many activities of the organisation there are one presence.
#[Object]
impl OperationalPresence {
    /// Global id (for `node(id:)` and client caches): `OperationalPresence:<key>`.
    pub async fn id(&self) -> ID {
        ID(format!("OperationalPresence:{}", self.0.id))
    }
    /// Where the presence comes from: dataset, licence, credit, resource and its URL, ingest run and
    /// when it was read.
    #[graphql(name = "provenance")]
    async fn provenance_field(&self) -> Provenance {
        self.provenance()
    }
    /// The area the organisation works in; when `areaMatched` is false, the nearest enclosing area known.
    async fn area(&self, ctx: &Context<'_>) -> Result<Option<AdminArea>> {
        let Some(id) = self.0.area_id else { return Ok(None) };
        let loader = ctx.data::<DataLoader<AreaLoader>>()?;
        Ok(loader.load_one(id).await.map_err(shared)?.map(AdminArea::of))
    }
    /// The admin level the 3W reports the presence at (Mali's: 2, the cercle; Chad's: 1, the province).
    async fn admin_level(&self) -> i32 {
        self.0.admin_level
    }
    /// The area code exactly as the source gives it (Chad's `TD19` is our `TCD19`).
    async fn source_pcode(&self) -> &str {
        &self.0.source_pcode
    }
    /// Whether the source's area code matched one of our areas.
    async fn area_matched(&self) -> bool {
        self.0.area_matched
    }
    /// The organisation, canonicalised.
    async fn organisation(&self, ctx: &Context<'_>) -> Result<Option<Organisation>> {
        let loader = ctx.data::<DataLoader<OrganisationLoader>>()?;
        Ok(loader.load_one(self.0.organisation_id).await.map_err(shared)?.map(Organisation))
    }
    /// The sector (global coordination groups; the source's cluster mapped to it).
    async fn sector(&self) -> Sector {
        Sector::of(&self.0.sector_code)
    }
    /// The cluster as the source writes it, e.g. "Sécurité Alimentaire", "EHA".
    async fn source_sector(&self) -> &str {
        &self.0.source_sector
    }
    /// How many rows (activities) of the source report this presence.
    async fn source_rows(&self) -> i32 {
        self.0.source_rows
    }
}

/// The name presence lists' cursors carry.
const LIST: &str = "operationalPresence";

/// One page of presences matching `filter` (by row), after the cursor `after`.
pub async fn presence_page(
    ctx: &Context<'_>,
    filter: PresenceFilter,
    after: Option<String>,
    first: Option<i32>,
) -> Result<OperationalPresenceConnection> {
    let args = PageArgs::<i64>::parse(LIST, after, None, first, None).gql()?;
    let (after, size) = (args.after, args.size());
    let counted = ctx.look_ahead().field("totalCount").exists();
    let reads = crate::read::snapshot(ctx)?.clone();
    let (rows, has_previous, has_next, total) = reads
        .run(move |c| {
            let (rows, has_previous, has_next) = store::presence::presence_page(c, &filter, after, size)?;
            let total = if counted { store::presence::count_presence(c, &filter)? } else { 0 };
            Ok((rows, has_previous, has_next, total))
        })
        .await
        .gql()?;
    Ok(Connection::keyset(rows, LIST, |r: &PresenceRow| r.id, OperationalPresence, has_previous, has_next, total))
}

/// Completes a filter with the organisations an argument names (acronym or name, any case; none the
/// store knows gives an empty list) and the areas within a p-code.
async fn resolve(
    ctx: &Context<'_>,
    mut filter: PresenceFilter,
    within: Option<String>,
    organisation: Option<String>,
) -> Result<PresenceFilter> {
    let reads = crate::read::snapshot(ctx)?.clone();
    let within = within.map(|p| p.trim().to_uppercase()).filter(|p| !p.is_empty());
    let organisation = organisation.map(|o| o.trim().to_string()).filter(|o| !o.is_empty());
    let (areas, organisations) = reads
        .run(move |c| {
            let areas = within.map(|p| store::geography::area_ids_within(c, &[p])).transpose()?;
            let organisations = organisation.map(|o| store::presence::organisation_ids_named(c, &o)).transpose()?;
            Ok((areas, organisations))
        })
        .await
        .gql()?;
    if areas.is_some() {
        filter.area_ids = areas;
    }
    if organisations.is_some() {
        filter.organisation_ids = organisations;
    }
    Ok(filter)
}

// --- the theme's loader and its fields on `Country` and `AdminArea` ---

/// Organisation id → organisation.
pub struct OrganisationLoader(pub ReadSnapshot);

impl Loader<i64> for OrganisationLoader {
    type Value = OrganisationRow;
    type Error = SharedStoreError;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, OrganisationRow>, Self::Error> {
        let ids = keys.to_vec();
        let rows = self.0.run(move |c| store::presence::organisations_by_ids(c, &ids)).await?;
        Ok(rows.into_iter().map(|o| (o.id, o)).collect())
    }
}

/// The theme's GraphQL (one line in the `themes!` list of `api/src/types/mod.rs`).
pub struct Theme;

impl crate::themes::Theme for Theme {
    type CountryFields = CountryPresence;
    type AreaFields = AreaPresence;
    type QueryFields = QueryPresence;

    fn loaders(request: async_graphql::Request, snapshot: &ReadSnapshot) -> async_graphql::Request {
        request.data(crate::loaders::loader(OrganisationLoader(snapshot.clone()), snapshot))
    }
}

/// Who works in a country (operational presence, 3W).
pub struct CountryPresence(super::country::CountryRef);

impl crate::themes::Part<store::models::Country> for CountryPresence {
    fn of(row: &std::sync::Arc<store::models::Country>) -> Self {
        CountryPresence(row.clone())
    }
}

/// Who works in a country (operational presence, 3W).
#[Object]
impl CountryPresence {
    /// The country's operational presence (3W): one organisation in one area and sector each, by row;
    /// optionally within an area, in a sector, of an organisation.
    #[graphql(complexity = "crate::pagination::page_cost(first, None, child_complexity)")]
    async fn operational_presence(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only in this area and the areas inside it (a p-code, e.g. `ML05`).")] pcode: Option<String>,
        #[graphql(desc = "Only this sector: a code (`FSC`), or a name in English or French.")] sector: Option<String>,
        #[graphql(desc = "Only this organisation: its canonical acronym or name, in any case (`IOM`).")]
        organisation: Option<String>,
        #[graphql(desc = "The first this many presences (at most 1000; default 100).")] first: Option<i32>,
        #[graphql(desc = "Presences after this cursor (an `endCursor` or edge `cursor` of this list).")] after: Option<
            String,
        >,
    ) -> Result<OperationalPresenceConnection> {
        let filter = PresenceFilter {
            country_iso3: Some(self.0.iso3.clone()),
            sector_code: sector_code(sector)?,
            ..PresenceFilter::default()
        };
        let filter = resolve(ctx, filter, pcode, organisation).await?;
        presence_page(ctx, filter, after, first).await
    }
}

/// Who works in an area (operational presence, 3W).
pub struct AreaPresence(super::area::AreaRef);

impl crate::themes::Part<store::models::AdminArea> for AreaPresence {
    fn of(row: &std::sync::Arc<store::models::AdminArea>) -> Self {
        AreaPresence(row.clone())
    }
}

/// Who works in an area (operational presence, 3W).
#[Object]
impl AreaPresence {
    /// Operational presence (3W) in this area or any area inside it: one organisation in one area and
    /// sector each, by row; optionally in a sector, of an organisation.
    #[graphql(complexity = "crate::pagination::page_cost(first, None, child_complexity)")]
    async fn operational_presence(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only this sector: a code (`FSC`), or a name in English or French.")] sector: Option<String>,
        #[graphql(desc = "Only this organisation: its canonical acronym or name, in any case (`IOM`).")]
        organisation: Option<String>,
        #[graphql(desc = "The first this many presences (at most 1000; default 100).")] first: Option<i32>,
        #[graphql(desc = "Presences after this cursor (an `endCursor` or edge `cursor` of this list).")] after: Option<
            String,
        >,
    ) -> Result<OperationalPresenceConnection> {
        let filter = PresenceFilter { sector_code: sector_code(sector)?, ..PresenceFilter::default() };
        let filter = resolve(ctx, filter, Some(self.0.pcode.clone()), organisation).await?;
        presence_page(ctx, filter, after, first).await
    }
    /// The distinct organisations present in this area or any area inside it (optionally in one
    /// sector), by acronym then name.
    async fn organisations(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only organisations present in this sector: a code (`FSC`), or a name in English or French.")]
        sector: Option<String>,
    ) -> Result<Vec<Organisation>> {
        let filter = PresenceFilter { sector_code: sector_code(sector)?, ..PresenceFilter::default() };
        let filter = resolve(ctx, filter, Some(self.0.pcode.clone()), None).await?;
        let reads = crate::read::snapshot(ctx)?.clone();
        let rows = reads.run(move |c| store::presence::organisations_present(c, &filter)).await.gql()?;
        Ok(rows.into_iter().map(Organisation).collect())
    }
}


/// The theme's entry points on `Query`.
#[derive(Default)]
pub struct QueryPresence;

#[Object]
impl QueryPresence {
    /// Organisations (operational presence, 3W) whose canonical acronym or name contains `search` (any
    /// case; every organisation without it), by acronym then name.
    async fn organisations(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Text the acronym or name contains, e.g. `IOM` or `vision`.")] search: Option<String>,
    ) -> Result<Vec<Organisation>> {
        let reads = crate::read::snapshot(ctx)?.clone();
        let rows = reads.run(move |c| store::presence::search_organisations(c, search.as_deref())).await.gql()?;
        Ok(rows.into_iter().map(Organisation).collect())
    }
}

impl super::node::GlobalId for OperationalPresence {
    type Key = i64;
    fn parse_key(key: &str) -> Option<i64> {
        super::node::number(key)
    }
    fn load(c: &mut store::AnyConnection, id: i64) -> Result<Option<Self>, store::StoreError> {
        Ok(store::presence::presence_by_ids(c, &[id])?.into_iter().next().map(OperationalPresence))
    }
}

impl super::node::GlobalId for Organisation {
    type Key = i64;
    fn parse_key(key: &str) -> Option<i64> {
        super::node::number(key)
    }
    fn load(c: &mut store::AnyConnection, id: i64) -> Result<Option<Self>, store::StoreError> {
        Ok(store::presence::organisations_by_ids(c, &[id])?.into_iter().next().map(Organisation))
    }
}
