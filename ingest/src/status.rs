//! How fresh each source is: its schedule, next run, last success and failure, and whether it is
//! stale against its expected cadence. Read from the run history, so every replica agrees.

use std::time::Duration;

use chrono::{DateTime, Utc};
use store::models::IngestRun;
use store::runs::{self, status};
use store::{AnyConnection, DbPool, StoreError, with_conn};

use crate::{IngestError, Source, SourceSchedule};

/// One source's state, for `crisisgraph sources` and GraphQL `sources`.
#[derive(Debug, Clone)]
pub struct SourceStatus {
    pub source: Source,
    pub schedule: Option<String>,
    pub cadence: Duration,
    pub next_run_at: Option<DateTime<Utc>>,
    pub last_success: Option<IngestRun>,
    pub last_failure: Option<IngestRun>,
    /// The newest run, whatever its state.
    pub last_run: Option<IngestRun>,
    /// Rows the store holds from this source.
    pub rows: i64,
    /// True when the source has never succeeded, or not within its cadence.
    pub stale: bool,
    /// True when the newest finished run failed or was interrupted.
    pub failing: bool,
}

/// Every source's state, read on a pooled connection.
pub async fn source_statuses(pool: &DbPool, schedules: &[SourceSchedule]) -> Result<Vec<SourceStatus>, IngestError> {
    let schedules = schedules.to_vec();
    Ok(with_conn(pool, move |c| source_statuses_on(c, &schedules)).await?)
}

/// Every source's state, read on one connection (inside a caller's read snapshot, for GraphQL).
pub fn source_statuses_on(
    c: &mut AnyConnection,
    schedules: &[SourceSchedule],
) -> Result<Vec<SourceStatus>, StoreError> {
    let mut out = Vec::new();
    for source in Source::ALL {
        let schedule = schedules.iter().find(|s| s.source == source).cloned();
        let (last_success, last_failure, last_finished, last_run, rows) = {
            let name = source.name();
            let success = runs::last_run_with_status(c, name, &[status::SUCCEEDED])?;
            let failure = runs::last_run_with_status(c, name, &[status::FAILED, status::INTERRUPTED])?;
            let finished = runs::last_run_with_status(
                c,
                name,
                &[status::SUCCEEDED, status::FAILED, status::INTERRUPTED, status::CANCELLED],
            )?;
            let last = runs::list_runs(c, Some(name), 1, 0)?.into_iter().next();
            let rows = (source.spec().count_rows)(c)?;
            (success, failure, finished, last, rows)
        };
        let now = Utc::now();
        let cadence = schedule.as_ref().map(|s| s.cadence).unwrap_or(Duration::from_secs(7 * 24 * 3600));
        let stale = match last_success.as_ref().and_then(|r| r.finished_at) {
            Some(at) => (now - at.and_utc()).to_std().map(|age| age > cadence).unwrap_or(false),
            None => true,
        };
        let failing =
            last_finished.as_ref().is_some_and(|r| r.status == status::FAILED || r.status == status::INTERRUPTED);
        out.push(SourceStatus {
            source,
            schedule: schedule.as_ref().and_then(|s| s.cron.clone()),
            cadence,
            next_run_at: schedule.as_ref().and_then(|s| s.next_run_after(now)),
            last_success,
            last_failure,
            last_run,
            rows,
            stale,
            failing,
        });
    }
    Ok(out)
}
