//! The actix-web routes: `/graphql` (POST and GET), `/graphiql`, `/healthz`, `/metrics`, `/export/...`.

use actix_web::{HttpRequest, HttpResponse, web};
use async_graphql::http::GraphiQLSource;
use async_graphql_actix_web::{GraphQLRequest, GraphQLResponse};
use store::{DbPool, with_conn};

use crate::CrisisSchema;
use crate::operations::PresentedToken;

/// Registers every route on an actix `App` (the binary and the tests share it).
pub fn configure(schema: CrisisSchema, pool: DbPool) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.app_data(web::Data::new(schema))
            .app_data(web::Data::new(pool))
            .service(web::resource("/graphql").route(web::post().to(graphql)).route(web::get().to(graphql)))
            .service(web::resource("/graphiql").route(web::get().to(graphiql)))
            .service(web::resource("/healthz").route(web::get().to(healthz)))
            .service(web::resource("/metrics").route(web::get().to(metrics)))
            .service(web::resource("/export/{name}").route(web::get().to(crate::export::export)));
    }
}

async fn graphql(schema: web::Data<CrisisSchema>, http: HttpRequest, request: GraphQLRequest) -> GraphQLResponse {
    let token = PresentedToken::from_header(
        http.headers().get(actix_web::http::header::AUTHORIZATION).and_then(|v| v.to_str().ok()),
    );
    schema.execute(request.into_inner().data(token)).await.into()
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
