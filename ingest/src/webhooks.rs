//! Webhooks: operators configure receiver URLs (src/config.rs); after each successful, non-dry run,
//! every country whose data the run changed becomes one signed JSON POST to each URL.
//!
//! The deliveries are written to the outbox (`webhook_deliveries`, store/src/webhooks.rs) when the
//! run's final record is written, and sent by [`WebhookWorker`] (run by `crisisgraph serve`): one at
//! a time per URL, in order, with exponential backoff between attempts and at most
//! [`WebhookSettings::max_attempts`] of them. A receiver that is down never blocks nor fails a run:
//! the run only adds rows to the outbox. A run made by the CLI leaves its deliveries in the outbox for
//! the next `serve` (of any replica on PostgreSQL) to send.
//!
//! Each POST carries `X-Crisisgraph-Timestamp: <unix seconds>` and, when the URL has a secret,
//! `X-Crisisgraph-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">`.

use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use store::models::IngestRun;
use store::runs::{RunChange, status as run_status};
use store::webhooks::{self as outbox, Delivery, NewDelivery};
use store::{AnyConnection, DbPool, StoreError, with_conn};

use crate::IngestError;

/// The event name of a data change, in the body and the delivery log.
pub const DATA_CHANGED: &str = "data.changed";
/// The header carrying the time the body was signed, in Unix seconds.
pub const TIMESTAMP_HEADER: &str = "X-Crisisgraph-Timestamp";
/// The header carrying `sha256=<hex HMAC>`.
pub const SIGNATURE_HEADER: &str = "X-Crisisgraph-Signature";

/// One receiver: its URL and the secret its POSTs are signed with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookTarget {
    pub url: String,
    /// Without one, the POST is sent unsigned (the timestamp header only).
    pub secret: Option<String>,
}

/// How deliveries are retried.
#[derive(Debug, Clone)]
pub struct WebhookSettings {
    /// Attempts before a delivery is given up (`failed`).
    pub max_attempts: i32,
    /// Wait after the first failed attempt; doubled after each further one.
    pub first_retry: Duration,
    /// Longest wait between two attempts.
    pub max_retry: Duration,
    /// Longest a receiver may take to answer.
    pub timeout: Duration,
    /// How often the worker looks for due deliveries.
    pub poll: Duration,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        WebhookSettings {
            max_attempts: 8,
            first_retry: Duration::from_secs(5),
            max_retry: Duration::from_secs(3600),
            timeout: Duration::from_secs(10),
            poll: Duration::from_secs(1),
        }
    }
}

/// Adds to the outbox one delivery per target and changed country of `run`, when the run succeeded,
/// was not dry and changed data (countries with rows inserted or updated). Runs in the connection that
/// writes the run's final record.
pub fn enqueue(
    conn: &mut AnyConnection,
    targets: &[WebhookTarget],
    run: &IngestRun,
    changes: &[RunChange],
) -> Result<(), StoreError> {
    if targets.is_empty() || run.dry_run || run.status != run_status::SUCCEEDED {
        return Ok(());
    }
    let mut deliveries = Vec::new();
    for change in changes.iter().filter(|c| c.inserted + c.updated > 0) {
        let body = body(run, change).to_string();
        for target in targets {
            deliveries.push(NewDelivery {
                url: target.url.clone(),
                run_id: Some(run.id),
                event: DATA_CHANGED.to_string(),
                body: body.clone(),
            });
        }
    }
    outbox::enqueue(conn, &deliveries)
}

/// The JSON body of a data change: the event, source, country, run, counts and the time the data
/// is current as of (the run's end).
pub fn body(run: &IngestRun, change: &RunChange) -> serde_json::Value {
    let time = |t: chrono::NaiveDateTime| t.and_utc().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    serde_json::json!({
        "event": DATA_CHANGED,
        "source": run.source,
        "country": change.country,
        "run": {
            "id": format!("IngestRun:{}", run.id),
            "number": run.id,
            "status": run.status,
            "trigger": run.trigger,
            "startedAt": time(run.started_at),
            "finishedAt": run.finished_at.map(time),
        },
        "counts": {
            "inserted": change.inserted,
            "updated": change.updated,
            "unchanged": change.unchanged,
            "rejected": change.rejected,
        },
        "dataAsOf": run.finished_at.map(time),
    })
}

