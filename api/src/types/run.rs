use crate::scalars::DateTime;
use async_graphql::{Context, ID, Object, Result};
use store::runs;

use crate::ApiError;
use crate::error::IntoGraphql;
use async_graphql::ErrorExtensions;

/// One execution of a source's ingest: what it read, wrote and rejected, and how it ended.
pub struct IngestRun(pub store::models::IngestRun);

/// A page of ingest runs, newest first.
pub type IngestRunConnection = super::connection::Connection<IngestRun>;

/// One execution of a source's ingest: what it read, wrote and rejected, and how it ended.
#[Object]
impl IngestRun {
    /// Global id: `IngestRun:<number>`, as `ingestRun(id:)`, `cancelIngest(id:)` and `node(id:)` take it
    /// (`<number>` is the run number the CLI shows).
    pub async fn id(&self) -> ID {
        super::node::global_id::<IngestRun>(self.0.id)
    }
    /// The run number, as `crisisgraph runs` shows it.
    async fn number(&self) -> i64 {
        self.0.id
    }
    /// The source ingested, as `sources` names it (`dtm`, `food-security`, ...).
    async fn source(&self) -> &str {
        &self.0.source
    }
    /// `running`, `succeeded`, `failed`, `interrupted` or `cancelled`.
    async fn status(&self) -> &str {
        &self.0.status
    }
    /// Where the run is in its work: `queued`, `fetching`, `parsing`, `writing` or `finished`
    /// (lowercase). A run of several countries goes through fetching, parsing and writing once per
    /// country; `finished` once it has ended, whatever its status.
    async fn phase(&self) -> &str {
        &self.0.phase
    }
    /// How far the run got: steps done of the total, and source rows read so far. Written by the
    /// process running it at most every 250 ms, so every replica sees the same.
    async fn progress(&self) -> IngestProgress {
        IngestProgress {
            steps_done: self.0.steps_done,
            steps_total: self.0.steps_total,
            rows_so_far: self.0.rows_so_far,
        }
    }
    /// What the run fetched, in order: each request's URL, HTTP status (304 when the archived copy was
    /// current), size, SHA-256 and time. Offline runs replay archived payloads and fetch nothing.
    async fn payloads(&self, ctx: &Context<'_>) -> Result<Vec<FetchedPayload>> {
        let reads = crate::read::snapshot(ctx)?.clone();
        let id = self.0.id;
        let payloads = reads.run(move |c| runs::payloads_of_run(c, id)).await.gql()?;
        Ok(payloads.into_iter().map(FetchedPayload).collect())
    }
    /// What started the run: `cli`, `schedule`, `api` or `sample`.
    async fn trigger(&self) -> &str {
        &self.0.trigger
    }
    /// Who asked for the run (`operator token` for API triggers), if known.
    async fn requested_by(&self) -> Option<&str> {
        self.0.requested_by.as_deref()
    }
    /// The run's parameters as a JSON object (countries, options).
    async fn params(&self) -> &str {
        &self.0.params
    }
    /// A dry run computes its counts and commits nothing.
    async fn dry_run(&self) -> bool {
        self.0.dry_run
    }
    /// UTC.
    async fn started_at(&self) -> DateTime {
        self.0.started_at.into()
    }
    /// UTC; null while running.
    async fn finished_at(&self) -> Option<DateTime> {
        self.0.finished_at.map(DateTime)
    }
    /// Source rows read.
    async fn fetched(&self) -> i64 {
        self.0.fetched
    }
    /// Rows the run added to the store.
    async fn inserted(&self) -> i64 {
        self.0.inserted
    }
    /// Rows whose values the run changed.
    async fn updated(&self) -> i64 {
        self.0.updated
    }
    /// Rows that were already stored exactly as the source sent them.
    async fn unchanged(&self) -> i64 {
        self.0.unchanged
    }
    /// Rows refused by validation; see `rejectedRows`.
    async fn rejected(&self) -> i64 {
        self.0.rejected
    }
    /// Why the run failed, if it did.
    async fn error(&self) -> Option<&str> {
        self.0.error.as_deref()
    }
    /// The rows this run refused, with the reason and the row as the source sent it.
    async fn rejected_rows(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 100, desc = "The first this many rows, in source order (at most 1000).")] first: i32,
    ) -> Result<Vec<RejectedRow>> {
        if !(0..=1000).contains(&first) {
            return Err(ApiError::LimitExceeded("`first` must be between 0 and 1000".into()).extend());
        }
        let reads = crate::read::snapshot(ctx)?.clone();
        let id = self.0.id;
        let rows = reads.run(move |c| runs::rejected_rows_of_run(c, id, i64::from(first))).await.gql()?;
        Ok(rows.into_iter().map(RejectedRow).collect())
    }
}

/// How far a run got.
#[derive(async_graphql::SimpleObject)]
pub struct IngestProgress {
    /// Steps done: a step is one country (or one dataset, for `catalog`).
    steps_done: i64,
    /// Steps the run will make; null until the run has counted them.
    steps_total: Option<i64>,
    /// Source rows read so far (counted per country as each is parsed; the run's `fetched` at the end).
    rows_so_far: i64,
}

/// A payload a run fetched.
pub struct FetchedPayload(store::runs::FetchedPayload);

/// A payload a run fetched: a request and what it brought back.
#[Object]
impl FetchedPayload {
    /// The URL requested.
    async fn url(&self) -> &str {
        &self.0.url
    }
    /// The HTTP status answered: 200, or 304 when the archived copy was still current.
    async fn http_status(&self) -> Option<i32> {
        Some(self.0.http_status)
    }
    /// The payload's size in bytes, when archived.
    async fn bytes(&self) -> Option<i64> {
        self.0.bytes
    }
    /// The payload's SHA-256 (hex), as archived.
    async fn sha256(&self) -> Option<&str> {
        self.0.sha256.as_deref()
    }
    /// When it was fetched (UTC).
    async fn fetched_at(&self) -> Option<DateTime> {
        Some(DateTime(self.0.fetched_at))
    }
}

/// A source row an ingest refused, kept for inspection.
pub struct RejectedRow(pub store::models::RejectedRow);

/// A source row an ingest refused, kept for inspection.
#[Object]
impl RejectedRow {
    /// The row's position in the source: line number for CSV, 1-based index for JSON arrays.
    async fn row_number(&self) -> i64 {
        self.0.row_number
    }
    /// Why the row was refused, e.g. "numPresentIdpInd is negative (-12)".
    async fn reason(&self) -> &str {
        &self.0.reason
    }
    /// The row exactly as the source sent it.
    async fn raw(&self) -> &str {
        &self.0.raw
    }
}

impl super::node::GlobalId for IngestRun {
    type Key = i64;
    fn parse_key(key: &str) -> Option<i64> {
        super::node::number(key)
    }
    fn load(c: &mut store::AnyConnection, id: i64) -> Result<Option<Self>, store::StoreError> {
        Ok(runs::runs_by_ids(c, &[id])?.into_iter().next().map(IngestRun))
    }
}
