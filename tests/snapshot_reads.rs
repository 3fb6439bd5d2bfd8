//! One GraphQL request reads one snapshot of the store: a query whose answer comes from several
//! statements (a direct query and two loader batches), run while ingests keep replacing every figure
//! with another version, never shows figures of two versions at once.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::{Duration, Instant};

use common::{Backend, TestStore};
use diesel::Connection as _;
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

/// A snapshot takes its connection without the pool's ping (its BEGIN is the check): a pooled
/// connection whose session the server ended (a restart, `pg_terminate_backend`, an idle timeout)
/// must be dropped and replaced unseen, not fail the request that drew it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_pooled_connection_the_server_ended_is_replaced_unseen() {
    let Some(store) = TestStore::new(Backend::Postgres).await else { return };
    const HELD: usize = 4;
    let gate = store::SnapshotGate::new(store.pool.clone(), HELD);
    // Four snapshots open at once leave four idle connections in the pool when they finish.
    let snapshots: Vec<_> = (0..HELD).map(|_| gate.begin()).collect();
    for snapshot in &snapshots {
        snapshot.run(store::geography::all_countries).await.expect("a snapshot reads");
    }
    for snapshot in &snapshots {
        snapshot.finish().await;
    }
    let mut admin = diesel::PgConnection::establish(&store.url).expect("a session of our own");
    let ended = diesel::RunQueryDsl::get_result::<Count>(
        diesel::sql_query(
            "SELECT COUNT(pg_terminate_backend(pid)) AS n FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
        ),
        &mut admin,
    )
    .expect("pg_terminate_backend")
    .n;
    assert!(ended >= HELD as i64, "the pool held {ended} sessions, not the {HELD} idle ones expected");
    // Every connection the pool holds is now dead: reads one after the other and side by side all
    // get an answer.
    for _ in 0..HELD {
        let snapshot = gate.begin();
        let read = snapshot.run(store::geography::all_countries).await;
        assert!(read.is_ok(), "a read drew a dead connection and failed: {:?}", read.err());
        snapshot.finish().await;
    }
    let side_by_side = (0..HELD).map(|_| {
        let snapshot = gate.begin();
        async move {
            let read = snapshot.run(store::geography::all_countries).await;
            snapshot.finish().await;
            read
        }
    });
    for read in futures_util::future::join_all(side_by_side).await {
        assert!(read.is_ok(), "a read failed after the sessions were ended: {:?}", read.err());
    }
}

/// Runs the `crisisgraph` CLI to its end; fails the test unless it succeeds.
fn cli(database_url: &str, base: &str, args: &[&str]) {
    let output = common::process::crisisgraph(database_url, base, args)
        .stderr(std::process::Stdio::piped())
        .output()
        .expect("crisisgraph runs");
    assert!(output.status.success(), "crisisgraph {args:?}: {}", String::from_utf8_lossy(&output.stderr));
}

/// The value of one line of `/metrics` (`name{labels}`), 0 when absent.
async fn metric(client: &reqwest::Client, base: &str, series: &str) -> f64 {
    let text = client.get(format!("{base}/metrics")).send().await.expect("/metrics").text().await.expect("body");
    text.lines()
        .find_map(|line| line.strip_prefix(series).and_then(|rest| rest.strip_prefix(' ')))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or(0.0)
}

