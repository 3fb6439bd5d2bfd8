//! End to end for the HDX-backed sources: the local fixture server answers HDX `package_show` and
//! serves the real published files (COD-PS Mali, FTS requirements and funding, a DTM South Sudan
//! site list) and FTS API responses at the real paths; the real fetch path ingests them; GraphQL
//! answers are checked against figures computed here from the raw files. Both stores.

mod common;

use common::{Backend, TestStore, graphql, graphql_response, ingester, read, run};
use ingest::Source;
use serde_json::Value;
use store::runs::status;
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

on_both_stores!(
    mali_population_and_appeals_equal_the_published_files,
    south_sudan_sites_equal_the_site_list,
    afghanistan_clusters_equal_ochas_own_output,
    rerun_writes_nothing_and_downloads_nothing,
    unchanged_etag_means_no_download_even_when_the_catalog_date_moves,
    null_total_and_negative_amount_are_rejected_and_nothing_else_lost,
    missing_hxl_row_and_bom_still_parse_renamed_column_without_hxl_fails_cleanly,
    bad_coordinates_are_rejected_with_reasons,
    an_oversized_field_of_an_hdx_file_is_rejected_and_rejected_rows_are_stored_once,
    failed_download_leaves_the_store_as_it_was,
    datasets_show_resources_licence_and_runs,
    sample_answers_the_issue_query,
);

const PACKAGE_SHOW: &str = "/api/3/action/package_show";
const ADM1_PATH: &str = "/dataset/ce21c7db-d8f0-40f8-adc2-452d2d2d105c/resource/0bd515ae-613c-400f-a84c-ea203cc529be/download/mli_pop_adm1_v2.csv";
const FTS_PATH: &str = "/dataset/fts-requirements-and-funding-data/resource/constructed-fts-requirements-funding-global/download/fts_requirements_funding_global.csv";
const SITES_PATH: &str = "/dataset/ssd-dtm-mobility-tracking-r16-baseline-locations/resource/constructed-ssd-r16-baseline-locations-extract/download/ssd-dtm-mobility-tracking-r16-baseline-locations.first40rows.csv";

/// The fixture server with the p-codes and DTM payloads, plus every bundled HDX payload, except the
/// files whose path is in `replace` (served with the given bytes instead).
async fn server_with(replace: &[(&str, Vec<u8>)]) -> MockServer {
    let server = common::fixture_server().await;
    for (file_path, id, bytes) in ingest::sample::hdx_payloads() {
        if id.is_none() && replace.iter().any(|(p, _)| *p == file_path) {
            continue;
        }
        let mock = Mock::given(method("GET")).and(path(file_path));
        let mock = match id {
            Some(id) => mock.and(query_param("id", id)),
            None => mock,
        };
        mock.respond_with(ResponseTemplate::new(200).set_body_bytes(bytes)).mount(&server).await;
    }
    // The catalog entries of the sources without a bundled sample (their themes' tests serve the files).
    let wfp = format!(
        r#"{{"success": true, "result": {}}}"#,
        String::from_utf8_lossy(&read("tests/fixtures/wfp/wfp_global.hdx_dataset.json"))
    );
    for (id, bytes) in [
        ("global-wfp-food-prices", wfp.into_bytes()),
        (
            "unhcr-population-data-for-world",
            read("tests/fixtures/unhcr/package_show.unhcr-population-data-for-world.json"),
        ),
        ("unhcr-situations", read("tests/fixtures/unhcr/package_show.unhcr-situations.json")),
        ("political-violence-events-and-fatalities", conflict_entry("political-violence-events-and-fatalities")),
        ("civilian-targeting-events-and-fatalities", conflict_entry("civilian-targeting-events-and-fatalities")),
        ("demonstration-events", conflict_entry("demonstration-events")),
    ] {
        Mock::given(method("GET"))
            .and(path("/api/3/action/package_show"))
            .and(query_param("id", id))
            .respond_with(ResponseTemplate::new(200).set_body_bytes(bytes))
            .mount(&server)
            .await;
    }
    for (file_path, bytes) in replace {
        Mock::given(method("GET"))
            .and(path(*file_path))
            .respond_with(ResponseTemplate::new(200).set_body_bytes(bytes.clone()))
            .mount(&server)
            .await;
    }
    server
}

/// A catalog entry written for the conflict tests (no ACLED data: ACLED's files are never bundled).
fn conflict_entry(dataset: &str) -> Vec<u8> {
    read(&format!("tests/fixtures/conflict/package_show.{dataset}.json"))
}

/// Rows of a CSV file (BOM stripped; the HXL row, when present, dropped) as header → value maps.
fn csv_rows(bytes: &[u8]) -> Vec<std::collections::HashMap<String, String>> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut reader = csv::Reader::from_reader(bytes);
    let headers: Vec<String> = reader.headers().expect("header").iter().map(str::to_string).collect();
    reader
        .records()
        .map(|r| r.expect("row"))
        .filter(|r| !r.get(0).unwrap_or("").starts_with('#'))
        .map(|r| headers.iter().cloned().zip(r.iter().map(str::to_string)).collect())
        .collect()
}

