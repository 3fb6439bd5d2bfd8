//! The run context: what a source's run knows (run id, countries, options, dry run) and the helpers
//! it works with. Fetches give up as soon as the run is asked to stop; each country is written in
//! one transaction ([`RunContext::write`]), which a dry run, a stop or a lost lease rolls back.
//!
//! What a run learns about its datasets and resources (catalog entries, downloads) is written in
//! that same transaction, so that a run that fails, is cancelled or is dry changes no provenance
//! ([`PendingProvenance`]); rows are only inserted beforehand when new, for their ids. Rejected rows
//! are kept outside it (a rolled back write still shows why), cut to their first bytes, capped per
//! run, and stored once per payload where the payload is one country's alone; a country whose share
//! of rejected rows passes the configured one is not written at all ([`RunContext::write_checked`]).

use std::sync::{Mutex, MutexGuard};

use store::geography::{self, CountryInput};
use store::models::{AdminArea, Dataset, DatasetInfo, Rejection, Resource, ResourceInfo};
use store::provenance::{self, FetchRecord, PendingProvenance};
use store::runs::{self, phase};
use store::upsert::RunStamp;
use store::{AnyConnection, DbPool, WriteCounts, catalog as store_catalog, with_conn};

use super::hdx::{self, HdxResource, Package};
use super::table::Table;
use super::{CountryOutcome, Outcomes};
use crate::control::{RunControl, StopReason};
use crate::fetch::{FetchRequest, Fetched};
use crate::pcode::AreaMatcher;
use crate::pcode::country_name;
use crate::runner::Step;
use crate::{FetchMode, IngestConfig, IngestError, Ingester, RowLimits, RunOptions, kept_raw};

/// One run of one source, as its job sees it.
pub(crate) struct RunContext<'a> {
    ingester: &'a Ingester,
    /// The source's name, for messages.
    source: &'static str,
    pub(crate) run_id: i64,
    /// ISO3 codes, upper case, sorted, without duplicates: the run's or else the configured ones.
    pub(crate) countries: Vec<String>,
    pub(crate) options: &'a RunOptions,
    pub(crate) step: Step<'a>,
    /// What the run learnt of its datasets and resources so far, written with each of its writes.
    provenance: Mutex<PendingProvenance>,
}

/// Rejected rows of one payload, as a unit of work (a country) found them.
pub(crate) struct PayloadRejections {
    pub(crate) resource_id: i64,
    pub(crate) sha256: String,
    pub(crate) rows: Vec<Rejection>,
    /// Whether the payload is this unit's alone (one country's file): its rows are then stored once,
    /// however many runs read the same bytes. A payload countries share (a global file) has each
    /// country's part stored by each run.
    pub(crate) own: bool,
}

impl<'a> RunContext<'a> {
    pub(crate) fn new(
        ingester: &'a Ingester,
        source: &'static str,
        run_id: i64,
        countries: Vec<String>,
        options: &'a RunOptions,
        step: Step<'a>,
    ) -> Self {
        let provenance = Mutex::new(PendingProvenance::default());
        RunContext { ingester, source, run_id, countries, options, step, provenance }
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
    /// fails does not stop the others. Each country is a [`RunContext::unit`].
    pub(crate) async fn for_each_country<F, Fut>(&self, mut work: F) -> Outcomes
    where
        F: FnMut(String) -> Fut,
        Fut: Future<Output = Result<CountryOutcome, IngestError>>,
    {
        let mut results = Vec::new();
        for iso3 in &self.countries {
            let outcome = self.unit(work(iso3.clone())).await;
            self.step.done(&format!("{iso3}: done"));
            results.push((iso3.clone(), outcome));
        }
        results
    }

    /// Runs one unit of work (a country, a catalog entry): the datasets and resources it learns of
    /// are written with its own data only, never with a later unit's (whether it wrote or failed).
    /// What was learnt before it (a file every country shares) goes with every unit's write.
    pub(crate) async fn unit<T>(&self, work: impl Future<Output = Result<T, IngestError>>) -> Result<T, IngestError> {
        let before = self.pending().clone();
        let outcome = work.await;
        *self.pending() = before;
        outcome
    }

    fn pending(&self) -> MutexGuard<'_, PendingProvenance> {
        self.provenance.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
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
        self.step.tracker.phase(phase::FETCHING);
        let fetched = tokio::select! {
            fetched = self.ingester.fetcher.fetch(&request) => fetched,
            () = self.step.control.stopped() => Err(IngestError::Cancelled),
        };
        // What was fetched is read next.
        self.step.tracker.phase(phase::PARSING);
        fetched
    }

