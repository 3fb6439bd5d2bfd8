//! One GraphQL request reads one snapshot of the store: a query whose answer comes from several
//! statements (a direct query and two loader batches), run while ingests keep replacing every figure
//! with another version, never shows figures of two versions at once.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::{Duration, Instant};

use common::{Backend, TestStore};
use ingest::Source;
use serde_json::Value;
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// The national figures (one statement), every region's latest figures (one loader batch) and all
/// of Mopti's rounds (another batch of the same loader, other key).
const QUERY: &str = r#"{
  country(iso3: "MLI") {
    idps(adminLevel: 0, first: 100) { nodes { individuals } }
    adminAreas(level: 1) { pcode idps(latestRoundOnly: true) { nodes { individuals } } }
  }
  adminArea(pcode: "ML05") { idps(first: 100) { nodes { individuals } } }
}"#;

const MALI: [(u8, &str); 2] = [
    (0, "sample/dtm/mali_reconstructed/displacement-admin0-admin0pcode-mli.json"),
    (1, "sample/dtm/mali_reconstructed/displacement-admin1-admin0pcode-mli.json"),
];

/// A local server whose Mali DTM answers are version `current` (see `versioned_response`).
async fn versioned_server(current: Arc<AtomicI64>) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(ingest::sources::geography::RESOURCE_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(common::read(common::PCODES_FILE)))
        .mount(&server)
        .await;
    for (level, file) in MALI {
        let template = common::read(file);
        let versions: Vec<Vec<u8>> = (1..=2)
            .map(|v| crisisgraph_bench::load::versioned_response(&template, v).expect("versioned payload"))
            .collect();
        let current = current.clone();
        Mock::given(method("GET"))
            .and(path(format!("/v3/displacement/admin{level}")))
            .and(query_param("Admin0Pcode", "MLI"))
            .respond_with(move |_: &wiremock::Request| {
                let v = current.load(Ordering::SeqCst);
                ResponseTemplate::new(200).set_body_bytes(versions[usize::from(v == 2)].clone())
            })
            .mount(&server)
            .await;
    }
    server
}

/// The figures a response shows, sorted.
fn figures(data: &Value) -> Vec<i64> {
    crisisgraph_bench::load::graphql_figures(data)
}

async fn no_response_mixes_two_ingests(backend: Backend) {
    let Some(store) = TestStore::new(backend).await else { return };
    let version = Arc::new(AtomicI64::new(1));
    let server = versioned_server(version.clone()).await;
    let ingester = common::ingester(&store, &server);
    common::run(&ingester, Source::Geography, &["MLI"], &[]).await;

    // Each version's answer, from a quiet store.
    let mut expected = Vec::new();
    for v in 1..=2 {
        version.store(v, Ordering::SeqCst);
        let run = common::run(&ingester, Source::Dtm, &["MLI"], &[0, 1]).await;
        assert_eq!(run.status, "succeeded", "{:?}", run.error);
        let answer = figures(&common::graphql(&store.pool, QUERY).await);
        assert!(answer.len() >= 4, "the answer has the national and regional figures: {answer:?}");
        assert!(answer.iter().all(|n| n.rem_euclid(10) == v), "every figure is of version {v}: {answer:?}");
        expected.push(answer);
    }
    // The published figures, from the raw payloads: each answer shows them all, as version v.
    let published: std::collections::BTreeSet<i64> = MALI
        .iter()
        .flat_map(|(_, file)| {
            let payload: Value = serde_json::from_slice(&common::read(file)).expect("JSON");
            payload["result"]
                .as_array()
                .expect("rows")
                .iter()
                .filter_map(|r| r["numPresentIdpInd"].as_i64())
                .collect::<Vec<_>>()
        })
        .collect();
    let shown: std::collections::BTreeSet<i64> = expected[0].iter().map(|n| n / 10).collect();
    assert!(shown.is_subset(&published), "{shown:?} are published figures {published:?}");

    // Readers, while ingests alternate between the versions.
    let stop = Arc::new(AtomicBool::new(false));
    let expected = Arc::new(expected);
    let mut readers = Vec::new();
    for _ in 0..4 {
        let (pool, stop, expected) = (store.pool.clone(), stop.clone(), expected.clone());
        readers.push(tokio::spawn(async move {
            let (mut seen, mut mixed) = ([0usize; 2], Vec::new());
            while !stop.load(Ordering::SeqCst) {
                let answer = figures(&common::graphql(&pool, QUERY).await);
                match expected.iter().position(|e| *e == answer) {
                    Some(v) => seen[v] += 1,
                    None => mixed.push(answer),
                }
            }
            (seen, mixed)
        }));
    }
    let started = Instant::now();
    let mut runs = 0;
    while started.elapsed() < Duration::from_secs(6) {
        version.store(if runs % 2 == 0 { 1 } else { 2 }, Ordering::SeqCst);
        let run = common::run(&ingester, Source::Dtm, &["MLI"], &[0, 1]).await;
        assert_eq!(run.status, "succeeded", "{:?}", run.error);
        runs += 1;
    }
    stop.store(true, Ordering::SeqCst);
    let (mut seen, mut mixed) = ([0usize; 2], Vec::new());
    for reader in readers {
        let (s, m) = reader.await.expect("reader");
        seen[0] += s[0];
        seen[1] += s[1];
        mixed.extend(m);
    }
    assert!(runs >= 4, "only {runs} ingests ran");
    assert!(seen[0] > 0 && seen[1] > 0, "readers saw both versions: {seen:?} over {runs} runs");
    assert!(
        mixed.is_empty(),
        "{} of {} answers mixed two versions, e.g. {:?}",
        mixed.len(),
        seen[0] + seen[1] + mixed.len(),
        mixed.first()
    );
}

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

/// A request dropped mid-way (timeout, client gone) never finishes its snapshot explicitly: dropping
/// it must still end the transaction and give the connection and its permit back.
async fn a_dropped_snapshot_ends_its_transaction(backend: Backend) {
    let Some(store) = TestStore::new(backend).await else { return };
    let gate = store::SnapshotGate::new(store.pool.clone(), 1);
    let first = gate.begin();
    first.run(store::geography::all_countries).await.expect("the first snapshot reads");
    drop(first);
    let second = gate.begin();
    let read = tokio::time::timeout(Duration::from_secs(5), second.run(store::geography::all_countries)).await;
    assert!(read.expect("the permit came back").is_ok(), "the second snapshot reads");
    second.finish().await;
    if backend == Backend::Postgres {
        // No session of this database is left inside a transaction.
        let open = || async {
            store::with_conn(&store.pool, |c| {
                let sql = "SELECT COUNT(*) AS n FROM pg_stat_activity WHERE datname = current_database() \
                           AND pid <> pg_backend_pid() AND state LIKE 'idle in transaction%'";
                let store::AnyConnection::Postgresql(pg) = c else { return Ok(0) };
                Ok(diesel::RunQueryDsl::get_result::<Count>(diesel::sql_query(sql), pg)?.n)
            })
            .await
            .expect("pg_stat_activity")
        };
        let started = Instant::now();
        while open().await > 0 && started.elapsed() < Duration::from_secs(3) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(open().await, 0, "a snapshot's transaction outlived it");
    }
}

on_both_stores!(no_response_mixes_two_ingests, a_dropped_snapshot_ends_its_transaction);
