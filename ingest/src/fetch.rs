//! The one HTTP fetcher every source uses: timeouts, retries with backoff, conditional requests,
//! a size cap, and an archive of every payload by content hash (so any run can be replayed offline
//! and any row traced to the bytes it came from).

use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{
    ETAG, HeaderMap, HeaderName, HeaderValue, IF_MODIFIED_SINCE, IF_NONE_MATCH, LAST_MODIFIED, RETRY_AFTER,
};
use sha2::{Digest, Sha256};
use store::provenance::{self, FetchRecord};
use store::{DbPool, with_conn};

use crate::IngestError;

/// How the fetcher behaves on the network.
#[derive(Debug, Clone)]
pub struct FetchSettings {
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
    /// Retries after the first attempt, on 429, 5xx, timeouts and connection errors.
    pub max_retries: u32,
    /// First backoff; doubled on every retry.
    pub base_backoff: Duration,
    /// Longest wait between attempts, also for a server's Retry-After.
    pub max_backoff: Duration,
    /// Largest body accepted.
    pub max_body_bytes: u64,
}

impl Default for FetchSettings {
    fn default() -> Self {
        FetchSettings {
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(120),
            max_retries: 3,
            base_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(60),
            max_body_bytes: 512 * 1024 * 1024,
        }
    }
}

/// Where payloads come from: the network, or only the archive (offline replay, the bundled sample).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FetchMode {
    Online,
    Offline,
}

/// A payload ready to parse.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub url: String,
    pub sha256: String,
    pub body: Vec<u8>,
    /// True when the server (or offline mode) said the archived copy is current.
    pub not_modified: bool,
}

#[derive(Clone)]
pub struct Fetcher {
    client: reqwest::Client,
    settings: FetchSettings,
    mode: FetchMode,
    pool: DbPool,
}

