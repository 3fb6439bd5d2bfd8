//! Runs a source and keeps its run record: takes the source's lease (one run per source at a time,
//! across processes), records the run, renews the lease with a heartbeat while the source's job
//! works, sums the job's per-country outcomes into the run's counts, records how the run ended and
//! frees the lease. It knows no source: what a run does is the source's (`sources/`), through
//! [`crate::kit::RunContext`].

use std::sync::Arc;
use store::models::IngestRun;
use store::runs::{self, RunRequest, RunTotals, status};

use store::leases::{self, StartOutcome};
use store::{DbPool, with_conn};

use store::events::{EventKind, RunEvent};
use store::runs::RunChange;

use crate::control::{LeaseRef, Progress, RunControl, Silent, StopReason};
use crate::kit::{RunContext, no_countries};
use crate::live::RunTracker;
use crate::{FetchMode, Fetcher, IngestConfig, IngestError, Source};

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
        let mut params = source.params(options);
        params.insert("countries".into(), serde_json::json!(countries));
        params.insert("offline".into(), serde_json::json!(self.fetcher.mode() == FetchMode::Offline));
        let params = serde_json::Value::Object(params);
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
        let result = self.execute(&run, source, options, &control, progress).await;
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
        progress: Arc<dyn Progress>,
    ) -> Result<IngestRun, IngestError> {
        let countries = self.countries_for(options);
        tracing::info!(run_id = run.id, %source, ?countries, dry_run = options.dry_run, trigger = %options.trigger, "ingest run started");
        let (tracker, tracker_writer) = RunTracker::start(self.pool.clone(), run.id, progress);
        let ctx = RunContext::new(self, source.name(), run.id, countries, options, Step { control, tracker: &tracker });
        tracker.begin(source.steps(&ctx));

        let mut totals = RunTotals::default();
        let mut changes = Vec::new();
        let mut errors = Vec::new();
        let outcome = if source.spec().per_country && ctx.countries.is_empty() {
            Err(no_countries())
        } else {
            source.run(&ctx).await
        };
        match outcome {
            Ok(per_country) => {
                for (country, result) in per_country {
                    match result {
                        Ok(o) => {
                            changes.push(RunChange {
                                run_id: run.id,
                                country,
                                inserted: o.written.inserted,
                                updated: o.written.updated,
                                unchanged: o.written.unchanged,
                                rejected: o.rejected,
                            });
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
        drop(ctx);
        tracker.close();
        if let Err(e) = tracker_writer.await {
            tracing::warn!(run_id = run.id, error = %e, "the progress writer ended abnormally");
        }
        // A dry run committed nothing: it changed no data.
        if options.dry_run {
            changes.clear();
        }
        let run_id = run.id;
        let webhooks = self.config.webhooks.clone();
        let (finished, lsn) = with_conn(&self.pool, move |c| {
            // The run's end, what each country changed and the webhook outbox, in one transaction;
            // the NOTIFY goes out when it commits.
            let ended = store::write_transaction(c, |c| {
                let finished = runs::finish_run(c, run_id, final_status, &totals, error.as_deref())?;
                if finished.status == final_status {
                    runs::record_changes(c, &changes)?;
                    crate::webhooks::enqueue(c, &webhooks, &finished, &changes)?;
                }
                store::events::notify(c, RunEvent { run_id, kind: EventKind::Finished, lsn: None })?;
                Ok::<_, store::StoreError>(finished)
            });
            let finished = match ended {
                Ok(finished) => finished,
                Err(e) => {
                    // The run's end must be recorded whatever else failed: without its changes and
                    // webhooks (no dataChanged, no POST), said in the log.
                    tracing::warn!(run_id, error = %e, "could not record the run's changes and webhooks; recording its end alone");
                    let finished = runs::finish_run(c, run_id, final_status, &totals, error.as_deref())?;
                    let _ = store::events::notify(c, RunEvent { run_id, kind: EventKind::Finished, lsn: None });
                    finished
                }
            };
            // Committed: where the commit reached in the WAL, for servers reading on replicas (a
            // second `finished`, which subscribers' hubs take as a duplicate).
            let lsn = store::commit_lsn(c).unwrap_or_else(|e| {
                tracing::warn!(run_id, error = %e, "could not read the commit's WAL position");
                None
            });
            if lsn.is_some() {
                let _ = store::events::notify(c, RunEvent { run_id, kind: EventKind::Finished, lsn });
            }
            Ok((finished, lsn))
        })
        .await?;
        self.pool.publish_event(RunEvent { run_id, kind: EventKind::Finished, lsn });
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
}

/// What each step of a run reports to and checks with.
pub(crate) struct Step<'a> {
    pub(crate) control: &'a RunControl,
    pub(crate) tracker: &'a RunTracker,
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
        self.tracker.step(message);
    }
}

/// A few random bits from the clock, so that two ingesters in one process hold distinct leases.
fn rand_suffix() -> u32 {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    nanos ^ NEXT.fetch_add(0x9E37_79B9, std::sync::atomic::Ordering::Relaxed)
}
