//! The actix-web routes: `/graphql` (POST and GET), `/graphiql`, `/healthz`.

use actix_web::{HttpResponse, web};
use async_graphql::http::GraphiQLSource;
use async_graphql_actix_web::{GraphQLRequest, GraphQLResponse};
use store::{DbPool, with_conn};

use crate::CrisisSchema;

/// Registers every route on an actix `App` (the binary and the tests share it).
pub fn configure(schema: CrisisSchema, pool: DbPool) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.app_data(web::Data::new(schema))
            .app_data(web::Data::new(pool))
            .service(web::resource("/graphql").route(web::post().to(graphql)).route(web::get().to(graphql)))
            .service(web::resource("/graphiql").route(web::get().to(graphiql)))
            .service(web::resource("/healthz").route(web::get().to(healthz)));
    }
}

async fn graphql(schema: web::Data<CrisisSchema>, request: GraphQLRequest) -> GraphQLResponse {
    schema.execute(request.into_inner()).await.into()
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
        use diesel_ping::SimpleConnection;
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

mod diesel_ping {
    pub use store::SimpleConnection;
}
