//! Run logic of the HDX-backed sources (catalog, population, funding, sites): fetch → parse → match →
//! write in one transaction per country. Shared here: reading a dataset's catalog entry and
//! downloading a resource only when the catalog or the server says it changed.

mod catalog;
mod funding;
mod population;
mod sites;

use store::models::{Dataset, DatasetInfo, Resource, ResourceInfo};
use store::provenance::{self, FetchRecord};
use store::{catalog as store_catalog, with_conn};

use crate::fetch::Fetched;
use crate::runner::Step;
use crate::sources::hdx::{self, HdxResource, Package};
use crate::{FetchMode, IngestError, Ingester};

/// Per-country (or per-dataset) results of a run, as the runner sums them.
pub(crate) type Outcomes = Vec<(String, Result<crate::runner::CountryOutcome, IngestError>)>;

impl Ingester {
    /// Reads `dataset`'s catalog entry; `credit` overrides the default credit line. The dataset is
    /// recorded if new; what the catalog says of it is returned for the run's data transaction to
    /// apply ([`provenance::PendingProvenance`]).
    pub(crate) async fn catalog_entry(
        &self,
        step: &Step<'_>,
        run_id: i64,
        dataset: &str,
        credit: Option<&'static str>,
    ) -> Result<(Dataset, Package, DatasetInfo), IngestError> {
        let hdx_url = self.config.hdx_url.trim_end_matches('/').to_string();
        let url = hdx::package_show_url(&hdx_url, dataset);
        step.check()?;
        let request = crate::fetch::FetchRequest { url, headers: Vec::new(), run_id: Some(run_id), resource_id: None };
        let mut fetched = tokio::select! {
            fetched = self.fetcher.fetch(&request) => fetched?,
            () = step.control.stopped() => return Err(IngestError::Cancelled),
        };
        let package = hdx::parse_package(&fetched.bytes()?, dataset)?;
        let info = package.dataset_info(&hdx_url, credit);
        let pending = info.clone();
        let recorded = with_conn(&self.pool, move |c| provenance::ensure_dataset(c, &info)).await?;
        Ok((recorded, package, pending))
    }

    /// Records `resource` of `dataset` if new and returns its bytes, and its description for the data
    /// transaction (see [`Ingester::catalog_entry`]). When the catalog says the resource last
    /// changed before our last full download of it, the archived copy is used and nothing is
    /// requested; otherwise the fetcher asks, conditionally (ETag / Last-Modified).
    pub(crate) async fn download(
        &self,
        step: &Step<'_>,
        run_id: i64,
        dataset: &Dataset,
        resource: &HdxResource,
    ) -> Result<(Resource, Fetched, ResourceInfo), IngestError> {
        let info = resource.resource_info(&self.config.hdx_url);
        let dataset_id = dataset.id;
        let catalog_modified = info.last_modified;
        let pending = info.clone();
        let (recorded, last) = with_conn(&self.pool, move |c| {
            let recorded = provenance::ensure_resource(c, dataset_id, &info)?;
            let last = store_catalog::last_download(c, &recorded.url)?;
            Ok((recorded, last))
        })
        .await?;
        let current = match (catalog_modified, last) {
            (Some(modified), Some((downloaded_at, sha))) if downloaded_at >= modified => Some(sha),
            _ => None,
        };
        if let Some(sha) = current
            && self.fetcher.mode() == FetchMode::Online
        {
            let record = FetchRecord {
                run_id: Some(run_id),
                resource_id: Some(recorded.id),
                url: recorded.url.clone(),
                http_status: 304,
                not_modified: true,
                payload_sha256: Some(sha.clone()),
                etag: None,
                last_modified: None,
                fetched_at: store::now_utc(),
            };
            let body = crate::fetch::archived_payload(&self.pool, &sha).await?;
            with_conn(&self.pool, move |c| provenance::record_fetch(c, &record)).await?;
            tracing::info!(url = %recorded.url, "the catalog says unchanged since the last download: using the archived copy");
            let fetched = Fetched { url: recorded.url.clone(), sha256: sha, body, not_modified: true };
            return Ok((recorded, fetched, pending));
        }
        let fetched = self.fetch(step, recorded.url.clone(), run_id, recorded.id, Vec::new()).await?;
        Ok((recorded, fetched, pending))
    }
}
