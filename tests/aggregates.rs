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
);

/// (admin1 p-code as DTM sends it, operation, round, date, assessment type) → IDPs, from a file.
fn sums(file: &str) -> BTreeMap<(String, String, i64, String, String), i64> {
    let body: Value = serde_json::from_slice(&common::read(file)).expect("JSON");
    let mut out = BTreeMap::new();
    for r in body["result"].as_array().expect("rows") {
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
