//! Runs one source end to end and keeps its run record: counts, status, error, rejected rows.
//! Each country is written in its own transaction, so a failure in one leaves the store as it
//! was for that country; a dry run does all the work and rolls the transaction back.

use std::fmt;
use std::str::FromStr;

use std::sync::Arc;
use std::time::Instant;
use store::geography::{self, CountryInput};
use store::idps::{self, IdpInput};
use store::models::{IngestRun, Rejection};
use store::runs::{self, RunRequest, RunTotals, status};

use store::leases::{self, StartOutcome};
use store::provenance::{AppliedPayload, AreaFingerprint, PendingProvenance};
use store::{AnyConnection, DbPool, WriteCounts, provenance, with_conn};

use crate::control::{LeaseRef, Progress, RunControl, Silent, StopReason};
use crate::fetch::{FetchRequest, Fetched};
use crate::pcode::{AreaMatch, AreaMatcher};
use crate::sources::{dtm, geography as pcodes};
use crate::{FetchMode, Fetcher, IngestConfig, IngestError};

/// The sources crisisgraph can ingest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Countries and admin areas from the global p-codes list.
    Geography,
    /// IDP figures from the IOM DTM API v3.
    Dtm,
    /// The HDX catalog entries (provenance, licence, resources) behind the sources below.
    Catalog,
    /// Population by area and sex (COD-PS on HDX).
    Population,
    /// Funding appeals (FTS on HDX, clusters from the FTS API).
    Funding,
    /// Displacement sites and locations (DTM site lists on HDX).
    Sites,
}

impl Source {
    pub const ALL: [Source; 6] =
        [Source::Geography, Source::Dtm, Source::Catalog, Source::Population, Source::Funding, Source::Sites];

    pub fn name(self) -> &'static str {
        match self {
            Source::Geography => "geography",
            Source::Dtm => "dtm",
            Source::Catalog => "catalog",
            Source::Population => "population",
            Source::Funding => "funding",
            Source::Sites => "sites",
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Source {
    type Err = IngestError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Source::ALL
            .into_iter()
            .find(|src| src.name().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| IngestError::UnknownSource(s.to_string()))
    }
}

/// How one run is asked for.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// ISO3 codes; empty means the configured countries.
    pub countries: Vec<String>,
    /// DTM admin levels to fetch (0, 1, 2).
    pub dtm_levels: Vec<u8>,
    /// cli | schedule | api | sample
    pub trigger: String,
    pub requested_by: Option<String>,
    pub dry_run: bool,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            countries: Vec::new(),
            dtm_levels: vec![0, 1, 2],
            trigger: "cli".into(),
            requested_by: None,
            dry_run: false,
        }
    }
}

/// Runs sources against one store with one fetcher.
#[derive(Clone)]
pub struct Ingester {
    pub(crate) pool: DbPool,
    pub(crate) config: IngestConfig,
    pub(crate) fetcher: Fetcher,
    /// Who holds leases taken by this ingester: host, process and a random part.
    holder: String,
}

/// What one country contributed to a run.
#[derive(Debug, Default)]
pub(crate) struct CountryOutcome {
    pub(crate) fetched: i64,
    pub(crate) written: WriteCounts,
    pub(crate) rejected: i64,
}

impl Ingester {
    pub fn new(pool: DbPool, config: IngestConfig, mode: FetchMode) -> Result<Self, IngestError> {
        let fetcher = Fetcher::new(pool.clone(), config.fetch.clone(), mode)?;
        let holder = format!(
            "{}:{}:{:08x}",
            std::env::var("HOSTNAME").unwrap_or_else(|_| "host".into()),
            std::process::id(),
            rand_suffix()
        );
        Ok(Ingester { pool, config, fetcher, holder })
    }

    pub fn config(&self) -> &IngestConfig {
        &self.config
    }

    pub fn pool(&self) -> &DbPool {
        &self.pool
    }

    /// Runs `source` now, in this task, unless a run of it is already going on (here or in another
    /// process): then that run is returned as it is. A failed source gives a run with status `failed`
    /// and its error (not an `Err`); `Err` means the run could not even be recorded.
    pub async fn run(&self, source: Source, options: &RunOptions) -> Result<IngestRun, IngestError> {
        self.run_with(source, options, Arc::new(Silent)).await
    }

