//! Aggregates on both stores, checked against figures computed from the payload files: Haiti's
//! admin-1 totals rolled up from admin 2 equal DTM's own admin-1 figures; the latest-round rule;
//! Mali's national series; IDPs per population with its comparability rule; appeal coverage.

mod common;

use std::collections::BTreeMap;

use common::{Backend, TestStore, fixture_server, graphql, ingester, options};
use ingest::Source;
use serde_json::Value;

on_both_stores!(
    haiti_admin1_rolled_up_from_admin2_equals_dtms_admin1_figures,
    latest_round_series_share_and_coverage_for_mali,
    an_absurd_count_is_rejected_and_haitis_totals_still_add_up,
);

/// (admin1 p-code as DTM sends it, operation, round, date, assessment type) → IDPs, from a file.
fn sums(file: &str) -> BTreeMap<(String, String, i64, String, String), i64> {
    sums_of(&common::read(file), &[])
}

/// As [`sums`], of a DTM answer's bytes, leaving out the rows at `skip` (0-based).
fn sums_of(bytes: &[u8], skip: &[usize]) -> BTreeMap<(String, String, i64, String, String), i64> {
    let body: Value = serde_json::from_slice(bytes).expect("JSON");
    let mut out = BTreeMap::new();
    for (i, r) in body["result"].as_array().expect("rows").iter().enumerate() {
        if skip.contains(&i) {
            continue;
        }
        let key = (
            r["admin1Pcode"].as_str().expect("pcode").to_string(),
            r["operation"].as_str().expect("operation").to_string(),
            r["roundNumber"].as_i64().expect("round"),
            r["reportingDate"].as_str().expect("date")[..10].to_string(),
            r["assessmentType"].as_str().expect("type").to_string(),
        );
        *out.entry(key).or_insert(0) += r["numPresentIdpInd"].as_i64().expect("n");
    }
    out
}

async fn totals_for(pool: &store::DbPool, key: &(String, String, i64, String, String)) -> Value {
    let (pcode, operation, round, _, kind) = key;
    let query = format!(
        r#"{{ adminArea(pcode: "{pcode}") {{ idpTotals(operation: "{operation}", round: {round}, assessmentType: "{kind}") {{
            individuals method roundRule reportingDate levelUsed areasCounted areasAtLevel dataset {{ credit }} }} }} }}"#
    );
    graphql(pool, &query).await["adminArea"]["idpTotals"].clone()
}

