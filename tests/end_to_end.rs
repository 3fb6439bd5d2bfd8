//! End to end: the local fixture server serves real published payloads at the real source paths,
//! the real fetch path ingests them into a real store, and GraphQL answers are checked against
//! figures computed from the raw files. Every scenario runs on SQLite and on PostgreSQL.

mod common;

use std::collections::BTreeMap;

use common::{Backend, TestStore, fixture_server, graphql, graphql_response, ingester, mount_dtm, run};
use ingest::Source;
use serde_json::Value;
use store::runs::status;
use wiremock::ResponseTemplate;

on_both_stores!(
    idp_figures_equal_ochas_own_processed_output,
    mali_sample_answers_the_founding_question,
    second_identical_ingest_changes_nothing,
    failed_fetch_or_garbage_leaves_the_store_as_it_was,
    bad_rows_are_rejected_with_reasons_and_unknown_areas_kept,
    geography_has_parents_and_validity,
    provenance_is_one_object_on_every_figure,
);

/// Key of one IDP total: (ISO3, admin level, area p-code, operation, round, date, assessment type).
type FigureKey = (String, i64, String, String, i64, String, String);

/// OCHA's HAPI IDP output for TCD, HTI and AFG, read straight from the published file.
fn hapi_oracle() -> BTreeMap<FigureKey, i64> {
    let bytes = common::read("tests/fixtures/hdx_hapi_idps_global.TCD-HTI-AFG-subset.csv");
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes).to_vec();
    let mut reader = csv::Reader::from_reader(bytes.as_slice());
    let headers = reader.headers().expect("header").clone();
    let col = |name: &str| headers.iter().position(|h| h == name).unwrap_or_else(|| panic!("column {name}"));
    let (loc, level, a1, a2, op, at, pop, round, start) = (
        col("location_code"),
        col("admin_level"),
        col("admin1_code"),
        col("admin2_code"),
        col("operation"),
        col("assessment_type"),
        col("population"),
        col("reporting_round"),
        col("reference_period_start"),
    );
    let mut out = BTreeMap::new();
    for record in reader.records() {
        let r = record.expect("oracle row");
        let lvl: i64 = r[level].parse().expect("admin level");
        let area = match lvl {
            0 => r[loc].to_string(),
            1 => r[a1].to_string(),
            _ => r[a2].to_string(),
        };
        let key = (
            r[loc].to_string(),
            lvl,
            area,
            r[op].to_string(),
            r[round].parse().expect("round"),
            r[start].to_string(),
            r[at].to_string(),
        );
        let previous = out.insert(key.clone(), r[pop].parse().expect("population"));
        assert!(previous.is_none(), "the oracle has {key:?} twice");
    }
    out
}

/// Every IDP figure of a country at a level, read page by page through GraphQL.
async fn all_figures(pool: &store::DbPool, iso3: &str, level: i64) -> BTreeMap<FigureKey, i64> {
    let mut out = BTreeMap::new();
    let mut after = String::new();
    let mut expected_total = None;
    loop {
        let query = format!(
            r#"{{ country(iso3: "{iso3}") {{ idps(adminLevel: {level}, first: 500{after}) {{
                totalCount pageInfo {{ hasNextPage endCursor }}
                edges {{ cursor node {{ operation round reportingDate assessmentType individuals areaMatched area {{ pcode level }} }} }}
            }} }} }}"#
        );
        let data = graphql(pool, &query).await;
        let connection = &data["country"]["idps"];
        let total = connection["totalCount"].as_i64().expect("totalCount");
        assert_eq!(*expected_total.get_or_insert(total), total, "totalCount is stable across pages");
        for edge in connection["edges"].as_array().expect("edges") {
            let n = &edge["node"];
            assert_eq!(n["areaMatched"], Value::Bool(true), "every area of the real payloads matches: {n}");
            assert_eq!(n["area"]["level"].as_i64(), Some(level));
            let key = (
                iso3.to_string(),
                level,
                n["area"]["pcode"].as_str().expect("pcode").to_string(),
                n["operation"].as_str().expect("operation").to_string(),
                n["round"].as_i64().expect("round"),
                n["reportingDate"].as_str().expect("date").to_string(),
                n["assessmentType"].as_str().expect("assessment type").to_string(),
            );
            let previous = out.insert(key.clone(), n["individuals"].as_i64().expect("individuals"));
            assert!(previous.is_none(), "{key:?} appears twice across pages");
        }
        if connection["pageInfo"]["hasNextPage"] != Value::Bool(true) {
            break;
        }
        after = format!(r#", after: "{}""#, connection["pageInfo"]["endCursor"].as_str().expect("endCursor"));
    }
    assert_eq!(out.len() as i64, expected_total.unwrap_or(0), "totalCount equals the figures paged through");
    out
}

