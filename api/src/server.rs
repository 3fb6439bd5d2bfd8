//! The actix-web routes: `/graphql` (POST, GET and HEAD; see `graphql_http`), `/graphiql`, `/console`,
//! `/schema.graphql`, `/healthz`, `/readyz`, `/metrics`, `/export/...`, `/odata/...`, and the HTTP-level settings
//! (timeouts, body size, CORS, caching, request metrics).

use std::time::Duration;

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use store::{DbPool, with_read_conn};

use crate::CrisisSchema;

/// HTTP-level settings.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Longest a GraphQL request may run before it is answered with an error.
    pub request_timeout: Duration,
    /// Largest request body accepted.
    pub max_body_bytes: usize,
    /// Longest a client may take to send a request body (a trickled body is cut with 408).
    pub body_timeout: Duration,
    /// `max-age` of `Cache-Control` on successful GET queries.
    pub get_cache_seconds: u32,
    /// The schedules `/metrics` judges staleness by (the same as the schema's `sources`).
    pub schedules: Vec<ingest::SourceSchedule>,
    /// This process's HTTP request metrics, shared by every worker.
    pub http_metrics: crate::metrics::HttpMetrics,
    /// Bounds on subscription connections.
    pub live_limits: crate::subscription::LiveLimits,
    /// Answers kept until the store changes, shared by every worker.
    pub answer_cache: std::sync::Arc<crate::answer_cache::AnswerCache>,
}

/// The answer cache's default size (`CRISISGRAPH_ANSWER_CACHE_MB`). 16 MB keeps a server under the bench's
/// query load below 150 MB resident; at 32 MB it peaked at 163-170 MB, while the cache answered about
/// the same share of requests at either size (docs/benchmarks.md, third and fifth runs).
pub const DEFAULT_ANSWER_CACHE_MB: u64 = 16;

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            request_timeout: Duration::from_secs(30),
            max_body_bytes: 256 * 1024,
            body_timeout: Duration::from_secs(10),
            get_cache_seconds: 60,
            schedules: ingest::SourceSchedule::defaults(),
            http_metrics: crate::metrics::HttpMetrics::new(),
            live_limits: crate::subscription::LiveLimits::default(),
            answer_cache: std::sync::Arc::new(crate::answer_cache::AnswerCache::new(DEFAULT_ANSWER_CACHE_MB)),
        }
    }
}

/// Registers every route on an actix `App` with the default settings (the tests use it).
pub fn configure(schema: CrisisSchema, pool: DbPool) -> impl FnOnce(&mut web::ServiceConfig) {
    configure_with(schema, pool, ServerOptions::default())
}

/// Registers every route on an actix `App`, inside a scope that records the HTTP metrics.
pub fn configure_with(
    schema: CrisisSchema,
    pool: DbPool,
    options: ServerOptions,
) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        let (_, exports) = crate::read::permits(&pool);
        let export_reads = crate::export::ExportReads(store::SnapshotGate::new(pool.clone(), exports));
        let graphql = || crate::graphql_http::graphql;
        cfg.app_data(web::Data::new(schema))
            .app_data(web::Data::new(export_reads))
            .app_data(web::Data::new(pool))
            .app_data(web::Data::new(options.live_limits.clone()))
            .app_data(web::Data::new(options))
            .service(
                web::scope("")
                    .wrap(actix_web::middleware::from_fn(crate::metrics::record_http))
                    .service(web::resource("/schema.graphql").route(web::get().to(schema_sdl)))
                    .service(
                        web::resource("/graphql")
                            .route(
                                web::get()
                                    .guard(actix_web::guard::fn_guard(crate::subscription::is_upgrade))
                                    .to(crate::subscription::websocket),
                            )
                            .route(web::post().to(graphql()))
                            .route(web::get().to(graphql()))
                            .route(web::head().to(graphql())),
                    )
                    .service(web::resource("/graphiql").route(web::get().to(crate::graphiql::page)))
                    .service(web::resource("/graphiql/assets/{file}").route(web::get().to(crate::graphiql::asset)))
                    .service(web::resource("/console").route(web::get().to(crate::console::page)))
                    .service(web::resource("/console/").route(web::get().to(crate::console::page)))
                    .service(web::resource("/console/{file}").route(web::get().to(crate::console::file)))
                    .service(
                        web::resource("/export/runs/{number}/rejected.csv")
                            .route(web::get().to(crate::console::rejected_csv)),
                    )
                    .service(web::resource("/healthz").route(web::get().to(healthz)))
                    .service(web::resource("/readyz").route(web::get().to(readyz)))
                    .service(web::resource("/metrics").route(web::get().to(metrics)))
                    .service(
                        web::resource("/export/{name}")
                            .route(web::get().to(crate::export::export))
                            .route(web::head().to(crate::export::export)),
                    )
                    .service(web::resource("/odata").route(web::get().to(crate::odata::service_document)))
                    .service(web::resource("/odata/{path:.*}").route(web::get().to(crate::odata::resource))),
            );
    }
}

