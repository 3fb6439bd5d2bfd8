//! Abuse, over HTTP on both stores: depth, alias, fragment and complexity bombs, oversized bodies,
//! SQL meta-characters in every GraphQL string argument and every export parameter. Each is refused
//! or neutralised, the data is unchanged, and the server still answers a normal query the same way.
//! (Formula cells in exports are in export.rs; missing and wrong tokens in operations.rs.)

mod common;

use std::time::{Duration, Instant};

use actix_web::test as awtest;
use common::checksum::data_checksums;
use common::{Backend, TestStore};
use serde_json::{Value, json};

on_both_stores!(bombs_and_oversized_bodies_are_refused, sql_meta_characters_are_only_ever_data);

const NORMAL: &str = r#"{ country(iso3: "MLI") { name adminAreas(level: 1) { pcode idps(latestRoundOnly: true) { nodes { individuals } } } } }"#;

/// Strings that break a query built by pasting text into SQL, or widen a LIKE pattern.
const META: [&str; 10] = [
    "' OR '1'='1",
    "MLI'; DROP TABLE idp_figures; --",
    "\" OR \"\"=\"",
    "%",
    "ML%",
    "_",
    "\\",
    "1; SELECT pg_sleep(5)",
    "') UNION SELECT iso3, name FROM countries --",
    "ML01' --",
];

async fn app(
    store: &TestStore,
) -> impl actix_web::dev::Service<actix_http::Request, Response = actix_web::dev::ServiceResponse, Error = actix_web::Error>
{
    let schema = api::build_schema(store.pool.clone(), api::Operations::default());
    awtest::init_service(actix_web::App::new().configure(api::server::configure(schema, store.pool.clone()))).await
}

async fn post(
    app: &impl actix_web::dev::Service<
        actix_http::Request,
        Response = actix_web::dev::ServiceResponse,
        Error = actix_web::Error,
    >,
    body: Value,
) -> (u16, Value) {
    let request = awtest::TestRequest::post().uri("/graphql").set_json(body).to_request();
    let response = awtest::call_service(app, request).await;
    let status = response.status().as_u16();
    let bytes = awtest::read_body(response).await;
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

fn first_error(body: &Value) -> String {
    body["errors"][0]["message"].as_str().unwrap_or_default().to_string()
}

async fn bombs_and_oversized_bodies_are_refused(backend: Backend) {
    tokio::task::LocalSet::new().run_until(bombs_scenario(backend)).await;
}

async fn bombs_scenario(backend: Backend) {
    let Some(store) = TestStore::new(backend).await else { return };
    ingest::sample::load_sample(&store.pool).await.expect("sample");
    let app = app(&store).await;
    let (_, normal) = post(&app, json!({ "query": NORMAL })).await;
    assert!(
        normal["errors"].is_null() && normal["data"]["country"]["adminAreas"].as_array().is_some_and(|a| a.len() == 10),
        "{normal}"
    );

    // Depth: 20 nested `children`, beyond the 12 levels allowed.
    let depth = format!("{{ adminArea(pcode: \"ML01\") {{ {} pcode {} }} }}", "children {".repeat(20), "}".repeat(20));
    // Aliases: 4,000 copies of a list field, each cheap, together far over the complexity limit.
    let aliases =
        format!("{{ {} }}", (0..4000).map(|i| format!("a{i}: countries {{ iso3 }}")).collect::<Vec<_>>().join(" "));
    // Complexity: pages of 1,000 inside pages of 1,000.
    let complexity = r#"{ countries { adminAreas(level: 1) { idps(first: 1000) { nodes { area { children {
        idps(first: 1000) { nodes { individuals } } } } } } } } }"#
        .to_string();
    // Fragments: each spreads the previous one twice, 2^40 fields once expanded.
    let mut fragments = String::from("fragment F0 on Country { iso3 name }\n");
    for i in 1..=40 {
        fragments.push_str(&format!("fragment F{i} on Country {{ ...F{} ...F{} }}\n", i - 1, i - 1));
    }
    let fragment_bomb = format!("{{ countries {{ ...F40 }} }}\n{fragments}");
    for (what, query, needle) in [
        ("depth", depth, "nested too deep"),
        ("aliases", aliases, "too complex"),
        ("complexity", complexity, "too complex"),
        ("fragments", fragment_bomb, ""),
    ] {
        let started = Instant::now();
        let (status, body) = post(&app, json!({ "query": query })).await;
        assert_eq!(status, 200, "{what}");
        assert!(body["data"].is_null() && !first_error(&body).is_empty(), "{what} bomb was answered: {body:.300}");
        assert!(first_error(&body).to_lowercase().contains(needle), "{what}: {}", first_error(&body));
        assert!(started.elapsed() < Duration::from_secs(10), "{what} bomb took {:?} to refuse", started.elapsed());
    }

    // A body over the 256 KiB limit is refused before it is parsed.
    let padding = " ".repeat(300 * 1024);
    let request = awtest::TestRequest::post()
        .uri("/graphql")
        .insert_header(("content-type", "application/json"))
        .set_payload(format!("{{\"query\": \"{{ countries {{ iso3 }} }}{padding}\"}}"))
        .to_request();
    let response = awtest::call_service(&app, request).await;
    assert_eq!(response.status().as_u16(), 413, "oversized body");
    // Not JSON at all, and a query that does not parse: errors, not crashes.
    let request = awtest::TestRequest::post()
        .uri("/graphql")
        .insert_header(("content-type", "application/json"))
        .set_payload("{\"query\": ")
        .to_request();
    assert!(awtest::call_service(&app, request).await.status().is_client_error());
    let (_, body) = post(&app, json!({ "query": "{ countries { iso3 " })).await;
    assert!(!first_error(&body).is_empty(), "{body}");

    let (_, after) = post(&app, json!({ "query": NORMAL })).await;
    assert_eq!(after, normal, "the server answers a normal query as before");
}