async fn idp_figures_equal_ochas_own_processed_output(backend: Backend) {
    let Some(store) = TestStore::new(backend).await else { return };
    let server = fixture_server().await;
    let ingester = ingester(&store, &server);
    assert_eq!(run(&ingester, Source::Geography, &["TCD", "HTI", "AFG"], &[]).await.status, status::SUCCEEDED);
    let r = run(&ingester, Source::Dtm, &["TCD", "HTI"], &[0, 1, 2]).await;
    assert_eq!(r.status, status::SUCCEEDED, "{:?}", r.error);
    let r = run(&ingester, Source::Dtm, &["AFG"], &[0, 1]).await;
    assert_eq!(r.status, status::SUCCEEDED, "{:?}", r.error);

    let oracle = hapi_oracle();
    let mut ours = BTreeMap::new();
    for (iso3, levels) in [("TCD", 0..=2), ("HTI", 0..=2), ("AFG", 0..=1)] {
        for level in levels {
            ours.extend(all_figures(&store.pool, iso3, level).await);
        }
    }
    assert_eq!(oracle.len(), 1997, "the oracle file holds 1,997 figures");
    let missing: Vec<_> = oracle.keys().filter(|k| !ours.contains_key(*k)).take(5).collect();
    let extra: Vec<_> = ours.keys().filter(|k| !oracle.contains_key(*k)).take(5).collect();
    let differing: Vec<_> = oracle.iter().filter(|(k, v)| ours.get(*k).is_some_and(|o| o != *v)).take(5).collect();
    assert!(
        missing.is_empty() && extra.is_empty() && differing.is_empty(),
        "missing {missing:?}, extra {extra:?}, differing {differing:?}"
    );
}

const MALI_QUERY: &str = r#"{ country(iso3:"MLI") { idps(adminLevel:0, first:50) { nodes { round individuals dataAsOf retrievedAt dataset { title licence credit } } }
     adminAreas(level:1) { pcode name idps(latestRoundOnly:true) { nodes { round individuals } } } } }"#;

/// (round, individuals) per national round; (round, individuals) per region p-code.
type MaliFigures = (Vec<(i64, i64)>, BTreeMap<String, (i64, i64)>);

/// National and regional figures stated in the reconstructed Mali payloads, read from the files.
fn mali_from_files() -> MaliFigures {
    let parse = |file: &str| -> Value { serde_json::from_slice(&common::read(file)).expect("JSON") };
    let national = parse("sample/dtm/mali_reconstructed/displacement-admin0-admin0pcode-mli.json");
    let mut rounds: BTreeMap<i64, i64> = BTreeMap::new();
    for r in national["result"].as_array().expect("rows") {
        *rounds.entry(r["roundNumber"].as_i64().expect("round")).or_default() +=
            r["numPresentIdpInd"].as_i64().expect("count");
    }
    let regional = parse("sample/dtm/mali_reconstructed/displacement-admin1-admin0pcode-mli.json");
    let mut regions: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    for r in regional["result"].as_array().expect("rows") {
        let e = regions.entry(r["admin1Pcode"].as_str().expect("pcode").to_string()).or_default();
        e.0 = r["roundNumber"].as_i64().expect("round");
        e.1 += r["numPresentIdpInd"].as_i64().expect("count");
    }
    (rounds.into_iter().collect(), regions)
}

