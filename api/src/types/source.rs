use crate::scalars::DateTime;
use async_graphql::Object;

use super::IngestRun;

/// A source crisisgraph ingests, with its schedule and how fresh its data is.
pub struct SourceInfo(pub ingest::status::SourceStatus);

/// A source crisisgraph ingests, with its schedule and how fresh its data is.
#[Object(name = "Source")]
impl SourceInfo {
    /// `geography` or `dtm`: the name `triggerIngest` and `crisisgraph ingest` take.
    async fn name(&self) -> &str {
        self.0.source.name()
    }
    /// Six-field cron expression (seconds first, UTC); null when the source only runs by hand.
    async fn schedule(&self) -> Option<&str> {
        self.0.schedule.as_deref()
    }
    /// How old the last success may get before the source is stale, in seconds.
    async fn cadence_seconds(&self) -> i64 {
        self.0.cadence.as_secs() as i64
    }
    /// The next scheduled run (UTC).
    async fn next_run_at(&self) -> Option<DateTime> {
        self.0.next_run_at.map(DateTime::from)
    }
    /// When the last successful run finished (UTC).
    async fn last_success_at(&self) -> Option<DateTime> {
        self.0.last_success.as_ref().and_then(|r| r.finished_at).map(DateTime)
    }
    /// The last successful run, with its counts.
    async fn last_success(&self) -> Option<IngestRun> {
        self.0.last_success.clone().map(IngestRun)
    }
    /// The last failed or interrupted run, with its `error` and `finishedAt`.
    async fn last_failure(&self) -> Option<IngestRun> {
        self.0.last_failure.clone().map(IngestRun)
    }
    /// The newest run, whatever its state (it may be running).
    async fn last_run(&self) -> Option<IngestRun> {
        self.0.last_run.clone().map(IngestRun)
    }
    /// Rows the store holds from this source.
    async fn rows(&self) -> i64 {
        self.0.rows
    }
    /// True when the source never succeeded, or its last success is older than its cadence.
    async fn stale(&self) -> bool {
        self.0.stale
    }
    /// True when its newest finished run failed or was interrupted.
    async fn failing(&self) -> bool {
        self.0.failing
    }
}
