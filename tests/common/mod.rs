//! Shared pieces of the end-to-end tests: a real store on either backend (a temporary SQLite file,
//! or a fresh PostgreSQL database when `CRISISGRAPH_TEST_POSTGRES_URL` is set), a local HTTP server
//! serving the bundled real payloads at the real source paths, and GraphQL execution.

#![allow(dead_code)]

pub mod checksum;
pub mod process;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use diesel::Connection;
use diesel::connection::SimpleConnection;
use ingest::{FetchMode, FetchSettings, IngestConfig, Ingester, LeaseSettings, RunOptions, Source};
use serde_json::Value;
use store::models::IngestRun;
use store::{DbPool, build_pool, run_migrations, with_conn};
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

pub const DTM_KEY: &str = "test-subscription-key";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A migrated store that cleans up after itself.
pub struct TestStore {
    pub pool: DbPool,
    /// The URL the store was opened with (a file path for SQLite).
    pub url: String,
    pub backend: Backend,
    _dir: Option<tempfile::TempDir>,
    pg_cleanup: Option<(String, String)>,
}

impl Drop for TestStore {
    fn drop(&mut self) {
        if let Some((admin_url, db)) = self.pg_cleanup.take()
            && let Ok(mut conn) = diesel::PgConnection::establish(&admin_url)
        {
            let _ = conn.batch_execute(&format!("DROP DATABASE IF EXISTS \"{db}\" WITH (FORCE)"));
        }
    }
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// The PostgreSQL URL of the test server, if the tests should use one. In CI it must be set.
pub fn postgres_url() -> Option<String> {
    match std::env::var("CRISISGRAPH_TEST_POSTGRES_URL") {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var("CI").is_err(),
                "CI is set but CRISISGRAPH_TEST_POSTGRES_URL is not: the PostgreSQL tests must run in CI"
            );
            eprintln!("note: CRISISGRAPH_TEST_POSTGRES_URL is not set; this PostgreSQL test checks nothing here");
            None
        }
    }
}

impl TestStore {
    pub async fn new(backend: Backend) -> Option<TestStore> {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temporary directory");
                let url = dir.path().join("crisisgraph-test.db").to_string_lossy().to_string();
                let pool = build_pool(&url).expect("SQLite pool");
                with_conn(&pool, run_migrations).await.expect("SQLite migrations");
                Some(TestStore { pool, url, backend, _dir: Some(dir), pg_cleanup: None })
            }
            Backend::Postgres => {
                let admin_url = postgres_url()?;
                let db = format!(
                    "cg_test_{}_{}_{}",
                    std::process::id(),
                    COUNTER.fetch_add(1, Ordering::SeqCst),
                    chrono::Utc::now().timestamp_subsec_nanos()
                );
                let mut admin = diesel::PgConnection::establish(&admin_url).expect("connect to the test PostgreSQL");
                admin.batch_execute(&format!("CREATE DATABASE \"{db}\"")).expect("create a test database");
                let url = replace_database(&admin_url, &db);
                let pool = build_pool(&url).expect("PostgreSQL pool");
                with_conn(&pool, run_migrations).await.expect("PostgreSQL migrations");
                Some(TestStore { pool, url, backend, _dir: None, pg_cleanup: Some((admin_url, db)) })
            }
        }
    }
}

/// The same URL with another database name.
fn replace_database(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let authority_start = base.find("://").map(|i| i + 3).unwrap_or(0);
    let base = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{db}?{q}"),
        None => format!("{base}/{db}"),
    }
}

pub fn repo_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

pub fn read(relative: &str) -> Vec<u8> {
    std::fs::read(repo_path(relative)).unwrap_or_else(|e| panic!("reading {relative}: {e}"))
}

/// The bundled DTM payloads: (ISO3, level, file).
pub const DTM_FILES: [(&str, u8, &str); 10] = [
    ("TCD", 0, "sample/dtm/v3/displacement-admin0-admin0pcode-tcd.json"),
    ("TCD", 1, "sample/dtm/v3/displacement-admin1-admin0pcode-tcd.json"),
    ("TCD", 2, "sample/dtm/v3/displacement-admin2-admin0pcode-tcd.json"),
    ("HTI", 0, "sample/dtm/v3/displacement-admin0-admin0pcode-hti.json"),
    ("HTI", 1, "sample/dtm/v3/displacement-admin1-admin0pcode-hti.json"),
    ("HTI", 2, "sample/dtm/v3/displacement-admin2-admin0pcode-hti.json"),
    ("AFG", 0, "sample/dtm/v3/displacement-admin0-admin0pcode-afg.json"),
    ("AFG", 1, "sample/dtm/v3/displacement-admin1-admin0pcode-afg.json"),
    ("MLI", 0, "sample/dtm/mali_reconstructed/displacement-admin0-admin0pcode-mli.json"),
    ("MLI", 1, "sample/dtm/mali_reconstructed/displacement-admin1-admin0pcode-mli.json"),
];