async fn mali_sample_answers_the_founding_question(backend: Backend) {
    let Some(store) = TestStore::new(backend).await else { return };
    let runs = ingest::sample::load_sample(&store.pool).await.expect("sample loads");
    assert!(runs.iter().all(|r| r.status == status::SUCCEEDED), "{runs:?}");

    let data = graphql(&store.pool, MALI_QUERY).await;
    let (national, regions) = mali_from_files();
    let nodes = data["country"]["idps"]["nodes"].as_array().expect("national figures");
    let ours: Vec<(i64, i64)> =
        nodes.iter().map(|n| (n["round"].as_i64().expect("round"), n["individuals"].as_i64().expect("n"))).collect();
    assert_eq!(ours, national);
    assert_eq!(ours, vec![(60, 207_751), (67, 287_496), (68, 311_193), (71, 377_781)]);
    for n in nodes {
        assert_eq!(
            n["dataset"]["credit"],
            "International Organization for Migration (IOM), Displacement Tracking Matrix (DTM)"
        );
    }

    let mut regional: Vec<(String, i64, i64)> = Vec::new();
    for area in data["country"]["adminAreas"].as_array().expect("areas") {
        for n in area["idps"]["nodes"].as_array().expect("nodes") {
            regional.push((
                area["pcode"].as_str().expect("pcode").into(),
                n["round"].as_i64().expect("r"),
                n["individuals"].as_i64().expect("n"),
            ));
        }
    }
    let expected: Vec<(String, i64, i64)> = regions.iter().map(|(p, (r, n))| (p.clone(), *r, *n)).collect();
    assert_eq!(regional, expected, "each region's latest round equals the file");
    assert!(regional.iter().all(|(_, round, _)| *round == 68));
    assert_eq!(regional.iter().map(|(_, _, n)| n).sum::<i64>(), 311_193);
    // From a figure: its country, the resource (URL) it was read from, and the run that wrote it.
    let linked = graphql(
        &store.pool,
        r#"{ country(iso3:"MLI") { idps(first: 1) { nodes { country { iso3 } resource { url } ingestRun { trigger } } } } }"#,
    )
    .await;
    let node = &linked["country"]["idps"]["nodes"][0];
    assert_eq!(node["country"]["iso3"], "MLI");
    assert_eq!(node["resource"]["url"], "https://dtmapi.iom.int/v3/displacement/admin0");
    assert_eq!(node["ingestRun"]["trigger"], "sample");
    regional.sort_by_key(|(_, _, n)| -n);
    assert_eq!(regional[0], ("ML05".to_string(), 68, 131_150), "Mopti leads");
}

async fn second_identical_ingest_changes_nothing(backend: Backend) {
    let Some(store) = TestStore::new(backend).await else { return };
    let server = fixture_server().await;
    let ingester = ingester(&store, &server);
    let geo = run(&ingester, Source::Geography, &["TCD", "HTI"], &[]).await;
    let first = run(&ingester, Source::Dtm, &["TCD", "HTI"], &[0, 1, 2]).await;
    let rows: i64 = common::DTM_FILES
        .iter()
        .filter(|(iso3, _, _)| ["TCD", "HTI"].contains(iso3))
        .map(|(_, _, f)| {
            serde_json::from_slice::<Value>(&common::read(f)).expect("JSON")["result"].as_array().expect("rows").len()
                as i64
        })
        .sum();
    assert_eq!((first.fetched, first.inserted, first.updated, first.rejected), (rows, rows, 0, 0));
    let before = common::figure_snapshot(&store.pool).await;

    let geo_again = run(&ingester, Source::Geography, &["TCD", "HTI"], &[]).await;
    assert_eq!((geo_again.inserted, geo_again.updated, geo_again.unchanged), (0, 0, geo.inserted));
    let second = run(&ingester, Source::Dtm, &["TCD", "HTI"], &[0, 1, 2]).await;
    assert_eq!(second.status, status::SUCCEEDED);
    assert_eq!((second.inserted, second.updated, second.unchanged), (0, 0, rows));
    assert_eq!(common::figure_snapshot(&store.pool).await, before, "nothing was rewritten");

    // The runs are visible, newest first.
    let data = graphql(
        &store.pool,
        r#"{ ingestRuns(source: "dtm", first: 5) { totalCount nodes { id status inserted updated unchanged } } }"#,
    )
    .await;
    assert_eq!(data["ingestRuns"]["totalCount"], 2);
    assert_eq!(data["ingestRuns"]["nodes"][0]["id"], format!("IngestRun:{}", second.id));
    assert_eq!(data["ingestRuns"]["nodes"][0]["unchanged"], rows);
}

