use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
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

    /// The HTTP status an export (or any plain HTTP answer) gives this error.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadUserInput(_) | ApiError::LimitExceeded(_) => StatusCode::BAD_REQUEST,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::OutOfRange(_) | ApiError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable code clients match on: GraphQL's `extensions.code`, and the export's error body.
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

/// Plain HTTP answers (the exports): the status of [`ApiError::status`] and a text body
/// `CODE: message`, the code GraphQL would give.
impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status()
    }

    fn error_response(&self) -> HttpResponse {
        HttpResponse::build(self.status())
            .content_type("text/plain; charset=utf-8")
            .body(format!("{}: {self}", self.code()))
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

#[cfg(test)]
mod tests {
    use super::*;

    /// One mapping: the GraphQL extension code, the export's status and the export's body agree.
    #[test]
    fn each_error_has_one_status_and_one_code_everywhere() {
        let cases = [
            (ApiError::BadUserInput("bad".into()), 400, "BAD_USER_INPUT"),
            (ApiError::NotFound("gone".into()), 404, "NOT_FOUND"),
            (ApiError::LimitExceeded("too much".into()), 400, "LIMIT_EXCEEDED"),
            (ApiError::Unauthenticated("who".into()), 401, "UNAUTHENTICATED"),
            (ApiError::Conflict("busy".into()), 409, "CONFLICT"),
            (ApiError::OutOfRange("big".into()), 500, "OUT_OF_RANGE"),
            (ApiError::Unavailable, 503, "UNAVAILABLE"),
            (ApiError::Internal, 500, "INTERNAL"),
        ];
        for (error, status, code) in cases {
            assert_eq!((error.status().as_u16(), error.code()), (status, code), "{error:?}");
            let gql = error.extend();
            let extension = gql.extensions.as_ref().and_then(|e| e.get("code")).cloned();
            assert_eq!(extension, Some(async_graphql::Value::from(code)), "{error:?}");
            let response = error.error_response();
            assert_eq!(response.status().as_u16(), status);
            let body = actix_web::body::to_bytes(response.into_body());
            let body = futures_util::FutureExt::now_or_never(body).expect("ready").expect("body");
            assert_eq!(String::from_utf8_lossy(&body), format!("{code}: {error}"));
        }
    }
}