    /// [`Ingester::run`], reporting progress.
    pub async fn run_with(
        &self,
        source: Source,
        options: &RunOptions,
        progress: Arc<dyn Progress>,
    ) -> Result<IngestRun, IngestError> {
        match self.start(source, options).await? {
            StartOutcome::Started(run) => {
                self.execute_leased(run, source, options, RunControl::default(), progress).await
            }
            StartOutcome::AlreadyRunning(run) => {
                tracing::info!(run_id = run.id, %source, "a run of this source is already in progress");
                Ok(run)
            }
        }
    }

    /// [`Ingester::run_with`], also saying whether this call started the run (`false`: the run returned
    /// is another one, in progress, that holds the source).
    pub async fn run_or_report(
        &self,
        source: Source,
        options: &RunOptions,
        progress: Arc<dyn Progress>,
    ) -> Result<(bool, IngestRun), IngestError> {
        match self.start(source, options).await? {
            StartOutcome::Started(run) => {
                Ok((true, self.execute_leased(run, source, options, RunControl::default(), progress).await?))
            }
            StartOutcome::AlreadyRunning(run) => Ok((false, run)),
        }
    }

    /// Takes the source's lease and records the run, or finds the run in progress.
    pub(crate) async fn start(&self, source: Source, options: &RunOptions) -> Result<StartOutcome, IngestError> {
        let countries = self.countries_for(options);
        let params = serde_json::json!({
            "countries": countries,
            "dtm_levels": if source == Source::Dtm { Some(&options.dtm_levels) } else { None },
            "offline": self.fetcher.mode() == FetchMode::Offline,
        });
        let request = RunRequest {
            source: source.name().to_string(),
            params: params.to_string(),
            trigger: options.trigger.clone(),
            requested_by: options.requested_by.clone(),
            dry_run: options.dry_run,
        };
        let (holder, ttl) = (self.holder.clone(), self.lease_ttl());
        Ok(with_conn(&self.pool, move |c| leases::start_exclusive_run(c, &request, &holder, ttl)).await?)
    }