async fn haiti_admin1_rolled_up_from_admin2_equals_dtms_admin1_figures(backend: Backend) {
    let Some(store) = TestStore::new(backend).await else { return };
    let server = fixture_server().await;
    let ingester = ingester(&store, &server);
    ingester.run(Source::Geography, &options(&["HTI"], &[])).await.expect("geography");
    // Only the admin-2 figures: every admin-1 total must be rolled up.
    ingester.run(Source::Dtm, &options(&["HTI"], &[2])).await.expect("admin 2");
    let admin1 = sums("sample/dtm/v3/displacement-admin1-admin0pcode-hti.json");
    assert!(admin1.len() > 100);
    for key in admin1.keys().step_by(7) {
        let totals = totals_for(&store.pool, key).await;
        assert_eq!(totals.as_array().map(Vec::len), Some(1), "{key:?}: {totals}");
        let t = &totals[0];
        assert_eq!(t["method"], "SUMMED_FROM_CHILDREN", "{key:?}");
        assert_eq!(t["levelUsed"], 2);
        assert_eq!(
            t["individuals"].as_i64(),
            Some(admin1[key]),
            "{key:?}: the roll-up equals DTM's own admin-1 figure"
        );
        assert_eq!(t["reportingDate"].as_str(), Some(key.3.as_str()));
        assert!(t["areasCounted"].as_i64() <= t["areasAtLevel"].as_i64());
        assert!(t["dataset"]["credit"].as_str().is_some_and(|c| c.contains("(DTM)")));
    }
    // With the admin-1 figures ingested too, the reported figure is used, and it is the same number.
    ingester.run(Source::Dtm, &options(&["HTI"], &[1])).await.expect("admin 1");
    for key in admin1.keys().step_by(11) {
        let t = &totals_for(&store.pool, key).await[0];
        assert_eq!((t["method"].as_str(), t["individuals"].as_i64()), (Some("REPORTED_AT_LEVEL"), Some(admin1[key])));
        assert_eq!(t["roundRule"], "REQUESTED_ROUND");
    }
    // The latest-round rule: per operation, the newest round of the area, from the file.
    let (pcode, operation) =
        (admin1.keys().next().expect("a key").0.clone(), admin1.keys().next().expect("a key").1.clone());
    let latest = admin1
        .iter()
        .filter(|(k, _)| k.0 == pcode && k.1 == operation && k.4 == "BA")
        .max_by_key(|(k, _)| (k.3.clone(), k.2))
        .map(|(k, v)| (k.2, *v))
        .expect("a BA round");
    let data = graphql(
        &store.pool,
        &format!(r#"{{ adminArea(pcode: "{pcode}") {{ idpTotals(operation: "{operation}") {{ round individuals roundRule }} }} }}"#),
    )
    .await;
    let t = &data["adminArea"]["idpTotals"][0];
    assert_eq!((t["round"].as_i64(), t["individuals"].as_i64()), (Some(latest.0), Some(latest.1)));
    assert_eq!(t["roundRule"], "LATEST_ROUND_PER_OPERATION");
}

async fn latest_round_series_share_and_coverage_for_mali(backend: Backend) {
    let Some(store) = TestStore::new(backend).await else { return };
    ingest::sample::load_sample(&store.pool).await.expect("sample");
    let data = graphql(
        &store.pool,
        r#"{ country(iso3: "MLI") {
            idpTotals { round individuals method roundRule }
            idpSeries(from: "2020-01-01", to: "2020-12-31") { round individuals }
            fundingCoverage(year: 2021) { year requirementsUsd fundingUsd percentFunded appeals }
            adminAreas(level: 1) { pcode idpShare(round: 68) { idps { individuals } share reason population { total } } }
        } }"#,
    )
    .await;
    let mali = &data["country"];
    // From the files: national rounds, the round-68 regions, population by region, HMLI21.
    let national: Value = serde_json::from_slice(&common::read(common::DTM_FILES[8].2)).expect("JSON");
    let rounds: BTreeMap<i64, (String, i64)> = national["result"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| {
            (
                r["roundNumber"].as_i64().expect("round"),
                (
                    r["reportingDate"].as_str().expect("date")[..10].to_string(),
                    r["numPresentIdpInd"].as_i64().expect("n"),
                ),
            )
        })
        .collect();
    let (last_round, (_, last_n)) = rounds.iter().next_back().expect("a round");
    assert_eq!(mali["idpTotals"][0]["round"].as_i64(), Some(*last_round));
    assert_eq!(mali["idpTotals"][0]["individuals"].as_i64(), Some(*last_n));
    assert_eq!(mali["idpTotals"][0]["roundRule"], "LATEST_ROUND_PER_OPERATION");
    let in_2020: Vec<(i64, i64)> =
        rounds.iter().filter(|(_, (date, _))| date.starts_with("2020")).map(|(r, (_, n))| (*r, *n)).collect();
    let series: Vec<(i64, i64)> = mali["idpSeries"]
        .as_array()
        .expect("series")
        .iter()
        .map(|p| (p["round"].as_i64().expect("round"), p["individuals"].as_i64().expect("n")))
        .collect();
    assert_eq!(series, in_2020);

    let population = String::from_utf8(common::read("sample/cod/mli_pop_adm1_v2.csv")).expect("UTF-8");
    let mut reader = csv::Reader::from_reader(population.trim_start_matches('\u{feff}').as_bytes());
    let headers = reader.headers().expect("header").clone();
    let col = |name: &str| headers.iter().position(|h| h == name).expect("column");
    let people: BTreeMap<String, i64> = reader
        .records()
        .map(|r| r.expect("row"))
        .map(|r| (r[col("admin1Pcode")].to_string(), r[col("T_TL")].parse().expect("total")))
        .collect();
    let regions = mali["adminAreas"].as_array().expect("regions");
    let share_of =
        |pcode: &str| regions.iter().find(|r| r["pcode"] == pcode).map(|r| r["idpShare"][0].clone()).expect("share");
    let mopti = share_of("ML05");
    let expected = mopti["idps"]["individuals"].as_f64().expect("idps") / people["ML05"] as f64;
    assert!((mopti["share"].as_f64().expect("share") - expected).abs() < 1e-12);
    assert_eq!(mopti["population"]["total"].as_i64(), Some(people["ML05"]));
    let menaka = share_of("ML10");
    assert_eq!(menaka["share"], Value::Null);
    assert!(menaka["reason"].as_str().is_some_and(|r| r.contains("2021-12-20")), "{menaka}");
    let gao = share_of("ML07");
    assert_eq!(gao["share"], Value::Null);
    assert!(gao["reason"].as_str().is_some_and(|r| r.contains("other boundaries")), "{gao}");

    let fts =
        String::from_utf8(common::read("sample/fts/fts_requirements_funding_global.MLI-subset.csv")).expect("UTF-8");
    let hmli21 = fts.lines().find(|l| l.contains(",HMLI21,")).expect("HMLI21 row");
    let coverage = &mali["fundingCoverage"][0];
    assert_eq!(coverage["year"], 2021);
    assert_eq!(coverage["appeals"], serde_json::json!(["HMLI21"]));
    for amount in [coverage["requirementsUsd"].as_i64().expect("req"), coverage["fundingUsd"].as_i64().expect("fund")] {
        assert!(hmli21.split(',').any(|cell| cell == amount.to_string()), "{amount} is in the file's HMLI21 row");
    }
    let computed = (coverage["fundingUsd"].as_f64().expect("f") * 1000.0
        / coverage["requirementsUsd"].as_f64().expect("r"))
    .round()
        / 10.0;
    assert_eq!(coverage["percentFunded"].as_f64(), Some(computed));
}

