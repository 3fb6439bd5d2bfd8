use async_graphql::ErrorExtensions;
use thiserror::Error;

/// Errors a GraphQL client can see. Each carries a stable `extensions.code`; internal causes are
/// logged, never sent.
#[derive(Debug, Error)]
pub enum ApiError {
    #[error("{0}")]
    BadUserInput(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    LimitExceeded(String),
    #[error("{0}")]
    Unauthenticated(String),
    /// Another process is doing what was asked (e.g. starting a run of the same source).
    #[error("{0}")]
    Conflict(String),
    /// A value computed from the store does not fit the API's type (only out-of-range data can cause it).
    #[error("{0}")]
    OutOfRange(String),
    /// The store cannot be reached right now; the same query will work once it is back.
    #[error("the data store is unavailable right now; try again shortly")]
    Unavailable,
    #[error("internal error; the server log has the details")]
    Internal,
}

impl ApiError {
    /// The GraphQL error, with its code.
    pub fn into_gql(self) -> async_graphql::Error {
        self.extend()
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadUserInput(_) => "BAD_USER_INPUT",
            ApiError::NotFound(_) => "NOT_FOUND",
            ApiError::LimitExceeded(_) => "LIMIT_EXCEEDED",
            ApiError::Unauthenticated(_) => "UNAUTHENTICATED",
            ApiError::Conflict(_) => "CONFLICT",
            ApiError::OutOfRange(_) => "OUT_OF_RANGE",
            ApiError::Unavailable => "UNAVAILABLE",
            ApiError::Internal => "INTERNAL",
        }
    }
}

impl ErrorExtensions for ApiError {
    fn extend(&self) -> async_graphql::Error {
        async_graphql::Error::new(self.to_string()).extend_with(|_, e| e.set("code", self.code()))
    }
}

impl From<ingest::IngestError> for ApiError {
    fn from(e: ingest::IngestError) -> Self {
        match e {
            ingest::IngestError::UnknownSource(_) | ingest::IngestError::Invalid(_) => {
                ApiError::BadUserInput(e.to_string())
            }
            ingest::IngestError::Store(store::StoreError::Busy(message)) => ApiError::Conflict(message),
            ingest::IngestError::Store(store) => store.into(),
            other => {
                tracing::error!(error = %other, "ingest error while answering a mutation");
                ApiError::Internal
            }
        }
    }
}

impl From<store::StoreError> for ApiError {
    fn from(e: store::StoreError) -> Self {
        classify(&e)
    }
}

/// What a store error means to a client: unavailable (the store is down or did not answer; the store
/// logs the outage itself, once, so each request only logs at debug level), a question too expensive
/// for the statement timeout, or an internal error (logged).
fn classify(e: &store::StoreError) -> ApiError {
    if e.is_unavailable() {
        tracing::debug!(error = %e, "store unavailable while answering");
        ApiError::Unavailable
    } else if e.is_statement_timeout() {
        ApiError::LimitExceeded(
            "the query ran longer than the database allows a statement to; ask for less (smaller pages, fewer \
             nested lists)"
                .into(),
        )
    } else {
        tracing::error!(error = %e, "store error while answering a query");
        ApiError::Internal
    }
}

/// Turns any error that maps to an [`ApiError`] into a GraphQL error with its `extensions.code`.
/// (`?` alone would use async-graphql's blanket conversion, which drops the code.)
pub trait IntoGraphql<T> {
    fn gql(self) -> async_graphql::Result<T>;
}

impl<T, E: Into<ApiError>> IntoGraphql<T> for Result<T, E> {
    fn gql(self) -> async_graphql::Result<T> {
        self.map_err(|e| e.into().extend())
    }
}

/// Store errors shared through a DataLoader (its error type must be `Clone`).
pub type SharedStoreError = std::sync::Arc<store::StoreError>;

pub fn shared(e: SharedStoreError) -> async_graphql::Error {
    classify(&e).extend()
}
