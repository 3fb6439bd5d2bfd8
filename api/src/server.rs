//! The actix-web routes: `/graphql` (POST and GET), `/graphiql`, `/schema.graphql`, `/healthz`, `/readyz`, `/metrics`,
//! `/export/...`, and the HTTP-level limits (timeout, body size, CORS, caching).

use std::time::Duration;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use async_graphql::http::GraphiQLSource;
use store::{DbPool, with_conn};

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
        cfg.app_data(web::Data::new(schema))
            .app_data(web::Data::new(pool))
            .app_data(web::PayloadConfig::new(options.max_body_bytes))
            .app_data(web::Data::new(options))
            .service(web::resource("/schema.graphql").route(web::get().to(schema_sdl)))
            .service(web::resource("/graphql").route(web::post().to(graphql)).route(web::get().to(graphql)))
            .service(web::resource("/graphiql").route(web::get().to(graphiql)))
            .service(web::resource("/healthz").route(web::get().to(healthz)))
            .service(web::resource("/readyz").route(web::get().to(readyz)))
            .service(web::resource("/metrics").route(web::get().to(metrics)))
            .service(web::resource("/export/{name}").route(web::get().to(crate::export::export)));
    }
}

async fn graphql(
    schema: web::Data<CrisisSchema>,
    options: web::Data<ServerOptions>,
    http: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    // The body comes through `web::Bytes`, which enforces `max_body_bytes` (413) even without a
    // Content-Length; async-graphql-actix-web's own extractor reads bodies of any size.
    let request = if http.method() == actix_web::http::Method::GET {
        async_graphql::http::parse_query_string(http.query_string())
    } else {
        let content_type = http.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
        async_graphql::http::receive_body(content_type, body.as_ref(), async_graphql::http::MultipartOptions::default())
            .await
    };
    let request = match request {
        Ok(request) => request,
        Err(e) => return HttpResponse::BadRequest().content_type("text/plain; charset=utf-8").body(e.to_string()),
    };
    let token = PresentedToken::from_header(
        http.headers().get(actix_web::http::header::AUTHORIZATION).and_then(|v| v.to_str().ok()),
    );
    let execution = schema.execute(request.data(token));
    let response = match tokio::time::timeout(options.request_timeout, execution).await {
        Ok(response) => response,
        Err(_) => async_graphql::Response::from_errors(vec![
            crate::ApiError::LimitExceeded(format!(
                "the query ran longer than {} s; ask for less (smaller pages, fewer nested lists)",
                options.request_timeout.as_secs()
            ))
            .into_gql()
            .into_server_error(async_graphql::Pos::default()),
        ]),
    };
    let cacheable = http.method() == actix_web::http::Method::GET && response.is_ok();
    let mut builder = HttpResponse::Ok();
    builder.content_type("application/json");
    if cacheable {
        builder.insert_header((header::CACHE_CONTROL, format!("public, max-age={}", options.get_cache_seconds)));
    } else {
        builder.insert_header((header::CACHE_CONTROL, "no-store"));
    }
    match serde_json::to_vec(&response) {
        Ok(body) => builder.body(body),
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

async fn graphiql() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(GraphiQLSource::build().endpoint("/graphql").title("crisisgraph").finish())
}

/// Alive and able to reach the store.
async fn healthz(pool: web::Data<DbPool>) -> HttpResponse {
    let pool = pool.get_ref().clone();
    let ping = with_conn(&pool, |c| {
        use store::SimpleConnection;
        c.batch_execute("SELECT 1").map_err(store::StoreError::Query)
    })
    .await;
    match ping {
        Ok(()) => HttpResponse::Ok().json(serde_json::json!({"status": "ok"})),
        Err(e) => {
            tracing::warn!(error = %e, "health check failed");
            HttpResponse::ServiceUnavailable().json(serde_json::json!({"status": "unavailable"}))
        }
    }
}

/// How long `/readyz` waits for the store before it says the server is not ready.
const READY_TIMEOUT: Duration = Duration::from_secs(2);

/// Ready to serve queries: the store answers a query within [`READY_TIMEOUT`]. For load balancers,
/// which should stop sending traffic while the database is down; the process recovers by itself
/// when it comes back (the pool opens new connections), so it must not be restarted for this.
async fn readyz(pool: web::Data<DbPool>) -> HttpResponse {
    let pool = pool.get_ref().clone();
    let ping = with_conn(&pool, |c| {
        use store::SimpleConnection;
        c.batch_execute("SELECT 1").map_err(store::StoreError::Query)
    });
    let reason = match tokio::time::timeout(READY_TIMEOUT, ping).await {
        Ok(Ok(())) => return HttpResponse::Ok().json(serde_json::json!({"status": "ready"})),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness check failed");
            if e.is_unavailable() { "the store is unreachable" } else { "the store answered with an error" }
        }
        Err(_) => "the store did not answer in time",
    };
    HttpResponse::ServiceUnavailable().json(serde_json::json!({"status": "unavailable", "reason": reason}))
}

/// Prometheus metrics, computed from the run history (so every replica reports the same).
async fn metrics(pool: web::Data<DbPool>) -> HttpResponse {
    let pool = pool.get_ref().clone();
    match with_conn(&pool, store::runs::run_statistics).await {
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