/// The most operations one batched request may carry.
pub const MAX_BATCH: usize = crate::graphql_http::MAX_BATCH;

/// The schema in SDL, for code generators and review.
async fn schema_sdl() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain; charset=utf-8").body(crate::schema::sdl())
}

/// CORS for browsers on other origins: `*` allows any origin, otherwise a list of origins.
/// Credentials are never allowed (the operator token is sent explicitly).
pub fn cors(origins: &[String]) -> actix_cors::Cors {
    let base = actix_cors::Cors::default()
        .allowed_methods(vec!["GET", "HEAD", "POST", "OPTIONS"])
        .allowed_headers(vec![
            header::ACCEPT,
            header::CONTENT_TYPE,
            header::AUTHORIZATION,
            header::IF_NONE_MATCH,
            header::IF_MODIFIED_SINCE,
            // The OData feed's: a page size, and the protocol version a client accepts.
            header::HeaderName::from_static("prefer"),
            header::HeaderName::from_static("odata-version"),
            header::HeaderName::from_static("odata-maxversion"),
        ])
        .expose_headers(vec![
            header::ETAG,
            header::LINK,
            header::LAST_MODIFIED,
            header::HeaderName::from_static("preference-applied"),
            header::HeaderName::from_static("odata-version"),
        ])
        .max_age(3600);
    if origins.iter().any(|o| o == "*") {
        return base.allow_any_origin();
    }
    origins.iter().fold(base, |cors, origin| cors.allowed_origin(origin))
}

/// Alive and able to reach the store, within [`READY_TIMEOUT`].
async fn healthz(pool: web::Data<DbPool>) -> HttpResponse {
    let pool = pool.get_ref().clone();
    let ping = with_read_conn(&pool, |c| {
        use store::SimpleConnection;
        c.batch_execute("SELECT 1").map_err(store::StoreError::Query)
    });
    match tokio::time::timeout(READY_TIMEOUT, ping).await {
        Ok(Ok(())) => HttpResponse::Ok().json(serde_json::json!({"status": "ok"})),
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "health check failed");
            HttpResponse::ServiceUnavailable().json(serde_json::json!({"status": "unavailable"}))
        }
        Err(_) => HttpResponse::ServiceUnavailable().json(serde_json::json!({"status": "unavailable"})),
    }
}

/// How long `/readyz` waits for the store before it says the server is not ready.
const READY_TIMEOUT: Duration = Duration::from_secs(2);

/// Ready to serve queries: the store answers a query within [`READY_TIMEOUT`]. For load balancers,
/// which should stop sending traffic while the database is down; the process recovers by itself
/// when it comes back (the pool opens new connections), so it must not be restarted for this.
async fn readyz(pool: web::Data<DbPool>) -> HttpResponse {
    let pool = pool.get_ref().clone();
    let ping = with_read_conn(&pool, |c| {
        use store::SimpleConnection;
        c.batch_execute("SELECT 1").map_err(store::StoreError::Query)
    });
    let reason = match tokio::time::timeout(READY_TIMEOUT, ping).await {
        Ok(Ok(())) => return HttpResponse::Ok().json(serde_json::json!({"status": "ready"})),
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "readiness check failed");
            if e.is_unavailable() { "the store is unreachable" } else { "the store answered with an error" }
        }
        Err(_) => "the store did not answer in time",
    };
    HttpResponse::ServiceUnavailable().json(serde_json::json!({"status": "unavailable", "reason": reason}))
}

/// Prometheus metrics: the run history and source states (the same on every replica) and this
/// process's HTTP requests.
async fn metrics(pool: web::Data<DbPool>, options: web::Data<ServerOptions>) -> HttpResponse {
    let pool = pool.get_ref().clone();
    let reads = pool.read_counts();
    let schedules = options.schedules.clone();
    let read = with_read_conn(&pool, move |c| {
        let runs = store::runs::run_statistics(c)?;
        let sources = ingest::status::source_statuses_on(c, &schedules)?;
        Ok((runs, sources))
    })
    .await;
    match read {
        Ok((runs, sources)) => match crate::metrics::render(
            &runs,
            &sources,
            &options.http_metrics,
            reads.as_ref(),
            options.answer_cache.counts(),
        ) {
            Ok(text) => HttpResponse::Ok().content_type("text/plain; version=0.0.4; charset=utf-8").body(text),
            Err(e) => {
                tracing::error!(error = %e, "rendering metrics failed");
                HttpResponse::InternalServerError().finish()
            }
        },
        Err(e) => {
            tracing::warn!(error = %e, "metrics: store unavailable");
            HttpResponse::ServiceUnavailable().finish()
        }
    }
}
