//! The one HTTP fetcher every source uses: timeouts, retries with backoff, conditional requests,
//! a size cap, and an archive of every payload by content hash (so any run can be replayed offline
//! and any row traced to the bytes it came from).
//!
//! A body is streamed: hashed and written to a spooled temporary file as it arrives, archived in
//! chunks from that file, and handed to the parser as a reader, so its size does not set the memory
//! of the process.

use std::io::{Read, Seek, SeekFrom, Write};
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{
    ETAG, HeaderMap, HeaderName, HeaderValue, IF_MODIFIED_SINCE, IF_NONE_MATCH, LAST_MODIFIED, RETRY_AFTER,
};
use sha2::{Digest, Sha256};
use store::provenance::{self, FetchRecord};
use store::{DbPool, with_conn, write_transaction};
use tempfile::SpooledTempFile;

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
#[derive(Debug)]
pub struct Fetched {
    pub url: String,
    pub sha256: String,
    pub body: Payload,
    /// True when the server (or offline mode) said the archived copy is current.
    pub not_modified: bool,
}

impl Fetched {
    /// The whole body in memory: for the small sources (HDX catalog, CSV and XLSX files, the p-code list).
    /// Large answers (DTM) are read through [`Payload::into_reader`] instead.
    pub fn bytes(&mut self) -> Result<Vec<u8>, IngestError> {
        self.body.to_vec()
    }
}

/// Bodies up to this size stay in memory; larger ones go to an unnamed temporary file.
const SPOOL_IN_MEMORY: usize = 8 * 1024 * 1024;

/// A body as received: in memory while small, in an unnamed temporary file (gone with the process,
/// even after `kill -9`) once larger, so that a payload of hundreds of MB never sits in memory.
pub struct Payload {
    file: SpooledTempFile,
    len: u64,
}

impl std::fmt::Debug for Payload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Payload").field("len", &self.len).field("on_disk", &self.file.is_rolled()).finish()
    }
}

impl Default for Payload {
    fn default() -> Self {
        Payload { file: SpooledTempFile::new(SPOOL_IN_MEMORY), len: 0 }
    }
}

impl Payload {
    /// Size in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Positions the payload at its start, for reading it (again).
    pub fn rewind(&mut self) -> Result<(), IngestError> {
        self.file.seek(SeekFrom::Start(0)).map_err(|e| io_error("rewinding a payload", e))?;
        Ok(())
    }

    /// The whole payload in memory.
    pub fn to_vec(&mut self) -> Result<Vec<u8>, IngestError> {
        self.rewind()?;
        let mut body = Vec::with_capacity(usize::try_from(self.len).unwrap_or(0));
        self.file.read_to_end(&mut body).map_err(|e| io_error("reading a payload", e))?;
        Ok(body)
    }

    /// A buffered reader from the start of the payload.
    pub fn into_reader(mut self) -> Result<std::io::BufReader<Payload>, IngestError> {
        self.rewind()?;
        Ok(std::io::BufReader::with_capacity(1 << 20, self))
    }
}

impl Read for Payload {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.file.read(buf)
    }
}

impl Write for Payload {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let written = self.file.write(buf)?;
        self.len += written as u64;
        Ok(written)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

fn io_error(what: &'static str, source: std::io::Error) -> IngestError {
    IngestError::Io { what, source }
}

/// Writes the chunks that arrive on `chunks` to a new payload while hashing them; runs on a blocking
/// thread, so that the download, the hashing and the disk work overlap.
fn spool<B: AsRef<[u8]>>(mut chunks: tokio::sync::mpsc::Receiver<B>) -> Result<(Payload, String), IngestError> {
    let mut payload = Payload::default();
    let mut hasher = Sha256::new();
    while let Some(chunk) = chunks.blocking_recv() {
        let chunk = chunk.as_ref();
        hasher.update(chunk);
        payload.write_all(chunk).map_err(|e| io_error("spooling a payload", e))?;
    }
    Ok((payload, hex::encode(hasher.finalize())))
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
    /// A final answer: 2xx with its whole body and its SHA-256, or 304 (no body).
    Done {
        status: StatusCode,
        headers: HeaderMap,
        body: Option<(Payload, String)>,
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
            let body = archived_payload(&self.pool, &cached.payload_sha256).await?;
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
                let body = archived_payload(&self.pool, &c.payload_sha256).await?;
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

        let Some((body, sha256)) = body else {
            return Err(IngestError::Fetch { url: request.url.clone(), reason: "a success without a body".into() });
        };
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
        // The payload moves into the archiving task and back; it is archived in chunks read from its file,
        // with the fetch log entry in the same transaction (a payload is archived whole or not at all).
        let sha = sha256.clone();
        let started = std::time::Instant::now();
        let (body, archived) = with_conn(&self.pool, move |conn| {
            let mut body = body;
            let archived = write_transaction(conn, |c| {
                body.rewind().map_err(|e| store::StoreError::Invalid(e.to_string()))?;
                let size = body.len();
                let archived =
                    provenance::archive_payload_from(c, &sha, size, &mut body, content_type.as_deref(), fetched_at)?;
                provenance::record_fetch(c, &record)?;
                Ok::<_, store::StoreError>(archived)
            })?;
            Ok((body, archived))
        })
        .await?;
        tracing::info!(url = %request.url, bytes = body.len(), archived, ms = started.elapsed().as_millis() as u64, "payload archived");
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
            return Attempt::Done { status, headers: resp.headers().clone(), body: None };
        }
        if status.is_success() {
            let headers = resp.headers().clone();
            // A body cut off by the network (reset, truncated) is as transient as a refused connection.
            return match self.read_body(url, resp).await {
                Ok(body) => Attempt::Done { status, headers, body: Some(body) },
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

    /// Streams the body into a payload (hashed and spooled on a blocking thread), enforcing the size cap
    /// as it arrives.
    async fn read_body(&self, url: &str, mut response: reqwest::Response) -> Result<(Payload, String), IngestError> {
        let limit = self.settings.max_body_bytes;
        if response.content_length().is_some_and(|len| len > limit) {
            return Err(IngestError::TooLarge { url: url.to_string(), limit });
        }
        let (sender, receiver) = tokio::sync::mpsc::channel(64);
        let spooler = tokio::task::spawn_blocking(move || spool(receiver));
        let mut received = 0u64;
        let outcome = loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    received += chunk.len() as u64;
                    if received > limit {
                        break Err(IngestError::TooLarge { url: url.to_string(), limit });
                    }
                    if sender.send(chunk).await.is_err() {
                        // The spooler stopped early: its own error says why.
                        break Ok(());
                    }
                }
                Ok(None) => break Ok(()),
                Err(e) => {
                    break Err(IngestError::Fetch {
                        url: url.to_string(),
                        reason: format!("reading the body failed: {e}"),
                    });
                }
            }
        };
        drop(sender);
        let spooled = spooler.await.map_err(|e| IngestError::Store(store::StoreError::Task(e)))?;
        outcome?;
        spooled
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

/// The archived payload `sha256`, copied chunk by chunk into a new spooled payload.
pub(crate) async fn archived_payload(pool: &DbPool, sha256: &str) -> Result<Payload, IngestError> {
    let sha = sha256.to_string();
    let payload = with_conn(pool, move |c| {
        let mut payload = Payload::default();
        provenance::load_payload_into(c, &sha, &mut payload)?;
        Ok(payload)
    })
    .await?;
    Ok(payload)
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
