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

/// How the fetcher behaves on the network. Each timeout names itself in the error it causes.
#[derive(Debug, Clone)]
pub struct FetchSettings {
    /// Longest wait for the TCP (and TLS) connection.
    pub connect_timeout: Duration,
    /// Longest wait, once connected, for the answer's status and headers.
    pub first_byte_timeout: Duration,
    /// Longest gap between two pieces of the body.
    pub idle_timeout: Duration,
    /// Longest the whole body may take: what stops a trickle that never pauses long enough to be idle.
    pub body_timeout: Duration,
    /// Retries after the first attempt, on 429, 5xx, timeouts and connection errors.
    pub max_retries: u32,
    /// First backoff; doubled on every retry.
    pub base_backoff: Duration,
    /// Longest wait between attempts, also for a server's Retry-After.
    pub max_backoff: Duration,
    /// Largest body accepted.
    pub max_body_bytes: u64,
    /// Redirects followed per request.
    pub max_redirects: usize,
}

impl Default for FetchSettings {
    fn default() -> Self {
        FetchSettings {
            connect_timeout: Duration::from_secs(10),
            first_byte_timeout: Duration::from_secs(120),
            idle_timeout: Duration::from_secs(60),
            body_timeout: Duration::from_secs(900),
            max_retries: 3,
            base_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(60),
            max_body_bytes: 512 * 1024 * 1024,
            max_redirects: 10,
        }
    }
}

