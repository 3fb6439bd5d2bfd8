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

on_both_stores!(
    kill_9_mid_write_leaves_the_store_as_before_and_the_next_run_completes,
    a_second_ingest_during_a_long_write_is_told_the_run_in_progress_and_nothing_overlaps,
);

/// Rows in the large answer: enough for the write to take a while, small enough for CI.
const ROWS: usize = 40_000;
/// Rows of an answer whose write outlasts a 2 s lease by several seconds in a debug build.
const LONG_WRITE_ROWS: usize = 120_000;
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
        limits: ingest::RowLimits::default(),
        webhooks: Vec::new(),
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
    if backend == Backend::Postgres {
        // Issue 16, point 10: the server stops the dead client's statement (it checks the client's
        // socket every 2 s) instead of running it to its end with its locks held.
        let killed = std::time::Instant::now();
        let pool = store.pool.clone();
        wait_for("the killed ingest's backend to stop writing", Duration::from_secs(30), || {
            let pool = pool.clone();
            async move { with_conn(&pool, |c| Ok(!writing_figures(c))).await.unwrap_or(false) }
        })
        .await;
        eprintln!("the orphaned backend stopped {:?} after kill -9", killed.elapsed());
        let interval = with_conn(&store.pool, |c| {
            #[derive(QueryableByName)]
            struct Setting {
                #[diesel(sql_type = diesel::sql_types::Text)]
                client_connection_check_interval: String,
            }
            Ok(diesel::sql_query("SHOW client_connection_check_interval").get_result::<Setting>(c)?)
        })
        .await
        .expect("setting");
        assert_eq!(interval.client_connection_check_interval, "2s", "every session checks for a vanished client");
    }

    assert_eq!(data_checksums(&store.pool).await, before, "a killed run left a trace in the data");
    let runs = with_conn(&store.pool, |c| store::runs::list_runs(c, Some("dtm"), 10, 0)).await.expect("runs");
    let dead = runs[0].clone();
    match backend {
        // The kernel freed the source's lock with the process: the run reads as interrupted at once.
        Backend::Sqlite => assert_eq!(dead.status, status::INTERRUPTED, "{dead:?}"),
        // Its lease row lives until it expires (2 s); then every reader sees it interrupted, before
        // anything is started again.
        Backend::Postgres => {
            let pool = store.pool.clone();
            wait_for("the dead run to read as interrupted", Duration::from_secs(30), || {
                let pool = pool.clone();
                async move {
                    with_conn(&pool, move |c| store::runs::find_run(c, dead.id))
                        .await
                        .is_ok_and(|r| r.status == status::INTERRUPTED)
                }
            })
            .await;
        }
    }

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

/// A store with Haiti's p-codes, a loopback server answering Haiti's admin2 with `rows` rows (real
/// rows over synthetic rounds), and an in-process ingester on them.
async fn large_answer(backend: Backend, rows: usize) -> Option<(TestStore, LoopbackServer, Ingester)> {
    let store = TestStore::new(backend).await?;
    let server = LoopbackServer::start().expect("loopback server");
    server.script(
        ingest::sources::geography::RESOURCE_PATH,
        vec![],
        Answer::Full(Arc::new(common::read(common::PCODES_FILE))),
    );
    let real = common::read(common::DTM_FILES[5].2);
    let big = crisisgraph_bench::synthetic::synthetic_response(&real, rows).expect("synthetic answer");
    server.script(ADMIN2, vec![], Answer::Full(Arc::new(big)));
    let config = IngestConfig {
        dtm_url: server.uri(),
        dtm_key: Some(common::DTM_KEY.into()),
        hdx_url: server.uri(),
        fts_url: server.uri(),
        countries: Vec::new(),
        fetch: FetchSettings { base_backoff: Duration::from_millis(10), ..FetchSettings::default() },
        lease: LeaseSettings { ttl: Duration::from_secs(2), heartbeat: Duration::from_millis(500) },
        limits: ingest::RowLimits::default(),
        webhooks: Vec::new(),
    };
    let local = Ingester::new(store.pool.clone(), config, FetchMode::Online).expect("ingester");
    let geo = local.run(Source::Geography, &common::options(&["HTI"], &[])).await.expect("geography");
    assert_eq!(geo.status, status::SUCCEEDED, "{:?}", geo.error);
    Some((store, server, local))
}

/// Waits until the ingest's data transaction is writing figures (see the crash test), seen twice in a row.
async fn wait_until_writing(store: &TestStore, backend: Backend) {
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
            if !writing {
                seen.store(0, std::sync::atomic::Ordering::SeqCst);
                return false;
            }
            seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1 >= 2
        }
    })
    .await;
}