fn pop(file: &str, pcode_column: &str, pcode: &str) -> i64 {
    csv_rows(&read(&format!("sample/cod/{file}")))
        .into_iter()
        .find(|r| r[pcode_column] == pcode)
        .map(|r| r["T_TL"].parse().expect("number"))
        .unwrap_or_else(|| panic!("{pcode} in {file}"))
}

fn fts_row(code: &str) -> std::collections::HashMap<String, String> {
    csv_rows(&read("sample/fts/fts_requirements_funding_global.MLI-subset.csv"))
        .into_iter()
        .find(|r| r["code"] == code)
        .expect("appeal row")
}

async fn mali(store: &TestStore, server: &MockServer) {
    let ingester = ingester(store, server);
    for source in [Source::Geography, Source::Population, Source::Funding] {
        let r = run(&ingester, source, &["MLI"], &[]).await;
        assert_eq!(r.status, status::SUCCEEDED, "{source}: {:?}", r.error);
    }
}

async fn mali_population_and_appeals_equal_the_published_files(backend: Backend) {
    let Some(store) = TestStore::new(backend).await else { return };
    let server = server_with(&[]).await;
    mali(&store, &server).await;
    let data = graphql(
        &store.pool,
        r#"{ country(iso3:"MLI") {
            population { total female male referenceYear boundaryEdition dataAsOf retrievedAt dataset { title licence credit } }
            appeals(year:2021) { code name type year startDate endDate requirementsUsd fundingUsd percentFunded countries dataAsOf retrievedAt
                                 clusters { name } dataset { title licence } }
            fundingOutsideAppeals(year:2021) { year fundingUsd }
            adminAreas(level:1) { pcode name population { total sourcePcode areaMatched referenceYear } }
        } }"#,
    )
    .await;
    let country = &data["country"];
    let national = &country["population"];
    assert_eq!(national["total"].as_i64(), Some(pop("mli_pop_adm0_v2.csv", "admin0Pcode", "ML")));
    assert_eq!(national["total"].as_i64(), Some(17_907_114));
    let adm0 = &csv_rows(&read("sample/cod/mli_pop_adm0_v2.csv"))[0];
    assert_eq!(national["female"].as_i64(), adm0["F_TL"].parse().ok());
    assert_eq!(national["male"].as_i64(), adm0["M_TL"].parse().ok());
    assert_eq!(national["referenceYear"], 2018);
    assert_eq!(national["dataAsOf"], "2018-01-01", "a yearly projection is as of its year");
    assert!(national["retrievedAt"].is_string());
    assert_eq!(national["dataset"]["title"], "Mali - Subnational Population Statistics");
    assert_eq!(national["dataset"]["licence"], "Creative Commons Attribution for Intergovernmental Organisations");
    assert!(national["dataset"]["credit"].as_str().is_some_and(|c| c.contains("OCHA Mali")));

    let regions = country["adminAreas"].as_array().expect("regions");
    let region = |pcode: &str| regions.iter().find(|r| r["pcode"] == pcode).unwrap_or_else(|| panic!("{pcode}"));
    let mopti = region("ML05");
    assert_eq!(mopti["population"]["total"].as_i64(), Some(pop("mli_pop_adm1_v2.csv", "admin1Pcode", "ML05")));
    assert_eq!(mopti["population"]["total"].as_i64(), Some(2_509_703));
    // Ménaka: the 2018 file has it as cercle ML0704 of Gao; the crosswalk gives it to region ML10.
    let menaka = region("ML10");
    assert_eq!(menaka["population"]["total"].as_i64(), Some(pop("mli_pop_adm2_v2.csv", "admin2Pcode", "ML0704")));
    assert_eq!(menaka["population"]["sourcePcode"], "ML0704");
    // 2018 Gao still held Ménaka: its figure is not today's Gao's.
    assert_eq!(region("ML07")["population"], Value::Null);
    // Every other region's figure is the file's.
    for r in csv_rows(&read("sample/cod/mli_pop_adm1_v2.csv")).iter().filter(|r| r["admin1Pcode"] != "ML07") {
        let got = region(&r["admin1Pcode"])["population"]["total"].as_i64();
        assert_eq!(got, r["T_TL"].parse().ok(), "{}", r["admin1Pcode"]);
    }

    let appeals = country["appeals"].as_array().expect("appeals");
    assert_eq!(appeals.len(), 1, "\"Not specified\" is not an appeal: {appeals:?}");
    let a = &appeals[0];
    let row = fts_row("HMLI21");
    let (req, fund): (i64, i64) = (row["requirements"].parse().expect("req"), row["funding"].parse().expect("fund"));
    assert_eq!(a["code"], "HMLI21");
    assert_eq!(a["requirementsUsd"].as_i64(), Some(req));
    assert_eq!(a["fundingUsd"].as_i64(), Some(fund));
    assert_eq!((req, fund), (563_286_869, 228_381_821));
    let expected_percent = (fund as f64 * 1000.0 / req as f64).round() / 10.0;
    assert_eq!(a["percentFunded"].as_f64(), Some(expected_percent));
    assert_eq!(a["percentFunded"].as_f64(), Some(40.5));
    assert_ne!(row["percentFunded"], "40.5", "the file's own rounded figure is not what we serve");
    assert_eq!(a["name"], row["name"].as_str());
    assert_eq!(a["type"], row["typeName"].as_str());
    assert_eq!((a["startDate"].as_str(), a["endDate"].as_str()), (Some("2021-01-01"), Some("2021-12-31")));
    assert_eq!(a["countries"], serde_json::json!(["MLI"]));
    assert!(a["dataAsOf"].as_str().is_some_and(|d| d.len() == 10) && a["retrievedAt"].is_string(), "{a}");
    assert_eq!(a["dataset"]["licence"], "Creative Commons Attribution for Intergovernmental Organisations");
    let outside = csv_rows(&read("sample/fts/fts_requirements_funding_global.MLI-subset.csv"))
        .into_iter()
        .find(|r| r["name"] == "Not specified" && r["year"] == "2021")
        .expect("2021 Not specified");
    assert_eq!(country["fundingOutsideAppeals"][0]["fundingUsd"].as_i64(), outside["funding"].parse().ok());
    // Every appeal row of the file is stored, every "Not specified" row as funding outside appeals.
    let all =
        graphql(&store.pool, r#"{ country(iso3:"MLI") { appeals { code } fundingOutsideAppeals { year } } }"#).await;
    let rows = csv_rows(&read("sample/fts/fts_requirements_funding_global.MLI-subset.csv"));
    let appeal_rows = rows.iter().filter(|r| !r["code"].is_empty()).count();
    assert_eq!(all["country"]["appeals"].as_array().map(Vec::len), Some(appeal_rows));
    assert_eq!(all["country"]["fundingOutsideAppeals"].as_array().map(Vec::len), Some(rows.len() - appeal_rows));
}

