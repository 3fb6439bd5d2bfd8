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
    // The same for the BI guide's column tables, from the BI entities' declarations.
    let columns = Command::new(BIN).arg("bi-columns").output().expect("runs");
    assert!(columns.status.success());
    let columns = String::from_utf8(columns.stdout).expect("UTF-8");
    assert_eq!(columns, store::bi::markdown_tables());
    for entity in store::BI_ENTITIES {
        assert!(columns.contains(&format!("(view `{}`)", entity.view)), "{}", entity.view);
    }
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

/// The app over `store` with `operations`, as `serve` wires it.
async fn app_over(
    store: &common::TestStore,
    operations: api::Operations,
) -> impl actix_web::dev::Service<actix_http::Request, Response = actix_web::dev::ServiceResponse, Error = actix_web::Error>
{
    let schema = api::build_schema(store.pool.clone(), operations);
    awtest::init_service(actix_web::App::new().configure(api::server::configure(schema, store.pool.clone()))).await
}

/// (status, content type, body as JSON or Null) of a response.
async fn answer(response: actix_web::dev::ServiceResponse) -> (u16, String, Value) {
    let status = response.status().as_u16();
    let content_type =
        response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    let bytes = awtest::read_body(response).await;
    (status, content_type, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";

/// GraphQL over HTTP as its specification says: the media type the client accepts, 4xx for requests
/// that fail before execution (with `application/graphql-response+json`), no `data` entry and no fake
/// locations when execution never started, parse errors on one line, 400 for a body without `query`,
/// 415 for a POST that is not JSON.
#[actix_web::test]
async fn graphql_over_http_follows_the_specification() {
    let Some(store) = common::TestStore::new(common::Backend::Sqlite).await else { return };
    let app = app_over(&store, api::Operations::default()).await;
    let post = |body: Value, accept: Option<&str>| {
        let mut request = awtest::TestRequest::post().uri("/graphql").set_json(body);
        if let Some(accept) = accept {
            request = request.insert_header(("Accept", accept.to_string()));
        }
        request.to_request()
    };
    let typename = json!({ "query": "{ __typename }" });

    let (status, content_type, body) =
        answer(awtest::call_service(&app, post(typename.clone(), Some(GRAPHQL_RESPONSE))).await).await;
    assert_eq!((status, body["data"]["__typename"].as_str()), (200, Some("Query")));
    assert!(content_type.starts_with(GRAPHQL_RESPONSE), "{content_type}");
    let (_, content_type, _) = answer(awtest::call_service(&app, post(typename.clone(), Some("*/*"))).await).await;
    assert!(content_type.starts_with("application/json"), "{content_type}");
    let (_, content_type, _) = answer(awtest::call_service(&app, post(typename.clone(), None)).await).await;
    assert!(content_type.starts_with("application/json"), "{content_type}");

    // Parse and validation failures: 400 under the new media type, 200 under application/json; never
    // a `data` entry, never `locations: [{line: 0, column: 0}]`, the parse message on one line.
    for (query, what) in [("{", "parse"), ("{ nope }", "validation")] {
        let (status, _, body) =
            answer(awtest::call_service(&app, post(json!({ "query": query }), Some(GRAPHQL_RESPONSE))).await).await;
        assert_eq!(status, 400, "{what}: {body}");
        assert!(body.get("data").is_none(), "{what}: no data entry: {body}");
        let error = &body["errors"][0];
        assert!(!error["message"].as_str().unwrap_or_default().contains('\n'), "{what}: one line: {error}");
        assert!(
            error["locations"].as_array().into_iter().flatten().all(|l| l["line"].as_u64() != Some(0)),
            "{what}: no fake location: {error}"
        );
        let (status, _, body) = answer(awtest::call_service(&app, post(json!({ "query": query }), None)).await).await;
        assert_eq!(status, 200, "{what} under application/json");
        assert!(body.get("data").is_none() && body["errors"].is_array(), "{what}: {body}");
    }

    // A body without `query`, or with a `query` that is not a string: 400.
    for body in [
        json!({ "qeury": "{ __typename }" }),
        json!({ "query": 5 }),
        json!({ "query": "{ __typename }", "variables": "x" }),
    ] {
        let (status, _, answer_body) = answer(awtest::call_service(&app, post(body.clone(), None)).await).await;
        assert_eq!(status, 400, "{body}: {answer_body}");
        assert_eq!(answer_body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{answer_body}");
    }

    // POST without a JSON content type: 415, nothing parsed or run.
    for content_type in [None, Some("text/plain"), Some("application/x-www-form-urlencoded")] {
        let mut request = awtest::TestRequest::post().uri("/graphql").set_payload(typename.to_string());
        if let Some(content_type) = content_type {
            request = request.insert_header(("Content-Type", content_type));
        }
        let response = awtest::call_service(&app, request.to_request()).await;
        assert_eq!(response.status(), 415, "{content_type:?}");
    }
    let charset = awtest::TestRequest::post()
        .uri("/graphql")
        .insert_header(("Content-Type", "application/json; charset=utf-8"))
        .set_payload(typename.to_string())
        .to_request();
    assert_eq!(awtest::call_service(&app, charset).await.status(), 200, "JSON with a charset");
}

/// GET never runs a mutation, even with the operator token (405, nothing started); only query answers
/// are cacheable, and they vary on what could change them (the media type and the token).
#[actix_web::test]
async fn get_runs_no_mutation_and_caches_only_queries() {
    let Some(store) = common::TestStore::new(common::Backend::Sqlite).await else { return };
    ingest::sample::load_sample(&store.pool).await.expect("sample");
    let server = common::fixture_server().await;
    let coordinator = ingest::Coordinator::new(common::ingester(&store, &server));
    let operations = api::Operations {
        coordinator: Some(coordinator.clone()),
        schedules: ingest::SourceSchedule::defaults(),
        operator_token: Some("get-token".into()),
        live: None,
    };
    let app = app_over(&store, operations).await;
    let runs_before = store::with_conn(&store.pool, |c| store::runs::count_runs(c, None)).await.expect("runs");
    let mutation = r#"mutation { triggerIngest(source: "dtm", countries: ["TCD"]) { __typename } }"#;
    let uri = reqwest::Url::parse_with_params("http://x/graphql", &[("query", mutation)]).expect("URL");
    let request = awtest::TestRequest::get()
        .uri(&format!("/graphql?{}", uri.query().unwrap_or_default()))
        .insert_header(("Authorization", "Bearer get-token"))
        .to_request();
    let response = awtest::call_service(&app, request).await;
    assert_eq!(response.status(), 405, "a mutation by GET");
    assert!(response.headers().get("allow").and_then(|v| v.to_str().ok()).is_some_and(|v| v.contains("POST")));
    let cache = response.headers().get("cache-control").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    assert!(!cache.contains("public"), "{cache}");
    // Nor by the hash of a persisted query registered by POST (automatic persisted queries).
    let hash = ingest::fetch::sha256_hex(mutation.as_bytes());
    let persisted = json!({ "persistedQuery": { "version": 1, "sha256Hash": hash } });
    let register = awtest::TestRequest::post()
        .uri("/graphql")
        .set_json(json!({ "query": mutation, "extensions": persisted }))
        .to_request();
    let registered: Value = awtest::call_and_read_body_json(&app, register).await;
    assert_eq!(registered["errors"][0]["extensions"]["code"], "UNAUTHENTICATED", "{registered}");
    let by_hash =
        reqwest::Url::parse_with_params("http://x/graphql", &[("extensions", persisted.to_string())]).expect("URL");
    let request = awtest::TestRequest::get()
        .uri(&format!("/graphql?{}", by_hash.query().unwrap_or_default()))
        .insert_header(("Authorization", "Bearer get-token"))
        .to_request();
    assert_eq!(awtest::call_service(&app, request).await.status(), 405, "a persisted mutation by GET");
    coordinator.shutdown(Duration::from_secs(5)).await;
    let runs_after = store::with_conn(&store.pool, |c| store::runs::count_runs(c, None)).await.expect("runs");
    assert_eq!(runs_after, runs_before, "nothing ran");

    let query = awtest::TestRequest::get().uri("/graphql?query=%7Bcountries%7Biso3%7D%7D").to_request();
    let response = awtest::call_service(&app, query).await;
    assert_eq!(response.status(), 200);
    let header =
        |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_lowercase();
    assert!(header("cache-control").contains("public"), "a GET query is cacheable");
    assert!(header("vary").contains("authorization") && header("vary").contains("accept"), "{}", header("vary"));

    // HEAD on a GET query answers its headers.
    let head = awtest::TestRequest::default()
        .method(actix_web::http::Method::HEAD)
        .uri("/graphql?query=%7Bcountries%7Biso3%7D%7D")
        .to_request();
    assert_eq!(awtest::call_service(&app, head).await.status(), 200, "HEAD");
}

/// What a hostile client sends over HTTP is bounded: a body trickled in is cut after the configured
/// time (408), 4,000 duplicate directives give a small answer, and a batch shares one complexity budget.
#[tokio::test]
async fn request_bodies_errors_and_batches_are_bounded() {
    let Some(store) = common::TestStore::new(common::Backend::Sqlite).await else { return };
    ingest::sample::load_sample(&store.pool).await.expect("sample");
    tokio::task::LocalSet::new()
        .run_until(async {
            let app = app_over(&store, api::Operations::default()).await;
            let post = |body: Value| awtest::TestRequest::post().uri("/graphql").set_json(body).to_request();

            let directives = format!("{{ countries {{ iso3 {} }} }}", "@include(if: true) ".repeat(4000));
            let request = json!({ "query": directives }).to_string();
            let response = awtest::call_service(&app, post(serde_json::from_str(&request).expect("JSON"))).await;
            let body = awtest::read_body(response).await;
            assert!(body.len() < 8 * 1024, "{} bytes answer a {} byte request", body.len(), request.len());
            let body: Value = serde_json::from_slice(&body).expect("JSON");
            assert_eq!(body["errors"][0]["extensions"]["code"], "LIMIT_EXCEEDED", "{body}");
            let on_fragments = format!("{{ ... on Query {} {{ __typename }} }}", "@include(if: true) ".repeat(4000));
            let response = awtest::call_service(&app, post(json!({ "query": on_fragments }))).await;
            let body = awtest::read_body(response).await;
            assert!(body.len() < 8 * 1024, "{} bytes answer duplicate directives on a fragment", body.len());

            // One operation of about two thirds of the budget is answered; three in one batch are not.
            let heavy = r#"{ countries { adminAreas(level: 1) { idps(first: 1000) { nodes { individuals operation round
                reportingDate assessmentType adminLevel sourcePcode sourceName areaMatched dataAsOf retrievedAt
                area { pcode name level } dataset { title credit } ingestRun { source status } } } } } }"#;
            let single: Value = awtest::call_and_read_body_json(&app, post(json!({ "query": heavy }))).await;
            assert!(single["errors"].is_null(), "one heavy operation is within the budget: {}", single["errors"]);
            let batch = Value::Array((0..3).map(|_| json!({ "query": heavy })).collect());
            let answers: Value = awtest::call_and_read_body_json(&app, post(batch)).await;
            let refused = answers
                .as_array()
                .into_iter()
                .flatten()
                .chain(std::iter::once(&answers))
                .any(|a| a["errors"][0]["extensions"]["code"] == "LIMIT_EXCEEDED");
            assert!(refused, "three heavy operations in one request exceed its budget: {answers:.400}");
        })
        .await;

    // A body that trickles in is cut after CRISISGRAPH_BODY_TIMEOUT_SECONDS with 408.
    let dir = tempfile::tempdir().expect("temporary directory");
    let port = free_port();
    let _child = Child(
        Command::new(BIN)
            .args(["serve", "--no-scheduler", "--bind", &format!("127.0.0.1:{port}")])
            .env("DATABASE_URL", dir.path().join("slow.db"))
            .env("CRISISGRAPH_BODY_TIMEOUT_SECONDS", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("crisisgraph starts"),
    );
    wait_healthy(port).await;
    let answer = tokio::task::spawn_blocking(move || {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
        stream.set_read_timeout(Some(Duration::from_secs(30))).expect("timeout");
        stream
            .write_all(b"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"query")
            .expect("write");
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
        String::from_utf8_lossy(&answer).to_string()
    })
    .await
    .expect("client");
    assert!(answer.starts_with("HTTP/1.1 408"), "a trickled body is cut: {answer:?}");
}

async fn wait_healthy(port: u16) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(r) = client.get(format!("http://127.0.0.1:{port}/healthz")).send().await
            && r.status().is_success()
        {
            return;
        }
        assert!(Instant::now() < deadline, "the server did not become healthy within 60 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn is_utc_instant(value: &Value) -> bool {
    let text = value.as_str().unwrap_or_default();
    chrono::DateTime::parse_from_rfc3339(text).is_ok_and(|t| t.offset().local_minus_utc() == 0) && text.ends_with('Z')
}

/// Every instant is RFC 3339 in UTC with `Z` (GraphQL, exports, the CLI); dates stay dates.
#[tokio::test]
async fn instants_are_rfc3339_utc_everywhere() {
    let Some(store) = common::TestStore::new(common::Backend::Sqlite).await else { return };
    ingest::sample::load_sample(&store.pool).await.expect("sample");
    let data = common::graphql(
        &store.pool,
        r#"{ ingestRuns(first: 3) { nodes { startedAt finishedAt } }
             datasets { lastModified resources { lastModified } }
             sources { name lastSuccessAt nextRunAt }
             country(iso3: "MLI") { idps(first: 1) { nodes { retrievedAt reportingDate } }
               idpTotals { retrievedAt reportingDate } population { retrievedAt }
               appeals { retrievedAt } } }"#,
    )
    .await;
    let mut instants = vec![
        &data["ingestRuns"]["nodes"][0]["startedAt"],
        &data["ingestRuns"]["nodes"][0]["finishedAt"],
        &data["country"]["idps"]["nodes"][0]["retrievedAt"],
        &data["country"]["idpTotals"][0]["retrievedAt"],
        &data["country"]["population"]["retrievedAt"],
        &data["country"]["appeals"][0]["retrievedAt"],
    ];
    let sources = data["sources"].as_array().expect("sources");
    instants.extend(sources.iter().map(|s| &s["lastSuccessAt"]).filter(|v| !v.is_null()));
    instants.extend(sources.iter().map(|s| &s["nextRunAt"]).filter(|v| !v.is_null()));
    instants.extend(
        data["datasets"].as_array().expect("datasets").iter().map(|d| &d["lastModified"]).filter(|v| !v.is_null()),
    );
    assert!(instants.len() > 10);
    for value in instants {
        assert!(is_utc_instant(value), "not an RFC 3339 UTC instant: {value}");
    }
    // The next run is the same instant from one request to the next (no sub-second jitter).
    let next_runs = |data: &Value| -> Vec<Value> {
        data["sources"].as_array().expect("sources").iter().map(|s| s["nextRunAt"].clone()).collect()
    };
    tokio::time::sleep(Duration::from_millis(30)).await;
    let again = common::graphql(&store.pool, "{ sources { nextRunAt } }").await;
    assert_eq!(next_runs(&again), next_runs(&data), "nextRunAt is stable");
    let date = data["country"]["idps"]["nodes"][0]["reportingDate"].as_str().expect("date");
    assert!(chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").is_ok(), "{date}");

    // The JSON export and the CLI write instants the same way.
    let app = app_over(&store, api::Operations::default()).await;
    let rows: Value = awtest::call_and_read_body_json(
        &app,
        awtest::TestRequest::get().uri("/export/idps.json?country=MLI&limit=1").to_request(),
    )
    .await;
    assert!(is_utc_instant(&rows[0]["retrieved_at"]), "{}", rows[0]);
    let output =
        Command::new(BIN).args(["runs", "--limit", "1"]).env("DATABASE_URL", &store.url).output().expect("runs");
    let text = String::from_utf8_lossy(&output.stdout);
    let started = text.lines().nth(1).and_then(|l| l.split_whitespace().find(|w| w.contains('T'))).unwrap_or_default();
    assert!(is_utc_instant(&Value::from(started)), "the CLI's start time {started:?} in {text}");
}

/// `ingest dtm --country MLI --offline` replays the sample's own levels (Mali has admin 0 and 1) without
/// `--levels`, and logs written to a file carry no terminal colours.
#[tokio::test]
async fn offline_ingest_uses_the_sample_levels_and_logs_without_colour() {
    let Some(store) = common::TestStore::new(common::Backend::Sqlite).await else { return };
    ingest::sample::load_sample(&store.pool).await.expect("sample");
    let output = Command::new(BIN)
        .args(["ingest", "dtm", "--country", "MLI", "--offline"])
        .env("DATABASE_URL", &store.url)
        .env_remove("RUST_LOG")
        .env_remove("NO_COLOR")
        .output()
        .expect("runs");
    let (stdout, stderr) = (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "stdout: {stdout}\nstderr: {stderr}");
    assert!(stdout.contains("succeeded"), "{stdout}");
    assert!(stderr.contains("ingest run started"), "the log is on stderr: {stderr}");
    assert!(!stderr.contains('\u{1b}'), "no ANSI escapes when stderr is not a terminal: {stderr:?}");
}

/// The query the answer-cache tests send: the latest IDP figures of each Mali region.
const MALI_REGIONS_LATEST: &str = r#"{ country(iso3: "MLI") { adminAreas(level: 1) { pcode idps(latestRoundOnly: true) { nodes { individuals } } } } }"#;

/// The sum of the `individuals` in an answer to [`MALI_REGIONS_LATEST`].
fn mali_regions_latest_sum(answer: &Value) -> i64 {
    answer["data"]["country"]["adminAreas"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|a| a["idps"]["nodes"].as_array().cloned().unwrap_or_default())
        .filter_map(|n| n["individuals"].as_i64())
        .sum()
}

/// The same sum read from the store: the latest round of each Mali region's totals.
const MALI_REGIONS_LATEST_IN_STORE: &str = "SELECT CAST(COALESCE(SUM(individuals), 0) AS BIGINT) AS n FROM idp_totals \
     WHERE country_iso3 = 'MLI' AND admin_level = 1 AND area_matched AND is_latest_round";

/// The one BIGINT (named `n`) that `sql` returns.
async fn single_number(store: &common::TestStore, sql: &'static str) -> i64 {
    store::with_conn(&store.pool, move |c| {
        use diesel::RunQueryDsl;
        #[derive(diesel::QueryableByName)]
        struct Number {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let row: Number = diesel::sql_query(sql).get_result(c).map_err(store::StoreError::Query)?;
        Ok(row.n)
    })
    .await
    .expect(sql)
}

/// The value of the `/metrics` line starting with `series` (0 when absent).
async fn metric<S>(app: &S, series: &str) -> u64
where
    S: actix_web::dev::Service<
            actix_http::Request,
            Response = actix_web::dev::ServiceResponse,
            Error = actix_web::Error,
        >,
{
    let metrics = awtest::call_and_read_body(app, awtest::TestRequest::get().uri("/metrics").to_request()).await;
    String::from_utf8_lossy(&metrics)
        .lines()
        .find(|l| l.starts_with(series))
        .and_then(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .unwrap_or(0)
}

/// Identical requests that miss the answer cache together run once (PostgreSQL): while the first
/// one's read is held up by a lock another session holds on the totals, the seven identical requests
/// sent with it wait for it in the cache (`crisisgraph_answer_cache_waiting`) instead of reading
/// themselves, so one backend waits on the lock, not eight; once the lock goes, all eight get the
/// totals the store holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identical_requests_that_miss_together_run_once() {
    let Some(store) = common::TestStore::new(common::Backend::Postgres).await else { return };
    ingest::sample::load_sample(&store.pool).await.expect("sample");
    let app = app_over(&store, api::Operations::default()).await;
    let waiting = "crisisgraph_answer_cache_waiting";
    let expected = single_number(&store, MALI_REGIONS_LATEST_IN_STORE).await;
    assert!(expected > 0, "the sample has Mali's regions");

    // Another session locks the totals until told to let go.
    let (locked_tx, locked_rx) = std::sync::mpsc::channel::<()>();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let url = store.url.clone();
    let holder = std::thread::spawn(move || {
        use diesel::Connection;
        use diesel::connection::SimpleConnection;
        let mut conn = diesel::PgConnection::establish(&url).expect("connect");
        conn.batch_execute("BEGIN; LOCK TABLE idp_totals IN ACCESS EXCLUSIVE MODE").expect("lock");
        locked_tx.send(()).expect("signal");
        let _ = release_rx.recv_timeout(Duration::from_secs(60));
        conn.batch_execute("ROLLBACK").expect("rollback");
    });
    locked_rx.recv_timeout(Duration::from_secs(30)).expect("the lock is taken");

    let requests = (0..8).map(|_| {
        let request =
            awtest::TestRequest::post().uri("/graphql").set_json(json!({ "query": MALI_REGIONS_LATEST })).to_request();
        awtest::call_and_read_body_json::<_, _, Value>(&app, request)
    });
    let watch = async {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while metric(&app, waiting).await < 7 && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let seen_waiting = metric(&app, waiting).await;
        let on_lock = single_number(
            &store,
            "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() \
             AND wait_event_type = 'Lock'",
        )
        .await;
        release_tx.send(()).expect("release");
        (seen_waiting, on_lock)
    };
    let (answers, (seen_waiting, on_lock)) = tokio::join!(futures_util::future::join_all(requests), watch);
    holder.join().expect("the lock holder");
    assert_eq!(seen_waiting, 7, "seven requests wait for the identical one running");
    assert_eq!(on_lock, 1, "only the first request reads (and waits on the lock)");
    for answer in &answers {
        assert_eq!(mali_regions_latest_sum(answer), expected, "{answer}");
    }
    assert_eq!(metric(&app, waiting).await, 0);
}

on_both_stores!(
    the_console_and_a_runs_rejected_rows_csv_are_served,
    answers_are_reused_only_while_the_store_is_unchanged
);

/// The answer cache (PostgreSQL): a repeated query is answered from it while nothing was committed
/// since its answer was read; a write committed by another session (here an UPDATE of the figures the
/// query reads) is in the very next answer; a request with a token is never answered from it. On both
/// stores, a GET answer carries an ETag and an `If-None-Match` naming it gets 304 until the data changes.
async fn answers_are_reused_only_while_the_store_is_unchanged(backend: common::Backend) {
    let Some(store) = common::TestStore::new(backend).await else { return };
    ingest::sample::load_sample(&store.pool).await.expect("sample");
    let app = app_over(&store, api::Operations::default()).await;
    let query = MALI_REGIONS_LATEST;
    let sum = mali_regions_latest_sum;
    let hits = || metric(&app, "crisisgraph_answer_cache_requests_total{outcome=\"hit\"}");
    let post = || awtest::TestRequest::post().uri("/graphql").set_json(json!({ "query": query })).to_request();
    // The raw figures: the latest round of each Mali region, summed.
    let from_store = || single_number(&store, MALI_REGIONS_LATEST_IN_STORE);
    let bump = || async {
        store::with_conn(&store.pool, |c| {
            use diesel::RunQueryDsl;
            diesel::sql_query(
                "UPDATE idp_totals SET individuals = individuals + 1 \
                 WHERE country_iso3 = 'MLI' AND admin_level = 1 AND is_latest_round",
            )
            .execute(c)
            .map_err(store::StoreError::Query)
        })
        .await
        .expect("update")
    };

    let first: Value = awtest::call_and_read_body_json(&app, post()).await;
    let expected = from_store().await;
    assert!(expected > 0, "the sample has Mali's regions");
    assert_eq!(sum(&first), expected, "{first}");
    // The cache opens its connection in the background once it keeps an answer: a repeat soon hits.
    for _ in 0..50 {
        let again: Value = awtest::call_and_read_body_json(&app, post()).await;
        assert_eq!(again, first);
        if hits().await > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let cached = backend == common::Backend::Postgres;
    assert_eq!(hits().await > 0, cached, "the repeated query is answered from the cache on PostgreSQL only");

    let bumped = bump().await as i64;
    assert!(bumped > 0);
    let after: Value = awtest::call_and_read_body_json(&app, post()).await;
    assert_eq!(sum(&after), expected + bumped, "the committed update is in the next answer");
    assert_eq!(sum(&after), from_store().await);
    let with_token = awtest::TestRequest::post()
        .uri("/graphql")
        .insert_header(("Authorization", "Bearer x"))
        .set_json(json!({ "query": query }))
        .to_request();
    let before = hits().await;
    let _: Value = awtest::call_and_read_body_json(&app, with_token).await;
    assert_eq!(hits().await, before, "a request with a token is not answered from the cache");

    // GET: an ETag, 304 while the answer is the same, 200 with another tag once the data changed.
    let uri = format!(
        "/graphql?{}",
        reqwest::Url::parse_with_params("http://x/g", &[("query", query)]).expect("URL").query().unwrap_or_default()
    );
    let response = awtest::call_service(&app, awtest::TestRequest::get().uri(&uri).to_request()).await;
    assert_eq!(response.status(), 200);
    let etag = response.headers().get("etag").and_then(|v| v.to_str().ok()).expect("an ETag").to_string();
    let conditional =
        || awtest::TestRequest::get().uri(&uri).insert_header(("If-None-Match", etag.clone())).to_request();
    let not_modified = awtest::call_service(&app, conditional()).await;
    assert_eq!(not_modified.status(), 304);
    assert!(awtest::read_body(not_modified).await.is_empty());
    bump().await;
    let changed = awtest::call_service(&app, conditional()).await;
    assert_eq!(changed.status(), 200, "the data changed: a full answer");
    assert_ne!(changed.headers().get("etag").and_then(|v| v.to_str().ok()), Some(etag.as_str()));
    let body: Value = serde_json::from_slice(&awtest::read_body(changed).await).expect("JSON");
    assert_eq!(sum(&body), expected + 2 * bumped);
}

/// `/console` and its files: 200 with their content types, a Content-Security-Policy that allows no
/// inline code and no other origin, a page that loads nothing from elsewhere, ETags honoured with 304.
/// And `/export/runs/<n>/rejected.csv` for the sample's food security run: every row it rejected,
/// each the worksheet's row at its row number (read here with calamine alone), as its CSV.
async fn the_console_and_a_runs_rejected_rows_csv_are_served(backend: common::Backend) {
    let Some(store) = common::TestStore::new(backend).await else { return };
    let runs = ingest::sample::load_sample(&store.pool).await.expect("sample");
    let app = app_over(&store, api::Operations::default()).await;
    let get = |uri: &str| awtest::TestRequest::get().uri(uri).to_request();

    let files = [
        ("/console", "text/html"),
        ("/console/", "text/html"),
        ("/console/index.html", "text/html"),
        ("/console/app.js", "text/javascript"),
        ("/console/gql.js", "text/javascript"),
        ("/console/views.js", "text/javascript"),
        ("/console/console.css", "text/css"),
        ("/console/favicon.svg", "image/svg+xml"),
    ];
    for (uri, content_type) in files {
        let response = awtest::call_service(&app, get(uri)).await;
        let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
        assert_eq!(response.status().as_u16(), 200, "{uri}");
        assert!(
            header("content-type").is_some_and(|t| t.starts_with(content_type)),
            "{uri}: {:?}",
            header("content-type")
        );
        let csp = header("content-security-policy").unwrap_or_default();
        assert!(csp.contains("script-src 'self'") && csp.contains("default-src 'none'"), "{uri}: {csp}");
        assert!(
            !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval") && !csp.contains("http"),
            "{uri}: {csp}"
        );
        assert_eq!(header("x-content-type-options").as_deref(), Some("nosniff"), "{uri}");
        let etag = header("etag").unwrap_or_else(|| panic!("{uri}: no ETag"));
        let body = String::from_utf8(awtest::read_body(response).await.to_vec()).expect("UTF-8");
        if content_type == "text/html" {
            // Every script is a file of the console's own (no inline code, no CDN).
            let scripts: Vec<&str> = body.split("<script").skip(1).collect();
            assert!(
                !scripts.is_empty()
                    && scripts.iter().all(|s| s.trim_start().starts_with("type=\"module\" src=\"/console/"))
            );
            assert!(!body.contains("http://") && !body.contains("https://") && !body.contains("style="), "{body}");
        }
        let again = awtest::call_service(
            &app,
            awtest::TestRequest::get().uri(uri).insert_header(("If-None-Match", etag.as_str())).to_request(),
        )
        .await;
        assert_eq!(again.status().as_u16(), 304, "{uri}: If-None-Match");
    }
    let missing = awtest::call_service(&app, get("/console/secrets.js")).await;
    assert_eq!(missing.status().as_u16(), 404);
    assert!(String::from_utf8_lossy(&awtest::read_body(missing).await).starts_with("NOT_FOUND:"));

    // The sample's food security run rejects rows of the Cadre Harmonisé worksheet.
    let run = runs.iter().find(|r| r.source == "food-security").expect("a food security run");
    assert!(run.rejected > 0, "{run:?}");
    let response = awtest::call_service(&app, get(&format!("/export/runs/{}/rejected.csv", run.id))).await;
    assert_eq!(response.status().as_u16(), 200);
    let content_type = response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default();
    assert!(content_type.starts_with("text/csv"), "{content_type}");
    let body = awtest::read_body(response).await;
    let mut reader = csv::Reader::from_reader(body.as_ref());
    assert_eq!(reader.headers().expect("header").iter().collect::<Vec<_>>(), ["row_number", "reason", "raw"]);
    let rows: Vec<csv::StringRecord> = reader.records().collect::<Result<_, _>>().expect("CSV rows");
    assert_eq!(rows.len() as i64, run.rejected, "every rejected row is in the CSV");

    use calamine::{Data, Reader, Xlsx};
    let bytes = common::read("sample/food_security/cadre_harmonise_caf_ipc_2022-05.MLI-TCD-subset.xlsx");
    let mut book: Xlsx<_> = calamine::open_workbook_from_rs(std::io::Cursor::new(bytes)).expect("workbook");
    let sheet = book.worksheet_range("Feuil1").expect("sheet");
    for row in &rows {
        let line: usize = row[0].parse().expect("row number");
        assert!(!row[1].is_empty(), "a reason");
        let cells = sheet.rows().nth(line - 1).unwrap_or_else(|| panic!("the worksheet has a row {line}"));
        let texts: Vec<&str> =
            cells.iter().filter_map(|c| if let Data::String(s) = c { Some(s.as_str()) } else { None }).collect();
        assert!(texts.len() >= 3, "row {line}: {cells:?}");
        for text in texts {
            assert!(row[2].contains(text), "row {line}: `{text}` of the worksheet is in the raw row {}", &row[2]);
        }
    }

    let unknown = awtest::call_service(&app, get("/export/runs/99999/rejected.csv")).await;
    assert_eq!(unknown.status().as_u16(), 404);
    let bad = awtest::call_service(&app, get("/export/runs/x1/rejected.csv")).await;
    assert_eq!(bad.status().as_u16(), 400);
    assert!(String::from_utf8_lossy(&awtest::read_body(bad).await).starts_with("BAD_USER_INPUT:"));
}