    fn lease_ttl(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.config.lease.ttl).unwrap_or(chrono::Duration::seconds(60))
    }

    /// Executes a run whose lease this process holds: heartbeats while it works, then frees the lease.
    pub(crate) async fn execute_leased(
        &self,
        run: IngestRun,
        source: Source,
        options: &RunOptions,
        control: RunControl,
        progress: Arc<dyn Progress>,
    ) -> Result<IngestRun, IngestError> {
        control.set_lease(LeaseRef { source: source.name().to_string(), holder: self.holder.clone(), run_id: run.id });
        let heartbeat = self.spawn_heartbeat(source, run.id, control.clone());
        let result = self.execute(&run, source, options, &control, progress.as_ref()).await;
        heartbeat.abort();
        let (pool, name, holder) = (self.pool.clone(), source.name().to_string(), self.holder.clone());
        if let Err(e) = with_conn(&pool, move |c| leases::release(c, &name, &holder)).await {
            tracing::warn!(run_id = run.id, error = %e, "could not free the lease; it will expire");
        }
        result
    }

    fn spawn_heartbeat(&self, source: Source, run_id: i64, control: RunControl) -> tokio::task::JoinHandle<()> {
        let (pool, holder, ttl, every) =
            (self.pool.clone(), self.holder.clone(), self.lease_ttl(), self.config.lease.heartbeat);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                let holder = holder.clone();
                let beat = with_conn(&pool, move |c| leases::heartbeat(c, source.name(), &holder, run_id, ttl)).await;
                match beat {
                    Ok(Some(true)) => control.stop(StopReason::Cancelled),
                    Ok(Some(false)) => {}
                    Ok(None) => control.stop(StopReason::LostLease),
                    Err(e) => tracing::warn!(run_id, error = %e, "heartbeat failed"),
                }
            }
        })
    }

    /// Does the work of a recorded run and records how it ended.
    async fn execute(
        &self,
        run: &IngestRun,
        source: Source,
        options: &RunOptions,
        control: &RunControl,
        progress: &dyn Progress,
    ) -> Result<IngestRun, IngestError> {
        let countries = self.countries_for(options);
        tracing::info!(run_id = run.id, %source, ?countries, dry_run = options.dry_run, trigger = %options.trigger, "ingest run started");
        let steps = match source {
            Source::Geography => 1 + countries.len() as u64,
            Source::Dtm => countries.len() as u64 * (options.dtm_levels.len() as u64 + 1),
            Source::Population | Source::Funding | Source::Sites => countries.len() as u64,
            // The funding dataset, and per country its population dataset and (where configured) its site list.
            Source::Catalog => 1 + 2 * countries.len() as u64,
        };
        progress.begin(steps);
        let step = Step { control, progress };

        let mut totals = RunTotals::default();
        let mut errors = Vec::new();
        let outcome = match source {
            Source::Geography => self.run_geography(run.id, &countries, options.dry_run, &step).await,
            Source::Dtm => self.run_dtm(run.id, &countries, options, &step).await,
            Source::Catalog => self.run_catalog(run.id, &countries, options.dry_run, &step).await,
            Source::Population => self.run_population(run.id, &countries, options.dry_run, &step).await,
            Source::Funding => self.run_funding(run.id, &countries, options.dry_run, &step).await,
            Source::Sites => self.run_sites(run.id, &countries, options.dry_run, &step).await,
        };
        match outcome {
            Ok(per_country) => {
                for (country, result) in per_country {
                    match result {
                        Ok(o) => {
                            totals.fetched += o.fetched;
                            totals.inserted += o.written.inserted;
                            totals.updated += o.written.updated;
                            totals.unchanged += o.written.unchanged;
                            totals.rejected += o.rejected;
                        }
                        Err(IngestError::Cancelled) => {}
                        Err(e) => {
                            if let IngestError::TooManyRejected { fetched, rejected, .. } = &e {
                                totals.fetched += fetched;
                                totals.rejected += rejected;
                            }
                            errors.push(format!("{country}: {e}"));
                        }
                    }
                }
            }
            Err(IngestError::Cancelled) => {}
            Err(e) => errors.push(e.to_string()),
        }
        let (final_status, error) = match control.stop_reason() {
            Some(StopReason::Cancelled) => (status::CANCELLED, Some("cancelled by an operator".to_string())),
            Some(StopReason::Shutdown) => (status::INTERRUPTED, Some("interrupted: the server shut down".to_string())),
            Some(StopReason::LostLease) => {
                (status::INTERRUPTED, Some("interrupted: the lease expired and was taken over".to_string()))
            }
            None if errors.is_empty() => (status::SUCCEEDED, None),
            None => (status::FAILED, Some(errors.join("; "))),
        };
        let run_id = run.id;
        let finished =
            with_conn(&self.pool, move |c| runs::finish_run(c, run_id, final_status, &totals, error.as_deref()))
                .await?;
        if finished.status != final_status {
            // Someone else ended it first (its lease was taken over): their verdict stands.
            tracing::warn!(
                run_id, status = %finished.status, would_be = final_status,
                "the run was ended by someone else meanwhile; its state is left as they set it"
            );
        }
        self.prune_old_rejections().await;
        tracing::info!(
            run_id, status = %finished.status, fetched = finished.fetched, inserted = finished.inserted,
            updated = finished.updated, unchanged = finished.unchanged, rejected = finished.rejected,
            error = finished.error.as_deref().unwrap_or(""), "ingest run finished"
        );
        Ok(finished)
    }

    /// Deletes the rejected rows of runs older than the retention setting (those of payloads still
    /// applied stay); a failure is logged, never the run's.
    async fn prune_old_rejections(&self) {
        let Some(retention) = self.config.limits.rejected_retention else { return };
        let Ok(age) = chrono::Duration::from_std(retention) else { return };
        let cutoff = store::now_utc() - age;
        match with_conn(&self.pool, move |c| runs::prune_rejected_rows(c, cutoff)).await {
            Ok(0) => {}
            Ok(deleted) => tracing::info!(deleted, %cutoff, "rejected rows of old runs deleted (retention)"),
            Err(e) => tracing::warn!(error = %e, "could not delete old rejected rows; trying again after the next run"),
        }
    }

    fn countries_for(&self, options: &RunOptions) -> Vec<String> {
        let list = if options.countries.is_empty() { &self.config.countries } else { &options.countries };
        let mut out: Vec<String> = list.iter().map(|c| c.trim().to_uppercase()).filter(|c| !c.is_empty()).collect();
        out.sort();
        out.dedup();
        out
    }

    /// Fetches through the shared fetcher, abandoning the request as soon as the run is asked to stop.
    pub(crate) async fn fetch(
        &self,
        step: &Step<'_>,
        url: String,
        run_id: i64,
        resource_id: i64,
        headers: Vec<(String, String)>,
    ) -> Result<Fetched, IngestError> {
        step.check()?;
        let request = FetchRequest { url, headers, run_id: Some(run_id), resource_id: Some(resource_id) };
        tokio::select! {
            fetched = self.fetcher.fetch(&request) => fetched,
            () = step.control.stopped() => Err(IngestError::Cancelled),
        }
    }

    /// Stores rejected rows of a run (their text cut to [`crate::RAW_KEPT_BYTES`]), up to the run's
    /// limit of rejected rows kept.
    pub(crate) async fn record_rejections(
        &self,
        run_id: i64,
        resource_id: i64,
        sha: String,
        rejections: Vec<Rejection>,
    ) -> Result<(), IngestError> {
        if rejections.is_empty() {
            return Ok(());
        }
        let keep = i64::try_from(self.config.limits.max_rejected_kept).unwrap_or(i64::MAX);
        let rejections: Vec<Rejection> =
            rejections.into_iter().map(|r| Rejection { raw: crate::kept_raw(r.raw), ..r }).collect();
        with_conn(&self.pool, move |c| {
            runs::record_rejections(c, run_id, Some(resource_id), Some(&sha), &rejections, keep)
        })
        .await?;
        Ok(())
    }

    /// The rejected rows of one DTM payload (one country and level), which had `total` of them, of
    /// which `rejections` were kept. They are stored once: when an earlier run (one that failed, or
    /// was rolled back) stored them for the same bytes, this run points at them instead. (Payloads
    /// shared by countries, such as the p-code list, are not: each country's rows are its own.)
    pub(crate) async fn record_payload_rejections(
        &self,
        run_id: i64,
        resource_id: i64,
        sha: String,
        rejections: Vec<Rejection>,
        total: i64,
    ) -> Result<(), IngestError> {
        if total == 0 {
            return Ok(());
        }
        let keep = i64::try_from(self.config.limits.max_rejected_kept).unwrap_or(i64::MAX);
        let rejections: Vec<Rejection> =
            rejections.into_iter().map(|r| Rejection { raw: crate::kept_raw(r.raw), ..r }).collect();
        with_conn(&self.pool, move |c| match runs::first_stored_rejections(c, resource_id, &sha)? {
            Some((earlier, _)) if earlier != run_id => {
                runs::refer_to_rejections(c, run_id, earlier, resource_id, &sha, total)
            }
            _ => runs::record_rejections(c, run_id, Some(resource_id), Some(&sha), &rejections, keep).map(|_| ()),
        })
        .await?;
        Ok(())
    }

    /// Fails `what` when more of its `fetched` rows were `rejected` than the configured share allows.
    pub(crate) fn check_rejected_share(&self, what: &str, fetched: i64, rejected: i64) -> Result<(), IngestError> {
        rejected_share_ok(&self.config.limits, what, fetched, rejected)
    }

    async fn run_geography(
        &self,
        run_id: i64,
        countries: &[String],
        dry_run: bool,
        step: &Step<'_>,
    ) -> Result<Vec<(String, Result<CountryOutcome, IngestError>)>, IngestError> {
        let hdx = self.config.hdx_url.trim_end_matches('/').to_string();
        let (dataset, resource) = (pcodes::dataset_info(&hdx), pcodes::resource_info(&hdx));
        let mut pending = PendingProvenance::default();
        pending.dataset(dataset.clone());
        let (resource, dataset_id) = with_conn(&self.pool, move |c| {
            let d = provenance::ensure_dataset(c, &dataset)?;
            Ok((provenance::ensure_resource(c, d.id, &resource)?, d.id))
        })
        .await?;
        pending.resource(dataset_id, pcodes::resource_info(&hdx));
        step.check()?;
        let mut fetched = self.fetch(step, resource.url.clone(), run_id, resource.id, Vec::new()).await?;
        let limits = &self.config.limits;
        let parsed = pcodes::parse_bounded(&fetched.bytes()?, countries, limits.max_field_bytes, limits.max_row_bytes)?;
        step.done("fetched the p-code list");
        let mut results = Vec::new();
        for wanted in countries {
            if !parsed.contains_key(wanted) {
                results.push((
                    wanted.clone(),
                    Err(IngestError::Invalid(format!("the p-code list has no rows for {wanted}"))),
                ));
            }
        }
        for (iso3, part) in parsed {
            let (country, areas, rejections) = (part.country, part.areas, part.rejections);
            let rejected = rejections.len() as i64;
            let fetched_rows = areas.len() as i64 - 1 + rejected;
            let resource_id = resource.id;
            step.check()?;
            if let Err(e) = self.check_rejected_share(&format!("geography {iso3}"), fetched_rows.max(0), rejected) {
                self.record_rejections(run_id, resource.id, fetched.sha256.clone(), rejections).await?;
                step.done(&format!("{iso3}: areas rejected"));
                results.push((iso3, Err(e)));
                continue;
            }
            let control = step.control.clone();
            let pending = pending.clone();
            let written = with_conn(&self.pool, move |c| {
                Ok(in_transaction(c, dry_run, &control, |c| {
                    pending.apply(c)?;
                    let mut counts = geography::upsert_countries(c, std::slice::from_ref(&country))?;
                    counts += geography::upsert_areas(c, run_id, resource_id, &areas)?;
                    Ok(counts)
                }))
            })
            .await
            .map_err(IngestError::from)
            .and_then(|inner| inner);
            let result = match written {
                Ok(written) => {
                    self.record_rejections(run_id, resource.id, fetched.sha256.clone(), rejections).await?;
                    Ok(CountryOutcome { fetched: fetched_rows.max(0), written, rejected })
                }
                Err(e) => Err(e),
            };
            step.done(&format!("{iso3}: areas written"));
            results.push((iso3, result));
        }
        Ok(results)
    }

    async fn run_dtm(
        &self,
        run_id: i64,
        countries: &[String],
        options: &RunOptions,
        step: &Step<'_>,
    ) -> Result<Vec<(String, Result<CountryOutcome, IngestError>)>, IngestError> {
        if countries.is_empty() {
            return Err(IngestError::Invalid(
                "no countries to ingest: pass --country or set CRISISGRAPH_COUNTRIES".into(),
            ));
        }
        let mut levels = options.dtm_levels.clone();
        levels.sort_unstable();
        levels.dedup();
        if levels.is_empty() || levels.iter().any(|l| *l > 2) {
            return Err(IngestError::Invalid(format!("DTM admin levels must be 0, 1 or 2, not {levels:?}")));
        }
        let base = self.config.dtm_url.trim_end_matches('/').to_string();
        let dataset = dtm::dataset_info(&base);
        let infos: Vec<_> = levels.iter().map(|l| (*l, dtm::resource_info(&base, *l))).collect();
        let mut pending = PendingProvenance::default();
        pending.dataset(dataset.clone());
        let (resources, dataset_id) = with_conn(&self.pool, move |c| {
            let d = provenance::ensure_dataset(c, &dataset)?;
            let resources = infos
                .iter()
                .map(|(level, info)| provenance::ensure_resource(c, d.id, info).map(|r| (*level, r.id)))
                .collect::<Result<Vec<_>, _>>()?;
            Ok((resources, d.id))
        })
        .await?;
        for level in &levels {
            pending.resource(dataset_id, dtm::resource_info(&base, *level));
        }
        let endpoints = DtmEndpoints { base, resources, pending };
        let mut results = Vec::new();
        for iso3 in countries {
            step.check()?;
            let result = self.dtm_country(run_id, &endpoints, iso3, options.dry_run, step).await;
            results.push((iso3.clone(), result));
        }
        Ok(results)
    }

    /// One country of a DTM run: fetch every level (streamed to spooled files), then either skip (every
    /// payload is the one last applied and the country's areas did not change since) or parse each level
    /// from its file and stage its rows in batches while parsing, and merge them, all in one write
    /// transaction: any fetch, parse or envelope failure leaves the store as it was for this country.
    async fn dtm_country(
        &self,
        run_id: i64,
        endpoints: &DtmEndpoints,
        iso3: &str,
        dry_run: bool,
        step: &Step<'_>,
    ) -> Result<CountryOutcome, IngestError> {
        let (base, resources, pending) = (&endpoints.base, &endpoints.resources, &endpoints.pending);
        let headers: Vec<(String, String)> =
            self.config.dtm_key.iter().map(|k| ("Ocp-Apim-Subscription-Key".to_string(), k.clone())).collect();
        let fetch_started = Instant::now();
        let mut payloads = Vec::new();
        for (level, resource_id) in resources {
            step.check()?;
            let fetched =
                self.fetch(step, dtm::request_url(base, *level, iso3), run_id, *resource_id, headers.clone()).await?;
            step.done(&format!("{iso3}: fetched admin{level}"));
            payloads.push(LevelPayload { level: *level, resource_id: *resource_id, fetched });
        }
        let bytes: u64 = payloads.iter().map(|p| p.fetched.body.len()).sum();
        tracing::info!(run_id, iso3, bytes, ms = millis(fetch_started), "DTM phase: fetch");

        // The fingerprint is read before the areas: should a geography run commit in between, the
        // recorded fingerprint is the older one, and the next run does the work instead of skipping it.
        let code = iso3.to_string();
        let (fingerprint, areas, applied) = with_conn(&self.pool, move |c| {
            let fingerprint = provenance::area_fingerprint(c, &code)?;
            let areas = geography::areas_of_country(c, &code)?;
            let applied = provenance::applied_payloads(c, Source::Dtm.name(), &code)?;
            Ok((fingerprint, areas, applied))
        })
        .await?;
        if let Some(previous) = unchanged_since_applied(&payloads, &applied, &fingerprint) {
            return self.skip_unchanged(run_id, iso3, previous).await;
        }

        let matcher = AreaMatcher::new(iso3, &areas);
        drop(areas);
        let retrieved_at = store::now_utc();
        let control = step.control.clone();
        let iso = iso3.to_string();
        let limits = self.config.limits.clone();
        let pending = pending.clone();
        let (written, summaries) = with_conn(&self.pool, move |c| {
            let mut summaries = Vec::new();
            let written = in_transaction(c, dry_run, &control, |c| {
                pending.apply(c)?;
                write_dtm_country(
                    c,
                    run_id,
                    &iso,
                    &matcher,
                    payloads,
                    &fingerprint,
                    retrieved_at,
                    &control,
                    &limits,
                    &mut summaries,
                )
            });
            Ok((written, summaries))
        })
        .await?;
        // The rejected rows are kept also when the write failed: they may be why.
        let (mut fetched_rows, mut rejected) = (0, 0);
        for (resource_id, sha, summary) in summaries {
            fetched_rows += summary.fetched();
            rejected += summary.rejected;
            self.record_payload_rejections(run_id, resource_id, sha, summary.rejections, summary.rejected).await?;
        }
        let written = written?;
        step.done(&format!("{iso3}: figures written"));
        Ok(CountryOutcome { fetched: fetched_rows, written, rejected })
    }

    /// The outcome of a run that found `previous` still current: the rows it stored are counted
    /// unchanged and its rejections counted again, as a full run over the same bytes would, pointing
    /// at the rows the applying run stored rather than storing them a second time.
    async fn skip_unchanged(
        &self,
        run_id: i64,
        iso3: &str,
        previous: Vec<AppliedPayload>,
    ) -> Result<CountryOutcome, IngestError> {
        let started = Instant::now();
        let fetched = previous.iter().map(|p| p.fetched_rows).sum();
        let unchanged = previous.iter().map(|p| p.stored_rows).sum();
        let rejected = with_conn(&self.pool, move |c| {
            previous.iter().map(|p| provenance::refer_to_rejections(c, p, run_id)).sum::<Result<i64, _>>()
        })
        .await?;
        tracing::info!(
            run_id,
            iso3,
            unchanged,
            rejected,
            ms = millis(started),
            "DTM: every payload is the one last applied and the areas are unchanged: parse and write skipped"
        );
        Ok(CountryOutcome { fetched, written: WriteCounts { unchanged, ..WriteCounts::default() }, rejected })
    }
}

