//! The table of IDP totals follows the figures: after an ingest, and after a re-ingest with changed
//! figures and a later round, every total and every latest-round flag equals what the raw payloads
//! served to the ingest say. Both stores.

mod common;

use std::collections::BTreeMap;

use common::{Backend, TestStore, fixture_server, ingester, mount_dtm, run};
use ingest::Source;
use serde_json::{Value, json};
use store::idps::IdpFilter;
use store::runs::status;
use store::with_conn;
use wiremock::{MockServer, ResponseTemplate};

on_both_stores!(totals_equal_the_sums_of_the_payloads_after_ingest_and_changed_reingest);

/// (level, area p-code, operation, round, reporting date, assessment type).
type TotalKey = (i32, String, String, i32, String, String);

/// The rows of a DTM payload.
fn rows_of(bytes: &[u8]) -> Vec<Value> {
    serde_json::from_slice::<Value>(bytes).expect("JSON")["result"].as_array().expect("rows").clone()
}

/// Sums of `numPresentIdpInd` per total key, straight from payload rows of one level.
fn sums(level: i32, rows: &[Value], out: &mut BTreeMap<TotalKey, i64>) {
    let text = |r: &Value, f: &str| r[f].as_str().unwrap_or_else(|| panic!("{f} in {r}")).trim().to_string();
    for r in rows {
        let pcode = match level {
            0 => text(r, "admin0Pcode").to_uppercase(),
            1 => text(r, "admin1Pcode"),
            _ => text(r, "admin2Pcode"),
        };
        let key = (
            level,
            pcode,
            text(r, "operation"),
            r["roundNumber"].as_i64().expect("round") as i32,
            text(r, "reportingDate")[..10].to_string(),
            text(r, "assessmentType"),
        );
        *out.entry(key).or_default() += r["numPresentIdpInd"].as_i64().expect("count");
    }
}

/// The totals whose round is the latest of their area and operation.
fn latest_only(all: &BTreeMap<TotalKey, i64>) -> BTreeMap<TotalKey, i64> {
    let mut latest: BTreeMap<(i32, String, String), i32> = BTreeMap::new();
    for (level, pcode, operation, round, _, _) in all.keys() {
        let entry = latest.entry((*level, pcode.clone(), operation.clone())).or_insert(*round);
        *entry = (*entry).max(*round);
    }
    all.iter()
        .filter(|((level, pcode, operation, round, _, _), _)| {
            latest.get(&(*level, pcode.clone(), operation.clone())) == Some(round)
        })
        .map(|(k, v)| (k.clone(), *v))
        .collect()
}

/// The stored totals of `iso3` (every level, or only the latest rounds).
async fn stored(store: &TestStore, iso3: &str, latest_round_only: bool) -> BTreeMap<TotalKey, i64> {
    let filter = IdpFilter { country_iso3: Some(iso3.into()), latest_round_only, ..IdpFilter::default() };
    let totals = with_conn(&store.pool, move |c| store::idps::idp_totals(c, &filter, None, 0)).await.expect("totals");
    let mut out = BTreeMap::new();
    for t in totals {
        let key = (
            t.admin_level,
            t.source_pcode,
            t.operation,
            t.round_number,
            t.reporting_date.format("%Y-%m-%d").to_string(),
            t.assessment_type,
        );
        let previous = out.insert(key.clone(), t.individuals);
        assert!(previous.is_none(), "{key:?} is stored twice");
    }
    out
}

/// The HTI payloads: levels 0 and 1 as published, level 2 given.
fn hti_payloads(admin2: &[Value]) -> BTreeMap<TotalKey, i64> {
    let mut out = BTreeMap::new();
    sums(0, &rows_of(&common::read("sample/dtm/v3/displacement-admin0-admin0pcode-hti.json")), &mut out);
    sums(1, &rows_of(&common::read("sample/dtm/v3/displacement-admin1-admin0pcode-hti.json")), &mut out);
    sums(2, admin2, &mut out);
    out
}

async fn totals_equal_the_sums_of_the_payloads_after_ingest_and_changed_reingest(backend: Backend) {
    let Some(store) = TestStore::new(backend).await else { return };
    let server = fixture_server().await;
    let first = ingester(&store, &server);
    assert_eq!(run(&first, Source::Geography, &["HTI", "TCD"], &[]).await.status, status::SUCCEEDED);
    let r = run(&first, Source::Dtm, &["HTI", "TCD"], &[0, 1, 2]).await;
    assert_eq!((r.status.as_str(), r.rejected), (status::SUCCEEDED, 0), "{:?}", r.error);

    let published = rows_of(&common::read("sample/dtm/v3/displacement-admin2-admin0pcode-hti.json"));
    let expected = hti_payloads(&published);
    assert!(expected.len() > 100, "the payloads hold many totals");
    assert_eq!(stored(&store, "HTI", false).await, expected);
    assert_eq!(stored(&store, "HTI", true).await, latest_only(&expected));
    let mut chad = BTreeMap::new();
    for (iso3, level, file) in common::DTM_FILES {
        if iso3 == "TCD" {
            sums(i32::from(level), &rows_of(&common::read(file)), &mut chad);
        }
    }
    assert_eq!(stored(&store, "TCD", false).await, chad);
    assert_eq!(stored(&store, "TCD", true).await, latest_only(&chad));

    // Haiti again: a third of the admin2 figures doubled, and 40 figures of a later round.
    let third = published.len() / 3;
    let mut changed: Vec<Value> = published.clone();
    for row in changed.iter_mut().take(third) {
        let n = row["numPresentIdpInd"].as_i64().expect("count");
        row["numPresentIdpInd"] = json!(n * 2);
    }
    for row in published.iter().take(40) {
        let mut later = row.clone();
        later["roundNumber"] = json!(row["roundNumber"].as_i64().expect("round") + 500);
        changed.push(later);
    }
    let mut envelope: Value =
        serde_json::from_slice(&common::read("sample/dtm/v3/displacement-admin2-admin0pcode-hti.json")).expect("JSON");
    envelope["result"] = Value::Array(changed.clone());
    let second_server = MockServer::start().await;
    for (iso3, level, file) in common::DTM_FILES {
        if iso3 == "HTI" && level < 2 {
            mount_dtm(&second_server, iso3, level, ResponseTemplate::new(200).set_body_bytes(common::read(file))).await;
        }
    }
    let body = serde_json::to_vec(&envelope).expect("JSON");
    mount_dtm(&second_server, "HTI", 2, ResponseTemplate::new(200).set_body_bytes(body)).await;
    let again = run(&ingester(&store, &second_server), Source::Dtm, &["HTI"], &[0, 1, 2]).await;
    assert_eq!(again.status, status::SUCCEEDED, "{:?}", again.error);
    assert_eq!(again.inserted, 40);
    assert!(again.updated > 0);

    let expected = hti_payloads(&changed);
    assert_eq!(stored(&store, "HTI", false).await, expected);
    let latest = latest_only(&expected);
    assert!(latest.keys().any(|(_, _, _, round, _, _)| *round > 500), "the later round is the latest");
    assert_eq!(stored(&store, "HTI", true).await, latest);
    assert_eq!(stored(&store, "TCD", false).await, chad, "other countries are untouched");

    // An unchanged re-ingest leaves the totals as they are.
    let unchanged = run(&ingester(&store, &second_server), Source::Dtm, &["HTI"], &[0, 1, 2]).await;
    assert_eq!((unchanged.inserted, unchanged.updated), (0, 0));
    assert_eq!(stored(&store, "HTI", false).await, expected);
}
