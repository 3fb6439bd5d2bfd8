//! The schema is a contract: `schema.graphql` (sorted SDL) is committed and must equal the code's
//! schema, every type, field and argument the API defines carries a description, the standard
//! introspection query is answered, and instants and dates have their own scalars.

use std::collections::BTreeSet;

#[test]
fn committed_schema_matches_the_code() {
    let committed = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql")).unwrap_or_default();
    let code = api::schema::sdl();
    assert!(
        committed == code,
        "schema.graphql differs from the code's schema: review the change, then run \\
         `cargo run -- schema > schema.graphql` and commit it"
    );
}

#[tokio::test]
async fn every_type_field_and_argument_is_described() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let pool = store::build_pool(&dir.path().join("schema.db").to_string_lossy()).expect("pool");
    let schema = api::build_schema(pool, api::Operations::default());
    let response = schema
        .execute(
            "{ __schema { types { name kind description \
               fields { name description args { name description } } \
               inputFields { name description } enumValues { name description } } } }",
        )
        .await;
    let data = serde_json::to_value(&response.data).expect("JSON");
    // The scalars GraphQL itself defines are described by the specification.
    let builtin: BTreeSet<&str> = ["Boolean", "Float", "ID", "Int", "String"].into();
    let mut missing = Vec::new();
    let described = |v: &serde_json::Value| v["description"].as_str().is_some_and(|d| !d.trim().is_empty());
    for t in data["__schema"]["types"].as_array().expect("types") {
        let name = t["name"].as_str().unwrap_or_default();
        if name.starts_with("__") || builtin.contains(name) {
            continue;
        }
        if !described(t) {
            missing.push(name.to_string());
        }
        let members = ["fields", "inputFields", "enumValues"];
        for f in members.iter().flat_map(|m| t[*m].as_array().into_iter().flatten()) {
            let field = f["name"].as_str().unwrap_or_default();
            if !described(f) {
                missing.push(format!("{name}.{field}"));
            }
            for a in f["args"].as_array().into_iter().flatten() {
                if !described(a) {
                    missing.push(format!("{name}.{field}({})", a["name"].as_str().unwrap_or_default()));
                }
            }
        }
    }
    assert!(missing.is_empty(), "{} undescribed: {missing:?}", missing.len());
}

/// An app serving the schema over an empty store, as `serve` wires it.
async fn empty_app(
    dir: &tempfile::TempDir,
) -> impl actix_web::dev::Service<actix_http::Request, Response = actix_web::dev::ServiceResponse, Error = actix_web::Error>
{
    let pool = store::build_pool(&dir.path().join("schema.db").to_string_lossy()).expect("pool");
    store::with_conn(&pool, store::run_migrations).await.expect("migrations");
    let schema = api::build_schema(pool.clone(), api::Operations::default());
    actix_web::test::init_service(actix_web::App::new().configure(api::server::configure(schema, pool))).await
}

/// The introspection query graphql-js 16 builds (`getIntrospectionQuery` with every option GraphiQL
/// turns on), as GraphiQL, codegen tools and Postman send it: it must be answered in full, while a
/// data query nested as deep is still refused.
#[actix_web::test]
async fn the_standard_introspection_query_is_answered() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let app = empty_app(&dir).await;
    let query =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/introspection-query.graphql"))
            .expect("the graphql-js introspection query");
    let request = actix_web::test::TestRequest::post()
        .uri("/graphql")
        .set_json(serde_json::json!({ "query": query, "operationName": "IntrospectionQuery" }))
        .to_request();
    let body: serde_json::Value = actix_web::test::call_and_read_body_json(&app, request).await;
    assert!(body["errors"].is_null(), "introspection refused: {}", body["errors"]);
    let types = body["data"]["__schema"]["types"].as_array().expect("types");
    assert!(types.iter().any(|t| t["name"] == "Country"), "the schema's types are listed");

    // An introspection query nested far beyond any tool's (60 `ofType`s) is still refused.
    let abusive = format!(
        "{{ __type(name: \"Country\") {{ fields {{ type {{ {} name {} }} }} }} }}",
        "ofType {".repeat(60),
        "}".repeat(60)
    );
    let request = actix_web::test::TestRequest::post()
        .uri("/graphql")
        .set_json(serde_json::json!({ "query": abusive }))
        .to_request();
    let body: serde_json::Value = actix_web::test::call_and_read_body_json(&app, request).await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "LIMIT_EXCEEDED", "{body}");
}

/// Instants are `DateTime` (RFC 3339 in UTC with `Z`), calendar dates are `Date`: no naive types leak
/// into the schema, and every field named like an instant has the instant type.
#[test]
fn instants_are_date_time_and_dates_are_date() {
    let sdl = api::schema::sdl();
    for naive in ["NaiveDate", "NaiveDateTime"] {
        assert!(!sdl.contains(naive), "the schema still uses {naive}");
    }
    assert!(sdl.contains("scalar DateTime") && sdl.contains("scalar Date\n"), "both scalars are declared");
    let mut checked = 0;
    for line in sdl.lines().map(str::trim) {
        let Some((name, ty)) = line.split_once(": ") else { continue };
        let name = name.split('(').next().unwrap_or_default();
        if ["startedAt", "finishedAt", "retrievedAt", "lastModified", "lastSuccessAt", "nextRunAt"].contains(&name) {
            assert!(ty.trim_end_matches('!') == "DateTime", "{line}");
            checked += 1;
        }
    }
    assert!(checked >= 10, "only {checked} instant fields found");
}