async fn south_sudan_sites_equal_the_site_list(backend: Backend) {
    let Some(store) = TestStore::new(backend).await else { return };
    let server = server_with(&[]).await;
    let ingester = ingester(&store, &server);
    assert_eq!(run(&ingester, Source::Geography, &["SSD"], &[]).await.status, status::SUCCEEDED);
    let r = run(&ingester, Source::Sites, &["SSD"], &[]).await;
    assert_eq!(r.status, status::SUCCEEDED, "{:?}", r.error);
    let expected =
        csv_rows(&read("sample/dtm/hdx_xlsx_extract/ssd-dtm-mobility-tracking-r16-baseline-locations.first40rows.csv"));
    assert_eq!(r.rejected, 0);
    assert_eq!(r.inserted as usize, expected.len());

    let mut seen = Vec::new();
    let mut after = String::new();
    loop {
        let q = format!(
            r#"{{ country(iso3:"SSD") {{ sites(first: 15{after}) {{ totalCount pageInfo {{ hasNextPage endCursor }}
                nodes {{ siteCode name type latitude longitude households individuals round reportingDate area {{ pcode name }}
                         dataset {{ licenceId credit }} }} }} }} }}"#
        );
        let data = graphql(&store.pool, &q).await;
        let conn = &data["country"]["sites"];
        assert_eq!(conn["totalCount"].as_u64(), Some(expected.len() as u64));
        seen.extend(conn["nodes"].as_array().expect("nodes").iter().cloned());
        if conn["pageInfo"]["hasNextPage"] != Value::Bool(true) {
            break;
        }
        after = format!(r#", after: "{}""#, conn["pageInfo"]["endCursor"].as_str().expect("cursor"));
    }
    assert_eq!(seen.len(), expected.len());
    for row in &expected {
        let site = seen.iter().find(|s| s["siteCode"] == row["location_ssid"].as_str()).expect("site");
        assert_eq!(site["name"], row["village_idp_settlement_name"].trim());
        assert_eq!(site["type"], row["location_type"].as_str());
        assert_eq!(site["latitude"].as_f64(), row["latitude"].parse::<f64>().ok());
        assert_eq!(site["longitude"].as_f64(), row["longitude"].parse::<f64>().ok());
        assert_eq!(site["households"].as_i64(), row["a_idp_hhs_ssd"].parse::<i64>().ok());
        assert_eq!(site["individuals"].as_i64(), row["a_idp_inds_ssd"].parse::<i64>().ok());
        assert_eq!(site["round"].as_i64(), row["mt_round"].parse::<i64>().ok());
        assert_eq!(site["area"]["pcode"], row["County_INT_PCode"].as_str());
        assert_eq!(site["dataset"]["licenceId"], "hdx-other");
        assert!(site["dataset"]["credit"].as_str().is_some_and(|c| c.contains("Displacement Tracking Matrix")));
    }
    // Sites of a state are those of its counties.
    let state = graphql(&store.pool, r#"{ adminArea(pcode:"SS01") { sites(first: 100) { totalCount } } }"#).await;
    let in_state = expected.iter().filter(|r| r["State_INT_PCode"] == "SS01").count();
    assert_eq!(state["adminArea"]["sites"]["totalCount"].as_u64(), Some(in_state as u64));
}