/// What a DTM run reads from: the API's base URL, the resource of each admin level (level, id), and
/// what the run writes about them with each country's data.
struct DtmEndpoints {
    base: String,
    resources: Vec<(u8, i64)>,
    pending: PendingProvenance,
}

/// One fetched admin level of a DTM country.
struct LevelPayload {
    level: u8,
    resource_id: i64,
    fetched: Fetched,
}

fn millis(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// The applied records that make this fetch a no-op: one per payload, with the same URL, resource and
/// bytes, recorded with the current fingerprint of the country's areas. `None` when any differs.
fn unchanged_since_applied(
    payloads: &[LevelPayload],
    applied: &[AppliedPayload],
    areas: &AreaFingerprint,
) -> Option<Vec<AppliedPayload>> {
    if payloads.is_empty() {
        return None;
    }
    payloads
        .iter()
        .map(|p| {
            applied
                .iter()
                .find(|a| {
                    a.url == p.fetched.url
                        && a.resource_id == p.resource_id
                        && a.payload_sha256 == p.fetched.sha256
                        && a.areas == *areas
                })
                .cloned()
        })
        .collect()
}

/// The write of one DTM country, inside its transaction: each level parsed from its payload, valid
/// rows matched and staged in batches of [`idps::STAGING_CHUNK`] as they are read, then merged, and
/// what was applied recorded. Each level's parse summary (rejections) is pushed to `summaries`.
#[allow(clippy::too_many_arguments)]
fn write_dtm_country(
    c: &mut AnyConnection,
    run_id: i64,
    iso3: &str,
    matcher: &AreaMatcher,
    payloads: Vec<LevelPayload>,
    areas: &AreaFingerprint,
    retrieved_at: chrono::NaiveDateTime,
    control: &RunControl,
    limits: &crate::RowLimits,
    summaries: &mut Vec<(i64, String, dtm::ParseSummary)>,
) -> Result<WriteCounts, IngestError> {
    let started = Instant::now();
    idps::begin_staging(c)?;
    let mut staged = 0i64;
    let mut batch: Vec<IdpInput> = Vec::with_capacity(idps::STAGING_CHUNK);
    let mut country_name = None;
    let mut applied = Vec::new();
    for LevelPayload { level, resource_id, fetched } in payloads {
        let Fetched { url, sha256, body, .. } = fetched;
        let reader = body.into_reader()?;
        let summary = dtm::parse_stream(reader, level, iso3, limits, &mut |row| {
            country_name.get_or_insert_with(|| row.admin0_name.clone());
            batch.push(idp_input(matcher, iso3, &row, resource_id));
            if batch.len() >= idps::STAGING_CHUNK {
                if control.stop_reason().is_some() {
                    return Err(IngestError::Cancelled);
                }
                idps::stage_idp_figures(c, staged, &batch)?;
                staged += batch.len() as i64;
                batch.clear();
            }
            Ok(())
        })?;
        applied.push(AppliedPayload {
            source: Source::Dtm.name().to_string(),
            country_iso3: iso3.to_string(),
            url,
            payload_sha256: sha256.clone(),
            run_id,
            resource_id,
            fetched_rows: summary.fetched(),
            stored_rows: summary.valid,
            rejected_rows: summary.rejected,
            areas: areas.clone(),
        });
        summaries.push((resource_id, sha256, summary));
    }
    if !batch.is_empty() {
        idps::stage_idp_figures(c, staged, &batch)?;
        staged += batch.len() as i64;
    }
    drop(batch);
    tracing::info!(run_id, iso3, staged, ms = millis(started), "DTM phase: parse and stage");
    let fetched: i64 = summaries.iter().map(|(_, _, s)| s.fetched()).sum();
    let rejected: i64 = summaries.iter().map(|(_, _, s)| s.rejected).sum();
    rejected_share_ok(limits, &format!("DTM {iso3}"), fetched, rejected)?;

    let started = Instant::now();
    let country = CountryInput {
        iso3: iso3.to_string(),
        iso2: pcodes::country_name(iso3).map(|(_, iso2)| iso2),
        name: pcodes::country_name(iso3).map(|(name, _)| name).or(country_name).unwrap_or_else(|| iso3.to_string()),
    };
    geography::ensure_country(c, &country)?;
    let counts = idps::merge_staged_idp_figures(c, run_id, retrieved_at)?;
    for record in &applied {
        provenance::record_applied_payload(c, record)?;
    }
    tracing::info!(
        run_id,
        iso3,
        inserted = counts.inserted,
        updated = counts.updated,
        unchanged = counts.unchanged,
        ms = millis(started),
        "DTM phase: merge"
    );
    let merged = Instant::now();
    store::idp_totals::refresh_after_write(c, run_id, iso3, &counts)?;
    tracing::info!(run_id, iso3, ms = millis(merged), "DTM phase: totals refreshed");
    Ok(counts)
}

/// Whether `rejected` of `fetched` rows is within the share the limits allow; the error says how many,
/// the share allowed and the setting that allows it.
fn rejected_share_ok(limits: &crate::RowLimits, what: &str, fetched: i64, rejected: i64) -> Result<(), IngestError> {
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

/// What each step of a run reports to and checks with.
pub(crate) struct Step<'a> {
    pub(crate) control: &'a RunControl,
    progress: &'a dyn Progress,
}

impl Step<'_> {
    /// Fails with [`IngestError::Cancelled`] once someone asked the run to stop.
    pub(crate) fn check(&self) -> Result<(), IngestError> {
        match self.control.stop_reason() {
            Some(_) => Err(IngestError::Cancelled),
            None => Ok(()),
        }
    }

    pub(crate) fn done(&self, message: &str) {
        self.progress.step(message);
    }
}

