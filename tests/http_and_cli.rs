//! The binary and the HTTP layer as users meet them: `crisisgraph serve --sample` answering the
//! Mali question over HTTP, GraphiQL, health, GET queries, bad queries, and the CLI's exit codes.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use actix_web::test as awtest;
use serde_json::{Value, json};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

const BIN: &str = env!("CARGO_BIN_EXE_crisisgraph");

struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

#[tokio::test]
async fn serve_sample_answers_over_http() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let port = free_port();
    let _child = Child(
        Command::new(BIN)
            .args(["serve", "--sample", "--bind", &format!("127.0.0.1:{port}")])
            .current_dir(dir.path())
            .env_remove("DATABASE_URL")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("crisisgraph starts"),
    );
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(r) = client.get(format!("{base}/healthz")).send().await
            && r.status().is_success()
        {
            break;
        }
        assert!(Instant::now() < deadline, "serve --sample did not become healthy within 60 s");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(dir.path().join("crisisgraph.db").exists(), "the default store is crisisgraph.db in the working directory");

    let query = r#"{ country(iso3:"MLI") { idps(adminLevel:0, first:50) { nodes { round individuals } } } }"#;
    let posted: Value = client
        .post(format!("{base}/graphql"))
        .json(&json!({ "query": query }))
        .send()
        .await
        .expect("POST")
        .json()
        .await
        .expect("JSON");
    let rounds: Vec<(i64, i64)> = posted["data"]["country"]["idps"]["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .map(|n| (n["round"].as_i64().expect("round"), n["individuals"].as_i64().expect("n")))
        .collect();
    assert_eq!(rounds, vec![(60, 207_751), (67, 287_496), (68, 311_193), (71, 377_781)]);

    let url = reqwest::Url::parse_with_params(&format!("{base}/graphql"), &[("query", query)]).expect("URL");
    let got: Value = client.get(url).send().await.expect("GET").json().await.expect("JSON");
    assert_eq!(got, posted, "GET answers like POST");

    let page = client.get(format!("{base}/graphiql")).send().await.expect("GraphiQL").text().await.expect("HTML");
    assert!(page.contains("graphiql") && page.contains("/graphql"));
}