async fn afghanistan_clusters_equal_ochas_own_output(backend: Backend) {
    let Some(store) = TestStore::new(backend).await else { return };
    let server = server_with(&[(FTS_PATH, read("tests/fixtures/fts/fts_requirements_funding_global.csv"))]).await;
    Mock::given(method("GET"))
        .and(path("/v1/fts/flow/custom-search"))
        .and(query_param("planid", "929"))
        .and(query_param("groupby", "cluster"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_bytes(read("tests/fixtures/fts/1-fts-flow-custom-search-planid-929-groupby-cluster.json")),
        )
        .mount(&server)
        .await;
    let ingester = ingester(&store, &server);
    assert_eq!(run(&ingester, Source::Geography, &["AFG"], &[]).await.status, status::SUCCEEDED);
    let r = run(&ingester, Source::Funding, &["AFG"], &[]).await;
    assert_eq!(r.status, status::SUCCEEDED, "{:?}", r.error);
    let data = graphql(
        &store.pool,
        r#"{ country(iso3:"AFG") { appeals(year:2020) { code requirementsUsd fundingUsd clusters { name requirementsUsd fundingUsd dataset { key } } } } }"#,
    )
    .await;
    let hafg20 = data["country"]["appeals"]
        .as_array()
        .expect("appeals")
        .iter()
        .find(|a| a["code"] == "HAFG20")
        .cloned()
        .expect("HAFG20");
    let global = csv_rows(&read("tests/fixtures/fts/fts_requirements_funding_global.csv"));
    let row = global.iter().find(|r| r["countryCode"] == "AFG" && r["code"] == "HAFG20").expect("HAFG20 row");
    assert_eq!(hafg20["requirementsUsd"].as_i64(), row["requirements"].parse().ok());
    let mut got: Vec<(String, Option<i64>, Option<i64>)> = hafg20["clusters"]
        .as_array()
        .expect("clusters")
        .iter()
        .map(|c| {
            (c["name"].as_str().unwrap_or("").to_string(), c["requirementsUsd"].as_i64(), c["fundingUsd"].as_i64())
        })
        .collect();
    let mut expected: Vec<(String, Option<i64>, Option<i64>)> =
        csv_rows(&read("tests/fixtures/fts/fts_requirements_funding_cluster_afg.csv"))
            .into_iter()
            .map(|r| (r["cluster"].clone(), r["requirements"].parse().ok(), r["funding"].parse().ok()))
            .collect();
    got.sort();
    expected.sort();
    assert_eq!(got, expected);
    assert_eq!(hafg20["clusters"][0]["dataset"]["key"], "fts-api");
}

/// Requests the server received for `file_path`.
async fn requests_for(server: &MockServer, file_path: &str) -> Vec<wiremock::Request> {
    server.received_requests().await.unwrap_or_default().into_iter().filter(|r| r.url.path() == file_path).collect()
}

async fn rerun_writes_nothing_and_downloads_nothing(backend: Backend) {
    let Some(store) = TestStore::new(backend).await else { return };
    let server = server_with(&[]).await;
    let ingester = ingester(&store, &server);
    for (source, country) in [
        (Source::Geography, "MLI"),
        (Source::Geography, "SSD"),
        (Source::Population, "MLI"),
        (Source::Funding, "MLI"),
        (Source::Sites, "SSD"),
        (Source::Needs, "MLI"),
        (Source::Needs, "TCD"),
        (Source::Catalog, "MLI"),
        (Source::Geography, "TCD"),
        (Source::Presence, "MLI"),
        (Source::Presence, "TCD"),
        (Source::NationalRisk, "MLI"),
        (Source::NationalRisk, "TCD"),
        (Source::Refugees, "AFG"),
        (Source::FoodSecurity, "MLI"),
        (Source::FoodSecurity, "AFG"),
        (Source::FoodPrices, "MLI"),
        (Source::FoodPrices, "AFG"),
    ] {
        let first = run(&ingester, source, &[country], &[]).await;
        assert_eq!(first.status, status::SUCCEEDED, "{source}: {:?}", first.error);
        let second = run(&ingester, source, &[country], &[]).await;
        assert_eq!(second.status, status::SUCCEEDED, "{source}: {:?}", second.error);
        assert_eq!((second.inserted, second.updated), (0, 0), "{source} re-run wrote something");
        assert_eq!(second.unchanged, first.inserted + first.unchanged, "{source}");
    }
    for (file_path, id, _) in ingest::sample::hdx_payloads() {
        if id.is_none() {
            assert_eq!(requests_for(&server, file_path).await.len(), 1, "{file_path} was downloaded again");
        }
    }
}

async fn unchanged_etag_means_no_download_even_when_the_catalog_date_moves(backend: Backend) {
    let Some(store) = TestStore::new(backend).await else { return };
    let server = common::fixture_server().await;
    let catalog = String::from_utf8(read("sample/hdx/package_show.cod-ps-mli.json")).expect("utf-8");
    // The catalog says every resource changed after any download of ours.
    let moved = catalog.replace("\"last_modified\": \"2022-08-26T", "\"last_modified\": \"2099-08-26T");
    assert_ne!(moved, catalog);
    Mock::given(method("GET"))
        .and(path(PACKAGE_SHOW))
        .and(query_param("id", "cod-ps-mli"))
        .respond_with(ResponseTemplate::new(200).set_body_string(moved))
        .mount(&server)
        .await;
    for (file_path, id, bytes) in ingest::sample::hdx_payloads() {
        if id.is_some() || !file_path.contains("mli_pop_adm") {
            continue;
        }
        Mock::given(method("GET"))
            .and(path(file_path))
            .and(header("if-none-match", "\"v1\""))
            .respond_with(ResponseTemplate::new(304))
            .with_priority(1)
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path(file_path))
            .respond_with(ResponseTemplate::new(200).insert_header("ETag", "\"v1\"").set_body_bytes(bytes))
            .with_priority(2)
            .mount(&server)
            .await;
    }
    let ingester = ingester(&store, &server);
    assert_eq!(run(&ingester, Source::Geography, &["MLI"], &[]).await.status, status::SUCCEEDED);
    let first = run(&ingester, Source::Population, &["MLI"], &[]).await;
    assert_eq!(first.status, status::SUCCEEDED, "{:?}", first.error);
    let second = run(&ingester, Source::Population, &["MLI"], &[]).await;
    assert_eq!(second.status, status::SUCCEEDED, "{:?}", second.error);
    assert_eq!((second.inserted, second.updated), (0, 0));
    let adm1 = requests_for(&server, ADM1_PATH).await;
    assert_eq!(adm1.len(), 2, "the changed catalog date makes us ask again");
    assert!(adm1[0].headers.get("if-none-match").is_none());
    assert_eq!(adm1[1].headers.get("if-none-match").and_then(|v| v.to_str().ok()), Some("\"v1\""));
}

