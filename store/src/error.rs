use thiserror::Error;

/// Everything that can go wrong in the store.
#[derive(Debug, Error)]
pub enum StoreError {
    #[error("database connection failed: {0}")]
    Connection(#[from] diesel::ConnectionError),
    #[error("no database connection available: {0}")]
    Pool(#[from] diesel::r2d2::PoolError),
    #[error("database query failed: {0}")]
    Query(#[from] diesel::result::Error),
    #[error("database migration failed: {0}")]
    Migration(String),
    #[error("database task was cancelled or panicked: {0}")]
    Task(#[from] tokio::task::JoinError),
    #[error("{0}")]
    Invalid(String),
    /// Connecting to the database failed; the cause on one line (refused, unknown database, ...).
    #[error("cannot connect to the database: {0}")]
    Unreachable(String),
    /// The store is down or did not answer in time; nothing was asked of it, or the answer was abandoned.
    #[error("the data store is unavailable: {0}")]
    Unavailable(String),
    /// Another process holds the source's lease but has not recorded its run yet.
    #[error("{0}")]
    Busy(String),
}

impl StoreError {
    /// Whether this error means "the row asked for does not exist".
    pub fn is_not_found(&self) -> bool {
        matches!(self, StoreError::Query(diesel::result::Error::NotFound))
    }

    /// Whether the database could not be reached (down, restarting, network): worth retrying later,
    /// and worth telling clients so instead of calling it an internal error.
    pub fn is_unavailable(&self) -> bool {
        use diesel::result::{DatabaseErrorKind, Error};
        if let StoreError::Query(Error::DatabaseError(_, info)) = self
            && is_connection_loss(info.message())
        {
            return true;
        }
        matches!(
            self,
            StoreError::Connection(_)
                | StoreError::Unreachable(_)
                | StoreError::Unavailable(_)
                | StoreError::Pool(_)
                | StoreError::Query(Error::DatabaseError(DatabaseErrorKind::ClosedConnection, _))
                | StoreError::Query(Error::BrokenTransactionManager)
        )
    }
}

/// Whether a database error's message says the connection was lost rather than the query refused
/// (libpq reports a server that went away mid-query as a plain error).
fn is_connection_loss(message: &str) -> bool {
    let message = message.to_lowercase();
    ["server closed the connection", "terminating connection", "connection to server", "no connection to the server"]
        .iter()
        .any(|m| message.contains(m))
}

impl StoreError {
    /// Whether PostgreSQL cancelled the statement for running past its statement timeout: the
    /// question was too expensive, the store is fine.
    pub fn is_statement_timeout(&self) -> bool {
        matches!(self, StoreError::Query(diesel::result::Error::DatabaseError(_, info))
            if info.message().contains("statement timeout"))
    }
}
