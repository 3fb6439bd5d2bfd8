use async_graphql::dataloader::DataLoader;
use async_graphql::{Context, ID, Object, Result};
use store::sites::{SiteFilter, SitePosition, SiteRow, count_sites, sites_page};

use super::connection::connection;
use super::{AdminArea, Dataset, IngestRun};
use crate::ApiError;
use crate::error::{IntoGraphql, shared};
use crate::loaders::{AreaLoader, DatasetByResourceLoader, RunLoader};
use crate::pagination::{PageArgs, encode_cursor};
use crate::scalars::Date;

/// A displacement site or location from a DTM site list: a host community, an IDP site, a collective
/// centre..., with the IDPs present at one round.
pub struct Site(pub SiteRow);

connection!(
    SiteConnection,
    SiteEdge,
    Site,
    "A page of displacement sites (a Relay connection), by site code, then round.",
    "One site of a page, with its cursor."
);

/// A displacement site or location from a DTM site list: a host community, an IDP site, a collective
/// centre..., with the IDPs present at one round.
#[Object]
impl Site {
    /// Global id (for `node(id:)` and client caches): `Site:<key>`, one per site and round.
    pub async fn id(&self) -> ID {
        ID(format!("Site:{}", self.0.id))
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
        Ok(loader.load_one(id).await.map_err(shared)?.map(AdminArea))
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
        crate::loaders::resource_of(ctx, self.0.resource_id).await
    }
    /// The dataset the site comes from, with its licence and credit.
    async fn dataset(&self, ctx: &Context<'_>) -> Result<Option<Dataset>> {
        let loader = ctx.data::<DataLoader<DatasetByResourceLoader>>()?;
        Ok(loader.load_one(self.0.resource_id).await.map_err(shared)?.map(Dataset))
    }
    /// The ingest run that last wrote the site.
    async fn ingest_run(&self, ctx: &Context<'_>) -> Result<Option<IngestRun>> {
        let loader = ctx.data::<DataLoader<RunLoader>>()?;
        Ok(loader.load_one(self.0.run_id).await.map_err(shared)?.map(IngestRun))
    }
}

/// The name site lists' cursors carry.
const LIST: &str = "sites";

/// A site list's cursor key: (site code, round or -1, row id).
type SiteCursorKey = (String, i32, i64);

fn cursor_of(site: &SiteRow) -> String {
    let p = SitePosition::of(site);
    encode_cursor(LIST, &(p.site_code, p.round, p.id))
}

fn after_position(after: Option<String>, first: Option<i32>) -> Result<(Option<SitePosition>, usize), ApiError> {
    let args = PageArgs::<SiteCursorKey>::parse(LIST, after, None, first, None)?;
    let size = args.size();
    Ok((args.after.map(|(site_code, round, id)| SitePosition { site_code, round, id }), size))
}

fn connection_of(rows: Vec<SiteRow>, has_previous: bool, has_next: bool, total: i64) -> SiteConnection {
    let rows = rows
        .into_iter()
        .map(|r| {
            let cursor = cursor_of(&r);
            (Site(r), cursor)
        })
        .collect();
    SiteConnection::new(rows, has_previous, has_next, total)
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
    mut all: Vec<SiteRow>,
    after: Option<String>,
    first: Option<i32>,
) -> Result<SiteConnection, ApiError> {
    let (after, size) = after_position(after, first)?;
    let total = all.len() as i64;
    let key = |s: &SitePosition| (s.site_code.clone(), s.round, s.id);
    // Compared here as they are sorted here (a database may collate text otherwise).
    all.sort_by_key(|s| key(&SitePosition::of(s)));
    let start = match &after {
        Some(after) => all.iter().position(|s| key(&SitePosition::of(s)) > key(after)).unwrap_or(all.len()),
        None => 0,
    };
    let has_next = all.len() > start + size;
    let rows = all.into_iter().skip(start).take(size).collect();
    Ok(connection_of(rows, start > 0, has_next, total))
}
