//! Crash: `kill -9` of `crisisgraph ingest dtm` in the middle of writing a large DTM answer (real
//! Haiti admin2 rows repeated over synthetic rounds), on both stores. The data tables are exactly as
//! before the run (checksums), the dead run is marked interrupted once its lease expires, and the next
//! run completes. The release-sized version (1,000,000 rows) is scripts/crash.sh.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::checksum::data_checksums;
use common::process::{Child, crisisgraph, wait_for};
use common::{Backend, TestStore};
use crisisgraph_bench::loopback::{Answer, LoopbackServer};
use diesel::sql_types::BigInt;
use diesel::{QueryableByName, RunQueryDsl};
use ingest::{FetchMode, FetchSettings, IngestConfig, Ingester, LeaseSettings, Source};
use store::runs::status;
use store::{AnyConnection, with_conn};

on_both_stores!(kill_9_mid_write_leaves_the_store_as_before_and_the_next_run_completes);

/// Rows in the large answer: enough for the write to take a while, small enough for CI.
const ROWS: usize = 40_000;
const ADMIN2: &str = "/v3/displacement/admin2?Admin0Pcode=HTI";

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// Is a transaction of another connection writing IDP figures right now (staging or the table)?
fn writing_figures(conn: &mut AnyConnection) -> bool {
    let sql = "SELECT COUNT(*) AS n FROM pg_stat_activity WHERE datname = current_database() \
               AND pid <> pg_backend_pid() AND backend_xid IS NOT NULL \
               AND (query LIKE '%idp_staging%' OR query LIKE '%idp_figures%')";
    diesel::sql_query(sql).get_result::<Count>(conn).is_ok_and(|c| c.n > 0)
}

/// On SQLite: the run has fetched (and archived) its answer, and a transaction holds the write lock
/// right now: that is the run's data transaction (the archive's own transaction ended with the fetch log).
fn sqlite_writing_figures(conn: &mut AnyConnection, path: &str) -> bool {
    let fetched = diesel::sql_query(
        "SELECT COUNT(*) AS n FROM fetches f JOIN ingest_runs r ON r.id = f.run_id \
         WHERE r.status = 'running' AND f.http_status = 200 AND f.url LIKE '%admin2%'",
    )
    .get_result::<Count>(conn)
    .is_ok_and(|c| c.n > 0);
    if !fetched {
        return false;
    }
    use diesel::Connection;
    use diesel::connection::SimpleConnection;
    let Ok(mut probe) = diesel::SqliteConnection::establish(path) else { return false };
    match probe.batch_execute("PRAGMA busy_timeout = 0; BEGIN IMMEDIATE;") {
        Ok(()) => {
            let _ = probe.batch_execute("ROLLBACK");
            false
        }
        Err(_) => true,
    }
}

async fn kill_9_mid_write_leaves_the_store_as_before_and_the_next_run_completes(backend: Backend) {
    let Some(store) = TestStore::new(backend).await else { return };
    let server = LoopbackServer::start().expect("loopback server");
    server.script(
        ingest::sources::geography::RESOURCE_PATH,
        vec![],
        Answer::Full(Arc::new(common::read(common::PCODES_FILE))),
    );
    let real = common::read(common::DTM_FILES[5].2);
    server.script(ADMIN2, vec![], Answer::Full(Arc::new(real.clone())));
    let config = IngestConfig {
        dtm_url: server.uri(),
        dtm_key: Some(common::DTM_KEY.into()),
        hdx_url: server.uri(),
        fts_url: server.uri(),
        countries: Vec::new(),
        fetch: FetchSettings { base_backoff: Duration::from_millis(10), ..FetchSettings::default() },
        lease: LeaseSettings { ttl: Duration::from_secs(2), heartbeat: Duration::from_millis(500) },
    };
    let local = Ingester::new(store.pool.clone(), config, FetchMode::Online).expect("ingester");
    for (source, levels) in [(Source::Geography, vec![]), (Source::Dtm, vec![2])] {
        let run = local.run(source, &common::options(&["HTI"], &levels)).await.expect("baseline run");
        assert_eq!(run.status, status::SUCCEEDED, "{:?}", run.error);
    }
    let before = data_checksums(&store.pool).await;

    let big = crisisgraph_bench::synthetic::synthetic_response(&real, ROWS).expect("synthetic answer");
    server.script(ADMIN2, vec![], Answer::Full(Arc::new(big)));
    let mut child = Child::spawn(
        crisisgraph(&store.url, &server.uri(), &["ingest", "dtm", "--country", "HTI", "--levels", "2"])
            .env("CRISISGRAPH_LEASE_SECONDS", "2"),
    );
    // Halfway: PostgreSQL shows the run's transaction writing figures; on SQLite the answer has been
    // fetched and archived and the run's data transaction holds the write lock.
    // Seen twice in a row (100 ms apart), so that a heartbeat's millisecond write is not mistaken for it.
    let pool = store.pool.clone();
    let seen = Arc::new(std::sync::atomic::AtomicU32::new(0));
    wait_for("the ingest to be writing figures", Duration::from_secs(120), || {
        let (pool, path, seen) = (pool.clone(), store.url.clone(), seen.clone());
        async move {
            let writing = with_conn(&pool, move |c| {
                Ok(match backend {
                    Backend::Postgres => writing_figures(c),
                    Backend::Sqlite => sqlite_writing_figures(c, &path),
                })
            })
            .await
            .unwrap_or(false);
            let streak = if writing { seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1 } else { 0 };
            if !writing {
                seen.store(0, std::sync::atomic::Ordering::SeqCst);
            }
            streak >= 2
        }
    })
    .await;
    assert!(child.is_running(), "the ingest finished before it could be killed");
    child.kill9();

    assert_eq!(data_checksums(&store.pool).await, before, "a killed run left a trace in the data");
    let runs = with_conn(&store.pool, |c| store::runs::list_runs(c, Some("dtm"), 10, 0)).await.expect("runs");
    let dead = runs[0].clone();
    assert_eq!(dead.status, status::RUNNING, "the dead run still looks alive until its lease expires");

    tokio::time::sleep(Duration::from_millis(2500)).await;
    let next = local.run(Source::Dtm, &common::options(&["HTI"], &[2])).await.expect("next run");
    assert_ne!(next.id, dead.id);
    assert_eq!(next.status, status::SUCCEEDED, "{:?}", next.error);
    assert_eq!(next.fetched, ROWS as i64);
    assert_eq!(next.inserted + next.unchanged + next.rejected, ROWS as i64);
    let id = dead.id;
    let dead = with_conn(&store.pool, move |c| store::runs::find_run(c, id)).await.expect("dead run");
    assert_eq!(dead.status, status::INTERRUPTED, "{dead:?}");
    let figures = with_conn(&store.pool, store::idps::count_figures).await.expect("count");
    assert_eq!(figures, ROWS as i64 - next.rejected, "every valid row of the large answer is stored once");
}