/// What one fetch asks for.
#[derive(Debug, Clone, Default)]
pub struct FetchRequest {
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub run_id: Option<i64>,
    pub resource_id: Option<i64>,
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

enum Attempt {
    /// A final answer: 2xx with its whole body, or 304 (empty body).
    Done {
        status: StatusCode,
        headers: HeaderMap,
        body: Vec<u8>,
    },
    Retry {
        wait: Option<Duration>,
        reason: String,
    },
    Fail(IngestError),
}

impl Fetcher {
    pub fn new(pool: DbPool, settings: FetchSettings, mode: FetchMode) -> Result<Self, IngestError> {
        // reqwest is built without a default crypto provider; install ring once per process.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .connect_timeout(settings.connect_timeout)
            .timeout(settings.request_timeout)
            .user_agent(concat!("crisisgraph/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| IngestError::Invalid(format!("cannot build HTTP client: {e}")))?;
        Ok(Fetcher { client, settings, mode, pool })
    }

    pub fn mode(&self) -> FetchMode {
        self.mode
    }

    /// Fetches `request.url` (or replays its archived copy offline), archives the bytes and logs the fetch.
    pub async fn fetch(&self, request: &FetchRequest) -> Result<Fetched, IngestError> {
        let url = request.url.clone();
        let cached = with_conn(&self.pool, move |c| provenance::last_good_fetch(c, &url)).await?;
        if self.mode == FetchMode::Offline {
            let cached = cached.ok_or_else(|| IngestError::NotArchived(request.url.clone()))?;
            let sha = cached.payload_sha256.clone();
            let body = with_conn(&self.pool, move |c| provenance::load_payload(c, &sha)).await?;
            return Ok(Fetched { url: request.url.clone(), sha256: cached.payload_sha256, body, not_modified: true });
        }

        let mut headers = HeaderMap::new();
        for (name, value) in &request.headers {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|e| IngestError::Invalid(format!("bad header name {name}: {e}")))?;
            let value =
                HeaderValue::from_str(value).map_err(|e| IngestError::Invalid(format!("bad header value: {e}")))?;
            headers.insert(name, value);
        }
        if let Some(c) = &cached {
            if let Some(etag) = c.etag.as_deref().and_then(|v| HeaderValue::from_str(v).ok()) {
                headers.insert(IF_NONE_MATCH, etag);
            }
            if let Some(lm) = c.last_modified.as_deref().and_then(|v| HeaderValue::from_str(v).ok()) {
                headers.insert(IF_MODIFIED_SINCE, lm);
            }
        }

        let mut attempt = 0u32;
        let (status, response_headers, body) = loop {
            let outcome = self.attempt(&request.url, headers.clone()).await;
            match outcome {
                Attempt::Done { status, headers, body } => break (status, headers, body),
                Attempt::Fail(e) => {
                    self.log_failure(request, &e).await;
                    return Err(e);
                }
                Attempt::Retry { wait, reason } => {
                    if attempt >= self.settings.max_retries {
                        let e = IngestError::Fetch {
                            url: request.url.clone(),
                            reason: format!("{reason} (gave up after {} attempts)", attempt + 1),
                        };
                        self.log_failure(request, &e).await;
                        return Err(e);
                    }
                    let backoff = self.settings.base_backoff.saturating_mul(2u32.saturating_pow(attempt));
                    let wait = wait.unwrap_or(backoff).min(self.settings.max_backoff);
                    tracing::warn!(url = %request.url, %reason, attempt = attempt + 1, wait_ms = wait.as_millis() as u64, "retrying fetch");
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
            }
        };

        let fetched_at = store::now_utc();
        let header_text =
            |h: &HeaderMap, name| h.get(name).and_then(|v: &HeaderValue| v.to_str().ok()).map(String::from);
        let etag = header_text(&response_headers, ETAG);
        let last_modified = header_text(&response_headers, LAST_MODIFIED);
        let content_type = header_text(&response_headers, reqwest::header::CONTENT_TYPE);

        if status == StatusCode::NOT_MODIFIED {
            if let Some(c) = cached {
                let sha = c.payload_sha256.clone();
                let body = with_conn(&self.pool, move |conn| provenance::load_payload(conn, &sha)).await?;
                let record = FetchRecord {
                    run_id: request.run_id,
                    resource_id: request.resource_id,
                    url: request.url.clone(),
                    http_status: 304,
                    not_modified: true,
                    payload_sha256: Some(c.payload_sha256.clone()),
                    etag: c.etag,
                    last_modified: c.last_modified,
                    fetched_at,
                };
                with_conn(&self.pool, move |conn| provenance::record_fetch(conn, &record)).await?;
                return Ok(Fetched { url: request.url.clone(), sha256: c.payload_sha256, body, not_modified: true });
            }
            let e = IngestError::Fetch {
                url: request.url.clone(),
                reason: "304 Not Modified without a cached copy".into(),
            };
            self.log_failure(request, &e).await;
            return Err(e);
        }

        let sha256 = sha256_hex(&body);
        let not_modified = cached.as_ref().is_some_and(|c| c.payload_sha256 == sha256);
        let record = FetchRecord {
            run_id: request.run_id,
            resource_id: request.resource_id,
            url: request.url.clone(),
            http_status: 200,
            not_modified,
            payload_sha256: Some(sha256.clone()),
            etag,
            last_modified,
            fetched_at,
        };
        // The body moves into the archiving task and back: a large payload is never held twice.
        let sha = sha256.clone();
        let body = with_conn(&self.pool, move |conn| {
            provenance::archive_payload(conn, &sha, &body, content_type.as_deref(), fetched_at)?;
            provenance::record_fetch(conn, &record)?;
            Ok(body)
        })
        .await?;
        Ok(Fetched { url: request.url.clone(), sha256, body, not_modified })
    }

    async fn attempt(&self, url: &str, headers: HeaderMap) -> Attempt {
        let result = self.client.get(url).headers(headers).send().await;
        let resp = match result {
            Ok(r) => r,
            Err(e) if e.is_timeout() => return Attempt::Retry { wait: None, reason: format!("timed out: {e}") },
            Err(e) if e.is_connect() || e.is_request() => {
                return Attempt::Retry { wait: None, reason: format!("connection failed: {e}") };
            }
            Err(e) => return Attempt::Fail(IngestError::Fetch { url: url.to_string(), reason: e.to_string() }),
        };
        let status = resp.status();
        if status == StatusCode::NOT_MODIFIED {
            return Attempt::Done { status, headers: resp.headers().clone(), body: Vec::new() };
        }
        if status.is_success() {
            let headers = resp.headers().clone();
            // A body cut off by the network (reset, truncated) is as transient as a refused connection.
            return match self.read_body(url, resp).await {
                Ok(body) => Attempt::Done { status, headers, body },
                Err(IngestError::Fetch { reason, .. }) => Attempt::Retry { wait: None, reason },
                Err(e) => Attempt::Fail(e),
            };
        }
        if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
            let wait = resp.headers().get(RETRY_AFTER).and_then(|v| v.to_str().ok()).and_then(parse_retry_after);
            return Attempt::Retry { wait, reason: format!("HTTP {}", status.as_u16()) };
        }
        let body = resp.text().await.unwrap_or_default();
        Attempt::Fail(IngestError::Http { url: url.to_string(), status: status.as_u16(), body: snippet(&body) })
    }

    async fn read_body(&self, url: &str, mut response: reqwest::Response) -> Result<Vec<u8>, IngestError> {
        let limit = self.settings.max_body_bytes;
        if response.content_length().is_some_and(|len| len > limit) {
            return Err(IngestError::TooLarge { url: url.to_string(), limit });
        }
        // Sized once from Content-Length (within the cap), so a large body is not copied while growing.
        let expected = response.content_length().unwrap_or(0).min(limit);
        let mut body = Vec::with_capacity(usize::try_from(expected).unwrap_or(0));
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    if body.len() as u64 + chunk.len() as u64 > limit {
                        return Err(IngestError::TooLarge { url: url.to_string(), limit });
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(None) => return Ok(body),
                Err(e) => {
                    return Err(IngestError::Fetch {
                        url: url.to_string(),
                        reason: format!("reading the body failed: {e}"),
                    });
                }
            }
        }
    }

    /// Logs a failed fetch in the fetch log; a logging failure must not hide the fetch error.
    async fn log_failure(&self, request: &FetchRequest, error: &IngestError) {
        let status = match error {
            IngestError::Http { status, .. } => i32::from(*status),
            _ => 0,
        };
        let record = FetchRecord {
            run_id: request.run_id,
            resource_id: request.resource_id,
            url: request.url.clone(),
            http_status: status,
            not_modified: false,
            payload_sha256: None,
            etag: None,
            last_modified: None,
            fetched_at: store::now_utc(),
        };
        if let Err(e) = with_conn(&self.pool, move |c| provenance::record_fetch(c, &record)).await {
            tracing::warn!(error = %e, "could not log a failed fetch");
        }
    }
}

/// Retry-After is either a number of seconds or an HTTP date.
fn parse_retry_after(value: &str) -> Option<Duration> {
    if let Ok(secs) = value.trim().parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = httpdate::parse_http_date(value.trim()).ok()?;
    Some(when.duration_since(std::time::SystemTime::now()).unwrap_or(Duration::ZERO))
}

/// The start of a body, for an error message.
fn snippet(body: &str) -> String {
    let trimmed: String = body.chars().take(300).collect();
    if trimmed.len() < body.len() { format!("{trimmed}…") } else { trimmed }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_accepts_seconds_and_dates() {
        assert_eq!(parse_retry_after("7"), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon"), None);
    }
}
