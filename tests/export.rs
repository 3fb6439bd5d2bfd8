//! BI export over HTTP on both stores: the Mali answer as CSV and JSON, filters (area subtree),
//! paging with Link headers, HXL row and BOM, formula neutralisation, conditional requests, bad input.

mod common;

use std::collections::BTreeMap;

use actix_web::test as awtest;
use common::{Backend, TestStore, fixture_server, ingester, mount_dtm, options};
use ingest::Source;
use serde_json::Value;
use wiremock::{Mock, MockServer, ResponseTemplate};

on_both_stores!(
    mali_regions_as_csv_and_json,
    area_subtree_filter_and_paging_follow_the_files,
    hxl_bom_and_formula_cells,
    conditional_requests_and_bad_parameters,
    population_appeals_and_sites_exports_follow_the_files,
);

async fn population_appeals_and_sites_exports_follow_the_files(backend: Backend) {
    tokio::task::LocalSet::new().run_until(other_exports_scenario(backend)).await;
}

async fn other_exports_scenario(backend: Backend) {
    let Some(store) = TestStore::new(backend).await else { return };
    ingest::sample::load_sample(&store.pool).await.expect("sample");
    let app = app(&store).await;

    let (_, population) =
        csv_rows(&awtest::read_body(get(&app, "/export/population.csv?country=MLI&admin_level=1").await).await);
    let (_, file) = csv_rows(&common::read("sample/cod/mli_pop_adm1_v2.csv")[3..]);
    let totals: Vec<_> = population.iter().filter(|r| r["sex"] == "all").collect();
    assert_eq!(totals.len(), file.len(), "one total per region of the file");
    for row in &file {
        let ours = totals.iter().find(|r| r["source_pcode"] == row["admin1Pcode"]).expect("region");
        assert_eq!(ours["population"], row["T_TL"]);
        assert_eq!(ours["reference_year"], "2018");
    }

    let (_, appeals) = csv_rows(&awtest::read_body(get(&app, "/export/appeals.csv?country=MLI&year=2021").await).await);
    assert_eq!(appeals.len(), 1);
    let fts =
        String::from_utf8(common::read("sample/fts/fts_requirements_funding_global.MLI-subset.csv")).expect("UTF-8");
    let hmli21 = fts.lines().find(|l| l.contains(",HMLI21,")).expect("row");
    let a = &appeals[0];
    assert_eq!(a["appeal_code"], "HMLI21");
    assert!(hmli21.split(',').any(|c| c == a["requirements_usd"]) && hmli21.split(',').any(|c| c == a["funding_usd"]));
    let (req, fund): (f64, f64) =
        (a["requirements_usd"].parse().expect("req"), a["funding_usd"].parse().expect("fund"));
    assert_eq!(a["percent_funded"].parse::<f64>().ok(), Some((fund * 1000.0 / req).round() / 10.0));

    let json: Value =
        serde_json::from_slice(&awtest::read_body(get(&app, "/export/sites.json?country=SSD").await).await)
            .expect("JSON");
    let sites = json.as_array().expect("array");
    let data: Value =
        common::graphql(&store.pool, r#"{ country(iso3: "SSD") { sites(first: 1000) { totalCount } } }"#).await;
    assert_eq!(Some(sites.len() as i64), data["country"]["sites"]["totalCount"].as_i64());
    assert!(sites.len() >= 30);
    assert!(sites.iter().all(|s| s["latitude"].is_number()
        && s["credit"].as_str().is_some_and(|c| c.contains("IOM") || c.contains("International Organization"))));
}

async fn app(
    store: &TestStore,
) -> impl actix_web::dev::Service<actix_http::Request, Response = actix_web::dev::ServiceResponse, Error = actix_web::Error>
{
    let schema = api::build_schema(store.pool.clone(), api::Operations::default());
    awtest::init_service(actix_web::App::new().configure(api::server::configure(schema, store.pool.clone()))).await
}

fn csv_rows(body: &[u8]) -> (Vec<String>, Vec<BTreeMap<String, String>>) {
    let mut reader = csv::Reader::from_reader(body);
    let headers: Vec<String> = reader.headers().expect("header").iter().map(String::from).collect();
    let rows = reader
        .records()
        .map(|r| {
            let r = r.expect("row");
            headers.iter().cloned().zip(r.iter().map(String::from)).collect()
        })
        .collect();
    (headers, rows)
}

async fn get(
    app: &impl actix_web::dev::Service<
        actix_http::Request,
        Response = actix_web::dev::ServiceResponse,
        Error = actix_web::Error,
    >,
    uri: &str,
) -> actix_web::dev::ServiceResponse {
    awtest::call_service(app, awtest::TestRequest::get().uri(uri).to_request()).await
}

async fn mali_regions_as_csv_and_json(backend: Backend) {
    tokio::task::LocalSet::new().run_until(mali_scenario(backend)).await;
}

async fn mali_scenario(backend: Backend) {
    let Some(store) = TestStore::new(backend).await else { return };
    ingest::sample::load_sample(&store.pool).await.expect("sample");
    let app = app(&store).await;
    let response = get(&app, "/export/idps.csv?country=MLI&admin_level=1&latest_round_only=true").await;
    assert_eq!(response.status(), 200);
    let body = awtest::read_body(response).await;
    let (headers, rows) = csv_rows(&body);
    assert_eq!(headers[..4], ["country_iso3", "country_name", "admin_level", "area_pcode"]);
    // Expected from the payload file: every region's round-68 figure.
    let file: Value = serde_json::from_slice(&common::read(common::DTM_FILES[9].2)).expect("JSON");
    let mut expected: BTreeMap<String, i64> = BTreeMap::new();
    for r in file["result"].as_array().expect("rows") {
        *expected.entry(r["admin1Pcode"].as_str().expect("pcode").to_string()).or_default() +=
            r["numPresentIdpInd"].as_i64().expect("n");
    }
    let ours: BTreeMap<String, i64> =
        rows.iter().map(|r| (r["area_pcode"].clone(), r["idps"].parse::<i64>().expect("idps"))).collect();
    assert_eq!(rows.len(), 8);
    assert_eq!(ours, expected);
    assert_eq!(ours.values().sum::<i64>(), 311_193);
    assert!(
        rows.iter()
            .all(|r| r["credit"].contains("Displacement Tracking Matrix") && r["reporting_date"] == "2020-10-31")
    );

    let json = get(&app, "/export/idps.json?country=MLI&admin_level=1&latest_round_only=true").await;
    let json: Value = serde_json::from_slice(&awtest::read_body(json).await).expect("JSON array");
    let json_rows = json.as_array().expect("array");
    assert_eq!(json_rows.len(), rows.len());
    for (j, c) in json_rows.iter().zip(&rows) {
        assert_eq!(j["area_pcode"], c["area_pcode"].as_str());
        assert_eq!(j["idps"].as_i64(), c["idps"].parse().ok());
    }
}

async fn area_subtree_filter_and_paging_follow_the_files(backend: Backend) {
    tokio::task::LocalSet::new().run_until(subtree_scenario(backend)).await;
}

async fn subtree_scenario(backend: Backend) {
    let Some(store) = TestStore::new(backend).await else { return };
    let server = fixture_server().await;
    let ingester = ingester(&store, &server);
    ingester.run(Source::Geography, &options(&["HTI"], &[])).await.expect("geography");
    ingester.run(Source::Dtm, &options(&["HTI"], &[2])).await.expect("dtm");
    // Expected: HAPI's admin-2 figures for Haiti under Ouest (HT01).
    let oracle = common::read("tests/fixtures/hdx_hapi_idps_global.TCD-HTI-AFG-subset.csv");
    let (_, hapi) = csv_rows(oracle.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&oracle));
    let expected: Vec<i64> = hapi
        .iter()
        .filter(|r| r["location_code"] == "HTI" && r["admin_level"] == "2" && r["admin1_code"] == "HT01")
        .map(|r| r["population"].parse().expect("population"))
        .collect();
    assert!(expected.len() > 100);

    let app = app(&store).await;
    let mut uri = "/export/idps.csv?pcode=HT01&admin_level=2&limit=100".to_string();
    let mut collected = Vec::new();
    let mut pages = 0;
    loop {
        let response = get(&app, &uri).await;
        assert_eq!(response.status(), 200);
        let link = response.headers().get("link").and_then(|v| v.to_str().ok()).map(String::from);
        let (_, rows) = csv_rows(&awtest::read_body(response).await);
        assert!(rows.len() <= 100);
        assert!(rows.iter().all(|r| r["parent_pcode"] == "HT01"));
        collected.extend(rows.iter().map(|r| r["idps"].parse::<i64>().expect("idps")));
        pages += 1;
        match link {
            Some(link) => uri = link.trim_start_matches('<').split('>').next().expect("link target").to_string(),
            None => break,
        }
    }
    assert_eq!(pages, expected.len().div_ceil(100));
    let (mut ours, mut theirs) = (collected, expected);
    ours.sort_unstable();
    theirs.sort_unstable();
    assert_eq!(ours, theirs, "the pages together hold exactly HAPI's figures");
}

