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
        matches!(
            self,
            StoreError::Connection(_)
                | StoreError::Pool(_)
                | StoreError::Query(Error::DatabaseError(DatabaseErrorKind::ClosedConnection, _))
                | StoreError::Query(Error::BrokenTransactionManager)
        )
    }
}