pub const PCODES_FILE: &str = "sample/cod/global_pcodes_adm_1_2.AFG-HTI-MLI-SSD-TCD-subset.csv";

/// A local server answering at the real DTM and HDX paths with the bundled real payloads.
pub async fn fixture_server() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(ingest::sources::geography::RESOURCE_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(read(PCODES_FILE)))
        .mount(&server)
        .await;
    for (iso3, level, file) in DTM_FILES {
        mount_dtm(&server, iso3, level, ResponseTemplate::new(200).set_body_bytes(read(file))).await;
    }
    server
}

/// Answers one DTM endpoint for one country with `response` (only with the subscription key).
pub async fn mount_dtm(server: &MockServer, iso3: &str, level: u8, response: ResponseTemplate) {
    Mock::given(method("GET"))
        .and(path(format!("/v3/displacement/admin{level}")))
        .and(query_param("Admin0Pcode", iso3))
        .and(header("Ocp-Apim-Subscription-Key", DTM_KEY))
        .respond_with(response)
        .mount(server)
        .await;
}

/// Ingest configuration pointing every source at `server`, with quick retries.
pub fn config_for(server: &MockServer) -> IngestConfig {
    IngestConfig {
        dtm_url: server.uri(),
        dtm_key: Some(DTM_KEY.into()),
        hdx_url: server.uri(),
        fts_url: server.uri(),
        countries: Vec::new(),
        fetch: FetchSettings {
            base_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(200),
            first_byte_timeout: Duration::from_secs(5),
            ..FetchSettings::default()
        },
        lease: LeaseSettings { ttl: Duration::from_secs(3), heartbeat: Duration::from_millis(500) },
        limits: ingest::RowLimits::default(),
        webhooks: Vec::new(),
    }
}

pub fn ingester(store: &TestStore, server: &MockServer) -> Ingester {
    Ingester::new(store.pool.clone(), config_for(server), FetchMode::Online).expect("ingester")
}

pub fn options(countries: &[&str], levels: &[u8]) -> RunOptions {
    RunOptions {
        countries: countries.iter().map(|c| c.to_string()).collect(),
        dtm_levels: levels.to_vec(),
        trigger: "test".into(),
        ..RunOptions::default()
    }
}

pub async fn run(ingester: &Ingester, source: Source, countries: &[&str], levels: &[u8]) -> IngestRun {
    ingester.run(source, &options(countries, levels)).await.expect("the run is recorded")
}

/// Runs a GraphQL query on the real schema and returns `data`, failing on any error.
pub async fn graphql(pool: &DbPool, query: &str) -> Value {
    let response = graphql_response(pool, query).await;
    assert!(response["errors"].is_null(), "GraphQL errors: {}", response["errors"]);
    response["data"].clone()
}

/// Runs a GraphQL query and returns the whole response (data and errors).
pub async fn graphql_response(pool: &DbPool, query: &str) -> Value {
    let schema = api::build_schema(pool.clone(), api::Operations::default());
    let response = schema.execute(query).await;
    serde_json::to_value(&response).expect("response serialises")
}

/// Every IDP figure row in the store, at the source's grain, as comparable text.
pub async fn figure_snapshot(pool: &DbPool) -> Vec<String> {
    with_conn(pool, |c| {
        let mut out = Vec::new();
        for iso3 in ["AFG", "HTI", "MLI", "TCD"] {
            for f in store::idps::figures_of_country(c, iso3)? {
                out.push(format!(
                    "{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{:?}|{}",
                    f.country_iso3,
                    f.admin_level,
                    f.source_pcode,
                    f.operation,
                    f.round_number,
                    f.reporting_date,
                    f.assessment_type,
                    f.displacement_reason,
                    f.origin_pcode,
                    f.individuals,
                    f.area_id,
                    f.run_id
                ));
            }
        }
        out.sort();
        Ok(out)
    })
    .await
    .expect("snapshot")
}

/// Declares one async test per backend for a scenario `async fn(Backend)`.
#[macro_export]
macro_rules! on_both_stores {
    ($($scenario:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    super::$scenario(super::common::Backend::Sqlite).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    if super::common::postgres_url().is_some() {
                        super::$scenario(super::common::Backend::Postgres).await;
                    }
                }
            )*
        }
    };
}
