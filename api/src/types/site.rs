use std::collections::HashMap;

use async_graphql::dataloader::{DataLoader, Loader};
use async_graphql::{Context, ID, Object, Result};
use store::ReadSnapshot;
use store::sites::{SiteFilter, SitePosition, SiteRow, count_sites, sites_page};

use super::connection::{Connection, page_of_loaded};
use super::{AdminArea, Dataset, IngestRun, Provenance};
use crate::ApiError;
use crate::error::{IntoGraphql, SharedStoreError, shared};
use crate::loaders::AreaLoader;
use crate::pagination::PageArgs;
use crate::scalars::Date;

/// A displacement site or location from a DTM site list: a host community, an IDP site, a collective
/// centre..., with the IDPs present at one round.
pub struct Site(pub SiteRow);

impl Site {
    /// Where the site's figures come from; their reference date is the list's reporting date, if any.
    pub fn provenance(&self) -> Provenance {
        Provenance::new(self.0.resource_id, self.0.run_id, self.0.retrieved_at).dated(self.0.reporting_date)
    }
}

/// A page of displacement sites, by site code, then round.
pub type SiteConnection = Connection<Site>;

/// A displacement site or location from a DTM site list: a host community, an IDP site, a collective
/// centre..., with the IDPs present at one round.
#[Object]
impl Site {
    /// Global id (for `node(id:)` and client caches): `Site:<key>`, one per site and round.
    pub async fn id(&self) -> ID {
        super::node::global_id::<Site>(self.0.id)
    }
    /// Where the site and its figures come from: dataset, licence, credit, resource and its URL, ingest run,
    /// reference date and when it was read.
    #[graphql(name = "provenance")]
    async fn provenance_field(&self) -> Provenance {
        self.provenance()
    }
    /// The site's code in the source list (e.g. DTM's `ssid_SS0101_0020`).
    async fn site_code(&self) -> &str {
        &self.0.site_code
    }
    /// The site's name as the source gives it.
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// The site type as the source words it, e.g. "Host Community", "Displacement Site".
    #[graphql(name = "type")]
    async fn site_type(&self) -> Option<&str> {
        self.0.site_type.as_deref()
    }
    /// WGS84 latitude; checked to lie in the country's bounding box.
    async fn latitude(&self) -> Option<f64> {
        self.0.latitude
    }
    /// WGS84 longitude.
    async fn longitude(&self) -> Option<f64> {
        self.0.longitude
    }
    /// The admin area the site is in; when `areaMatched` is false, the nearest enclosing area known.
    async fn area(&self, ctx: &Context<'_>) -> Result<Option<AdminArea>> {
        let Some(id) = self.0.area_id else { return Ok(None) };
        let loader = ctx.data::<DataLoader<AreaLoader>>()?;
        Ok(loader.load_one(id).await.map_err(shared)?.map(AdminArea::of))
    }
    /// Whether the source's area code matched one of our areas.
    async fn area_matched(&self) -> bool {
        self.0.area_matched
    }
    /// The area code exactly as the source gives it.
    async fn source_pcode(&self) -> Option<&str> {
        self.0.source_pcode.as_deref()
    }
    /// IDP households present.
    async fn households(&self) -> Option<i64> {
        self.0.households
    }
    /// IDP individuals present.
    async fn individuals(&self) -> Option<i64> {
        self.0.individuals
    }
    /// The assessment round the figures are from.
    async fn round(&self) -> Option<i32> {
        self.0.round_number
    }
    /// The date the source reports the figures for, where the list gives one.
    async fn reporting_date(&self) -> Option<Date> {
        self.0.reporting_date.map(Date)
    }
    /// The resource (file or API endpoint) the figure was read from, with its URL.
    async fn resource(&self, ctx: &Context<'_>) -> Result<Option<super::Resource>> {
        self.provenance().load_resource(ctx).await
    }
    /// The dataset the site comes from, with its licence and credit.
    async fn dataset(&self, ctx: &Context<'_>) -> Result<Option<Dataset>> {
        self.provenance().load_dataset(ctx).await
    }
    /// The ingest run that last wrote the site.
    async fn ingest_run(&self, ctx: &Context<'_>) -> Result<Option<IngestRun>> {
        self.provenance().load_ingest_run(ctx).await
    }
}

/// The name site lists' cursors carry.
const LIST: &str = "sites";

/// A site list's cursor key: (site code, round or -1, row id).
type SiteCursorKey = (String, i32, i64);

/// A site's cursor key.
fn cursor_key(site: &SiteRow) -> SiteCursorKey {
    let p = SitePosition::of(site);
    (p.site_code, p.round, p.id)
}

fn after_position(after: Option<String>, first: Option<i32>) -> Result<(Option<SitePosition>, usize), ApiError> {
    let args = PageArgs::<SiteCursorKey>::parse(LIST, after, None, first, None)?;
    let size = args.size();
    Ok((args.after.map(|(site_code, round, id)| SitePosition { site_code, round, id }), size))
}

fn connection_of(rows: Vec<SiteRow>, has_previous: bool, has_next: bool, total: i64) -> SiteConnection {
    Connection::keyset(rows, LIST, cursor_key, Site, has_previous, has_next, total)
}

