//! Runs started from the API and the scheduler: they return at once and go on in the background.
//! The coordinator keeps the runs of this process so that they can be cancelled and, at shutdown,
//! given a grace period before they are stopped (rolled back, marked interrupted).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use store::leases::{self, StartOutcome};
use store::models::IngestRun;
use store::with_conn;
use tokio::task::JoinHandle;

use crate::control::{RunControl, Silent, StopReason};
use crate::{IngestError, Ingester, RunOptions, Source};

struct Running {
    control: RunControl,
    task: JoinHandle<()>,
}

/// Starts, tracks, cancels and drains background runs.
#[derive(Clone)]
pub struct Coordinator {
    ingester: Ingester,
    running: Arc<Mutex<HashMap<i64, Running>>>,
    /// The runtime runs are spawned on: the one that created the coordinator, not the (short-lived,
    /// per-worker) runtime of whichever HTTP worker received the trigger.
    runtime: tokio::runtime::Handle,
}

impl Coordinator {
    /// Must be called inside the tokio runtime that should carry the background runs.
    pub fn new(ingester: Ingester) -> Self {
        Coordinator {
            ingester,
            running: Arc::new(Mutex::new(HashMap::new())),
            runtime: tokio::runtime::Handle::current(),
        }
    }

    pub fn ingester(&self) -> &Ingester {
        &self.ingester
    }

    /// Whether a trigger from outside (the API) can run, checked before any run is recorded: every
    /// country must be an ISO 3166 alpha-3 code, and a source that ingests per country needs countries,
    /// given or configured. (The scheduler does not check: a misconfigured schedule records failed runs,
    /// which `sources` and the metrics report.)
    pub fn check(&self, source: Source, options: &RunOptions) -> Result<(), IngestError> {
        if let Some(bad) =
            options.countries.iter().find(|c| isocountry::CountryCode::for_alpha3_caseless(c.trim()).is_err())
        {
            return Err(IngestError::Invalid(format!("{bad:?} is not an ISO 3166 alpha-3 country code")));
        }
        let per_country = matches!(source, Source::Dtm | Source::Population | Source::Funding | Source::Sites);
        if per_country && options.countries.is_empty() && self.ingester.config().countries.is_empty() {
            return Err(IngestError::Invalid(format!(
                "{source} ingests per country and this server has no countries configured: \
                 name them in `countries` (ISO3 codes) or set CRISISGRAPH_COUNTRIES on the server"
            )));
        }
        Ok(())
    }

    /// Starts a run of `source` in the background, or returns the run of it already in progress
    /// (in this process or another). Never starts a second concurrent run of one source.
    pub async fn trigger(&self, source: Source, options: RunOptions) -> Result<StartOutcome, IngestError> {
        let outcome = self.ingester.start(source, &options).await?;
        if let StartOutcome::Started(run) = &outcome {
            let control = RunControl::default();
            let (ingester, run_copy, control_copy) = (self.ingester.clone(), run.clone(), control.clone());
            let running = self.running.clone();
            let run_id = run.id;
            // Hold the map while spawning, so the task cannot remove its entry before it is added.
            let mut map = self.running.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            let task = self.runtime.spawn(async move {
                if let Err(e) =
                    ingester.execute_leased(run_copy, source, &options, control_copy, Arc::new(Silent)).await
                {
                    tracing::error!(run_id, error = %e, "a background run could not be recorded");
                }
                running.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).remove(&run_id);
            });
            map.insert(run_id, Running { control, task });
        }
        Ok(outcome)
    }

    /// Asks run `run_id` to stop; it rolls back its transaction and ends `cancelled`. Works for
    /// runs of other processes too (they see the request at their next heartbeat). Returns the run,
    /// or `None` if there is no such run; a run that is not running is returned unchanged.
    pub async fn cancel(&self, run_id: i64) -> Result<Option<IngestRun>, IngestError> {
        if let Some(r) = self.running.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).get(&run_id) {
            r.control.stop(StopReason::Cancelled);
        }
        let found = with_conn(self.ingester.pool(), move |c| {
            leases::request_cancel(c, run_id)?;
            match store::runs::find_run(c, run_id) {
                Ok(run) => Ok(Some(run)),
                Err(e) if e.is_not_found() => Ok(None),
                Err(e) => Err(e),
            }
        })
        .await?;
        Ok(found)
    }

    /// Marks, every `every`, the runs whose holder is gone (killed, hung past its lease) as
    /// interrupted, so that the store says so without waiting for the next start of their source.
    /// Readers already show them interrupted; this writes it down. Stops with the runtime.
    pub fn spawn_sweeper(&self, every: Duration) -> JoinHandle<()> {
        let pool = self.ingester.pool().clone();
        self.runtime.spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                match with_conn(&pool, leases::interrupt_dead_runs).await {
                    Ok(0) => {}
                    Ok(marked) => tracing::warn!(marked, "runs whose process is gone marked interrupted"),
                    // An outage is logged by the store itself, once.
                    Err(e) => tracing::debug!(error = %e, "sweeping dead runs failed; trying again later"),
                }
            }
        })
    }

    /// How many runs this process has going on.
    pub fn running_count(&self) -> usize {
        self.running.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).len()
    }

    /// Waits up to `grace` for the running runs to finish, then stops the rest (they roll back and
    /// end `interrupted`) and waits for them to record it.
    pub async fn shutdown(&self, grace: Duration) {
        let deadline = tokio::time::Instant::now() + grace;
        while self.running_count() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let tasks: Vec<JoinHandle<()>> = {
            let mut map = self.running.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            map.drain()
                .map(|(run_id, r)| {
                    tracing::warn!(run_id, "grace period over: stopping the run");
                    r.control.stop(StopReason::Shutdown);
                    r.task
                })
                .collect()
        };
        for task in tasks {
            let _ = task.await;
        }
    }
}