/// Issue 16, point 3: a count of 2^63-1 (and one of 2^64-1) is rejected with its reason, and every
/// Haiti total still answers, equal to the admin-2 file's sums without those rows. A store that
/// already holds such a figure (written before figures were bounded; forced here) still answers
/// every other total: the sums cannot overflow in SQL, and the one that does not fit 64 bits is an
/// error on that field only (OUT_OF_RANGE), not INTERNAL for the whole query.
async fn an_absurd_count_is_rejected_and_haitis_totals_still_add_up(backend: Backend) {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let Some(store) = TestStore::new(backend).await else { return };
    let file = "sample/dtm/v3/displacement-admin2-admin0pcode-hti.json";
    let mut body: Value = serde_json::from_slice(&common::read(file)).expect("JSON");
    let rows = body["result"].as_array_mut().expect("rows");
    let (absurd, also_absurd) = (3, 10);
    rows[absurd]["numPresentIdpInd"] = Value::from(i64::MAX);
    rows[also_absurd]["numberMales"] = Value::from(u64::MAX);
    let bytes = serde_json::to_vec(&body).expect("JSON");
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(ingest::sources::geography::RESOURCE_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(common::read(common::PCODES_FILE)))
        .mount(&server)
        .await;
    common::mount_dtm(&server, "HTI", 2, ResponseTemplate::new(200).set_body_bytes(bytes.clone())).await;
    let ingester = ingester(&store, &server);
    ingester.run(Source::Geography, &options(&["HTI"], &[])).await.expect("geography");
    let run = ingester.run(Source::Dtm, &options(&["HTI"], &[2])).await.expect("admin 2");
    assert_eq!((run.status.as_str(), run.rejected), ("succeeded", 2), "{run:?}");
    let id = run.id;
    let rejected =
        store::with_conn(&store.pool, move |c| store::runs::rejected_rows_of_run(c, id, 10)).await.expect("rows");
    let reasons: Vec<(i64, &str)> = rejected.iter().map(|r| (r.row_number, r.reason.as_str())).collect();
    assert_eq!(reasons.len(), 2, "{reasons:?}");
    assert_eq!(reasons[0].0, absurd as i64 + 1);
    assert!(
        reasons[0].1.starts_with("numPresentIdpInd is 9223372036854775807, more people than live on Earth"),
        "{reasons:?}"
    );
    assert_eq!(reasons[1].0, also_absurd as i64 + 1);
    assert!(reasons[1].1.starts_with("numberMales is 18446744073709551615, more people"), "{reasons:?}");

    let expected = sums_of(&bytes, &[absurd, also_absurd]);
    for key in expected.keys() {
        let t = &totals_for(&store.pool, key).await[0];
        assert_eq!(t["individuals"].as_i64(), Some(expected[key]), "{key:?}");
    }

    // Forced: one admin-2 total of the first key's region holds 2^63-1, as a store filled before the
    // bounds might.
    let key = expected.keys().next().expect("a key").clone();
    let (pcode, operation, round, kind) = (key.0.clone(), key.1.clone(), key.2, key.4.clone());
    store::with_conn(&store.pool, move |c| {
        use diesel::RunQueryDsl;
        let sql = format!(
            "UPDATE idp_totals SET individuals = 9223372036854775807 WHERE id = (SELECT MIN(t.id) FROM idp_totals t \
             JOIN admin_areas a ON a.id = t.area_id JOIN admin_areas p ON p.id = a.parent_id \
             WHERE t.admin_level = 2 AND p.pcode = '{pcode}' AND t.operation = '{operation}' \
             AND t.round_number = {round} AND t.assessment_type = '{kind}')"
        );
        Ok(diesel::sql_query(sql).execute(c)?)
    })
    .await
    .expect("forced");
    let query = format!(
        r#"{{ adminArea(pcode: "{}") {{ idpTotals(operation: "{}", round: {}, assessmentType: "{}") {{ individuals method }} }} }}"#,
        key.0, key.1, key.2, key.4
    );
    let answer = common::graphql_response(&store.pool, &query).await;
    assert_eq!(answer["errors"].as_array().map(Vec::len), Some(1), "{answer}");
    assert_eq!(answer["errors"][0]["extensions"]["code"], "OUT_OF_RANGE", "{answer}");
    assert!(answer["errors"][0]["message"].as_str().is_some_and(|m| m.contains("beyond a 64-bit count")), "{answer}");
    for other in expected.keys().filter(|k| k.0 != key.0).step_by(5) {
        let t = &totals_for(&store.pool, other).await[0];
        assert_eq!(t["individuals"].as_i64(), Some(expected[other]), "{other:?}");
    }
}
