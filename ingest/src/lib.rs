//! crisisgraph's ingestion: fetch (with archive) → parse → normalise → validate → write in one
//! transaction per source and country → run record.
//!
//! - [`sources`]: one module per source (what it is, how it parses, how a run goes) and the one list
//!   of them, from which the CLI, the scheduler, the status, the sample and the docs' table derive.
//! - [`kit`]: what a source is built from: its spec and job, the run context (fetch, HDX catalog,
//!   tables, area matching, the one-transaction write, rejected rows), tables and cells.
//! - [`fetch`]: the one HTTP fetcher, with retries, conditional requests and the payload archive.
//! - [`pcode`]: matching a source's area codes to ours.
//! - [`runner`]: runs, leases and heartbeats: starts a source's job and records how it ended.
//! - [`sample`]: the bundled offline sample, replayed through the same path.

pub mod control;
mod coordinator;
mod error;
pub mod fetch;
pub mod kit;
mod live;
pub mod pcode;
pub mod runner;
pub mod sample;
pub mod scheduler;
pub mod sources;
pub mod status;
pub mod webhooks;

pub use control::{Progress, RunControl, Silent, StopReason};
pub use coordinator::Coordinator;
pub use error::IngestError;
pub use fetch::{FetchMode, FetchSettings, Fetcher};
pub use runner::{Ingester, RunOptions};
pub use scheduler::{Scheduler, SourceSchedule};
pub use sources::Source;
pub use webhooks::{WebhookSettings, WebhookTarget, WebhookWorker};

/// Public endpoints, used unless configuration points elsewhere.
pub const DEFAULT_DTM_URL: &str = "https://dtmapi.iom.int";
pub const DEFAULT_HDX_URL: &str = "https://data.humdata.org";
pub const DEFAULT_FTS_URL: &str = "https://api.hpc.tools";

/// Where the sources live and what to pull from them. Built by the binary from the environment
/// (or a TOML file); tests build it directly with a local server's address.
#[derive(Debug, Clone)]
pub struct IngestConfig {
    pub dtm_url: String,
    /// Sent as `Ocp-Apim-Subscription-Key`.
    pub dtm_key: Option<String>,
    pub hdx_url: String,
    pub fts_url: String,
    /// ISO3 codes ingested when a run names none.
    pub countries: Vec<String>,
    pub fetch: FetchSettings,
    pub lease: LeaseSettings,
    pub limits: RowLimits,
    /// Receivers of a signed POST after each successful run that changed data ([`webhooks`]).
    pub webhooks: Vec<WebhookTarget>,
}

/// Bounds on a source's rows and on how many bad ones a run accepts.
#[derive(Debug, Clone)]
pub struct RowLimits {
    /// Longest text one field may hold, in bytes; a longer one rejects its row.
    pub max_field_bytes: usize,
    /// Largest one row may be, in bytes as the source sent it; a larger one is rejected.
    pub max_row_bytes: usize,
    /// Rejected rows a run stores (reason and row, the row cut to [`RAW_KEPT_BYTES`]); the run's
    /// `rejected` count includes the rest.
    pub max_rejected_kept: usize,
    /// Largest share (0 to 1) of a country's rows that may be rejected: beyond it the country's
    /// write is rolled back and the run fails, saying so.
    pub max_rejected_share: f64,
    /// How long the rejected rows of finished runs are kept (those of payloads still applied stay);
    /// `None`: forever.
    pub rejected_retention: Option<std::time::Duration>,
}

/// How much of a rejected row's text is stored with it.
pub const RAW_KEPT_BYTES: usize = 2048;

/// A rejected row's text as stored: whole up to [`RAW_KEPT_BYTES`], else its start and its size.
pub(crate) fn kept_raw(raw: String) -> String {
    if raw.len() <= RAW_KEPT_BYTES {
        return raw;
    }
    let mut end = RAW_KEPT_BYTES;
    while !raw.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes)", &raw[..end], raw.len())
}

impl Default for RowLimits {
    fn default() -> Self {
        RowLimits {
            max_field_bytes: 8 * 1024,
            max_row_bytes: 64 * 1024,
            max_rejected_kept: 10_000,
            max_rejected_share: 0.5,
            rejected_retention: Some(std::time::Duration::from_secs(90 * 24 * 3600)),
        }
    }
}

/// How long a run's lease lives without a heartbeat, and how often the heartbeat renews it. A run
/// whose process dies is marked interrupted once its lease has expired.
#[derive(Debug, Clone)]
pub struct LeaseSettings {
    pub ttl: std::time::Duration,
    pub heartbeat: std::time::Duration,
}

impl Default for LeaseSettings {
    fn default() -> Self {
        LeaseSettings { ttl: std::time::Duration::from_secs(60), heartbeat: std::time::Duration::from_secs(15) }
    }
}

impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig {
            dtm_url: DEFAULT_DTM_URL.into(),
            dtm_key: None,
            hdx_url: DEFAULT_HDX_URL.into(),
            fts_url: DEFAULT_FTS_URL.into(),
            countries: Vec::new(),
            fetch: FetchSettings::default(),
            lease: LeaseSettings::default(),
            limits: RowLimits::default(),
            webhooks: Vec::new(),
        }
    }
}