/// One page of sites matching `filter` (by site code, then round), after the cursor `after`.
pub async fn site_page(
    ctx: &Context<'_>,
    filter: SiteFilter,
    after: Option<String>,
    first: Option<i32>,
) -> Result<SiteConnection> {
    let (after, size) = after_position(after, first).gql()?;
    let counted = ctx.look_ahead().field("totalCount").exists();
    let reads = crate::read::snapshot(ctx)?.clone();
    let (rows, has_previous, has_next, total) = reads
        .run(move |c| {
            let (rows, has_previous, has_next) = sites_page(c, &filter, after.as_ref(), size)?;
            let total = if counted { count_sites(c, &filter)? } else { 0 };
            Ok((rows, has_previous, has_next, total))
        })
        .await
        .gql()?;
    Ok(connection_of(rows, has_previous, has_next, total))
}

/// One page of an already loaded list of sites (in the order of site lists), after `after`.
pub fn site_connection(
    all: Vec<SiteRow>,
    after: Option<String>,
    first: Option<i32>,
) -> Result<SiteConnection, ApiError> {
    let (after, size) = after_position(after, first)?;
    let after = after.map(|p| (p.site_code, p.round, p.id));
    let (rows, has_previous, has_next, total) = page_of_loaded(all, cursor_key, after.as_ref(), size);
    Ok(connection_of(rows, has_previous, has_next, total))
}

// --- the theme's loader and its fields on `Country` and `AdminArea` ---

/// Area id → the sites in the area or any area inside it, by site id (one batched walk down the
/// areas and one query for all sites, whatever the number of areas asked for).
pub struct AreaSitesLoader(pub ReadSnapshot);

impl Loader<i64> for AreaSitesLoader {
    type Value = Vec<store::sites::SiteRow>;
    type Error = SharedStoreError;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, Vec<store::sites::SiteRow>>, Self::Error> {
        let roots = keys.to_vec();
        let out = self
            .0
            .run(move |c| {
                // area id → the root it belongs to
                let mut root_of: HashMap<i64, i64> = roots.iter().map(|r| (*r, *r)).collect();
                let mut frontier: Vec<i64> = roots.clone();
                for _ in 0..5 {
                    if frontier.is_empty() {
                        break;
                    }
                    let children = store::geography::current_children_of(c, &frontier)?;
                    frontier = Vec::new();
                    for child in children {
                        let Some(root) = child.parent_id.and_then(|p| root_of.get(&p)).copied() else { continue };
                        if let std::collections::hash_map::Entry::Vacant(e) = root_of.entry(child.id) {
                            e.insert(root);
                            frontier.push(child.id);
                        }
                    }
                }
                let ids: Vec<i64> = root_of.keys().copied().collect();
                let filter = store::sites::SiteFilter { country_iso3: None, area_ids: Some(ids) };
                let mut out: HashMap<i64, Vec<store::sites::SiteRow>> =
                    roots.iter().map(|r| (*r, Vec::new())).collect();
                for site in store::sites::list_sites(c, &filter, i64::MAX / 2, 0)? {
                    if let Some(root) = site.area_id.and_then(|a| root_of.get(&a)) {
                        out.entry(*root).or_default().push(site);
                    }
                }
                Ok(out)
            })
            .await?;
        Ok(out)
    }
}


/// The theme's GraphQL (one line in the `themes!` list of `api/src/types/mod.rs`).
pub struct Theme;

impl crate::themes::Theme for Theme {
    type CountryFields = CountrySites;
    type AreaFields = AreaSites;
    type QueryFields = crate::themes::NoFields;

    fn loaders(request: async_graphql::Request, snapshot: &ReadSnapshot) -> async_graphql::Request {
        request.data(crate::loaders::loader(AreaSitesLoader(snapshot.clone()), snapshot))
    }
}

crate::themes::part!(
    /// A country's displacement sites (IOM DTM site lists).
    CountrySites: Country
);

/// A country's displacement sites (IOM DTM site lists).
#[async_graphql::Object]
impl CountrySites {
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

crate::themes::part!(
    /// The displacement sites in an area (IOM DTM site lists).
    AreaSites: AdminArea
);

/// The displacement sites in an area (IOM DTM site lists).
#[async_graphql::Object]
impl AreaSites {
    /// Displacement sites in this area or any area inside it, by site code, then round.
    async fn sites(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The first this many sites (at most 1000; default 100).")] first: Option<i32>,
        #[graphql(desc = "Sites after this cursor (an `endCursor` or edge `cursor` of this list).")] after: Option<
            String,
        >,
    ) -> Result<super::SiteConnection> {
        let loader = ctx.data::<DataLoader<AreaSitesLoader>>()?;
        let all = loader.load_one(self.0.id).await.map_err(shared)?.unwrap_or_default();
        super::site::site_connection(all, after, first).gql()
    }
}

impl super::node::GlobalId for Site {
    type Key = i64;
    fn parse_key(key: &str) -> Option<i64> {
        super::node::number(key)
    }
    fn load(c: &mut store::AnyConnection, id: i64) -> Result<Option<Self>, store::StoreError> {
        Ok(store::sites::sites_by_ids(c, &[id])?.into_iter().next().map(Site))
    }
}