/// Turns a parsed DTM row into a stored figure, matched to an area or to its nearest matched parent.
fn idp_input(matcher: &AreaMatcher, iso3: &str, row: &dtm::DtmRow, resource_id: i64) -> IdpInput {
    let (code, name) = row.area();
    let level = i32::from(row.admin_level);
    let parents: Vec<(i32, &str)> = match (level, row.admin1_pcode.as_deref()) {
        (2, Some(admin1)) => vec![(1, admin1)],
        _ => Vec::new(),
    };
    let (area_id, area_matched) = match matcher.match_code(level, code, &parents) {
        AreaMatch::Matched { area_id, .. } => (Some(area_id), true),
        AreaMatch::Unmatched { nearest_parent } => (nearest_parent, false),
    };
    IdpInput {
        country_iso3: iso3.to_string(),
        admin_level: level,
        area_id,
        area_matched,
        source_pcode: code.to_string(),
        source_name: name.to_string(),
        operation: row.operation.clone(),
        round_number: row.round_number,
        reporting_date: row.reporting_date,
        assessment_type: row.assessment_type.clone(),
        displacement_reason: row.displacement_reason.clone(),
        origin_pcode: row.origin_pcode.clone(),
        origin_name: row.origin_name.clone(),
        individuals: row.individuals,
        males: row.males,
        females: row.females,
        resource_id,
    }
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
        if dry_run {
            return Err(IngestError::DryRunRolledBack(counts));
        }
        // Only the holder of the lease commits: a run whose lease was taken over rolls back.
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

/// A few random bits from the clock, so that two ingesters in one process hold distinct leases.
fn rand_suffix() -> u32 {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    nanos ^ NEXT.fetch_add(0x9E37_79B9, std::sync::atomic::Ordering::Relaxed)
}