async fn failed_fetch_or_garbage_leaves_the_store_as_it_was(backend: Backend) {
    let Some(store) = TestStore::new(backend).await else { return };
    let server = fixture_server().await;
    let good = ingester(&store, &server);
    run(&good, Source::Geography, &["TCD"], &[]).await;
    assert_eq!(run(&good, Source::Dtm, &["TCD"], &[0, 1, 2]).await.status, status::SUCCEEDED);
    let before = common::figure_snapshot(&store.pool).await;

    // A source answering 500: retried, then the run fails and nothing changes.
    let failing = wiremock::MockServer::start().await;
    mount_dtm(&failing, "TCD", 0, ResponseTemplate::new(500).set_body_string("upstream exploded")).await;
    let r = run(&common::ingester(&store, &failing), Source::Dtm, &["TCD"], &[0, 1, 2]).await;
    assert_eq!(r.status, status::FAILED);
    let error = r.error.unwrap_or_default();
    assert!(error.contains("HTTP 500") && error.contains("gave up after 4 attempts"), "{error}");
    assert_eq!(failing.received_requests().await.map(|r| r.len()), Some(4), "1 attempt + 3 retries");
    assert_eq!(common::figure_snapshot(&store.pool).await, before);

    // Garbage JSON on one level: the parse fails, the other levels are not written either.
    let garbage = wiremock::MockServer::start().await;
    for (iso3, level, file) in common::DTM_FILES.iter().filter(|(c, _, _)| *c == "TCD") {
        let response = if *level == 2 {
            ResponseTemplate::new(200).set_body_string("{\"result\": [ {\"operation\": ")
        } else {
            // Changed figures, which must not be written because admin2 fails.
            let body = String::from_utf8(common::read(file))
                .expect("UTF-8")
                .replace("\"numPresentIdpInd\": ", "\"numPresentIdpInd\": 1");
            ResponseTemplate::new(200).set_body_string(body)
        };
        mount_dtm(&garbage, iso3, *level, response).await;
    }
    let r = run(&common::ingester(&store, &garbage), Source::Dtm, &["TCD"], &[0, 1, 2]).await;
    assert_eq!(r.status, status::FAILED);
    let error = r.error.unwrap_or_default();
    assert!(error.contains("could not parse DTM admin2 response for TCD"), "{error}");
    assert_eq!((r.inserted, r.updated), (0, 0));
    assert_eq!(common::figure_snapshot(&store.pool).await, before);

    // The failure is visible in the run history.
    let data = graphql(&store.pool, &format!("{{ ingestRun(id: {}) {{ status error }} }}", r.id)).await;
    assert_eq!(data["ingestRun"]["status"], "failed");
}