#[actix_web::test]
async fn bad_queries_get_graphql_errors_with_codes_not_crashes() {
    let Some(store) = common::TestStore::new(common::Backend::Sqlite).await else { return };
    ingest::sample::load_sample(&store.pool).await.expect("sample");
    let app = awtest::init_service(actix_web::App::new().configure(api::server::configure(
        api::build_schema(store.pool.clone(), api::Operations::default()),
        store.pool.clone(),
    )))
    .await;
    let post = |body: Value| awtest::TestRequest::post().uri("/graphql").set_json(body).to_request();
    let depth_bomb =
        format!("{{ adminArea(pcode: \"ML05\") {{ {}pcode{} }} }}", "parent { ".repeat(20), " }".repeat(20));
    let alias_flood = format!(
        "{{ {} }}",
        (0..3000).map(|i| format!("a{i}: countries {{ iso3 name }}")).collect::<Vec<_>>().join(" ")
    );
    let cases = [
        ("{ nope }", "BAD_USER_INPUT"),
        ("{ country(iso3: 5) { name } }", "BAD_USER_INPUT"),
        ("{", "BAD_USER_INPUT"),
        ("{ ingestRuns(first: -1) { totalCount } }", "BAD_USER_INPUT"),
        (r#"{ country(iso3: "MLI") { idps(first: 100000) { totalCount } } }"#, "LIMIT_EXCEEDED"),
        (r#"{ country(iso3: "MLI") { adminAreas(level: 9) { pcode } } }"#, "BAD_USER_INPUT"),
        (depth_bomb.as_str(), "LIMIT_EXCEEDED"),
        (alias_flood.as_str(), "LIMIT_EXCEEDED"),
    ];
    for (query, code) in cases {
        let started = std::time::Instant::now();
        let body: Value = awtest::call_and_read_body_json(&app, post(json!({ "query": query }))).await;
        assert_eq!(body["errors"][0]["extensions"]["code"], code, "{}: {body}", &query[..query.len().min(60)]);
        assert!(started.elapsed() < Duration::from_secs(5), "refused fast");
    }
    // A malformed body and an oversized batch get a GraphQL error too.
    let request = awtest::TestRequest::post()
        .uri("/graphql")
        .insert_header(("content-type", "application/json"))
        .set_payload("{not json")
        .to_request();
    let response = awtest::call_service(&app, request).await;
    assert_eq!(response.status(), 400);
    let body: Value = serde_json::from_slice(&awtest::read_body(response).await).expect("JSON error");
    assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
    let batch: Vec<Value> = (0..11).map(|_| json!({ "query": "{ countries { iso3 } }" })).collect();
    let response = awtest::call_service(&app, post(Value::Array(batch))).await;
    let body: Value = serde_json::from_slice(&awtest::read_body(response).await).expect("JSON error");
    assert_eq!(body["errors"][0]["extensions"]["code"], "LIMIT_EXCEEDED");
    let small: Vec<Value> = (0..2).map(|_| json!({ "query": "{ countries { iso3 } }" })).collect();
    let body: Value = awtest::call_and_read_body_json(&app, post(Value::Array(small))).await;
    assert_eq!(body.as_array().map(Vec::len), Some(2), "small batches are answered");

    // The server keeps serving.
    let body: Value = awtest::call_and_read_body_json(&app, post(json!({ "query": "{ countries { iso3 } }" }))).await;
    assert!(body["errors"].is_null() && body["data"]["countries"].as_array().is_some_and(|c| !c.is_empty()));
    let health: Value =
        awtest::call_and_read_body_json(&app, awtest::TestRequest::get().uri("/healthz").to_request()).await;
    assert_eq!(health["status"], "ok");
    let sdl = awtest::call_and_read_body(&app, awtest::TestRequest::get().uri("/schema.graphql").to_request()).await;
    assert!(String::from_utf8_lossy(&sdl).contains("type Country"));
}

#[test]
fn schema_command_prints_the_sdl() {
    let output = Command::new(BIN).arg("schema").output().expect("runs");
    assert!(output.status.success());
    let sdl = String::from_utf8(output.stdout).expect("UTF-8");
    for expected in [
        "type Country",
        "type AdminArea",
        "type IdpFigure",
        "type IdpFigureConnection",
        "type IngestRun",
        "totalCount: Int!",
    ] {
        assert!(sdl.contains(expected), "the SDL lacks {expected:?}");
    }
}

/// The CLI's choices and the docs' table come from the list of sources, not from text of their own.
#[test]
fn the_cli_lists_the_sources_from_their_declarations() {
    let help = Command::new(BIN).args(["ingest", "--help"]).output().expect("runs");
    assert!(help.status.success());
    let help = String::from_utf8(help.stdout).expect("UTF-8");
    for source in ingest::Source::ALL {
        assert!(help.contains(&format!("- {}:", source.name())), "{source} is not offered: {help}");
        assert!(help.contains(source.spec().summary), "{source}'s summary is not shown: {help}");
    }
    let table = Command::new(BIN).args(["sources", "--markdown"]).output().expect("runs");
    assert!(table.status.success());
    assert_eq!(String::from_utf8(table.stdout).expect("UTF-8"), ingest::sources::markdown_table());
}

#[tokio::test]
async fn ingest_command_summarises_and_fails_with_the_run() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let db = dir.path().join("cli.db");
    let server = MockServer::start().await;
    Mock::given(method("GET")).respond_with(ResponseTemplate::new(404)).mount(&server).await;
    let crisisgraph = |args: &[&str]| {
        Command::new(BIN)
            .args(args)
            .env("DATABASE_URL", &db)
            .env("CRISISGRAPH_DTM_URL", server.uri())
            .env("CRISISGRAPH_HDX_URL", server.uri())
            .env("CRISISGRAPH_COUNTRIES", "TCD")
            .output()
            .expect("runs")
    };
    assert!(crisisgraph(&["migrate"]).status.success());
    let failed = crisisgraph(&["ingest", "dtm"]);
    assert!(!failed.status.success(), "a failed run exits non-zero");
    let summary = String::from_utf8_lossy(&failed.stdout);
    assert!(summary.contains("failed") && summary.contains("HTTP 404"), "{summary}");

    let unknown = crisisgraph(&["ingest", "weather"]);
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("unknown source"));

    let runs = crisisgraph(&["runs"]);
    assert!(runs.status.success());
    assert!(String::from_utf8_lossy(&runs.stdout).contains("dtm"));
}