/// Issue 16, points 1 and 9: while one `crisisgraph ingest dtm` holds its data transaction for longer
/// than its lease (`CRISISGRAPH_LEASE_SECONDS=2`), a second one is told at once which run is in
/// progress and exits non-zero, an API trigger and the scheduler's check get that run too, and the
/// first run ends `succeeded`: one run, never two, and no verdict overwritten. (On SQLite this used
/// to fail: the lease could not be renewed during the write, so the second CLI waited 10 s for the
/// database lock and failed, or took the expired lease over and ran alongside.)
async fn a_second_ingest_during_a_long_write_is_told_the_run_in_progress_and_nothing_overlaps(backend: Backend) {
    let Some((store, server, local)) = large_answer(backend, LONG_WRITE_ROWS).await else { return };
    let (url, base) = (store.url.clone(), server.uri());
    let ingest_command = move || {
        let mut command = crisisgraph(&url, &base, &["ingest", "dtm", "--country", "HTI", "--levels", "2"]);
        command.env("CRISISGRAPH_LEASE_SECONDS", "2");
        command
    };
    let mut first = Child::spawn(&mut ingest_command());
    wait_until_writing(&store, backend).await;
    // Longer than the lease: a lease that cannot be renewed during the write has expired by now.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(first.is_running(), "the first ingest ended before its lease could expire: raise LONG_WRITE_ROWS");
    let running = with_conn(&store.pool, |c| store::runs::list_runs(c, Some("dtm"), 10, 0)).await.expect("runs");
    assert_eq!(running.len(), 1, "{running:?}");
    let (run_id, first_started) = (running[0].id, running[0].started_at);
    assert_eq!(running[0].status, status::RUNNING, "a live run reads as running: {:?}", running[0]);

    let command = ingest_command.clone();
    let second = tokio::task::spawn_blocking(move || {
        command().stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).output()
    });
    let second = tokio::time::timeout(Duration::from_secs(60), second)
        .await
        .expect("the second ingest answers (it must not wait for the first)")
        .expect("joined")
        .expect("the second ingest ran");
    let stderr = String::from_utf8_lossy(&second.stderr);
    // Told at once: while the first run's data transaction still holds its locks (before, on SQLite,
    // the second waited for that transaction to end, or 10 s, whichever came first).
    let path = store.url.clone();
    let still_writing = with_conn(&store.pool, move |c| {
        Ok(match backend {
            Backend::Postgres => writing_figures(c),
            Backend::Sqlite => sqlite_writing_figures(c, &path),
        })
    })
    .await
    .expect("probe");
    assert!(still_writing, "the second ingest answered only after the first one's write: {stderr}");
    let told = std::time::Instant::now();
    assert!(first.is_running(), "the first ingest ended before the second was told: raise LONG_WRITE_ROWS");
    assert_eq!(second.status.code(), Some(3), "non-zero, 'already running': {stderr}");
    assert!(stderr.contains(&format!("dtm is already running (run {run_id}")), "{stderr}");

    let coordinator = ingest::Coordinator::new(local.clone());
    let triggered = coordinator.trigger(Source::Dtm, common::options(&["HTI"], &[2])).await.expect("trigger");
    assert!(
        matches!(&triggered, store::leases::StartOutcome::AlreadyRunning(run) if run.id == run_id),
        "an API trigger gets the run in progress: {triggered:?}"
    );
    let scheduled = with_conn(&store.pool, |c| store::leases::running_run(c, "dtm")).await.expect("running run");
    assert_eq!(scheduled.map(|r| r.id), Some(run_id), "the scheduler sees the run in progress");

    let status_of_first = tokio::task::spawn_blocking(move || first.0.wait()).await.expect("joined").expect("wait");
    eprintln!("the first ingest ran on for {:?} after the second was told", told.elapsed());
    assert!(status_of_first.success(), "the first ingest succeeds");
    let runs = with_conn(&store.pool, |c| store::runs::list_runs(c, Some("dtm"), 10, 0)).await.expect("runs");
    assert_eq!(runs.len(), 1, "exactly one run of dtm: {runs:?}");
    assert_eq!((runs[0].id, runs[0].started_at), (run_id, first_started));
    assert_eq!(runs[0].status, status::SUCCEEDED, "{:?}", runs[0].error);
    assert_eq!(runs[0].inserted + runs[0].rejected, LONG_WRITE_ROWS as i64);
}
