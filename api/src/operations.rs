//! What the API needs to operate ingestion: the coordinator that starts runs, the schedules it
//! reports on, and the operator token that guards mutations.

use ingest::{Coordinator, SourceSchedule};
use subtle::ConstantTimeEq;

use crate::ApiError;

/// Operations wiring, given to the schema once.
#[derive(Clone, Default)]
pub struct Operations {
    /// Starts and cancels runs; `None` serves reads only.
    pub coordinator: Option<Coordinator>,
    pub schedules: Vec<SourceSchedule>,
    /// Bearer token mutations require; `None` disables mutations.
    pub operator_token: Option<String>,
    /// The process's live event hub, for subscriptions; `None` serves none.
    pub live: Option<crate::live::LiveHub>,
}

/// The bearer token a request presented (`Authorization: Bearer ...`), if any.
#[derive(Clone, Debug, Default)]
pub struct PresentedToken(pub Option<String>);

impl PresentedToken {
    pub fn from_header(value: Option<&str>) -> Self {
        let token = value
            .and_then(|v| v.trim().strip_prefix("Bearer ").or_else(|| v.trim().strip_prefix("bearer ")))
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty());
        PresentedToken(token)
    }
}

impl Operations {
    /// Refuses unless mutations are enabled and the request presented the operator token.
    /// The comparison takes the same time whatever the presented token is.
    pub fn authorize(&self, presented: &PresentedToken) -> Result<(), ApiError> {
        let Some(expected) = &self.operator_token else {
            return Err(ApiError::Unauthenticated(
                "mutations are disabled: the server has no CRISISGRAPH_OPERATOR_TOKEN".into(),
            ));
        };
        match &presented.0 {
            Some(given) if bool::from(given.as_bytes().ct_eq(expected.as_bytes())) => Ok(()),
            Some(_) => Err(ApiError::Unauthenticated("the operator token is wrong".into())),
            None => Err(ApiError::Unauthenticated("send the operator token as `Authorization: Bearer <token>`".into())),
        }
    }
}