/// `sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">` with `secret`.
pub fn signature(secret: &str, timestamp: i64, body: &str) -> String {
    // HMAC accepts keys of any length; `new_from_slice` cannot fail for it.
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC takes keys of any length"),
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Sends the outbox's due deliveries, over and over.
#[derive(Clone)]
pub struct WebhookWorker {
    pool: DbPool,
    targets: Vec<WebhookTarget>,
    settings: WebhookSettings,
    client: reqwest::Client,
}

impl WebhookWorker {
    pub fn new(pool: DbPool, targets: Vec<WebhookTarget>, settings: WebhookSettings) -> Result<Self, IngestError> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .timeout(settings.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("crisisgraph/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| IngestError::Invalid(format!("cannot build HTTP client: {e}")))?;
        Ok(WebhookWorker { pool, targets, settings, client })
    }

    /// Sends due deliveries every [`WebhookSettings::poll`], until the task is dropped.
    pub async fn run(self) {
        loop {
            if let Err(e) = self.send_due().await {
                tracing::warn!(error = %e, "webhook deliveries: the outbox could not be read; trying again");
            }
            tokio::time::sleep(self.settings.poll).await;
        }
    }

    /// Makes one attempt at each URL's oldest due delivery, the URLs side by side. Returns how many
    /// attempts were made.
    pub async fn send_due(&self) -> Result<usize, StoreError> {
        let due = with_conn(&self.pool, |c| outbox::due(c, store::now_utc())).await?;
        let attempts = due.into_iter().map(|d| self.attempt(d));
        let made = futures_util::future::join_all(attempts).await;
        Ok(made.into_iter().filter(|made| *made).count())
    }

    /// One attempt at `delivery`, if this process claims it first. Returns whether it was made.
    async fn attempt(&self, delivery: Delivery) -> bool {
        let hold = store::now_utc()
            + chrono::Duration::from_std(self.settings.timeout * 2).unwrap_or(chrono::Duration::seconds(60));
        let (id, attempt) = (delivery.id, delivery.attempt);
        match with_conn(&self.pool, move |c| outbox::claim(c, id, attempt, hold)).await {
            Ok(true) => {}
            Ok(false) => return false,
            Err(e) => {
                tracing::warn!(id, error = %e, "could not claim a webhook delivery");
                return false;
            }
        }
        let attempt = attempt + 1;
        let outcome = self.post(&delivery).await;
        let retry_at = (attempt < self.settings.max_attempts).then(|| store::now_utc() + self.backoff(attempt));
        let recorded = match outcome {
            Ok(status) => {
                tracing::info!(id, url = %delivery.url, status, attempt, "webhook delivered");
                with_conn(&self.pool, move |c| outbox::delivered(c, id, i32::from(status))).await
            }
            Err((status, error)) => {
                tracing::warn!(id, url = %delivery.url, attempt, error = %error, retry = retry_at.is_some(), "webhook delivery failed");
                with_conn(&self.pool, move |c| outbox::attempt_failed(c, id, status, &error, retry_at)).await
            }
        };
        if let Err(e) = recorded {
            tracing::warn!(id, error = %e, "could not record a webhook attempt; it will be made again");
        }
        true
    }

    /// The wait after failed attempt number `attempt` (1-based): doubled each time, capped.
    fn backoff(&self, attempt: i32) -> chrono::Duration {
        let factor = 2u32.saturating_pow(u32::try_from(attempt - 1).unwrap_or(0).min(20));
        let wait = self.settings.first_retry.saturating_mul(factor).min(self.settings.max_retry);
        chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::seconds(3600))
    }

    /// POSTs `delivery`'s body; a 2xx answer is a success, anything else an error with the status.
    async fn post(&self, delivery: &Delivery) -> Result<u16, (Option<i32>, String)> {
        let Some(target) = self.targets.iter().find(|t| t.url == delivery.url) else {
            return Err((None, "the URL is no longer configured; not sent".to_string()));
        };
        let timestamp = chrono::Utc::now().timestamp();
        let mut request = self
            .client
            .post(&delivery.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(TIMESTAMP_HEADER, timestamp.to_string())
            .header("X-Crisisgraph-Delivery", delivery.id.to_string())
            .body(delivery.body.clone());
        if let Some(secret) = &target.secret {
            request = request.header(SIGNATURE_HEADER, signature(secret, timestamp, &delivery.body));
        }
        match request.send().await {
            Ok(response) if response.status().is_success() => Ok(response.status().as_u16()),
            Ok(response) => {
                let status = response.status().as_u16();
                Err((Some(i32::from(status)), format!("the receiver answered HTTP {status}")))
            }
            Err(e) => Err((None, format!("the request failed: {e}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_hmac_sha256_of_timestamp_dot_body() {
        // Computed with Python: hmac.new(b"key", b"1.The quick brown fox jumps over the lazy dog",
        // hashlib.sha256).hexdigest()
        let expected = "sha256=3ff4d3cc115b639a16dc5b217aa5c89be41d1e4b54efc356d63d0cd2a65b30f1";
        assert_eq!(signature("key", 1, "The quick brown fox jumps over the lazy dog"), expected);
    }
}
