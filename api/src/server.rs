//! The actix-web routes: `/graphql` (POST and GET), `/graphiql`, `/schema.graphql`, `/healthz`, `/readyz`, `/metrics`,
//! `/export/...`, and the HTTP-level limits (timeout, body size, CORS, caching).

use std::time::Duration;

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use store::{DbPool, with_read_conn};

use crate::CrisisSchema;
use crate::operations::PresentedToken;

/// HTTP-level limits.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Longest a GraphQL request may run before it is answered with an error.
    pub request_timeout: Duration,
    /// Largest request body accepted.
    pub max_body_bytes: usize,
    /// `max-age` of `Cache-Control` on successful GET queries.
    pub get_cache_seconds: u32,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions { request_timeout: Duration::from_secs(30), max_body_bytes: 256 * 1024, get_cache_seconds: 60 }
    }
}

/// Registers every route on an actix `App` with the default limits (the tests use it).
pub fn configure(schema: CrisisSchema, pool: DbPool) -> impl FnOnce(&mut web::ServiceConfig) {
    configure_with(schema, pool, ServerOptions::default())
}

/// Registers every route on an actix `App`.
pub fn configure_with(
    schema: CrisisSchema,
    pool: DbPool,
    options: ServerOptions,
) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        let (_, exports) = crate::read::permits(&pool);
        let export_reads = crate::export::ExportReads(store::SnapshotGate::new(pool.clone(), exports));
        cfg.app_data(web::Data::new(schema))
            .app_data(web::Data::new(export_reads))
            .app_data(web::Data::new(pool))
            .app_data(web::PayloadConfig::new(options.max_body_bytes))
            .app_data(web::Data::new(options))
            .service(web::resource("/schema.graphql").route(web::get().to(schema_sdl)))
            .service(web::resource("/graphql").route(web::post().to(graphql)).route(web::get().to(graphql)))
            .service(web::resource("/graphiql").route(web::get().to(crate::graphiql::page)))
            .service(web::resource("/graphiql/assets/{file}").route(web::get().to(crate::graphiql::asset)))
            .service(web::resource("/healthz").route(web::get().to(healthz)))
            .service(web::resource("/readyz").route(web::get().to(readyz)))
            .service(web::resource("/metrics").route(web::get().to(metrics)))
            .service(web::resource("/export/{name}").route(web::get().to(crate::export::export)));
    }
}

/// The most operations one batched request may carry.
pub const MAX_BATCH: usize = 10;

/// Parses the request itself (POST JSON body, single or batch; or GET query string), so that a
/// malformed request gets a GraphQL error with a code rather than a bare transport error.
fn parse_request(http: &HttpRequest, body: &[u8]) -> Result<async_graphql::BatchRequest, crate::ApiError> {
    use crate::ApiError;
    let batch = if http.method() == actix_web::http::Method::GET {
        async_graphql::http::parse_query_string(http.query_string())
            .map(async_graphql::BatchRequest::Single)
            .map_err(|e| ApiError::BadUserInput(format!("invalid GraphQL GET request: {e}")))?
    } else {
        serde_json::from_slice::<async_graphql::BatchRequest>(body).map_err(|e| {
            ApiError::BadUserInput(format!("the body must be a GraphQL request in JSON ({{\"query\": ...}}): {e}"))
        })?
    };
    if let async_graphql::BatchRequest::Batch(requests) = &batch {
        if requests.len() > MAX_BATCH {
            return Err(ApiError::LimitExceeded(format!("a batch may hold at most {MAX_BATCH} operations")));
        }
        if requests.is_empty() {
            return Err(ApiError::BadUserInput("the batch is empty".into()));
        }
    }
    Ok(batch)
}