async fn hxl_bom_and_formula_cells(backend: Backend) {
    tokio::task::LocalSet::new().run_until(formula_scenario(backend)).await;
}

async fn formula_scenario(backend: Backend) {
    let Some(store) = TestStore::new(backend).await else { return };
    // The real Chad admin1 answer, with a province name a spreadsheet would run as a formula.
    let server = MockServer::start().await;
    let mut body: Value = serde_json::from_slice(&common::read(common::DTM_FILES[1].2)).expect("JSON");
    for row in body["result"].as_array_mut().expect("rows") {
        row["admin1Name"] = Value::from("=HYPERLINK(\"http://evil.example\",\"Lac\")");
    }
    mount_dtm(&server, "TCD", 1, ResponseTemplate::new(200).set_body_json(&body)).await;
    Mock::given(wiremock::matchers::path(ingest::sources::geography::RESOURCE_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(common::read(common::PCODES_FILE)))
        .mount(&server)
        .await;
    let ingester = common::ingester(&store, &server);
    ingester.run(Source::Geography, &options(&["TCD"], &[])).await.expect("geography");
    ingester.run(Source::Dtm, &options(&["TCD"], &[1])).await.expect("dtm");
    let app = app(&store).await;
    let body = awtest::read_body(get(&app, "/export/idps.csv?country=TCD&admin_level=1&hxl=true&bom=true").await).await;
    assert!(body.starts_with(b"\xEF\xBB\xBFcountry_iso3,"), "BOM then header");
    let text = String::from_utf8(body[3..].to_vec()).expect("UTF-8");
    let mut lines = text.lines();
    lines.next();
    assert!(lines.next().is_some_and(|l| l.starts_with("#country+code,#country+name")), "HXL row second");
    let (_, rows) = csv_rows(&body[3..]);
    let data_rows: Vec<_> = rows.iter().skip(1).collect();
    assert!(!data_rows.is_empty());
    assert!(data_rows.iter().all(|r| r["source_name"].starts_with("'=HYPERLINK")), "formula neutralised");
    let json: Value = serde_json::from_slice(
        &awtest::read_body(get(&app, "/export/idps.json?country=TCD&admin_level=1").await).await,
    )
    .expect("JSON");
    assert!(json[0]["source_name"].as_str().is_some_and(|s| s.starts_with("=HYPERLINK")), "JSON keeps the value");
}

async fn conditional_requests_and_bad_parameters(backend: Backend) {
    tokio::task::LocalSet::new().run_until(conditional_scenario(backend)).await;
}

async fn conditional_scenario(backend: Backend) {
    let Some(store) = TestStore::new(backend).await else { return };
    ingest::sample::load_sample(&store.pool).await.expect("sample");
    let app = app(&store).await;
    let first = get(&app, "/export/admin-areas.csv?country=MLI&current_only=true").await;
    let etag = first.headers().get("etag").and_then(|v| v.to_str().ok()).expect("ETag").to_string();
    assert!(first.headers().contains_key("last-modified"));
    let (_, areas) = csv_rows(&awtest::read_body(first).await);
    let file = String::from_utf8(common::read(common::PCODES_FILE)).expect("UTF-8");
    assert_eq!(areas.len(), file.lines().filter(|l| l.starts_with("MLI,")).count() + 1, "areas plus the country");
    let again = awtest::call_service(
        &app,
        awtest::TestRequest::get()
            .uri("/export/admin-areas.csv?country=MLI&current_only=true")
            .insert_header(("If-None-Match", etag.clone()))
            .to_request(),
    )
    .await;
    assert_eq!(again.status(), 304);
    // New data changes the ETag.
    let server = fixture_server().await;
    common::ingester(&store, &server).run(Source::Dtm, &options(&["TCD"], &[0])).await.expect("run");
    let after = get(&app, "/export/admin-areas.csv?country=MLI&current_only=true").await;
    assert_ne!(after.headers().get("etag").and_then(|v| v.to_str().ok()), Some(etag.as_str()));

    for bad in [
        "/export/idps.csv?country=Mali",
        "/export/idps.csv?admin_level=9",
        "/export/idps.csv?limit=5000000",
        "/export/idps.csv?from=yesterday",
        "/export/idps.csv?contry=MLI",
        "/export/idps.xml",
        "/export/weather.csv",
        "/export/idps.csv?pcode=ML05%27%20OR%201=1--",
    ] {
        let response = get(&app, bad).await;
        let status = response.status().as_u16();
        if bad.contains("pcode=") {
            // SQL meta-characters are just an unknown p-code: an empty export, not an error.
            assert_eq!(status, 200, "{bad}");
            let (_, rows) = csv_rows(&awtest::read_body(response).await);
            assert!(rows.is_empty(), "{bad}");
        } else {
            assert_eq!(status, 400, "{bad}");
        }
    }
}