async fn rejected(store: &TestStore, run_id: i64) -> Vec<Value> {
    let data = graphql(
        &store.pool,
        &format!("{{ ingestRun(id: {run_id}) {{ rejected rejectedRows {{ rowNumber reason raw }} }} }}"),
    )
    .await;
    data["ingestRun"]["rejectedRows"].as_array().cloned().unwrap_or_default()
}

async fn null_total_and_negative_amount_are_rejected_and_nothing_else_lost(backend: Backend) {
    let Some(store) = TestStore::new(backend).await else { return };
    let adm1 = String::from_utf8(read("sample/cod/mli_pop_adm1_v2.csv")).expect("utf-8");
    let mopti_line = adm1.lines().position(|l| l.contains(",ML05,")).expect("Mopti") + 1;
    let nulled = adm1.replace(
        "Mopti,ML05,<Null>,<Null>,<Null>,Mali (le),ML,1241176,1268527,2509703",
        "Mopti,ML05,<Null>,<Null>,<Null>,Mali (le),ML,1241176,1268527,<Null>",
    );
    assert_ne!(nulled, adm1);
    let server = server_with(&[
        (ADM1_PATH, nulled.into_bytes()),
        (FTS_PATH, read("tests/fixtures/fts/fts_requirements_funding_global.csv")),
    ])
    .await;
    let ingester = ingester(&store, &server);
    assert_eq!(run(&ingester, Source::Geography, &["MLI"], &[]).await.status, status::SUCCEEDED);
    let r = run(&ingester, Source::Population, &["MLI"], &[]).await;
    assert_eq!((r.status.as_str(), r.rejected), (status::SUCCEEDED, 1), "{:?}", r.error);
    let rows = rejected(&store, r.id).await;
    assert_eq!(rows[0]["rowNumber"].as_i64(), Some(mopti_line as i64));
    assert!(rows[0]["reason"].as_str().is_some_and(|m| m.contains("T_TL") && m.contains("<Null>")), "{rows:?}");
    assert!(rows[0]["raw"].as_str().is_some_and(|m| m.starts_with("Mopti,ML05")));
    let data = graphql(
        &store.pool,
        r#"{ country(iso3:"MLI") { population { total } adminAreas(level:1) { pcode population { total } } } }"#,
    )
    .await;
    assert_eq!(data["country"]["population"]["total"], 17_907_114);
    let areas = data["country"]["adminAreas"].as_array().expect("areas");
    let with_population = areas.iter().filter(|a| !a["population"].is_null()).count();
    // 9 regions in the file, minus the rejected Mopti and minus 2018 Gao; plus Ménaka from the cercle file.
    assert_eq!(with_population, 9 - 1 - 1 + 1);

    // Real negative amounts of the global FTS file: Türkiye's 2017 funding outside appeals.
    let global = csv_rows(&read("tests/fixtures/fts/fts_requirements_funding_global.csv"));
    let tur: Vec<_> = global.iter().filter(|r| r["countryCode"] == "TUR").collect();
    let negative = tur.iter().filter(|r| r["funding"].starts_with('-') || r["requirements"].starts_with('-')).count();
    assert!(negative >= 1);
    let r = run(&ingester, Source::Funding, &["TUR"], &[]).await;
    assert_eq!(r.status, status::SUCCEEDED, "{:?}", r.error);
    // The real file also has a plan without a code (Syria 3RP 2014, FTS id 443): not an appeal we can key.
    let no_code = tur.iter().filter(|r| r["code"].is_empty() && r["name"] != "Not specified").count();
    assert_eq!(r.rejected as usize, negative + no_code);
    let rows = rejected(&store, r.id).await;
    let reasons: Vec<&str> = rows.iter().filter_map(|row| row["reason"].as_str()).collect();
    assert_eq!(reasons.iter().filter(|m| m.contains("negative")).count(), negative, "{reasons:?}");
    assert_eq!(reasons.iter().filter(|m| m.contains("has no code")).count(), no_code, "{reasons:?}");
    assert!(
        rows.iter()
            .any(|row| row["raw"].as_str().is_some_and(|m| m.starts_with("TUR,,Not specified,,,,,,2017,,-349234272")))
    );
    let data =
        graphql(&store.pool, r#"{ country(iso3:"TUR") { appeals { code } fundingOutsideAppeals { year } } }"#).await;
    let appeals = tur.iter().filter(|r| !r["code"].is_empty()).count();
    assert_eq!(data["country"]["appeals"].as_array().map(Vec::len), Some(appeals));
    assert_eq!(
        data["country"]["fundingOutsideAppeals"].as_array().map(Vec::len),
        Some(tur.len() - appeals - negative - no_code)
    );
}

async fn missing_hxl_row_and_bom_still_parse_renamed_column_without_hxl_fails_cleanly(backend: Backend) {
    let Some(store) = TestStore::new(backend).await else { return };
    let original = String::from_utf8(read("sample/fts/fts_requirements_funding_global.MLI-subset.csv")).expect("utf-8");
    let no_hxl: String = original.lines().enumerate().filter(|(i, _)| *i != 1).map(|(_, l)| format!("{l}\n")).collect();
    let bom_no_hxl = format!("\u{feff}{no_hxl}");
    let server = server_with(&[(FTS_PATH, bom_no_hxl.into_bytes())]).await;
    let ingester = ingester(&store, &server);
    assert_eq!(run(&ingester, Source::Geography, &["MLI"], &[]).await.status, status::SUCCEEDED);
    let r = run(&ingester, Source::Funding, &["MLI"], &[]).await;
    assert_eq!((r.status.as_str(), r.rejected), (status::SUCCEEDED, 0), "{:?}", r.error);
    let query = r#"{ country(iso3:"MLI") { appeals(year:2021) { code requirementsUsd fundingUsd } } }"#;
    let before = graphql(&store.pool, query).await;
    assert_eq!(before["country"]["appeals"][0]["requirementsUsd"], 563_286_869);

    // A renamed column in a file without an HXL row cannot be mapped: the run fails, nothing changes.
    let renamed = no_hxl.replacen("requirements,funding", "requirementsUSD,fundingUSD", 1).replace("563286869", "1");
    let server = server_with(&[(FTS_PATH, renamed.into_bytes())]).await;
    let ingester = common::ingester(&store, &server);
    let r = run(&ingester, Source::Funding, &["MLI"], &[]).await;
    assert_eq!(r.status, status::FAILED);
    assert!(r.error.as_deref().is_some_and(|e| e.contains("requirements")), "{:?}", r.error);
    assert_eq!(graphql(&store.pool, query).await, before);
}

async fn bad_coordinates_are_rejected_with_reasons(backend: Backend) {
    let Some(store) = TestStore::new(backend).await else { return };
    let list = String::from_utf8(read(
        "sample/dtm/hdx_xlsx_extract/ssd-dtm-mobility-tracking-r16-baseline-locations.first40rows.csv",
    ))
    .expect("utf-8");
    // Swap Mahad's latitude and longitude: a point in Libya, not South Sudan.
    let swapped = list.replace("Displacement Site,4.830456,31.610185", "Displacement Site,31.610185,4.830456");
    assert_ne!(swapped, list);
    let server = server_with(&[(SITES_PATH, swapped.into_bytes())]).await;
    let ingester = ingester(&store, &server);
    assert_eq!(run(&ingester, Source::Geography, &["SSD"], &[]).await.status, status::SUCCEEDED);
    let r = run(&ingester, Source::Sites, &["SSD"], &[]).await;
    assert_eq!((r.status.as_str(), r.rejected, r.inserted), (status::SUCCEEDED, 1, 39), "{:?}", r.error);
    let rows = rejected(&store, r.id).await;
    assert!(rows[0]["reason"].as_str().is_some_and(|m| m.contains("bounding box")), "{rows:?}");
    assert!(rows[0]["raw"].as_str().is_some_and(|m| m.contains("ssid_SS0101_0020")));
}

async fn stored_rejected_rows(store: &TestStore) -> i64 {
    use diesel::prelude::*;
    store::with_conn(&store.pool, |c| Ok(store::schema::rejected_rows::table.count().get_result::<i64>(c)?))
        .await
        .expect("count")
}

/// The kit reads every HDX table with the field bound (`CRISISGRAPH_MAX_FIELD_BYTES`, 8 KiB by default):
/// a site whose name is 20,000 bytes is rejected with its reason and only its first KiB kept, the other
/// 39 sites are written. A second run over the same bytes reports the same rejection and points at the
/// row the first run stored: the site list is South Sudan's alone, so its rejected rows are stored once.
async fn an_oversized_field_of_an_hdx_file_is_rejected_and_rejected_rows_are_stored_once(backend: Backend) {
    let Some(store) = TestStore::new(backend).await else { return };
    let list = String::from_utf8(read(
        "sample/dtm/hdx_xlsx_extract/ssd-dtm-mobility-tracking-r16-baseline-locations.first40rows.csv",
    ))
    .expect("utf-8");
    let line = list.lines().position(|l| l.contains(",ssid_SS0101_0020,Mahad,")).expect("Mahad") + 1;
    let huge = list.replace(",ssid_SS0101_0020,Mahad,", &format!(",ssid_SS0101_0020,{},", "M".repeat(20_000)));
    let server = server_with(&[(SITES_PATH, huge.into_bytes())]).await;
    let ingester = ingester(&store, &server);
    assert_eq!(run(&ingester, Source::Geography, &["SSD"], &[]).await.status, status::SUCCEEDED);
    let before = stored_rejected_rows(&store).await;
    let first = run(&ingester, Source::Sites, &["SSD"], &[]).await;
    assert_eq!(
        (first.status.as_str(), first.rejected, first.inserted),
        (status::SUCCEEDED, 1, 39),
        "{:?}",
        first.error
    );
    let rows = rejected(&store, first.id).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["rowNumber"].as_i64(), Some(line as i64));
    assert_eq!(
        rows[0]["reason"].as_str(),
        Some("village_idp_settlement_name is longer than the 8192 bytes a field may have (20000 bytes)")
    );
    let raw = rows[0]["raw"].as_str().unwrap_or_default();
    assert!(raw.starts_with("South Sudan,SSD,SS01") && raw.chars().count() <= 1025, "{} chars", raw.len());
    let sites =
        graphql(&store.pool, r#"{ country(iso3:"SSD") { sites(first: 100) { edges { node { name } } } } }"#).await;
    let names = sites["country"]["sites"]["edges"].as_array().cloned().unwrap_or_default();
    assert_eq!(names.len(), 39, "{sites}");
    let longest = names.iter().filter_map(|e| e["node"]["name"].as_str()).map(str::len).max();
    assert!(longest.is_some_and(|l| l < 200), "no oversized name stored: {longest:?}");
    assert_eq!(stored_rejected_rows(&store).await, before + 1);

    let second = run(&ingester, Source::Sites, &["SSD"], &[]).await;
    assert_eq!((second.status.as_str(), second.rejected, second.unchanged), (status::SUCCEEDED, 1, 39));
    assert_eq!(rejected(&store, second.id).await, rows, "the same rejected row, shown for the second run");
    assert_eq!(stored_rejected_rows(&store).await, before + 1, "and stored once");
}

async fn failed_download_leaves_the_store_as_it_was(backend: Backend) {
    let Some(store) = TestStore::new(backend).await else { return };
    let server = common::fixture_server().await;
    for (file_path, id, bytes) in ingest::sample::hdx_payloads() {
        let mock = Mock::given(method("GET")).and(path(file_path));
        let response = if file_path == ADM1_PATH {
            ResponseTemplate::new(500)
        } else {
            ResponseTemplate::new(200).set_body_bytes(bytes)
        };
        match id {
            Some(id) => mock.and(query_param("id", id)).respond_with(response).mount(&server).await,
            None => mock.respond_with(response).mount(&server).await,
        }
    }
    let ingester = ingester(&store, &server);
    assert_eq!(run(&ingester, Source::Geography, &["MLI"], &[]).await.status, status::SUCCEEDED);
    let r = run(&ingester, Source::Population, &["MLI"], &[]).await;
    assert_eq!(r.status, status::FAILED);
    assert_eq!((r.inserted, r.updated), (0, 0));
    let rows =
        store::with_conn(&store.pool, |c| store::population::population_of_country(c, "MLI")).await.expect("read");
    assert!(rows.is_empty(), "the adm0 file fetched fine, but nothing is written without adm1");
}

async fn datasets_show_resources_licence_and_runs(backend: Backend) {
    let Some(store) = TestStore::new(backend).await else { return };
    let server = server_with(&[]).await;
    mali(&store, &server).await;
    let data = graphql(
        &store.pool,
        r#"{ datasets { id key title organisation licence licenceId credit lastModified updateFrequencyDays
              resources { name format url lastModified hdxId } ingestRuns { id source } } }"#,
    )
    .await;
    let cod = data["datasets"]
        .as_array()
        .expect("datasets")
        .iter()
        .find(|d| d["key"] == "hdx:cod-ps-mli")
        .cloned()
        .expect("cod-ps-mli");
    let package: Value = serde_json::from_slice(&read("sample/hdx/package_show.cod-ps-mli.json")).expect("json");
    let result = &package["result"];
    assert_eq!(cod["title"], result["title"]);
    assert_eq!(cod["organisation"], result["organization"]["title"]);
    assert_eq!(cod["licenceId"], result["license_id"]);
    assert_eq!(
        cod["updateFrequencyDays"].as_i64(),
        result["data_update_frequency"].as_str().and_then(|f| f.parse().ok())
    );
    // HDX gives UTC without an offset; the API gives the same instant, to the second, with `Z`.
    let hdx_modified = result["last_modified"].as_str().expect("last_modified");
    assert_eq!(cod["lastModified"].as_str(), Some(format!("{}Z", &hdx_modified[..19]).as_str()));
    let names: Vec<&str> =
        cod["resources"].as_array().expect("resources").iter().filter_map(|r| r["name"].as_str()).collect();
    assert_eq!(names, ["mli_pop_adm0_v2.csv", "mli_pop_adm1_v2.csv", "mli_pop_adm2_v2.csv"]);
    assert!(cod["resources"][0]["url"].as_str().is_some_and(|u| u.starts_with(&server.uri())));
    assert_eq!(cod["ingestRuns"].as_array().map(Vec::len), Some(1));
    assert_eq!(cod["ingestRuns"][0]["source"], "population");
    let one =
        graphql(&store.pool, &format!(r#"{{ dataset(id: "{}") {{ key }} }}"#, cod["id"].as_str().expect("id"))).await;
    assert_eq!(one["dataset"]["key"], "hdx:cod-ps-mli");
    let bad = graphql_response(&store.pool, r#"{ dataset(id: "x") { key } }"#).await;
    assert_eq!(bad["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
}

async fn sample_answers_the_issue_query(backend: Backend) {
    let Some(store) = TestStore::new(backend).await else { return };
    let runs = ingest::sample::load_sample(&store.pool).await.expect("sample loads");
    for r in &runs {
        assert_eq!(r.status, status::SUCCEEDED, "{} {:?}", r.source, r.error);
    }
    let data = graphql(
        &store.pool,
        r#"{ country(iso3:"MLI") { population { total } appeals(year:2021) { code requirementsUsd fundingUsd percentFunded }
             adminAreas(level:1) { pcode name population { total } } } }"#,
    )
    .await;
    let mli = &data["country"];
    assert_eq!(mli["population"]["total"], 17_907_114);
    assert_eq!(mli["appeals"][0]["code"], "HMLI21");
    assert_eq!(mli["appeals"][0]["requirementsUsd"], 563_286_869);
    assert_eq!(mli["appeals"][0]["fundingUsd"], 228_381_821);
    assert_eq!(mli["appeals"][0]["percentFunded"], 40.5);
    let mopti =
        mli["adminAreas"].as_array().expect("areas").iter().find(|a| a["pcode"] == "ML05").cloned().expect("Mopti");
    assert_eq!(mopti["population"]["total"], 2_509_703);
    let ssd = graphql(&store.pool, r#"{ country(iso3:"SSD") { sites(first: 1) { totalCount } } }"#).await;
    assert_eq!(ssd["country"]["sites"]["totalCount"], 40);
    // Loading again changes nothing.
    for r in ingest::sample::load_sample(&store.pool).await.expect("sample loads again") {
        assert_eq!((r.inserted, r.updated), (0, 0), "{}", r.source);
    }
}
