//! The run context: what a source's run knows (run id, countries, options, dry run) and the helpers
//! it works with. Fetches give up as soon as the run is asked to stop; each country is written in
//! one transaction ([`RunContext::write`]), which a dry run or a stop rolls back.

use store::geography::{self, CountryInput};
use store::models::{AdminArea, Dataset, DatasetInfo, Rejection, Resource, ResourceInfo};
use store::provenance::{self, FetchRecord};
use store::upsert::RunStamp;
use store::{AnyConnection, DbPool, WriteCounts, catalog as store_catalog, with_conn};

use super::hdx::{self, HdxResource, Package};
use super::table::Table;
use super::{CountryOutcome, Outcomes};
use crate::control::RunControl;
use crate::fetch::{FetchRequest, Fetched};
use crate::pcode::AreaMatcher;
use crate::pcode::country_name;
use crate::runner::Step;
use crate::{FetchMode, IngestConfig, IngestError, Ingester, RunOptions};

/// One run of one source, as its job sees it.
pub(crate) struct RunContext<'a> {
    ingester: &'a Ingester,
    pub(crate) run_id: i64,
    /// ISO3 codes, upper case, sorted, without duplicates: the run's or else the configured ones.
    pub(crate) countries: Vec<String>,
    pub(crate) options: &'a RunOptions,
    pub(crate) step: Step<'a>,
}

impl<'a> RunContext<'a> {
    pub(crate) fn new(
        ingester: &'a Ingester,
        run_id: i64,
        countries: Vec<String>,
        options: &'a RunOptions,
        step: Step<'a>,
    ) -> Self {
        RunContext { ingester, run_id, countries, options, step }
    }

    pub(crate) fn config(&self) -> &IngestConfig {
        &self.ingester.config
    }

    pub(crate) fn pool(&self) -> &DbPool {
        &self.ingester.pool
    }

    pub(crate) fn dry_run(&self) -> bool {
        self.options.dry_run
    }

    /// The stamp of the rows this run writes now.
    pub(crate) fn stamp(&self) -> RunStamp {
        RunStamp { run_id: self.run_id, retrieved_at: store::now_utc() }
    }

    /// The configured HDX base, without a trailing slash.
    pub(crate) fn hdx_url(&self) -> String {
        self.config().hdx_url.trim_end_matches('/').to_string()
    }

    /// Runs `work` for each of the run's countries in turn, one progress step each; a country that
    /// fails does not stop the others.
    pub(crate) async fn for_each_country<F, Fut>(&self, mut work: F) -> Outcomes
    where
        F: FnMut(String) -> Fut,
        Fut: Future<Output = Result<CountryOutcome, IngestError>>,
    {
        let mut results = Vec::new();
        for iso3 in &self.countries {
            let outcome = work(iso3.clone()).await;
            self.step.done(&format!("{iso3}: done"));
            results.push((iso3.clone(), outcome));
        }
        results
    }

    /// Fetches through the shared fetcher, abandoning the request as soon as the run is asked to stop.
    pub(crate) async fn fetch(
        &self,
        url: String,
        resource_id: i64,
        headers: Vec<(String, String)>,
    ) -> Result<Fetched, IngestError> {
        self.fetch_request(FetchRequest { url, headers, run_id: Some(self.run_id), resource_id: Some(resource_id) })
            .await
    }

    async fn fetch_request(&self, request: FetchRequest) -> Result<Fetched, IngestError> {
        self.step.check()?;
        tokio::select! {
            fetched = self.ingester.fetcher.fetch(&request) => fetched,
            () = self.step.control.stopped() => Err(IngestError::Cancelled),
        }
    }

    /// Records a dataset and its resources (for sources that know them without a catalog), in order.
    pub(crate) async fn record_source(
        &self,
        dataset: DatasetInfo,
        resources: Vec<ResourceInfo>,
    ) -> Result<Vec<Resource>, IngestError> {
        Ok(with_conn(self.pool(), move |c| {
            let d = provenance::upsert_dataset(c, &dataset)?;
            resources.iter().map(|info| provenance::upsert_resource(c, d.id, info)).collect()
        })
        .await?)
    }

    /// Reads `dataset`'s catalog entry and records the dataset; `credit` overrides the default credit line.
    pub(crate) async fn catalog_entry(
        &self,
        dataset: &str,
        credit: Option<&'static str>,
    ) -> Result<(Dataset, Package), IngestError> {
        let hdx_url = self.hdx_url();
        let url = hdx::package_show_url(&hdx_url, dataset);
        let request = FetchRequest { url, headers: Vec::new(), run_id: Some(self.run_id), resource_id: None };
        let mut fetched = self.fetch_request(request).await?;
        let package = hdx::parse_package(&fetched.bytes()?, dataset)?;
        let info = package.dataset_info(&hdx_url, credit);
        let recorded = with_conn(self.pool(), move |c| provenance::upsert_dataset(c, &info)).await?;
        Ok((recorded, package))
    }

