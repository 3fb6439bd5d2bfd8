//! Scheduled ingestion: one cron job per source inside `serve`. Each firing is claimed in the store
//! first, so that replicas sharing a schedule (and a PostgreSQL) run each job once; the run itself
//! then goes through the source's lease like any other trigger.

use std::time::Duration;

use chrono::{DateTime, Timelike, Utc};
use croner::Cron;
use croner::parser::{CronParser, Seconds};
use store::leases::{self, StartOutcome};
use store::with_conn;
use tokio_cron_scheduler::{Job, JobScheduler};

use crate::{Coordinator, IngestError, RunOptions, Source};

/// When and how often a source is ingested.
#[derive(Debug, Clone)]
pub struct SourceSchedule {
    pub source: Source,
    /// Six-field cron (seconds first); `None` means manual runs only.
    pub cron: Option<String>,
    /// The time zone the cron expression is read in (UTC unless configured).
    pub timezone: chrono_tz::Tz,
    /// How old the last success may get before the source counts as stale.
    pub cadence: Duration,
    /// What a scheduled run ingests (countries empty: the configured ones).
    pub options: RunOptions,
}

impl SourceSchedule {
    /// Each source's default schedule (UTC) and period, from its spec (see the operator guide's
    /// table). Cadence: the period plus a day of slack.
    pub fn defaults() -> Vec<SourceSchedule> {
        let day = Duration::from_secs(24 * 3600);
        Source::ALL
            .into_iter()
            .map(|source| {
                let spec = source.spec();
                SourceSchedule {
                    source,
                    cron: spec.default_cron.map(str::to_string),
                    timezone: chrono_tz::UTC,
                    cadence: day * (spec.period_days + 1),
                    options: RunOptions { trigger: "schedule".into(), ..RunOptions::default() },
                }
            })
            .collect()
    }

    /// The next firing after `now`, if scheduled: a whole second (cron has no finer unit), the same
    /// whatever the fraction of a second `now` falls in.
    pub fn next_run_after(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let local = now.with_nanosecond(0).unwrap_or(now).with_timezone(&self.timezone);
        let next = parse_cron(self.cron.as_deref()?).ok()?.find_next_occurrence(&local, false).ok()?;
        let next = next.with_timezone(&Utc);
        Some(next.with_nanosecond(0).unwrap_or(next))
    }
}

/// Parses a six-field cron expression (seconds first).
pub fn parse_cron(expression: &str) -> Result<Cron, IngestError> {
    CronParser::builder()
        .seconds(Seconds::Required)
        .dom_and_dow(true)
        .build()
        .parse(expression)
        .map_err(|e| IngestError::Invalid(format!("bad cron expression {expression:?}: {e}")))
}

/// The running scheduler; dropping it does not stop it: call [`Scheduler::shutdown`].
pub struct Scheduler {
    inner: JobScheduler,
}

impl Scheduler {
    /// Starts one job per scheduled source.
    pub async fn start(coordinator: Coordinator, schedules: &[SourceSchedule]) -> Result<Scheduler, IngestError> {
        let scheduler_error =
            |e: tokio_cron_scheduler::JobSchedulerError| IngestError::Invalid(format!("scheduler: {e}"));
        let inner = JobScheduler::new().await.map_err(scheduler_error)?;
        for schedule in schedules {
            let Some(expression) = schedule.cron.clone() else { continue };
            let cron = parse_cron(&expression)?;
            let (source, timezone) = (schedule.source, schedule.timezone);
            let (coordinator, schedule) = (coordinator.clone(), schedule.clone());
            let job = Job::new_async_tz(expression.as_str(), timezone, move |_id, _lock| {
                let (coordinator, schedule, cron) = (coordinator.clone(), schedule.clone(), cron.clone());
                Box::pin(async move { fire(&coordinator, &schedule, &cron).await })
            })
            .map_err(scheduler_error)?;
            inner.add(job).await.map_err(scheduler_error)?;
            tracing::info!(%source, cron = %expression, %timezone, "scheduled");
        }
        inner.start().await.map_err(scheduler_error)?;
        Ok(Scheduler { inner })
    }

    pub async fn shutdown(mut self) {
        if let Err(e) = self.inner.shutdown().await {
            tracing::warn!(error = %e, "scheduler did not shut down cleanly");
        }
    }
}

/// One firing: unless the source is running already (then it says which run, at once, and claims
/// nothing: on SQLite a claim would wait for that run's write lock), claim the slot (the scheduled
/// time), then trigger the run.
async fn fire(coordinator: &Coordinator, schedule: &SourceSchedule, cron: &Cron) {
    let now = Utc::now().with_timezone(&schedule.timezone);
    let slot = cron.find_previous_occurrence(&now, true).unwrap_or(now).naive_utc();
    let slot = chrono::Timelike::with_nanosecond(&slot, 0).unwrap_or(slot);
    let holder = format!("scheduler:{}", std::process::id());
    let source = schedule.source;
    match with_conn(coordinator.ingester().pool(), move |c| leases::running_run(c, source.name())).await {
        Ok(Some(run)) => {
            tracing::info!(%source, run_id = run.id, %slot, "already running (run {}): this firing starts nothing", run.id);
            return;
        }
        Ok(None) => {}
        Err(e) => {
            tracing::error!(%source, error = %e, "could not check for a run in progress");
            return;
        }
    }
    let claimed =
        with_conn(coordinator.ingester().pool(), move |c| leases::claim_schedule_slot(c, source.name(), slot, &holder))
            .await;
    match claimed {
        Ok(true) => match coordinator.trigger(source, schedule.options.clone()).await {
            Ok(StartOutcome::Started(run)) => tracing::info!(%source, run_id = run.id, %slot, "scheduled run"),
            Ok(StartOutcome::AlreadyRunning(run)) => {
                tracing::info!(%source, run_id = run.id, %slot, "already running (run {}): this firing starts nothing", run.id)
            }
            Err(e) => tracing::error!(%source, error = %e, "scheduled run could not start"),
        },
        Ok(false) => tracing::debug!(%source, %slot, "another replica took this firing"),
        Err(e) => tracing::error!(%source, error = %e, "could not claim the scheduled firing"),
    }
}