/// Read snapshots opened on the replicas (both), and on the primary.
async fn reads(client: &reqwest::Client, base: &str) -> (f64, f64) {
    let replica1 = metric(client, base, r#"crisisgraph_read_snapshots_total{target="replica1"}"#).await;
    let replica2 = metric(client, base, r#"crisisgraph_read_snapshots_total{target="replica2"}"#).await;
    (replica1 + replica2, metric(client, base, r#"crisisgraph_read_snapshots_total{target="primary"}"#).await)
}

/// The figures the server answers `QUERY` with; fails the test on an error.
async fn served_figures(client: &reqwest::Client, base: &str) -> Vec<i64> {
    let body: Value = client
        .post(format!("{base}/graphql"))
        .json(&serde_json::json!({ "query": QUERY }))
        .send()
        .await
        .expect("the server answers")
        .json()
        .await
        .expect("JSON");
    assert!(body["errors"].is_null(), "{body}");
    figures(&body["data"])
}

/// Ingests DTM version `v` with the CLI (another process: the server hears of it by NOTIFY), then
/// waits until the server has heard the commit's LSN.
async fn ingest_version(version: &AtomicI64, v: i64, (url, mock): (&str, &str), client: &reqwest::Client, base: &str) {
    let heard = metric(client, base, "crisisgraph_read_newest_commit_lsn").await;
    version.store(v, Ordering::SeqCst);
    cli(url, mock, &["ingest", "dtm", "--country", "MLI", "--levels", "0,1"]);
    common::process::wait_for("the server to hear of the ingest", Duration::from_secs(30), || async {
        metric(client, base, "crisisgraph_read_newest_commit_lsn").await > heard
    })
    .await;
}

/// Read replicas (two PostgreSQL streaming standbys this test starts on loopback): GraphQL and export
/// reads go to them; the request right after an ingest sees it (the read waits for a replica that
/// replayed its commit); with replay paused, reads fall back to the primary after the bound and still
/// see it, and return to the replicas once replay resumes; with a standby stopped, and then both,
/// requests still answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn read_replicas_answer_and_are_never_older_than_the_last_ingest() {
    use crisisgraph_bench::standby::Cluster;
    if common::postgres_url().is_none() {
        return;
    }
    let _ = rustls::crypto::ring::default_provider().install_default();
    let Some(primary) = Cluster::primary().expect("a throwaway primary starts") else {
        eprintln!("NOT RUN: the PostgreSQL server programs (initdb, pg_basebackup) are not installed");
        return;
    };
    let mut standbys: Vec<Cluster> = (0..2)
        .map(|_| Cluster::standby_of(primary.port()).expect("a standby starts").expect("pg_basebackup is there"))
        .collect();
    let version = Arc::new(AtomicI64::new(1));
    let mock = versioned_server(version.clone()).await;
    let url = primary.url("postgres");
    cli(&url, &mock.uri(), &["ingest", "geography", "--country", "MLI"]);
    cli(&url, &mock.uri(), &["ingest", "dtm", "--country", "MLI", "--levels", "0,1"]);

    let port = common::process::free_port();
    let base = format!("http://127.0.0.1:{port}");
    let replicas = standbys.iter().map(|s| s.url("postgres")).collect::<Vec<_>>().join(",");
    let log = primary.dir().join("serve.log");
    let _serve = common::process::Child::spawn(
        common::process::crisisgraph(
            &url,
            &mock.uri(),
            &["serve", "--no-scheduler", "--bind", &format!("127.0.0.1:{port}")],
        )
        .env("CRISISGRAPH_READ_DATABASE_URL", &replicas)
        .env("CRISISGRAPH_READ_REPLICA_MAX_WAIT_MS", "1000")
        .stderr(std::fs::File::create(&log).expect("log file")),
    );
    let client = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().expect("client");
    common::process::wait_for("serve to be ready", Duration::from_secs(60), || async {
        client.get(format!("{base}/readyz")).send().await.is_ok_and(|r| r.status().is_success())
    })
    .await;

    // From the replicas, in turn.
    for _ in 0..4 {
        let answer = served_figures(&client, &base).await;
        assert!(answer.len() >= 4 && answer.iter().all(|n| n.rem_euclid(10) == 1), "{answer:?}");
    }
    let replica1 = metric(&client, &base, r#"crisisgraph_read_snapshots_total{target="replica1"}"#).await;
    let replica2 = metric(&client, &base, r#"crisisgraph_read_snapshots_total{target="replica2"}"#).await;
    assert!(replica1 >= 1.0 && replica2 >= 1.0, "both replicas answered: {replica1} and {replica2}");
    let (on_replicas, _) = reads(&client, &base).await;
    let csv = client.get(format!("{base}/export/idps.csv?country=MLI")).send().await.expect("export");
    assert!(csv.status().is_success());
    assert!(csv.text().await.expect("CSV").lines().count() > 4);
    assert!(reads(&client, &base).await.0 > on_replicas, "the export read on a replica");

    // The very next request after an ingest sees it.
    let origin = (url.as_str(), mock.uri());
    for v in [2, 1, 2] {
        ingest_version(&version, v, (origin.0, &origin.1), &client, &base).await;
        let answer = served_figures(&client, &base).await;
        assert!(answer.iter().all(|n| n.rem_euclid(10) == v), "version {v} right after its ingest: {answer:?}");
    }
    let (on_replicas, on_primary) = reads(&client, &base).await;
    eprintln!("read replicas: {on_replicas} reads on the replicas, {on_primary} on the primary so far");
    assert!(on_replicas > on_primary, "{on_replicas} replica reads vs {on_primary} on the primary");

    // Replay paused: the replicas hold version 2; the request after the ingest of 1 still sees 1,
    // from the primary after the bound.
    let written = primary.sql("SELECT pg_current_wal_lsn()").expect("the primary's WAL position");
    for standby in &standbys {
        let caught_up = format!("SELECT pg_last_wal_replay_lsn() >= '{written}'::pg_lsn");
        common::process::wait_for("the standby to replay version 2", Duration::from_secs(30), || async {
            standby.sql(&caught_up).is_ok_and(|t| t == "t")
        })
        .await;
        standby.sql("SELECT pg_wal_replay_pause()").expect("pause replay");
    }
    let lag_before = metric(&client, &base, r#"crisisgraph_read_replica_fallbacks_total{reason="lag"}"#).await;
    let primary_before = reads(&client, &base).await.1;
    ingest_version(&version, 1, (origin.0, &origin.1), &client, &base).await;
    let stale = standbys[0]
        .sql("SELECT COUNT(*) FROM idp_figures WHERE individuals % 10 = 1")
        .expect("the paused standby answers");
    assert_eq!(stale, "0", "the paused standby still holds version 2 only");
    let answer = served_figures(&client, &base).await;
    assert!(answer.iter().all(|n| n.rem_euclid(10) == 1), "the new version despite paused replicas: {answer:?}");
    let lag_after = metric(&client, &base, r#"crisisgraph_read_replica_fallbacks_total{reason="lag"}"#).await;
    assert!(lag_after > lag_before, "the fallback is counted: {lag_before} -> {lag_after}");
    assert!(reads(&client, &base).await.1 > primary_before, "the read went to the primary");

    // Resumed: reads return to the replicas.
    for standby in &standbys {
        standby.sql("SELECT pg_wal_replay_resume()").expect("resume replay");
    }
    let on_replicas = reads(&client, &base).await.0;
    let answer = served_figures(&client, &base).await;
    assert!(answer.iter().all(|n| n.rem_euclid(10) == 1), "{answer:?}");
    common::process::wait_for("reads to return to the replicas", Duration::from_secs(10), || async {
        let answer = served_figures(&client, &base).await;
        assert!(answer.iter().all(|n| n.rem_euclid(10) == 1), "{answer:?}");
        reads(&client, &base).await.0 > on_replicas
    })
    .await;

    // One standby stopped mid-test, then both: every request still answers, with the newest data.
    standbys[1].stop();
    for _ in 0..6 {
        let answer = served_figures(&client, &base).await;
        assert!(answer.iter().all(|n| n.rem_euclid(10) == 1), "{answer:?}");
    }
    let on_replicas = reads(&client, &base).await.0;
    for _ in 0..4 {
        served_figures(&client, &base).await;
    }
    assert!(reads(&client, &base).await.0 > on_replicas, "the other replica goes on answering");
    assert_eq!(metric(&client, &base, r#"crisisgraph_read_replica_up{target="replica2"}"#).await, 0.0);
    standbys[0].stop();
    for _ in 0..4 {
        let answer = served_figures(&client, &base).await;
        assert!(answer.iter().all(|n| n.rem_euclid(10) == 1), "{answer:?}");
    }
    let down = metric(&client, &base, r#"crisisgraph_read_replica_fallbacks_total{reason="down"}"#).await;
    assert!(down >= 1.0, "reads without a replica are counted as fallbacks: {down}");
}