/// Gives every error a stable `extensions.code`: errors before execution (syntax, validation,
/// limits) are the client's; anything else without a code is internal and its details stay in the log.
fn with_codes(mut response: async_graphql::Response) -> async_graphql::Response {
    for error in &mut response.errors {
        let has_code = error.extensions.as_ref().is_some_and(|e| e.get("code").is_some());
        if has_code {
            continue;
        }
        let message = error.message.to_lowercase();
        let code = if message.contains("too deep") || message.contains("too complex") || message.contains("too many") {
            "LIMIT_EXCEEDED"
        } else if error.path.is_empty() {
            "BAD_USER_INPUT"
        } else {
            tracing::error!(error = %error.message, path = ?error.path, "internal error while resolving");
            error.message = "internal error; the server log has the details".into();
            "INTERNAL"
        };
        error.extensions.get_or_insert_with(Default::default).set("code", code);
    }
    response
}

fn error_response(error: crate::ApiError) -> async_graphql::Response {
    async_graphql::Response::from_errors(vec![error.into_gql().into_server_error(async_graphql::Pos::default())])
}

async fn graphql(
    schema: web::Data<CrisisSchema>,
    options: web::Data<ServerOptions>,
    http: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let batch = match parse_request(&http, &body) {
        Ok(batch) => batch,
        Err(e) => return json_response(StatusCode::BAD_REQUEST, &error_response(e), None),
    };
    let token = PresentedToken::from_header(http.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()));
    let execution = schema.execute_batch(batch.data(token));
    let response = match tokio::time::timeout(options.request_timeout, execution).await {
        Ok(async_graphql::BatchResponse::Single(r)) => async_graphql::BatchResponse::Single(with_codes(r)),
        Ok(async_graphql::BatchResponse::Batch(rs)) => {
            async_graphql::BatchResponse::Batch(rs.into_iter().map(with_codes).collect())
        }
        Err(_) => async_graphql::BatchResponse::Single(error_response(crate::ApiError::LimitExceeded(format!(
            "the query ran longer than {} s; ask for less (smaller pages, fewer nested lists)",
            options.request_timeout.as_secs()
        )))),
    };
    let cacheable = http.method() == actix_web::http::Method::GET && response.is_ok();
    let cache = if cacheable { Some(format!("public, max-age={}", options.get_cache_seconds)) } else { None };
    json_response(StatusCode::OK, &response, cache)
}

fn json_response(status: StatusCode, body: &impl serde::Serialize, cache: Option<String>) -> HttpResponse {
    let mut builder = HttpResponse::build(status);
    builder.content_type("application/json");
    builder.insert_header((header::CACHE_CONTROL, cache.unwrap_or_else(|| "no-store".into())));
    match serde_json::to_vec(body) {
        Ok(bytes) => builder.body(bytes),
        Err(e) => {
            tracing::error!(error = %e, "could not serialise a GraphQL response");
            HttpResponse::InternalServerError().finish()
        }
    }
}

/// The schema in SDL, for code generators and review.
async fn schema_sdl() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain; charset=utf-8").body(crate::schema::sdl())
}

/// CORS for browsers on other origins: `*` allows any origin, otherwise a list of origins.
/// Credentials are never allowed (the operator token is sent explicitly).
pub fn cors(origins: &[String]) -> actix_cors::Cors {
    let base = actix_cors::Cors::default()
        .allowed_methods(vec!["GET", "POST", "OPTIONS"])
        .allowed_headers(vec![header::CONTENT_TYPE, header::AUTHORIZATION, header::IF_NONE_MATCH])
        .expose_headers(vec![header::ETAG, header::LINK, header::LAST_MODIFIED])
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

/// Prometheus metrics, computed from the run history (so every replica reports the same).
async fn metrics(pool: web::Data<DbPool>) -> HttpResponse {
    let pool = pool.get_ref().clone();
    match with_read_conn(&pool, store::runs::run_statistics).await {
        Ok(runs) => match crate::metrics::render(&runs) {
            Ok(text) => HttpResponse::Ok().content_type("text/plain; version=0.0.4").body(text),
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
