use async_graphql::connection::{Connection, Edge};
use async_graphql::dataloader::DataLoader;
use async_graphql::{Context, ID, Object, Result};
use chrono::NaiveDate;
use store::sites::{SiteFilter, SiteRow, count_sites, list_sites};

use super::{AdminArea, Dataset, IngestRun, ListInfo};
use crate::ApiError;
use crate::error::{IntoGraphql, shared};
use crate::loaders::{AreaLoader, DatasetByResourceLoader, RunLoader};
use crate::pagination::Window;

/// A displacement site or location from a DTM site list: a host community, an IDP site, a collective
/// centre..., with the IDPs present at one round.
pub struct Site(pub SiteRow);

pub type SiteConnection = Connection<usize, Site, ListInfo>;

/// A displacement site or location from a DTM site list: a host community, an IDP site, a collective
/// centre..., with the IDPs present at one round.
#[Object]
impl Site {
    /// Global id for `node(id:)`: `Site:<key>`.
    pub async fn node_id(&self) -> async_graphql::ID {
        async_graphql::ID(format!("Site:{}", self.0.id))
    }
    /// The site's id in the source list (e.g. DTM's `ssid_SS0101_0020`).
    async fn id(&self) -> ID {
        ID(self.0.site_code.clone())
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
    async fn reporting_date(&self) -> Option<NaiveDate> {
        self.0.reporting_date
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

/// One page of sites matching `filter` (by site id, then round).
pub async fn site_page(
    ctx: &Context<'_>,
    filter: SiteFilter,
    after: Option<String>,
    first: Option<i32>,
) -> Result<SiteConnection> {
    let after = super::decode_cursor(after).gql()?;
    let first = super::page_size(first, "first").gql()?;
    let reads = crate::read::snapshot(ctx)?.clone();
    let (rows, window, total) = reads
        .run(move |c| {
            let total = count_sites(c, &filter)? as usize;
            let window =
                Window::new(total, after, None, first, None).map_err(|e| store::StoreError::Invalid(e.to_string()))?;
            let rows = list_sites(c, &filter, (window.end - window.start) as i64, window.start as i64)?;
            Ok((rows, window, total))
        })
        .await
        .map_err(|e| match e {
            store::StoreError::Invalid(message) => ApiError::LimitExceeded(message),
            other => ApiError::from(other),
        })
        .gql()?;
    Ok(page_of(rows, window, total))
}

fn page_of(rows: Vec<SiteRow>, window: Window, total: usize) -> SiteConnection {
    let mut connection = Connection::with_additional_fields(
        window.has_previous(),
        window.has_next(total),
        ListInfo { total_count: total as i64 },
    );
    connection.edges.extend(rows.into_iter().enumerate().map(|(i, r)| Edge::new(window.start + i, Site(r))));
    connection
}

/// One page of an already loaded list of sites.
pub fn site_connection(all: Vec<SiteRow>, window: Window) -> SiteConnection {
    let total = all.len();
    let rows = all.into_iter().skip(window.start).take(window.end - window.start).collect();
    page_of(rows, window, total)
}
