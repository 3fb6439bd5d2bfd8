//! Skipping unchanged DTM payloads: a run whose payloads are byte for byte those the last committed run
//! applied for the country, while the country's areas did not change, skips parsing and writing and
//! reports the counts a full unchanged run would. A geography change or a changed payload means a full
//! run. Counts are computed from the raw fixture files; both stores.

mod common;

use common::{Backend, TestStore, config_for, mount_dtm};
use ingest::{FetchMode, Ingester, Source};
use serde_json::Value;
use store::models::IngestRun;
use store::runs::status;
use store::with_conn;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

on_both_stores!(
    unchanged_payloads_are_skipped_until_the_areas_or_the_payload_change,
    old_rejected_rows_go_after_the_retention_except_those_of_payloads_still_applied,
);

const ADMIN1: &str = "sample/dtm/v3/displacement-admin1-admin0pcode-hti.json";
const ADMIN2: &str = "sample/dtm/v3/displacement-admin2-admin0pcode-hti.json";

/// Serves the p-code list and Haiti's admin1 and admin2 answers (replacing what was served before).
async fn serve(server: &MockServer, pcodes: Vec<u8>, admin2: Vec<u8>) {
    server.reset().await;
    Mock::given(method("GET"))
        .and(path(ingest::sources::geography::RESOURCE_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(pcodes))
        .mount(server)
        .await;
    mount_dtm(server, "HTI", 1, ResponseTemplate::new(200).set_body_bytes(common::read(ADMIN1))).await;
    mount_dtm(server, "HTI", 2, ResponseTemplate::new(200).set_body_bytes(admin2)).await;
}

fn rows_of(body: &[u8]) -> Vec<Value> {
    serde_json::from_slice::<Value>(body).expect("JSON")["result"].as_array().expect("rows").clone()
}

/// (fetched, inserted, updated, unchanged, rejected) of a run.
fn counts(run: &IngestRun) -> (i64, i64, i64, i64, i64) {
    (run.fetched, run.inserted, run.updated, run.unchanged, run.rejected)
}

/// Rejected rows stored, of every run.
async fn stored_rejected_rows(store: &TestStore) -> i64 {
    use diesel::prelude::*;
    with_conn(&store.pool, |c| Ok(store::schema::rejected_rows::table.count().get_result::<i64>(c)?))
        .await
        .expect("count")
}

/// Haiti's admin2 answer with one bad row (count `bad`) added.
fn with_bad_row(admin2: &[u8], bad: i64) -> Vec<u8> {
    let mut rows = rows_of(admin2);
    let mut extra = rows[1].clone();
    extra["numPresentIdpInd"] = Value::from(bad);
    rows.push(extra);
    serde_json::to_vec(&serde_json::json!({"result": rows, "isSuccess": true})).expect("JSON")
}

/// Issue 16, point 6: with a retention of 30 days, the rejected rows of runs finished longer ago are
/// deleted at the end of the next run, except those of the payloads still applied (the data in the
/// store rests on them, and runs that skipped those payloads point at them).
async fn old_rejected_rows_go_after_the_retention_except_those_of_payloads_still_applied(backend: Backend) {
    use diesel::prelude::*;
    use store::schema::{ingest_runs, rejected_rows};
    let Some(store) = TestStore::new(backend).await else { return };
    let server = MockServer::start().await;
    let admin2 = common::read(ADMIN2);
    serve(&server, common::read(common::PCODES_FILE), with_bad_row(&admin2, -1)).await;
    let limits = ingest::RowLimits {
        rejected_retention: Some(std::time::Duration::from_secs(30 * 24 * 3600)),
        ..ingest::RowLimits::default()
    };
    let ingester =
        Ingester::new(store.pool.clone(), ingest::IngestConfig { limits, ..config_for(&server) }, FetchMode::Online)
            .expect("ingester");
    let options = common::options(&["HTI"], &[1, 2]);
    ingester.run(Source::Geography, &common::options(&["HTI"], &[])).await.expect("geography");
    let superseded = ingester.run(Source::Dtm, &options).await.expect("first run");
    serve(&server, common::read(common::PCODES_FILE), with_bad_row(&admin2, -2)).await;
    let applied = ingester.run(Source::Dtm, &options).await.expect("second run");
    assert_eq!((superseded.rejected, applied.rejected), (1, 1));
    // Both finished 100 days ago.
    let long_ago = store::now_utc() - chrono::Duration::days(100);
    let ids = [superseded.id, applied.id];
    with_conn(&store.pool, move |c| {
        Ok(diesel::update(ingest_runs::table.filter(ingest_runs::id.eq_any(ids)))
            .set(ingest_runs::finished_at.eq(Some(long_ago)))
            .execute(c)?)
    })
    .await
    .expect("aged");

    let skipping = ingester.run(Source::Dtm, &options).await.expect("third run");
    assert_eq!((skipping.inserted + skipping.updated, skipping.rejected), (0, 1), "{skipping:?}");
    let left: Vec<i64> = with_conn(&store.pool, |c| {
        Ok(rejected_rows::table.select(rejected_rows::run_id).order(rejected_rows::id).load(c)?)
    })
    .await
    .expect("rows");
    assert_eq!(left, vec![applied.id], "the superseded run's row went; the applied payload's stayed");
    let id = skipping.id;
    let shown = with_conn(&store.pool, move |c| store::runs::rejected_rows_of_run(c, id, 10)).await.expect("shown");
    assert_eq!(shown.len(), 1);
    assert!(shown[0].reason.contains("negative (-2)"), "{}", shown[0].reason);
}

/// The run that last applied each Haiti DTM payload, by URL.
async fn applied_by(store: &TestStore) -> Vec<(String, i64)> {
    let mut applied = with_conn(&store.pool, |c| store::provenance::applied_payloads(c, "dtm", "HTI"))
        .await
        .expect("applied payloads")
        .into_iter()
        .map(|a| (a.url, a.run_id))
        .collect::<Vec<_>>();
    applied.sort();
    applied
}

async fn unchanged_payloads_are_skipped_until_the_areas_or_the_payload_change(backend: Backend) {
    let Some(store) = TestStore::new(backend).await else { return };
    let server = MockServer::start().await;
    let pcodes = common::read(common::PCODES_FILE);
    let admin2 = common::read(ADMIN2);
    serve(&server, pcodes.clone(), admin2.clone()).await;
    let ingester = Ingester::new(store.pool.clone(), config_for(&server), FetchMode::Online).expect("ingester");
    let options = common::options(&["HTI"], &[1, 2]);
    let dtm = || ingester.run(Source::Dtm, &options);
    let rows = (rows_of(&common::read(ADMIN1)).len() + rows_of(&admin2).len()) as i64;

    let geo = ingester.run(Source::Geography, &common::options(&["HTI"], &[])).await.expect("geography");
    assert_eq!(geo.status, status::SUCCEEDED, "{:?}", geo.error);
    let first = dtm().await.expect("first run");
    assert_eq!(first.status, status::SUCCEEDED, "{:?}", first.error);
    assert_eq!(counts(&first), (rows, rows, 0, 0, 0));
    let snapshot = common::figure_snapshot(&store.pool).await;
    let applied = applied_by(&store).await;
    assert_eq!(applied.len(), 2, "one applied record per level");
    assert!(applied.iter().all(|(_, run)| *run == first.id), "{applied:?}");
    let urls: Vec<String> = applied.into_iter().map(|(url, _)| url).collect();

    // Same bytes, same areas: skipped (the applied records still name the first run), same counts as
    // a full unchanged run, nothing written.
    let second = dtm().await.expect("second run");
    assert_eq!(second.status, status::SUCCEEDED, "{:?}", second.error);
    assert_eq!(counts(&second), (rows, 0, 0, rows, 0));
    assert_eq!(applied_by(&store).await, urls.iter().map(|u| (u.clone(), first.id)).collect::<Vec<_>>());
    assert_eq!(common::figure_snapshot(&store.pool).await, snapshot);

    // The geography changes (an area renamed): the same bytes are parsed and written again.
    let text = String::from_utf8(pcodes).expect("UTF-8");
    assert!(text.contains("HTI,2,HT0111,Port-au-Prince,"));
    let renamed = text.replace("HTI,2,HT0111,Port-au-Prince,", "HTI,2,HT0111,Port-au-Prince (commune),");
    serve(&server, renamed.into_bytes(), admin2.clone()).await;
    let geo = ingester.run(Source::Geography, &common::options(&["HTI"], &[])).await.expect("geography");
    assert_eq!(geo.updated, 1, "{geo:?}");
    let third = dtm().await.expect("third run");
    assert_eq!(counts(&third), (rows, 0, 0, rows, 0));
    assert_eq!(applied_by(&store).await, urls.iter().map(|u| (u.clone(), third.id)).collect::<Vec<_>>());

    // A changed admin2 answer (one figure changed, one bad row added): not skipped.
    let mut changed = rows_of(&admin2);
    let old = changed[0]["numPresentIdpInd"].as_i64().expect("a count");
    changed[0]["numPresentIdpInd"] = Value::from(old + 7);
    let mut bad = changed[1].clone();
    bad["numPresentIdpInd"] = Value::from(-1);
    changed.push(bad);
    let body = serde_json::to_vec(&serde_json::json!({"result": changed, "isSuccess": true})).expect("JSON");
    // The p-code list goes back to the original here; only the next geography run will see it.
    serve(&server, common::read(common::PCODES_FILE), body).await;
    let fourth = dtm().await.expect("fourth run");
    assert_eq!(counts(&fourth), (rows + 1, 0, 1, rows - 1, 1));
    let applied = applied_by(&store).await;
    assert!(applied.iter().any(|(url, run)| url.contains("admin2") && *run == fourth.id), "{applied:?}");
    assert!(applied.iter().any(|(url, run)| url.contains("admin1") && *run == fourth.id), "{applied:?}");

    // The same changed answer again: skipped, its rejection reported again for the new run.
    let fifth = dtm().await.expect("fifth run");
    assert_eq!(counts(&fifth), (rows + 1, 0, 0, rows, 1));
    assert!(applied_by(&store).await.iter().all(|(_, run)| *run == fourth.id), "skipped: nothing re-applied");
    let fifth_id = fifth.id;
    let rejected =
        with_conn(&store.pool, move |c| store::runs::rejected_rows_of_run(c, fifth_id, 10)).await.expect("rejections");
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0].row_number, rows_of(&admin2).len() as i64 + 1);
    assert!(rejected[0].reason.contains("negative"), "{}", rejected[0].reason);
    // Issue 16, point 6: the skipping run points at the fourth run's rejected row; it is stored once.
    assert_eq!(stored_rejected_rows(&store).await, 1, "an unchanged re-run stored its rejected rows again");

    // A dry run records nothing as applied.
    let geo = ingester.run(Source::Geography, &common::options(&["HTI"], &[])).await.expect("geography");
    assert_eq!(geo.updated, 1, "the rename is undone");
    let dry = ingester
        .run(Source::Dtm, &ingest::RunOptions { dry_run: true, ..common::options(&["HTI"], &[1, 2]) })
        .await
        .expect("dry run");
    assert_eq!(counts(&dry), (rows + 1, 0, 0, rows, 1));
    assert!(applied_by(&store).await.iter().all(|(_, run)| *run == fourth.id), "a dry run applies nothing");
}