async fn bad_rows_are_rejected_with_reasons_and_unknown_areas_kept(backend: Backend) {
    let Some(store) = TestStore::new(backend).await else { return };
    let server = wiremock::MockServer::start().await;
    // The real Chad admin1 response with: row 1 negative, row 2 non-numeric, row 3 a copy of row 4,
    // and row 5 under an admin1 code no boundary list has.
    let mut body: Value = serde_json::from_slice(&common::read(common::DTM_FILES[1].2)).expect("JSON");
    let rows = body["result"].as_array_mut().expect("rows");
    rows[0]["numPresentIdpInd"] = Value::from(-12);
    rows[1]["numPresentIdpInd"] = Value::from("about 300");
    rows[2] = rows[3].clone();
    rows[4]["admin1Pcode"] = Value::from("TD99");
    rows[4]["admin1Name"] = Value::from("Nowhere");
    let unknown_count = rows[4]["numPresentIdpInd"].as_i64().expect("count");
    let total_rows = rows.len() as i64;
    mount_dtm(&server, "TCD", 1, ResponseTemplate::new(200).set_body_json(&body)).await;
    wiremock::Mock::given(wiremock::matchers::path(ingest::sources::geography::RESOURCE_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(common::read(common::PCODES_FILE)))
        .mount(&server)
        .await;
    let ingester = common::ingester(&store, &server);
    run(&ingester, Source::Geography, &["TCD"], &[]).await;
    let r = run(&ingester, Source::Dtm, &["TCD"], &[1]).await;
    assert_eq!(r.status, status::SUCCEEDED, "bad rows never abort a run: {:?}", r.error);
    assert_eq!((r.fetched, r.rejected, r.inserted), (total_rows, 3, total_rows - 3));

    let data = graphql(
        &store.pool,
        &format!("{{ ingestRun(id: {}) {{ rejected rejectedRows(first: 10) {{ rowNumber reason raw }} }} }}", r.id),
    )
    .await;
    let rejected = data["ingestRun"]["rejectedRows"].as_array().expect("rejected rows");
    let summary: Vec<(i64, &str)> =
        rejected.iter().map(|r| (r["rowNumber"].as_i64().expect("n"), r["reason"].as_str().expect("reason"))).collect();
    assert_eq!(summary.len(), 3, "{summary:?}");
    assert_eq!(summary[0].0, 1);
    assert!(summary[0].1.contains("negative"));
    assert_eq!(summary[1].0, 2);
    assert!(summary[1].1.contains("not a number"));
    assert_eq!(summary[2].0, 4);
    assert!(summary[2].1.contains("duplicate row"));
    assert!(rejected[0]["raw"].as_str().expect("raw").contains("-12"));

    // The figure under an unknown code is kept, flagged, with its own code, on the nearest known area.
    let data = graphql(&store.pool, r#"{ country(iso3: "TCD") { idps(adminLevel: 1, first: 1000) { nodes { individuals areaMatched sourcePcode sourceName area { pcode level } } } } }"#).await;
    let unmatched: Vec<&Value> = data["country"]["idps"]["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .filter(|n| n["areaMatched"] == false)
        .collect();
    assert_eq!(unmatched.len(), 1, "{unmatched:?}");
    assert_eq!(unmatched[0]["sourcePcode"], "TD99");
    assert_eq!(unmatched[0]["sourceName"], "Nowhere");
    assert_eq!(unmatched[0]["individuals"], unknown_count);
    assert_eq!(unmatched[0]["area"]["pcode"], "TCD");
    assert_eq!(unmatched[0]["area"]["level"], 0);
}

async fn geography_has_parents_and_validity(backend: Backend) {
    let Some(store) = TestStore::new(backend).await else { return };
    let server = fixture_server().await;
    let r = run(&ingester(&store, &server), Source::Geography, &["MLI", "TCD"], &[]).await;
    assert_eq!(r.status, status::SUCCEEDED);

    // Expected from the file: Mali's rows, and the children of ML10.
    let text = String::from_utf8(common::read(common::PCODES_FILE)).expect("UTF-8");
    let mali: Vec<Vec<&str>> =
        text.lines().skip(2).map(|l| l.split(',').collect::<Vec<_>>()).filter(|c| c[0] == "MLI").collect();
    let menaka_children: Vec<&str> = mali.iter().filter(|c| c[4] == "ML10").map(|c| c[2]).collect();

    let data = graphql(&store.pool, r#"{ adminArea(pcode: "ml10") { pcode name level validFrom validTo parent { pcode level name } children { pcode } country { iso3 name } } country(iso3: "MLI") { adminAreas(level: 1) { pcode } } }"#).await;
    let area = &data["adminArea"];
    assert_eq!(area["pcode"], "ML10");
    assert_eq!(area["level"], 1);
    assert_eq!(area["validFrom"], "2021-12-20");
    assert_eq!(area["validTo"], Value::Null);
    assert_eq!(area["parent"]["pcode"], "MLI");
    assert_eq!(area["parent"]["level"], 0);
    assert_eq!(area["country"]["name"], "Mali");
    let children: Vec<&str> =
        area["children"].as_array().expect("children").iter().map(|c| c["pcode"].as_str().expect("p")).collect();
    let mut expected = menaka_children.clone();
    expected.sort();
    assert_eq!(children, expected);
    let regions = data["country"]["adminAreas"].as_array().expect("regions").len();
    assert_eq!(regions, mali.iter().filter(|c| c[1] == "1").count());

    // An unknown p-code is null, not an error; a bad argument is a GraphQL error with a code.
    assert_eq!(graphql(&store.pool, r#"{ adminArea(pcode: "XX99") { pcode } }"#).await["adminArea"], Value::Null);
    let response =
        graphql_response(&store.pool, r#"{ country(iso3: "MLI") { idps(first: 5000) { totalCount } } }"#).await;
    assert_eq!(response["errors"][0]["extensions"]["code"], "LIMIT_EXCEEDED", "{response}");
}

/// Every figure type answers `provenance` with its dataset, licence, credit, resource URL, run and
/// dates, equal to its older flattened fields; DTM figures always carry IOM's credit line.
async fn provenance_is_one_object_on_every_figure(backend: Backend) {
    let Some(store) = TestStore::new(backend).await else { return };
    ingest::sample::load_sample(&store.pool).await.expect("sample loads");
    let provenance = "provenance { dataset { id title } resource { id url } ingestRun { id trigger } dataAsOf \
                      retrievedAt licence credit sourceUrl }";
    let site_flat = "dataset { id title licence credit } resource { id url } ingestRun { id trigger }";
    let flat = format!("{site_flat} retrievedAt");
    let query = format!(
        r#"{{ mli: country(iso3: "MLI") {{
                idps(first: 50) {{ nodes {{ reportingDate dataAsOf {flat} {provenance} }} }}
                idpTotals {{ reportingDate dataAsOf {flat} {provenance} }}
                population {{ referenceYear dataAsOf {flat} {provenance} }}
                appeals {{ dataAsOf {flat} {provenance} }} }}
              ssd: country(iso3: "SSD") {{ sites(first: 20) {{ nodes {{ reportingDate {site_flat} {provenance} }} }} }} }}"#
    );
    let data = graphql(&store.pool, &query).await;
    let mli = &data["mli"];
    let mut figures: Vec<(&str, &Value)> = Vec::new();
    figures.extend(mli["idps"]["nodes"].as_array().expect("IDP figures").iter().map(|f| ("IdpFigure", f)));
    figures.extend(mli["idpTotals"].as_array().expect("IDP totals").iter().map(|f| ("IdpAggregate", f)));
    figures.push(("PopulationFigure", &mli["population"]));
    figures.extend(mli["appeals"].as_array().expect("appeals").iter().map(|f| ("Appeal", f)));
    figures.extend(data["ssd"]["sites"]["nodes"].as_array().expect("sites").iter().map(|f| ("Site", f)));
    for kind in ["IdpFigure", "IdpAggregate", "PopulationFigure", "Appeal", "Site"] {
        assert!(figures.iter().any(|(k, _)| *k == kind), "the sample has no {kind}");
    }
    for (kind, f) in &figures {
        let p = &f["provenance"];
        assert!(p["dataset"]["id"].is_string() && p["ingestRun"]["trigger"] == "sample", "{kind}: {p}");
        assert_eq!(
            p["dataset"],
            serde_json::json!({ "id": f["dataset"]["id"], "title": f["dataset"]["title"] }),
            "{kind}"
        );
        assert_eq!((&p["resource"], &p["ingestRun"]), (&f["resource"], &f["ingestRun"]), "{kind}");
        assert_eq!((&p["licence"], &p["credit"]), (&f["dataset"]["licence"], &f["dataset"]["credit"]), "{kind}");
        assert_eq!(p["sourceUrl"], f["resource"]["url"], "{kind}");
        if *kind == "Site" {
            assert!(p["retrievedAt"].as_str().is_some_and(|t| t.ends_with('Z')), "{kind}: {p}");
        } else {
            assert_eq!(p["retrievedAt"], f["retrievedAt"], "{kind}");
        }
        match *kind {
            "IdpFigure" | "IdpAggregate" => {
                assert_eq!(
                    p["credit"],
                    "International Organization for Migration (IOM), Displacement Tracking Matrix (DTM)"
                );
                assert_eq!((&p["dataAsOf"], &p["dataAsOf"]), (&f["reportingDate"], &f["dataAsOf"]), "{kind}");
            }
            "PopulationFigure" => {
                let year = f["referenceYear"].as_i64().expect("a reference year");
                assert_eq!((&p["dataAsOf"], &p["dataAsOf"]), (&Value::from(format!("{year}-01-01")), &f["dataAsOf"]));
            }
            "Appeal" => assert_eq!(p["dataAsOf"], f["dataAsOf"], "{kind}"),
            _ => assert_eq!(p["dataAsOf"], f["reportingDate"], "{kind}"),
        }
    }
    let national = &mli["idps"]["nodes"][0]["provenance"];
    assert_eq!(national["sourceUrl"], "https://dtmapi.iom.int/v3/displacement/admin0");
}