    /// Records `resource` of `dataset` and returns its bytes. When the catalog says the resource last
    /// changed before our last full download of it, the archived copy is used and nothing is
    /// requested; otherwise the fetcher asks, conditionally (ETag / Last-Modified).
    pub(crate) async fn download(
        &self,
        dataset: &Dataset,
        resource: &HdxResource,
    ) -> Result<(Resource, Fetched), IngestError> {
        let info = resource.resource_info(&self.config().hdx_url);
        let dataset_id = dataset.id;
        let catalog_modified = info.last_modified;
        let (recorded, last) = with_conn(self.pool(), move |c| {
            let recorded = provenance::upsert_resource(c, dataset_id, &info)?;
            let last = store_catalog::last_download(c, &recorded.url)?;
            Ok((recorded, last))
        })
        .await?;
        let current = match (catalog_modified, last) {
            (Some(modified), Some((downloaded_at, sha))) if downloaded_at >= modified => Some(sha),
            _ => None,
        };
        if let Some(sha) = current
            && self.ingester.fetcher.mode() == FetchMode::Online
        {
            let record = FetchRecord {
                run_id: Some(self.run_id),
                resource_id: Some(recorded.id),
                url: recorded.url.clone(),
                http_status: 304,
                not_modified: true,
                payload_sha256: Some(sha.clone()),
                etag: None,
                last_modified: None,
                fetched_at: store::now_utc(),
            };
            let body = crate::fetch::archived_payload(self.pool(), &sha).await?;
            with_conn(self.pool(), move |c| provenance::record_fetch(c, &record)).await?;
            tracing::info!(url = %recorded.url, "the catalog says unchanged since the last download: using the archived copy");
            let fetched = Fetched { url: recorded.url.clone(), sha256: sha, body, not_modified: true };
            return Ok((recorded, fetched));
        }
        let fetched = self.fetch(recorded.url.clone(), recorded.id, Vec::new()).await?;
        Ok((recorded, fetched))
    }

    /// A downloaded resource as a [`Table`]: XLSX by its recorded format (`sheet`, or the first
    /// worksheet), CSV otherwise. Errors name the resource and `dataset`.
    pub(crate) fn read_table(
        recorded: &Resource,
        fetched: &mut Fetched,
        sheet: Option<&str>,
        dataset: &str,
    ) -> Result<(Table, String), IngestError> {
        let what = format!("{} ({dataset})", recorded.name);
        let table = Table::read(&fetched.bytes()?, &recorded.format, sheet, &what)?;
        Ok((table, what))
    }

    /// Every area of a country (current and past), and a matcher over them.
    pub(crate) async fn areas(&self, iso3: &str) -> Result<(AreaMatcher, Vec<AdminArea>), IngestError> {
        let code = iso3.to_string();
        let areas = with_conn(self.pool(), move |c| geography::areas_of_country(c, &code)).await?;
        Ok((AreaMatcher::new(iso3, &areas), areas))
    }

    /// Writes one country: adds the country if the store does not know it yet (named from ISO 3166),
    /// then runs `work`, all in one write transaction on a pooled connection (see [`in_transaction`]).
    pub(crate) async fn write<F>(&self, iso3: &str, work: F) -> Result<WriteCounts, IngestError>
    where
        F: FnOnce(&mut AnyConnection) -> Result<WriteCounts, IngestError> + Send + 'static,
    {
        let (dry_run, control) = (self.dry_run(), self.step.control.clone());
        let country = country_input(iso3);
        with_conn(self.pool(), move |c| {
            Ok(in_transaction(c, dry_run, &control, |c| {
                geography::ensure_country(c, &country)?;
                work(c)
            }))
        })
        .await?
    }

    /// Keeps the rows `resource_id`'s payload `sha` had rejected, with their reasons, in the run record.
    pub(crate) async fn record_rejections(
        &self,
        resource_id: i64,
        sha: String,
        rejections: Vec<Rejection>,
    ) -> Result<(), IngestError> {
        self.ingester.record_rejections(self.run_id, resource_id, sha, rejections).await
    }
}

/// A country row for the store, named from ISO 3166.
fn country_input(iso3: &str) -> CountryInput {
    let (name, iso2) = country_name(iso3).unwrap_or_else(|| (iso3.to_string(), String::new()));
    CountryInput { iso3: iso3.to_uppercase(), iso2: (!iso2.is_empty()).then_some(iso2), name }
}

/// Runs `work` in one transaction; a dry run rolls it back and still returns the counts, and a run
/// asked to stop rolls back instead of committing.
pub(crate) fn in_transaction<F>(
    conn: &mut AnyConnection,
    dry_run: bool,
    control: &RunControl,
    work: F,
) -> Result<WriteCounts, IngestError>
where
    F: FnOnce(&mut AnyConnection) -> Result<WriteCounts, IngestError>,
{
    let result = store::write_transaction::<WriteCounts, IngestError, _>(conn, |c| {
        let counts = work(c)?;
        if control.stop_reason().is_some() {
            return Err(IngestError::Cancelled);
        }
        if dry_run { Err(IngestError::DryRunRolledBack(counts)) } else { Ok(counts) }
    });
    match result {
        Ok(counts) | Err(IngestError::DryRunRolledBack(counts)) => Ok(counts),
        Err(other) => Err(other),
    }
}