    /// Records a dataset and its resources (for sources that know them without a catalog), in order:
    /// inserted now if new (for their ids), brought up to date with the run's data.
    pub(crate) async fn record_source(
        &self,
        dataset: DatasetInfo,
        resources: Vec<ResourceInfo>,
    ) -> Result<Vec<Resource>, IngestError> {
        let learnt = (dataset.clone(), resources.clone());
        let (dataset_id, recorded) = with_conn(self.pool(), move |c| {
            let d = provenance::ensure_dataset(c, &dataset)?;
            let recorded: Result<Vec<Resource>, _> =
                resources.iter().map(|info| provenance::ensure_resource(c, d.id, info)).collect();
            Ok((d.id, recorded?))
        })
        .await?;
        let mut pending = self.pending();
        pending.dataset(learnt.0);
        for info in learnt.1 {
            pending.resource(dataset_id, info);
        }
        Ok(recorded)
    }

    /// Reads `dataset`'s catalog entry; `credit` overrides the default credit line. The dataset is
    /// inserted if new; what the catalog says of it is written with the run's data.
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
        let learnt = info.clone();
        let recorded = with_conn(self.pool(), move |c| provenance::ensure_dataset(c, &info)).await?;
        self.pending().dataset(learnt);
        Ok((recorded, package))
    }

    /// Notes `info` of a resource of `dataset_id` (already recorded), to be written with the run's data.
    pub(crate) fn learn_resource(&self, dataset_id: i64, info: ResourceInfo) {
        self.pending().resource(dataset_id, info);
    }

    /// Records `resource` of `dataset` (inserted if new, brought up to date with the run's data) and
    /// returns its bytes. When the catalog says the resource last changed before our last full
    /// download of it, the archived copy is used and nothing is requested; otherwise the fetcher
    /// asks, conditionally (ETag / Last-Modified).
    pub(crate) async fn download(
        &self,
        dataset: &Dataset,
        resource: &HdxResource,
    ) -> Result<(Resource, Fetched), IngestError> {
        let info = resource.resource_info(&self.config().hdx_url);
        let dataset_id = dataset.id;
        let catalog_modified = info.last_modified;
        self.learn_resource(dataset_id, info.clone());
        let (recorded, last) = with_conn(self.pool(), move |c| {
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
    /// worksheet), CSV otherwise. Errors name the resource and `dataset`. Rows with a field or a
    /// row over the configured size are taken out ([`Table::set_aside_oversized`]) and returned as
    /// rejections, each with its record (oversized cells emptied) for the source to attribute it.
    pub(crate) fn read_table(
        &self,
        recorded: &Resource,
        fetched: &mut Fetched,
        sheet: Option<&str>,
        dataset: &str,
    ) -> Result<ReadTable, IngestError> {
        let what = format!("{} ({dataset})", recorded.name);
        let mut table = Table::read(&fetched.bytes()?, &recorded.format, sheet, &what)?;
        let limits = self.limits();
        let oversized = table.set_aside_oversized(limits.max_field_bytes, limits.max_row_bytes);
        Ok(ReadTable { table, what, oversized })
    }

    /// The bounds on rows and rejections.
    pub(crate) fn limits(&self) -> &RowLimits {
        &self.config().limits
    }

    /// Every area of a country (current and past), and a matcher over them.
    pub(crate) async fn areas(&self, iso3: &str) -> Result<(AreaMatcher, Vec<AdminArea>), IngestError> {
        let code = iso3.to_string();
        let areas = with_conn(self.pool(), move |c| geography::areas_of_country(c, &code)).await?;
        Ok((AreaMatcher::new(iso3, &areas), areas))
    }

    /// What a write transaction of this run needs, to be taken into a pooled connection's closure.
    pub(crate) fn write_scope(&self) -> WriteScope {
        self.step.tracker.phase(phase::WRITING);
        WriteScope { dry_run: self.dry_run(), control: self.step.control.clone(), provenance: self.pending().clone() }
    }

    /// Writes one country: adds the country if the store does not know it yet (named from ISO 3166),
    /// then runs `work`, all in one write transaction on a pooled connection, with what the run
    /// learnt of its datasets and resources (see [`WriteScope::run`]).
    pub(crate) async fn write<F>(&self, iso3: &str, work: F) -> Result<WriteCounts, IngestError>
    where
        F: FnOnce(&mut AnyConnection) -> Result<WriteCounts, IngestError> + Send + 'static,
    {
        let scope = self.write_scope();
        let country = country_input(iso3);
        with_conn(self.pool(), move |c| {
            Ok(scope.run(c, |c| {
                geography::ensure_country(c, &country)?;
                work(c)
            }))
        })
        .await?
    }

    /// Writes only what the run learnt of its datasets and resources (for a source that writes
    /// nothing else, the catalog), in a transaction of its own.
    pub(crate) async fn write_provenance(&self) -> Result<(), IngestError> {
        let scope = self.write_scope();
        with_conn(self.pool(), move |c| Ok(scope.run(c, |_| Ok(WriteCounts::default())))).await??;
        Ok(())
    }

    /// Writes one country as [`RunContext::write`] does, unless more of its `fetched` rows were
    /// rejected than the configured share allows (then nothing is written and the country fails,
    /// saying so); its rejected rows are kept either way, and also when the write fails (they may be
    /// why).
    pub(crate) async fn write_checked<F>(
        &self,
        iso3: &str,
        fetched: i64,
        rejections: Vec<PayloadRejections>,
        work: F,
    ) -> Result<CountryOutcome, IngestError>
    where
        F: FnOnce(&mut AnyConnection) -> Result<WriteCounts, IngestError> + Send + 'static,
    {
        let rejected: i64 = rejections.iter().map(|r| r.rows.len() as i64).sum();
        self.step.tracker.rows_read(fetched);
        let written = match self.check_rejected_share(iso3, fetched, rejected) {
            Ok(()) => self.write(iso3, work).await,
            Err(e) => Err(e),
        };
        for r in rejections {
            let total = r.rows.len() as i64;
            if r.own {
                self.record_payload_rejections(r.resource_id, r.sha256, r.rows, total).await?;
            } else {
                self.record_rejections(r.resource_id, r.sha256, r.rows).await?;
            }
        }
        Ok(CountryOutcome { fetched, written: written?, rejected })
    }

    /// Fails `iso3` (of this run's source) when more of its `fetched` rows were `rejected` than the
    /// configured share allows.
    pub(crate) fn check_rejected_share(&self, iso3: &str, fetched: i64, rejected: i64) -> Result<(), IngestError> {
        rejected_share_ok(self.limits(), &format!("{} {iso3}", self.source), fetched, rejected)
    }

    /// Keeps the rows `resource_id`'s payload `sha` had rejected, with their reasons, in the run
    /// record: their text cut to [`crate::RAW_KEPT_BYTES`], up to the run's limit of rejected rows
    /// kept (the run's count stays exact).
    pub(crate) async fn record_rejections(
        &self,
        resource_id: i64,
        sha: String,
        rejections: Vec<Rejection>,
    ) -> Result<(), IngestError> {
        if rejections.is_empty() {
            return Ok(());
        }
        let (run_id, keep) = (self.run_id, self.kept_at_most());
        let rejections = cut(rejections);
        with_conn(self.pool(), move |c| {
            runs::record_rejections(c, run_id, Some(resource_id), Some(&sha), &rejections, keep)
        })
        .await?;
        Ok(())
    }

    /// The rejected rows of a payload that is one country's alone, which had `total` of them, of
    /// which `rejections` were kept. They are stored once: when an earlier run (one that failed, or
    /// was rolled back) stored them for the same bytes, this run points at them instead. (Payloads
    /// shared by countries, such as the p-code list, are not: each country's rows are its own.)
    pub(crate) async fn record_payload_rejections(
        &self,
        resource_id: i64,
        sha: String,
        rejections: Vec<Rejection>,
        total: i64,
    ) -> Result<(), IngestError> {
        if total == 0 {
            return Ok(());
        }
        let (run_id, keep) = (self.run_id, self.kept_at_most());
        let rejections = cut(rejections);
        with_conn(self.pool(), move |c| match runs::first_stored_rejections(c, resource_id, &sha)? {
            Some((earlier, _)) if earlier != run_id => {
                runs::refer_to_rejections(c, run_id, earlier, resource_id, &sha, total)
            }
            _ => runs::record_rejections(c, run_id, Some(resource_id), Some(&sha), &rejections, keep).map(|_| ()),
        })
        .await?;
        Ok(())
    }

    fn kept_at_most(&self) -> i64 {
        i64::try_from(self.limits().max_rejected_kept).unwrap_or(i64::MAX)
    }
}

/// Rejected rows with their text cut to what is stored ([`crate::RAW_KEPT_BYTES`]).
fn cut(rejections: Vec<Rejection>) -> Vec<Rejection> {
    rejections.into_iter().map(|r| Rejection { raw: kept_raw(r.raw), ..r }).collect()
}

/// A table as [`RunContext::read_table`] read it.
pub(crate) struct ReadTable {
    pub(crate) table: Table,
    /// The resource and dataset, for messages.
    pub(crate) what: String,
    /// The rows over the size bounds, as rejections, each with its record (oversized cells emptied).
    pub(crate) oversized: Vec<(csv::StringRecord, Rejection)>,
}

impl ReadTable {
    /// The oversized rows' rejections, for a source whose file is one country's.
    pub(crate) fn oversized_rejections(&mut self) -> Vec<Rejection> {
        std::mem::take(&mut self.oversized).into_iter().map(|(_, rejection)| rejection).collect()
    }
}

/// What a write transaction of a run needs: whether it is dry, its control (stop, lease) and what
/// the run learnt of its datasets and resources. Cloned into a pooled connection's closure.
#[derive(Clone)]
pub(crate) struct WriteScope {
    dry_run: bool,
    control: RunControl,
    provenance: PendingProvenance,
}

impl WriteScope {
    /// Runs `work` in one transaction, after bringing the run's datasets and resources up to date
    /// (see [`in_transaction`]).
    pub(crate) fn run<F>(&self, conn: &mut AnyConnection, work: F) -> Result<WriteCounts, IngestError>
    where
        F: FnOnce(&mut AnyConnection) -> Result<WriteCounts, IngestError>,
    {
        in_transaction(conn, self.dry_run, &self.control, |c| {
            self.provenance.apply(c)?;
            work(c)
        })
    }

    pub(crate) fn control(&self) -> &RunControl {
        &self.control
    }
}

/// Whether `rejected` of `fetched` rows is within the share the limits allow; the error says how many,
/// the share allowed and the setting that allows it.
pub(crate) fn rejected_share_ok(
    limits: &RowLimits,
    what: &str,
    fetched: i64,
    rejected: i64,
) -> Result<(), IngestError> {
    if fetched <= 0 || rejected == 0 {
        return Ok(());
    }
    let share = rejected as f64 / fetched as f64;
    if share <= limits.max_rejected_share {
        return Ok(());
    }
    Err(IngestError::TooManyRejected {
        fetched,
        rejected,
        message: format!(
            "{what}: {rejected} of {fetched} rows rejected ({:.1} %), more than the {} % allowed \
             (CRISISGRAPH_MAX_REJECTED_SHARE = {}); nothing was written for it, the rejected rows are kept",
            share * 100.0,
            limits.max_rejected_share * 100.0,
            limits.max_rejected_share
        ),
    })
}

/// A country row for the store, named from ISO 3166.
pub(crate) fn country_input(iso3: &str) -> CountryInput {
    let (name, iso2) = country_name(iso3).unwrap_or_else(|| (iso3.to_string(), String::new()));
    CountryInput { iso3: iso3.to_uppercase(), iso2: (!iso2.is_empty()).then_some(iso2), name }
}

/// Runs `work` in one transaction; a dry run rolls it back and still returns the counts, a run
/// asked to stop rolls back instead of committing, and so does a run whose lease was taken over:
/// only the holder of the lease commits.
fn in_transaction<F>(
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
        if dry_run {
            return Err(IngestError::DryRunRolledBack(counts));
        }
        if let Some(lease) = control.lease()
            && !store::leases::confirm_held(c, &lease.source, &lease.holder, lease.run_id)?
        {
            control.stop(StopReason::LostLease);
            return Err(IngestError::Cancelled);
        }
        Ok(counts)
    });
    match result {
        Ok(counts) | Err(IngestError::DryRunRolledBack(counts)) => Ok(counts),
        Err(other) => Err(other),
    }
}