#[tokio::test]
async fn graphiql_examples_run_without_errors() {
    let Some(store) = common::TestStore::new(common::Backend::Sqlite).await else { return };
    ingest::sample::load_sample(&store.pool).await.expect("sample");
    for (title, query) in api::graphiql::EXAMPLES {
        let data = common::graphql(&store.pool, query).await;
        assert!(!data.is_null(), "{title}");
    }
    let mali = common::graphql(&store.pool, api::graphiql::EXAMPLES[0].1).await;
    assert!(mali.to_string().contains("311193"));
}

#[actix_web::test]
async fn persisted_queries_cors_and_caching() {
    let Some(store) = common::TestStore::new(common::Backend::Sqlite).await else { return };
    ingest::sample::load_sample(&store.pool).await.expect("sample");
    let app = awtest::init_service(
        actix_web::App::new().wrap(api::server::cors(&["https://dashboard.example.org".to_string()])).configure(
            api::server::configure(
                api::build_schema(store.pool.clone(), api::Operations::default()),
                store.pool.clone(),
            ),
        ),
    )
    .await;
    // Automatic persisted queries: the hash alone is unknown at first, then known once sent with its text.
    let query = r#"{ country(iso3: "MLI") { name } }"#;
    let hash = ingest::fetch::sha256_hex(query.as_bytes());
    let persisted = json!({ "persistedQuery": { "version": 1, "sha256Hash": hash } });
    let post = |body: Value| awtest::TestRequest::post().uri("/graphql").set_json(body).to_request();
    let first: Value = awtest::call_and_read_body_json(&app, post(json!({ "extensions": persisted }))).await;
    assert!(first["errors"][0]["message"].as_str().is_some_and(|m| m.contains("PersistedQueryNotFound")), "{first}");
    let _: Value =
        awtest::call_and_read_body_json(&app, post(json!({ "query": query, "extensions": persisted }))).await;
    let again: Value = awtest::call_and_read_body_json(&app, post(json!({ "extensions": persisted }))).await;
    assert_eq!(again["data"]["country"]["name"], "Mali", "{again}");

    // CORS for the configured origin only; GET queries are cacheable, POST answers are not.
    let uri = format!("/graphql?query={}", "%7Bcountries%7Biso3%7D%7D");
    let allowed = awtest::call_service(
        &app,
        awtest::TestRequest::get().uri(&uri).insert_header(("Origin", "https://dashboard.example.org")).to_request(),
    )
    .await;
    assert_eq!(
        allowed.headers().get("access-control-allow-origin").and_then(|v| v.to_str().ok()),
        Some("https://dashboard.example.org")
    );
    assert!(
        allowed.headers().get("cache-control").and_then(|v| v.to_str().ok()).is_some_and(|v| v.contains("max-age"))
    );
    let other = awtest::call_service(
        &app,
        awtest::TestRequest::get().uri(&uri).insert_header(("Origin", "https://evil.example.net")).to_request(),
    )
    .await;
    assert!(other.headers().get("access-control-allow-origin").is_none());
    let posted = awtest::call_service(&app, post(json!({ "query": "{ countries { iso3 } }" }))).await;
    assert_eq!(posted.headers().get("cache-control").and_then(|v| v.to_str().ok()), Some("no-store"));
}
