use thiserror::Error;

/// Everything that can end an ingest (a bad row never does: it becomes a rejected row).
#[derive(Debug, Error)]
pub enum IngestError {
    #[error(transparent)]
    Store(#[from] store::StoreError),
    #[error("fetching {url} failed: {reason}")]
    Fetch { url: String, reason: String },
    #[error("{url} answered HTTP {status}: {body}")]
    Http { url: String, status: u16, body: String },
    #[error("{url} sent more than the {limit} bytes allowed")]
    TooLarge { url: String, limit: u64 },
    /// Reading or writing the temporary file a payload is spooled to.
    #[error("{what} failed: {source}")]
    Io {
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("no archived payload for {0} (offline mode replays only what was fetched before)")]
    NotArchived(String),
    #[error("could not parse {what}: {reason}")]
    Parse { what: String, reason: String },
    #[error("the source reported an error: {0}")]
    SourceReported(String),
    #[error("unknown source {0:?} (known: {known})", known = crate::sources::known_names())]
    UnknownSource(String),
    #[error("invalid request: {0}")]
    Invalid(String),
    #[error("run cancelled")]
    Cancelled,
    /// Too large a share of a country's rows was rejected (the message says which share and setting);
    /// the counts go into the run's totals.
    #[error("too many rows rejected: {message}")]
    TooManyRejected { fetched: i64, rejected: i64, message: String },
    /// Not a failure: a dry run rolls its transaction back on purpose, carrying what it would have written.
    #[error("dry run: nothing committed")]
    DryRunRolledBack(store::WriteCounts),
}

impl From<store::QueryError> for IngestError {
    fn from(e: store::QueryError) -> Self {
        IngestError::Store(store::StoreError::Query(e))
    }
}
