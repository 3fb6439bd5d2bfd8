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
pub mod pcode;
pub mod runner;
pub mod sample;
pub mod scheduler;
pub mod sources;
pub mod status;

pub use control::{Progress, RunControl, Silent, StopReason};
pub use coordinator::Coordinator;
pub use error::IngestError;
pub use fetch::{FetchMode, FetchSettings, Fetcher};
pub use runner::{Ingester, RunOptions};
pub use scheduler::{Scheduler, SourceSchedule};
pub use sources::Source;

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
        }
    }
}