async fn sql_meta_characters_are_only_ever_data(backend: Backend) {
    tokio::task::LocalSet::new().run_until(meta_scenario(backend)).await;
}

async fn meta_scenario(backend: Backend) {
    let Some(store) = TestStore::new(backend).await else { return };
    ingest::sample::load_sample(&store.pool).await.expect("sample");
    let app = app(&store).await;
    let before = data_checksums(&store.pool).await;
    let (_, normal) = post(&app, json!({ "query": NORMAL })).await;
    assert!(normal["errors"].is_null(), "{normal}");

    // Every String/ID argument of the schema, fed through a variable.
    let queries = [
        "query($v: String!) { country(iso3: $v) { iso3 } }",
        "query($v: String!) { adminArea(pcode: $v) { pcode } }",
        "query($v: String) { ingestRuns(source: $v) { nodes { id } } }",
        "query($v: String) { ingestRuns(after: $v) { nodes { id } } }",
        "query($v: ID!) { dataset(id: $v) { id } }",
        "query($v: String) { country(iso3: \"MLI\") { idps(after: $v) { nodes { individuals } } } }",
        "query($v: String) { country(iso3: \"MLI\") { idps(last: 5, before: $v) { nodes { individuals } } } }",
        "query($v: String) { country(iso3: \"SSD\") { sites(after: $v) { nodes { name } } } }",
        "query($v: String) { adminArea(pcode: \"ML05\") { idps(after: $v) { nodes { individuals } } } }",
        "query($v: String) { adminArea(pcode: \"ML05\") { idps(last: 5, before: $v) { nodes { individuals } } } }",
        "query($v: String) { adminArea(pcode: \"ML05\") { sites(after: $v) { nodes { name } } } }",
    ];
    for query in queries {
        for value in META {
            let (status, body) = post(&app, json!({ "query": query, "variables": { "v": value } })).await;
            assert_eq!(status, 200, "{query} with {value:?}");
            // Either nothing matches (null or an empty list), or the input is refused as bad input.
            if let Some(errors) = body["errors"].as_array() {
                for error in errors {
                    let code = error["extensions"]["code"].as_str().unwrap_or("");
                    assert!(code == "BAD_USER_INPUT" || code == "NOT_FOUND", "{query} with {value:?}: {error}");
                }
            } else {
                let text = body["data"].to_string();
                assert!(
                    !text.contains("\"iso3\":\"") && !text.contains("\"pcode\":\"") && !text.contains("\"id\":\""),
                    "{query} with {value:?} matched something: {text:.300}"
                );
            }
        }
    }

    // Every export parameter.
    let common = ["country", "pcode", "admin_level", "limit", "offset", "hxl", "bom", "current_only"];
    let idp_only = ["operation", "assessment_type", "round", "from", "to", "latest_round_only"];
    let exports = [("idps", [&common[..], &idp_only[..]].concat()), ("admin-areas", common.to_vec())];
    for (name, params) in exports {
        for param in params {
            for value in META {
                let encoded: String = value.bytes().map(|b| format!("%{b:02X}")).collect();
                let uri = format!("/export/{name}.csv?{param}={encoded}");
                let response = awtest::call_service(&app, awtest::TestRequest::get().uri(&uri).to_request()).await;
                let status = response.status().as_u16();
                let body = awtest::read_body(response).await;
                assert!(status == 200 || status == 400, "{uri}: {status}");
                if status == 200 {
                    // Only the header line: nothing matches a meta-character filter.
                    let lines = body.split(|b| *b == b'\n').filter(|l| !l.is_empty()).count();
                    assert_eq!(
                        lines,
                        1,
                        "{uri} matched rows: {}",
                        String::from_utf8_lossy(&body[..body.len().min(300)])
                    );
                }
            }
        }
    }

    assert_eq!(data_checksums(&store.pool).await, before, "the data did not change");
    let (_, after) = post(&app, json!({ "query": NORMAL })).await;
    assert_eq!(after, normal, "the server answers a normal query as before");
}
