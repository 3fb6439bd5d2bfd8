//! BI export over HTTP on both stores: the Mali answer as CSV and JSON, filters (area subtree),
//! paging with Link headers, HXL row and BOM, formula neutralisation, conditional requests, bad input,
//! and what a BI tool relies on: no endless paging, refused parameters named, a population export that
//! sums right, licences as GraphQL gives them, HEAD and If-Modified-Since. The Parquet export, read
//! back with the `parquet` crate: its column types, and the rows and sums of the CSV export (over HTTP
//! and from `crisisgraph export`).

mod common;

use std::collections::BTreeMap;

use actix_web::test as awtest;
use common::{Backend, TestStore, fixture_server, ingester, mount_dtm, options};
use diesel::Connection;
use ingest::Source;
use serde_json::Value;
use wiremock::{Mock, MockServer, ResponseTemplate};

on_both_stores!(
    mali_regions_as_csv_and_json,
    area_subtree_filter_and_paging_follow_the_files,
    hxl_bom_and_formula_cells,
    conditional_requests_and_bad_parameters,
    population_appeals_and_sites_exports_follow_the_files,
    bi_tools_can_trust_the_exports,
    export_errors_carry_the_codes_graphql_uses,
    pages_by_key_and_by_offset_give_the_rows_of_one_read,
    parquet_exports_read_back_typed_with_the_csv_figures,
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

async fn bi_tools_can_trust_the_exports(backend: Backend) {
    tokio::task::LocalSet::new().run_until(trust_scenario(backend)).await;
}

/// The national total and the female total of Mali's population file (its `T_TL` and `F_TL` columns).
fn mali_population_file() -> (i64, i64) {
    let (_, rows) = csv_rows(&common::read("sample/cod/mli_pop_adm0_v2.csv")[3..]);
    let value = |name: &str| rows[0][name].parse::<i64>().expect("a whole number");
    (value("T_TL"), value("F_TL"))
}

async fn trust_scenario(backend: Backend) {
    let Some(store) = TestStore::new(backend).await else { return };
    ingest::sample::load_sample(&store.pool).await.expect("sample");
    let app = app(&store).await;
    let text = |response: actix_web::dev::ServiceResponse| async move {
        String::from_utf8(awtest::read_body(response).await.to_vec()).expect("UTF-8")
    };

    // A page of nothing cannot link to itself: `limit=0` is refused.
    let zero = get(&app, "/export/idps.csv?country=MLI&limit=0").await;
    assert_eq!(zero.status(), 400, "limit=0");
    assert!(zero.headers().get("link").is_none());

    // A parameter that does not apply to the export is refused, naming those that do.
    let year = get(&app, "/export/idps.csv?country=MLI&year=2020").await;
    assert_eq!(year.status(), 400, "year on IDPs");
    let message = text(year).await;
    assert!(message.contains("\"year\"") && message.contains("round") && message.contains("operation"), "{message}");
    assert!(
        !message.split("apply").nth(1).unwrap_or_default().contains("year"),
        "year is not listed as applying: {message}"
    );
    for (uri, what) in [
        ("/export/appeals.csv?admin_level=1", "admin_level on appeals"),
        ("/export/admin-areas.csv?round=3", "round on admin areas"),
        ("/export/sites.csv?latest_round_only=true", "latest_round_only on sites"),
    ] {
        assert_eq!(get(&app, uri).await.status(), 400, "{what}");
    }

    // Population: by default only the totals (sex `all`), so a BI sum over one level is the population.
    let (national, female) = mali_population_file();
    let (_, rows) =
        csv_rows(&awtest::read_body(get(&app, "/export/population.csv?country=MLI&admin_level=0").await).await);
    let sum: i64 = rows.iter().map(|r| r["population"].parse::<i64>().expect("population")).sum();
    assert_eq!(sum, national, "the default does not double count");
    let (_, women) =
        csv_rows(&awtest::read_body(get(&app, "/export/population.csv?country=MLI&admin_level=0&sex=f").await).await);
    assert_eq!(women.len(), 1);
    assert_eq!(women[0]["population"].parse::<i64>().ok(), Some(female));
    assert_eq!(get(&app, "/export/population.csv?country=MLI&sex=x").await.status(), 400, "sex=x");

    // The licence as GraphQL gives it: its title and URL, not HDX's short id.
    let datasets = common::graphql(&store.pool, "{ datasets { key licence licenceUrl } }").await;
    let licence_of = |key: &str| {
        let d = datasets["datasets"].as_array().expect("datasets").iter().find(|d| d["key"] == key).expect("dataset");
        (
            d["licence"].as_str().unwrap_or_default().to_string(),
            d["licenceUrl"].as_str().unwrap_or_default().to_string(),
        )
    };
    let (header, idps) =
        csv_rows(&awtest::read_body(get(&app, "/export/idps.csv?country=MLI&admin_level=0").await).await);
    assert!(header.contains(&"licence_url".to_string()), "{header:?}");
    let (title, url) = licence_of(&idps[0]["dataset"]);
    assert!(title.starts_with("IOM terms of use"), "{title}");
    assert_eq!((idps[0]["licence"].clone(), idps[0]["licence_url"].clone()), (title, url));
    let package: Value =
        serde_json::from_slice(&common::read("sample/hdx/package_show.cod-ps-mli.json")).expect("JSON");
    let package = if package["result"].is_object() { &package["result"] } else { &package };
    assert_eq!(rows[0]["licence"], package["license_title"].as_str().expect("licence title"));
    assert_eq!(rows[0]["licence_url"], package["license_url"].as_str().expect("licence URL"));

    // HEAD answers the headers of GET without a body; If-Modified-Since is honoured.
    let uri = "/export/idps.csv?country=MLI&admin_level=1";
    let head = awtest::call_service(
        &app,
        awtest::TestRequest::default().method(actix_web::http::Method::HEAD).uri(uri).to_request(),
    )
    .await;
    assert_eq!(head.status(), 200, "HEAD");
    let last_modified =
        head.headers().get("last-modified").and_then(|v| v.to_str().ok()).expect("Last-Modified").to_string();
    assert!(head.headers().contains_key("etag"));
    assert!(awtest::read_body(head).await.is_empty(), "HEAD has no body");
    let since =
        |value: String| awtest::TestRequest::get().uri(uri).insert_header(("If-Modified-Since", value)).to_request();
    assert_eq!(awtest::call_service(&app, since(last_modified.clone())).await.status(), 304, "not modified since");
    let at = chrono::DateTime::parse_from_rfc2822(&last_modified.replace("GMT", "+0000")).expect("an HTTP date");
    let earlier = (at - chrono::Duration::days(1)).format("%a, %d %b %Y %H:%M:%S GMT").to_string();
    assert_eq!(awtest::call_service(&app, since(earlier)).await.status(), 200, "modified since the day before");
}

async fn export_errors_carry_the_codes_graphql_uses(backend: Backend) {
    tokio::task::LocalSet::new().run_until(error_scenario(backend)).await;
}

/// An export's error has the status and code of `ApiError`, as GraphQL's `extensions.code` does: as
/// text (`CODE: message`) for CSV, as GraphQL's `errors` shape for JSON; 503 `UNAVAILABLE` when the
/// store is gone (PostgreSQL: its database is dropped under the server).
async fn error_scenario(backend: Backend) {
    let Some(store) = TestStore::new(backend).await else { return };
    let app = app(&store).await;
    let body = |response: actix_web::dev::ServiceResponse| async move {
        String::from_utf8(awtest::read_body(response).await.to_vec()).expect("UTF-8")
    };
    let csv = get(&app, "/export/idps.csv?year=2020").await;
    assert_eq!(csv.status(), 400);
    let text = body(csv).await;
    assert!(text.starts_with("BAD_USER_INPUT: parameter \"year\""), "{text}");
    let json = get(&app, "/export/appeals.json?year=twenty").await;
    assert_eq!(json.status(), 400);
    assert_eq!(json.headers().get("content-type").and_then(|v| v.to_str().ok()), Some("application/json"));
    let json: Value = serde_json::from_str(&body(json).await).expect("JSON");
    assert_eq!(json["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{json}");
    assert!(json["errors"][0]["message"].as_str().is_some_and(|m| m.contains("year")), "{json}");
    let unknown = get(&app, "/export/weather.json").await;
    assert_eq!(unknown.status(), 400);
    let unknown: Value = serde_json::from_str(&body(unknown).await).expect("JSON");
    assert!(unknown["errors"][0]["message"].as_str().is_some_and(|m| m.contains("idps, population")), "{unknown}");

    if backend == Backend::Postgres {
        let admin = common::postgres_url().expect("PostgreSQL URL");
        let database = store.url.rsplit('/').next().and_then(|d| d.split('?').next()).expect("database").to_string();
        let mut conn = diesel::PgConnection::establish(&admin).expect("connect");
        diesel::connection::SimpleConnection::batch_execute(
            &mut conn,
            &format!("DROP DATABASE \"{database}\" WITH (FORCE)"),
        )
        .expect("drop the store's database");
        let gone = get(&app, "/export/idps.csv?country=MLI").await;
        assert_eq!(gone.status(), 503);
        let text = body(gone).await;
        assert!(text.starts_with("UNAVAILABLE: "), "{text}");
        let gone = get(&app, "/export/idps.json?country=MLI").await;
        assert_eq!(gone.status(), 503);
        let json: Value = serde_json::from_str(&body(gone).await).expect("JSON");
        let graphql = common::graphql_response(&store.pool, "{ countries { iso3 } }").await;
        assert_eq!(json["errors"][0]["extensions"]["code"], "UNAVAILABLE", "{json}");
        assert_eq!(graphql["errors"][0]["extensions"]["code"], "UNAVAILABLE", "GraphQL says the same: {graphql}");
    }
}

/// Every entity read in small pages (by key for IDPs, by offset for the others) gives exactly the rows,
/// in the order, of one read of them all; the HTTP export's first rows are those rows.
async fn pages_by_key_and_by_offset_give_the_rows_of_one_read(backend: Backend) {
    let Some(store) = TestStore::new(backend).await else { return };
    ingest::sample::load_sample(&store.pool).await.expect("sample");
    for entity in store::BI_ENTITIES {
        let (whole, paged) = store::with_conn(&store.pool, move |c| {
            let whole = entity.rows(c, &[], 1_000_000, &mut store::bi::Cursor::default())?;
            // Several pages for every entity: 7 rows a page, or one where the sample holds few rows.
            let size = if whole.len() > 14 { 7 } else { 1 };
            let mut cursor = store::bi::Cursor::default();
            let mut paged = Vec::new();
            loop {
                let page = entity.rows(c, &[], size, &mut cursor)?;
                if page.is_empty() {
                    break;
                }
                paged.extend(page);
            }
            Ok((whole, paged))
        })
        .await
        .expect("rows");
        // ACLED's conflict events are never in the sample (its terms forbid redistributing its data).
        if entity.export == "conflict_events" {
            assert!(whole.is_empty(), "conflict events must not be in the sample");
            continue;
        }
        assert!(whole.len() > 1, "{}: {} rows", entity.export, whole.len());
        assert_eq!(paged.len(), whole.len(), "{}", entity.export);
        assert!(paged == whole, "{}: the pages differ from one read", entity.export);
    }
    let app = app(&store).await;
    let (_, exported) = csv_rows(&awtest::read_body(get(&app, "/export/idps.csv?limit=20").await).await);
    let idps = store::BI_ENTITIES.iter().find(|e| e.export == "idps").expect("idps");
    let first = store::with_conn(&store.pool, move |c| {
        idps.rows(c, &[], 20, &mut store::bi::Cursor { offset: 0, after: None })
    })
    .await
    .expect("rows");
    let column = |name: &str| idps.columns.iter().position(|c| c.name == name).expect("column");
    let text = |cell: &store::bi::Cell| match cell {
        store::bi::Cell::Text(Some(t)) => t.clone(),
        store::bi::Cell::Int(Some(n)) => n.to_string(),
        other => format!("{other:?}"),
    };
    assert_eq!(exported.len(), 20);
    for (row, cells) in exported.iter().zip(&first) {
        assert_eq!(row["source_pcode"], text(&cells[column("source_pcode")]));
        assert_eq!(row["idps"], text(&cells[column("idps")]));
    }
}

async fn parquet_exports_read_back_typed_with_the_csv_figures(backend: Backend) {
    tokio::task::LocalSet::new().run_until(parquet_scenario(backend)).await;
}

/// A Parquet body read back with the `parquet` crate: its Arrow schema and its rows' columns.
fn parquet_read(body: actix_web::web::Bytes) -> (arrow_schema::SchemaRef, Vec<arrow_array::RecordBatch>) {
    let builder = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(body).expect("a Parquet file");
    let schema = builder.schema().clone();
    let batches = builder.build().expect("reader").collect::<Result<Vec<_>, _>>().expect("row groups");
    (schema, batches)
}

/// One column of every row, as whole numbers (an Int32 or Int64 column; null as None).
fn parquet_ints(batches: &[arrow_array::RecordBatch], column: &str) -> Vec<Option<i64>> {
    use arrow_array::Array;
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Int32Type, Int64Type};
    let mut values = Vec::new();
    for batch in batches {
        let array = batch.column_by_name(column).expect("column");
        match array.data_type() {
            arrow_schema::DataType::Int64 => {
                let a = array.as_primitive::<Int64Type>();
                values.extend((0..a.len()).map(|i| a.is_valid(i).then(|| a.value(i))));
            }
            arrow_schema::DataType::Int32 => {
                let a = array.as_primitive::<Int32Type>();
                values.extend((0..a.len()).map(|i| a.is_valid(i).then(|| i64::from(a.value(i)))));
            }
            other => panic!("{column} is {other:?}, not a whole number"),
        }
    }
    values
}

fn parquet_texts(batches: &[arrow_array::RecordBatch], column: &str) -> Vec<Option<String>> {
    use arrow_array::Array;
    use arrow_array::cast::AsArray;
    batches
        .iter()
        .flat_map(|batch| {
            let a = batch.column_by_name(column).expect("column").as_string::<i32>().clone();
            (0..a.len()).map(move |i| a.is_valid(i).then(|| a.value(i).to_string()))
        })
        .collect()
}

async fn parquet_scenario(backend: Backend) {
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Date32Type, TimestampMicrosecondType};
    use arrow_schema::{DataType, TimeUnit};

    let Some(store) = TestStore::new(backend).await else { return };
    ingest::sample::load_sample(&store.pool).await.expect("sample");
    let app = app(&store).await;

    // Mali's population: the national total of the file, as the CSV export gives it.
    let file = common::read("sample/cod/mli_pop_adm0_v2.csv");
    let (_, national) = csv_rows(file.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&file));
    let national: i64 = national[0]["T_TL"].parse().expect("T_TL");
    assert_eq!(national, 17_907_114, "PROVENANCE.md's figure for the file");
    let query = "country=MLI&admin_level=0";
    let response = get(&app, &format!("/export/population.parquet?{query}")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers().get("content-type").and_then(|v| v.to_str().ok()),
        Some("application/vnd.apache.parquet")
    );
    let (schema, batches) = parquet_read(awtest::read_body(response).await);
    let type_of = |name: &str| schema.field_with_name(name).expect("field").data_type().clone();
    assert_eq!(type_of("admin_level"), DataType::Int32);
    assert_eq!(type_of("reference_year"), DataType::Int32);
    assert_eq!(type_of("population"), DataType::Int64);
    assert_eq!(type_of("ingest_run_id"), DataType::Int64);
    assert_eq!(type_of("area_matched"), DataType::Boolean);
    assert_eq!(type_of("sex"), DataType::Utf8);
    assert_eq!(type_of("retrieved_at"), DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())));
    assert!(!schema.field_with_name("population").expect("field").is_nullable());
    assert!(schema.field_with_name("licence_url").expect("field").is_nullable());
    assert_eq!(
        schema.field_with_name("population").expect("field").metadata().get("description").map(String::as_str),
        Some("People.")
    );
    let population: Vec<i64> = parquet_ints(&batches, "population").into_iter().map(|v| v.expect("value")).collect();
    assert_eq!(population.iter().sum::<i64>(), national);
    let (_, csv) = csv_rows(&awtest::read_body(get(&app, &format!("/export/population.csv?{query}")).await).await);
    assert_eq!(population, csv.iter().map(|r| r["population"].parse::<i64>().expect("n")).collect::<Vec<_>>());
    assert_eq!(parquet_texts(&batches, "licence"), csv.iter().map(|r| Some(r["licence"].clone())).collect::<Vec<_>>());
    // Instants: the Parquet microseconds are the CSV's RFC 3339 instant (which the CSV gives to the second).
    let retrieved =
        batches[0].column_by_name("retrieved_at").expect("column").as_primitive::<TimestampMicrosecondType>();
    let csv_instant = chrono::DateTime::parse_from_rfc3339(&csv[0]["retrieved_at"]).expect("instant");
    assert_eq!(retrieved.value(0).div_euclid(1_000_000), csv_instant.timestamp());

    // Mali's IDPs by region in the latest round: the payload file's figures; dates as dates.
    let dtm: Value = serde_json::from_slice(&common::read(common::DTM_FILES[9].2)).expect("JSON");
    let from_file: i64 =
        dtm["result"].as_array().expect("rows").iter().map(|r| r["numPresentIdpInd"].as_i64().expect("n")).sum();
    let query = "country=MLI&admin_level=1&latest_round_only=true";
    let (schema, batches) =
        parquet_read(awtest::read_body(get(&app, &format!("/export/idps.parquet?{query}")).await).await);
    assert_eq!(schema.field_with_name("reporting_date").expect("field").data_type(), &DataType::Date32);
    assert_eq!(schema.field_with_name("round_number").expect("field").data_type(), &DataType::Int32);
    let idps: i64 = parquet_ints(&batches, "idps").into_iter().map(|v| v.expect("value")).sum();
    assert_eq!(idps, from_file);
    let dates: Vec<Option<chrono::NaiveDate>> = batches
        .iter()
        .flat_map(|b| {
            let a = b.column_by_name("reporting_date").expect("column").as_primitive::<Date32Type>().clone();
            (0..a.len()).map(move |i| a.value_as_date(i))
        })
        .collect();
    assert_eq!(dates.len(), 8);
    assert!(dates.iter().all(|d| *d == chrono::NaiveDate::from_ymd_opt(2020, 10, 31)), "{dates:?}");

    // Every IDP row of the sample: the same rows, in the same order, as the CSV.
    let (_, csv) = csv_rows(&awtest::read_body(get(&app, "/export/idps.csv").await).await);
    let (_, batches) = parquet_read(awtest::read_body(get(&app, "/export/idps.parquet").await).await);
    assert!(csv.len() > 1000, "{} rows", csv.len());
    let column = |name: &str| csv.iter().map(|r| r[name].parse::<i64>().ok()).collect::<Vec<_>>();
    assert_eq!(parquet_ints(&batches, "idps"), column("idps"));
    assert_eq!(parquet_ints(&batches, "round_number"), column("round_number"));
    let pcodes: Vec<Option<String>> =
        csv.iter().map(|r| Some(r["area_pcode"].clone()).filter(|p| !p.is_empty())).collect();
    assert_eq!(parquet_texts(&batches, "area_pcode"), pcodes);

    // The same refusals as the CSV, with their codes; HEAD and conditional requests.
    for uri in [
        "/export/idps.parquet?admin_level=9",
        "/export/idps.parquet?colour=red",
        "/export/idps.parquet?hxl=true",
        "/export/idps.parquet?limit=0",
        "/export/nothing.parquet",
    ] {
        let response = get(&app, uri).await;
        assert_eq!(response.status(), 400, "{uri}");
        let body = String::from_utf8_lossy(&awtest::read_body(response).await).to_string();
        assert!(body.starts_with("BAD_USER_INPUT: "), "{uri}: {body}");
    }
    let head = awtest::call_service(
        &app,
        awtest::TestRequest::default()
            .method(actix_web::http::Method::HEAD)
            .uri("/export/idps.parquet?country=MLI")
            .to_request(),
    )
    .await;
    assert_eq!(head.status(), 200);
    let etag = head.headers().get("etag").expect("ETag").clone();
    let again = awtest::call_service(
        &app,
        awtest::TestRequest::get()
            .uri("/export/idps.parquet?country=MLI")
            .insert_header(("if-none-match", etag))
            .to_request(),
    )
    .await;
    assert_eq!(again.status(), 304);

    // `crisisgraph export`: the file the HTTP export gives, the CSV byte for byte.
    let dir = tempfile::tempdir().expect("temporary directory");
    let cli = |args: &[&str]| {
        std::process::Command::new(common::process::BIN)
            .arg("export")
            .args(args)
            .env("DATABASE_URL", &store.url)
            .env_remove("CRISISGRAPH_CONFIG")
            .env_remove("RUST_LOG")
            .output()
            .expect("runs")
    };
    let out = dir.path().join("population.parquet");
    let out_text = out.to_str().expect("path");
    let args =
        ["population", "--format", "parquet", "--out", out_text, "--param", "country=MLI", "--param", "admin_level=0"];
    let output = cli(&args);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let (_, batches) = parquet_read(actix_web::web::Bytes::from(std::fs::read(&out).expect("file")));
    let from_cli: Vec<i64> = parquet_ints(&batches, "population").into_iter().map(|v| v.expect("value")).collect();
    assert_eq!(from_cli, population);
    let csv_out = dir.path().join("idps.csv");
    let csv_text = csv_out.to_str().expect("path");
    let output = cli(&["idps", "--format", "csv", "--out", csv_text, "--param", "country=MLI"]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let http = awtest::read_body(get(&app, "/export/idps.csv?country=MLI").await).await;
    assert_eq!(std::fs::read(&csv_out).expect("file"), http.to_vec());

    let bad = dir.path().join("bad.parquet");
    let bad_text = bad.to_str().expect("path");
    let output = cli(&["idps", "--format", "parquet", "--out", bad_text, "--param", "admin_level=9"]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("BAD_USER_INPUT"), "{output:?}");
    assert!(!bad.exists() && !dir.path().join("bad.parquet.partial").exists(), "a failed export leaves no file");
    let output = cli(&["nothing", "--format", "parquet", "--out", bad_text]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("unknown export \"nothing\""), "{output:?}");
}