/// How much of an error answer's body is read, for the error message; the rest is never downloaded.
pub const ERROR_BODY_BYTES: usize = 1024;

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
        // Redirects are followed by hand (see [`Fetcher::attempt`]): reqwest would send every header,
        // the subscription key too, to whatever host a redirect names.
        let client = reqwest::Client::builder()
            .connect_timeout(settings.connect_timeout)
            .redirect(reqwest::redirect::Policy::none())
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

        // The caller's headers (the subscription key) go to the requested origin only.
        let mut credentials = HeaderMap::new();
        for (name, value) in &request.headers {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|e| IngestError::Invalid(format!("bad header name {name}: {e}")))?;
            let value =
                HeaderValue::from_str(value).map_err(|e| IngestError::Invalid(format!("bad header value: {e}")))?;
            credentials.insert(name, value);
        }
        let mut headers = HeaderMap::new();
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
            let outcome = self.attempt(&request.url, &headers, &credentials).await;
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

    /// One attempt: the request, following redirects by hand. The caller's `credentials` are sent
    /// only while the URL has the requested origin (scheme, host, port); a redirect loop, too many
    /// redirects or a failure after a redirect say where the redirects led.
    async fn attempt(&self, url: &str, headers: &HeaderMap, credentials: &HeaderMap) -> Attempt {
        let fail = |reason: String| Attempt::Fail(IngestError::Fetch { url: url.to_string(), reason });
        let mut current = match reqwest::Url::parse(url) {
            Ok(u) => u,
            Err(e) => return fail(format!("not a URL: {e}")),
        };
        let origin = current.origin();
        let mut chain: Vec<reqwest::Url> = vec![current.clone()];
        let resp = loop {
            let mut sent = headers.clone();
            if current.origin() == origin {
                sent.extend(credentials.clone());
            }
            let via = redirect_note(&chain);
            let send = self.client.get(current.clone()).headers(sent).send();
            let resp = match tokio::time::timeout(self.settings.first_byte_timeout, send).await {
                Err(_) => {
                    let seconds = self.settings.first_byte_timeout.as_secs_f64();
                    return Attempt::Retry {
                        wait: None,
                        reason: format!("timed out: no answer within {seconds} s (first-byte timeout){via}"),
                    };
                }
                Ok(Ok(r)) => r,
                Ok(Err(e)) if e.is_connect() && e.is_timeout() => {
                    let seconds = self.settings.connect_timeout.as_secs_f64();
                    return Attempt::Retry {
                        wait: None,
                        reason: format!("timed out: could not connect within {seconds} s (connect timeout){via}"),
                    };
                }
                Ok(Err(e)) if e.is_timeout() => {
                    return Attempt::Retry { wait: None, reason: format!("timed out: {}{via}", error_chain(&e)) };
                }
                Ok(Err(e)) if e.is_connect() || e.is_request() => {
                    return Attempt::Retry {
                        wait: None,
                        reason: format!("connection failed: {}{via}", error_chain(&e)),
                    };
                }
                Ok(Err(e)) => return fail(format!("{}{via}", error_chain(&e))),
            };
            if !resp.status().is_redirection() || resp.status() == StatusCode::NOT_MODIFIED {
                break resp;
            }
            let Some(location) = resp.headers().get(reqwest::header::LOCATION).and_then(|v| v.to_str().ok()) else {
                break resp;
            };
            let next = match current.join(location) {
                Ok(next) if matches!(next.scheme(), "http" | "https") => next,
                _ => {
                    return fail(format!(
                        "HTTP {} redirects to {location:?}, which is not an HTTP URL{via}",
                        resp.status().as_u16()
                    ));
                }
            };
            if chain.contains(&next) {
                chain.push(next);
                return fail(format!(
                    "redirect loop: {}",
                    chain.iter().map(reqwest::Url::as_str).collect::<Vec<_>>().join(" → ")
                ));
            }
            chain.push(next.clone());
            if chain.len() > self.settings.max_redirects + 1 {
                return fail(format!("more than {} redirects{}", self.settings.max_redirects, redirect_note(&chain)));
            }
            tracing::info!(from = %current, to = %next, status = resp.status().as_u16(), "following a redirect");
            current = next;
        };
        let via = redirect_note(&chain);
        let status = resp.status();
        if status == StatusCode::NOT_MODIFIED {
            return Attempt::Done { status, headers: resp.headers().clone(), body: None };
        }
        if status.is_success() {
            let headers = resp.headers().clone();
            // A body cut off by the network (reset, truncated, timed out) is as transient as a refused connection.
            return match self.read_body(url, resp).await {
                Ok(body) => Attempt::Done { status, headers, body: Some(body) },
                Err(IngestError::Fetch { reason, .. }) => {
                    Attempt::Retry { wait: None, reason: format!("{reason}{via}") }
                }
                Err(e) => Attempt::Fail(e),
            };
        }
        if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
            let wait = resp.headers().get(RETRY_AFTER).and_then(|v| v.to_str().ok()).and_then(parse_retry_after);
            return Attempt::Retry { wait, reason: format!("HTTP {}{via}", status.as_u16()) };
        }
        let start = self.error_body_start(resp).await;
        let credentials_dropped =
            chain.len() > 1 && !credentials.is_empty() && chain.last().is_some_and(|last| last.origin() != origin);
        let note = if credentials_dropped { " (the credentials were not sent to the other origin)" } else { "" };
        Attempt::Fail(IngestError::Http {
            url: url.to_string(),
            status: status.as_u16(),
            body: format!("{start}{via}{note}"),
        })
    }

    /// The first [`ERROR_BODY_BYTES`] of an error answer, for its message; the connection is dropped
    /// after that, so an error answer of any size costs a KiB.
    async fn error_body_start(&self, mut response: reqwest::Response) -> String {
        let mut start = Vec::new();
        while start.len() < ERROR_BODY_BYTES {
            match tokio::time::timeout(self.settings.idle_timeout, response.chunk()).await {
                Ok(Ok(Some(chunk))) => {
                    start.extend_from_slice(&chunk[..chunk.len().min(ERROR_BODY_BYTES - start.len())])
                }
                _ => break,
            }
        }
        snippet(&String::from_utf8_lossy(&start), start.len())
    }

    /// Streams the body into a payload (hashed and spooled on a blocking thread), enforcing the size cap
    /// as it arrives, and the idle and whole-body timeouts.
    async fn read_body(&self, url: &str, mut response: reqwest::Response) -> Result<(Payload, String), IngestError> {
        let limit = self.settings.max_body_bytes;
        if response.content_length().is_some_and(|len| len > limit) {
            return Err(IngestError::TooLarge { url: url.to_string(), limit });
        }
        let (sender, receiver) = tokio::sync::mpsc::channel(64);
        let spooler = tokio::task::spawn_blocking(move || spool(receiver));
        let mut received = 0u64;
        let (idle, whole) = (self.settings.idle_timeout, self.settings.body_timeout);
        let deadline = tokio::time::Instant::now() + whole;
        let failed = |reason: String| IngestError::Fetch { url: url.to_string(), reason };
        let outcome = loop {
            let now = tokio::time::Instant::now();
            let wait = idle.min(deadline.saturating_duration_since(now));
            let next = match tokio::time::timeout(wait, response.chunk()).await {
                Ok(next) => next,
                Err(_) if tokio::time::Instant::now() >= deadline => {
                    break Err(failed(format!(
                        "timed out: the body took longer than {} s (body timeout) after {received} bytes",
                        whole.as_secs_f64()
                    )));
                }
                Err(_) => {
                    break Err(failed(format!(
                        "timed out: no data for {} s while reading the body (idle timeout) after {received} bytes",
                        idle.as_secs_f64()
                    )));
                }
            };
            match next {
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
                Err(e) => break Err(failed(format!("reading the body failed: {}", error_chain(&e)))),
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

/// An error with its causes: reqwest's own message ("error sending request") hides what happened.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut parts = vec![error.to_string()];
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = cause.source();
    }
    parts.join(": ")
}

/// " (redirected A → B)" when the request was redirected, for messages about what happened next.
fn redirect_note(chain: &[reqwest::Url]) -> String {
    if chain.len() < 2 {
        return String::new();
    }
    format!(" (redirected {})", chain.iter().map(reqwest::Url::as_str).collect::<Vec<_>>().join(" → "))
}

/// The start of an error body as read (at most [`ERROR_BODY_BYTES`]), marked when there was more.
fn snippet(start: &str, bytes_read: usize) -> String {
    let text = start.trim_end();
    if bytes_read >= ERROR_BODY_BYTES { format!("{text}…") } else { text.to_string() }
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
