//! GraphQL subscriptions: `ingestRunUpdated` and `dataChanged`, fed by the process's [`LiveHub`],
//! served over WebSocket on `/graphql` (an `Upgrade` request to the same path) with the
//! `graphql-transport-ws` protocol (and the older `graphql-ws`), as async-graphql serves them.
//!
//! Subscriptions read like queries: no token needed. They pass the same depth and complexity limits
//! (api/src/limits.rs: the schema's extensions run for them too); each connection may hold at most
//! [`MAX_SUBSCRIPTIONS_PER_CONNECTION`] active subscriptions, and the process at most
//! [`LiveLimits::max_connections`] WebSocket connections (more are refused with 503).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use actix_web::{HttpRequest, HttpResponse, web};
use async_graphql::{Context, ErrorExtensions, Result, Subscription};
use futures_util::Stream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, broadcast};

use crate::ApiError;
use crate::live::{LiveEvent, LiveHub};
use crate::types::{DataChange, IngestRun};

/// Most subscriptions one WebSocket connection may hold at once.
pub const MAX_SUBSCRIPTIONS_PER_CONNECTION: usize = 16;

/// Bounds on the WebSocket side; clones share the count of open connections (one per process).
#[derive(Debug, Clone)]
pub struct LiveLimits {
    /// WebSocket connections one process serves at once.
    pub max_connections: usize,
    /// The WebSocket connections open now.
    open: Arc<AtomicUsize>,
}

impl LiveLimits {
    pub fn new(max_connections: usize) -> Self {
        LiveLimits { max_connections, open: Arc::default() }
    }
}

impl Default for LiveLimits {
    fn default() -> Self {
        LiveLimits::new(256)
    }
}

/// The subscription root.
#[derive(Default)]
pub struct SubscriptionRoot;

/// Live events: runs as they progress, data as runs commit it.
#[Subscription]
impl SubscriptionRoot {
    /// Each change of a run's status, phase, progress or counts, and its end (then `status` is
    /// final and `phase` is `finished`). Events of one run come in order; when several changes come
    /// quickly, only the latest may be sent.
    async fn ingest_run_updated(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only runs of this source (`dtm`, `population`...).")] source: Option<String>,
    ) -> Result<impl Stream<Item = IngestRun> + use<>> {
        let (events, slot) = open(ctx)?;
        Ok(filtered(events, slot, move |event| match event {
            LiveEvent::Run(run) if source.as_ref().is_none_or(|s| *s == run.source) => {
                Some(IngestRun(run.as_ref().clone()))
            }
            _ => None,
        }))
    }

    /// After a run ends: one event per country whose data it changed (rows inserted or updated,
    /// committed; dry runs never), after the run's final `ingestRunUpdated`.
    async fn data_changed(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only changes of this source.")] source: Option<String>,
        #[graphql(desc = "Only changes of this country (ISO3, case-insensitive).")] country: Option<String>,
    ) -> Result<impl Stream<Item = DataChange> + use<>> {
        let (events, slot) = open(ctx)?;
        let country = country.map(|c| c.trim().to_uppercase());
        Ok(filtered(events, slot, move |event| match event {
            LiveEvent::Data(data)
                if source.as_ref().is_none_or(|s| *s == data.run.source)
                    && country.as_ref().is_none_or(|c| *c == data.change.country) =>
            {
                Some(DataChange(data.clone()))
            }
            _ => None,
        }))
    }
}

/// The hub's events and, on a WebSocket connection, one of its subscription slots.
fn open(ctx: &Context<'_>) -> Result<(broadcast::Receiver<LiveEvent>, Option<OwnedSemaphorePermit>)> {
    let Some(hub) = ctx.data_opt::<LiveHub>() else {
        return Err(ApiError::BadUserInput("this server does not serve subscriptions".into()).extend());
    };
    let slot = match ctx.data_opt::<ConnectionSlots>() {
        Some(slots) => Some(slots.0.clone().try_acquire_owned().map_err(|_| {
            ApiError::LimitExceeded(format!(
                "at most {MAX_SUBSCRIPTIONS_PER_CONNECTION} subscriptions per connection; stop one first"
            ))
            .extend()
        })?),
        None => None,
    };
    Ok((hub.subscribe(), slot))
}

/// The events `pick` keeps, holding `slot` until the stream is dropped (the subscription stopped).
fn filtered<T, F>(
    events: broadcast::Receiver<LiveEvent>,
    slot: Option<OwnedSemaphorePermit>,
    pick: F,
) -> impl Stream<Item = T> + use<T, F>
where
    F: Fn(&LiveEvent) -> Option<T> + Send + 'static,
    T: Send + 'static,
{
    futures_util::stream::unfold((events, slot, pick), |(mut events, slot, pick)| async move {
        loop {
            match events.recv().await {
                Ok(event) => {
                    if let Some(item) = pick(&event) {
                        return Some((item, (events, slot, pick)));
                    }
                }
                // A subscriber this slow misses some events; the next one of a run carries its state.
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::debug!(missed, "a subscriber fell behind");
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    })
}

/// One WebSocket connection's subscription slots.
#[derive(Clone)]
struct ConnectionSlots(Arc<Semaphore>);

/// Counts one connection while it lives.
struct ConnectionGuard(Arc<AtomicUsize>);

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// `GET /graphql` with `Upgrade: websocket`: a subscription connection.
pub(crate) async fn websocket(
    schema: web::Data<crate::CrisisSchema>,
    limits: web::Data<LiveLimits>,
    request: HttpRequest,
    payload: web::Payload,
) -> actix_web::Result<HttpResponse> {
    let count = limits.open.fetch_add(1, Ordering::SeqCst) + 1;
    let guard = ConnectionGuard(limits.open.clone());
    if count > limits.max_connections {
        drop(guard);
        return Ok(HttpResponse::ServiceUnavailable().insert_header((actix_web::http::header::RETRY_AFTER, "5")).json(
            serde_json::json!({
                "errors": [{"message": "too many subscription connections; try again later",
                            "extensions": {"code": "LIMIT_EXCEEDED"}}]
            }),
        ));
    }
    let mut data = async_graphql::Data::default();
    data.insert(ConnectionSlots(Arc::new(Semaphore::new(MAX_SUBSCRIPTIONS_PER_CONNECTION))));
    // The guard lives in the connection's init callback, which the connection's actor owns until it
    // stops: the count drops when the connection closes, whether it was initialised or not.
    let on_init = move |_payload: serde_json::Value| {
        let _guard = guard;
        futures_util::future::ready(Ok(async_graphql::Data::default()))
    };
    async_graphql_actix_web::GraphQLSubscription::new(schema.get_ref().clone())
        .with_data(data)
        .on_connection_init(on_init)
        .start(&request, payload)
}

/// Whether a request asks for a WebSocket upgrade (a route guard).
pub(crate) fn is_upgrade(request: &actix_web::guard::GuardContext<'_>) -> bool {
    request
        .head()
        .headers()
        .get(actix_web::http::header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}
