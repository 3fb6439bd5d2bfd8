//! What subscriptions and the webhook log show: a run's committed data change, and a webhook delivery.

use std::sync::Arc;

use async_graphql::{Context, ID, Object, Result};
use store::webhooks::Delivery;

use super::IngestRun;
use crate::error::IntoGraphql;
use crate::live::DataChangeEvent;
use crate::scalars::DateTime;

/// One country's data changed by a run that committed (a `dataChanged` event).
pub struct DataChange(pub(crate) Arc<DataChangeEvent>);

/// One country's data changed by a run that committed (a `dataChanged` event).
#[Object]
impl DataChange {
    /// The source the run ingested.
    async fn source(&self) -> &str {
        &self.0.run.source
    }
    /// The country (ISO3) whose data changed; for sources not run per country, what the run's unit
    /// of work was named (e.g. a dataset for `catalog`).
    async fn country(&self) -> Option<&str> {
        Some(self.0.change.country.as_str())
    }
    /// The run, as it ended.
    async fn run(&self) -> IngestRun {
        IngestRun(self.0.run.clone())
    }
    /// Rows of this country the run added.
    async fn inserted(&self) -> i64 {
        self.0.change.inserted
    }
    /// Rows of this country whose values the run changed.
    async fn updated(&self) -> i64 {
        self.0.change.updated
    }
    /// Rows of this country already stored as the source sent them.
    async fn unchanged(&self) -> i64 {
        self.0.change.unchanged
    }
    /// Rows of this country the run refused.
    async fn rejected(&self) -> i64 {
        self.0.change.rejected
    }
}

/// One webhook POST of one event to one receiver, and how it went.
pub struct WebhookDelivery(pub Delivery);

/// One webhook POST of one event to one receiver, and how it went (the delivery log).
#[Object]
impl WebhookDelivery {
    /// Global id: `WebhookDelivery:<number>`.
    async fn id(&self) -> ID {
        ID(format!("WebhookDelivery:{}", self.0.id))
    }
    /// The receiver's URL.
    async fn url(&self) -> &str {
        &self.0.url
    }
    /// The run whose data change the delivery announces.
    async fn run(&self, ctx: &Context<'_>) -> Result<Option<IngestRun>> {
        let Some(id) = self.0.run_id else { return Ok(None) };
        let reads = crate::read::snapshot(ctx)?.clone();
        let runs = reads.run(move |c| store::runs::runs_by_ids(c, &[id])).await.gql()?;
        Ok(runs.into_iter().next().map(IngestRun))
    }
    /// `data.changed`.
    async fn event(&self) -> &str {
        &self.0.event
    }
    /// Attempts made so far.
    async fn attempt(&self) -> i32 {
        self.0.attempt
    }
    /// The HTTP status of the last answer, if any.
    async fn http_status(&self) -> Option<i32> {
        self.0.http_status
    }
    /// Why the last attempt failed, if it did.
    async fn error(&self) -> Option<&str> {
        self.0.error.as_deref()
    }
    /// `pending` (not yet delivered; retried), `delivered` or `failed` (given up).
    async fn status(&self) -> &str {
        &self.0.status
    }
    /// When the delivery was queued (UTC): when the run ended.
    async fn created_at(&self) -> DateTime {
        DateTime(self.0.created_at)
    }
    /// When the receiver accepted it (UTC).
    async fn delivered_at(&self) -> Option<DateTime> {
        self.0.delivered_at.map(DateTime)
    }
    /// The JSON body, exactly as signed and sent.
    async fn body(&self) -> &str {
        &self.0.body
    }
}
