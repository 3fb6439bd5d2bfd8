//! Humanitarian needs (`needs`): Mali's HNO file, Chad's PIN workbook and the global HPC file
//! (Afghanistan, Sudan), checked against the raw files and against HAPI's processed output for
//! Afghanistan.

use std::collections::HashMap;

use ingest::Source;
use store::models::IngestRun;
use store::needs::NeedRow;
use store::runs::status;
use store::with_conn;
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::common::{self, Backend, TestStore, graphql, ingester, read, run};

crate::on_both_stores!(
    mali_needs_equal_the_published_file,
    afghanistan_needs_equal_hapis_output,
    chad_needs_equal_the_workbook,
    bad_numbers_and_unknown_sectors_are_rejected_and_the_rest_kept,
    rerun_writes_nothing,
    mali_graphql_answers_the_check_figures,
    mali_needs_export_follows_the_file,
);

const MALI_FILE: &str = "sample/hno/hpc_hno_mli.download-hno-data-mli.csv";
const GLOBAL_FILE: &str = "tests/fixtures/hno/hpc_hno_2024_AFG_SDN.csv";
const GLOBAL_PATH: &str = "/dataset/global-hpc-hno/resource/constructed-hpc-hno-2024/download/hpc_hno_2024.csv";
const HAPI_FILE: &str = "tests/fixtures/hno/hdx_hapi_humanitarian_needs_global_2024_AFG_SDN.csv";

/// The fixture server with the p-codes, every bundled HDX payload (Mali's HNO file among them,
/// unless replaced), and the global HPC file with its catalog entry.
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
    Mock::given(method("GET"))
        .and(path("/api/3/action/package_show"))
        .and(query_param("id", "global-hpc-hno"))
        .respond_with(
            ResponseTemplate::new(200).set_body_bytes(read("tests/fixtures/hno/package_show.global-hpc-hno.json")),
        )
        .mount(&server)
        .await;
    let mut files = vec![(GLOBAL_PATH, read(GLOBAL_FILE))];
    files.extend(replace.iter().cloned());
    for (file_path, bytes) in files {
        Mock::given(method("GET"))
            .and(path(file_path))
            .respond_with(ResponseTemplate::new(200).set_body_bytes(bytes))
            .mount(&server)
            .await;
    }
    server
}

/// Rows of a CSV file (BOM stripped, the HXL row dropped) as header → value maps, read with the csv
/// crate alone.
fn csv_rows(bytes: &[u8]) -> Vec<HashMap<String, String>> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut reader = csv::Reader::from_reader(bytes);
    let headers: Vec<String> = reader.headers().expect("header").iter().map(str::to_string).collect();
    reader
        .records()
        .map(|r| r.expect("row"))
        .filter(|r| !r.iter().next().unwrap_or("").starts_with('#') && !r.get(2).unwrap_or("").starts_with('#'))
        .map(|r| headers.iter().cloned().zip(r.iter().map(str::to_string)).collect())
        .collect()
}

/// A figure cell as the store keeps it: rounded to the nearest person, empty as none.
fn figure(cell: &str) -> Option<i64> {
    let c = cell.trim();
    (!c.is_empty()).then(|| c.parse::<f64>().expect("number").round() as i64)
}

async fn ingest(store: &TestStore, server: &MockServer, countries: &[&str]) -> IngestRun {
    let ingester = ingester(store, server);
    let geo = run(&ingester, Source::Geography, countries, &[]).await;
    assert_eq!(geo.status, status::SUCCEEDED, "{:?}", geo.error);
    run(&ingester, Source::Needs, countries, &[]).await
}

async fn stored(store: &TestStore, iso3: &str) -> Vec<NeedRow> {
    let iso3 = iso3.to_string();
    with_conn(&store.pool, move |c| store::needs::needs_of_country(c, &iso3)).await.expect("needs")
}

async fn mali_needs_equal_the_published_file(backend: Backend) {
    let Some(store) = TestStore::new(backend).await else { return };
    let server = server_with(&[]).await;
    let r = ingest(&store, &server, &["MLI"]).await;
    assert_eq!(r.status, status::SUCCEEDED, "{:?}", r.error);
    let raw = csv_rows(&read(MALI_FILE));
    assert_eq!((r.fetched, r.inserted, r.rejected), (raw.len() as i64, raw.len() as i64, 0));
    let rows = stored(&store, "MLI").await;
    assert_eq!(rows.len(), raw.len());
    assert!(rows.iter().all(|n| n.year == 2024), "the plan year is the dataset's");

    // Every raw row is stored with its figures, under its own code.
    let sector = |code: &str| ingest::kit::reference::sector(code).map(|s| s.code.clone()).expect("sector");
    for r in &raw {
        let code = [&r["Admin 2 PCode"], &r["Admin 1 PCode"]].into_iter().find(|c| !c.is_empty()).cloned();
        let code = code.unwrap_or_else(|| "MLI".into());
        let gender = if r["Gender"] == "a" { "all".to_string() } else { r["Gender"].clone() };
        let age = if r["Age Range"] == "ALL" { "all".to_string() } else { r["Age Range"].clone() };
        let group = if r["Population Group"] == "ALL" { "all".to_string() } else { r["Population Group"].clone() };
        let row = rows
            .iter()
            .find(|n| {
                n.source_pcode == code
                    && n.sector == sector(&r["Sector"])
                    && n.gender == gender
                    && n.age_range == age
                    && n.population_group == group
            })
            .unwrap_or_else(|| panic!("{r:?}"));
        assert_eq!(
            (row.population, row.in_need, row.targeted, row.affected, row.reached),
            (
                figure(&r["Population"]),
                figure(&r["In Need"]),
                figure(&r["Targeted"]),
                figure(&r["Affected"]),
                figure(&r["Reached"])
            ),
            "{r:?}"
        );
    }
    // The odd code is kept, unmatched, with the source's code, in Mali.
    let odd = rows.iter().find(|n| n.source_pcode == "ML011").expect("ML011");
    assert!(!odd.area_matched);
    assert!(odd.area_id.is_some(), "placed at the nearest enclosing area (the country)");
    assert!(rows.iter().filter(|n| n.source_pcode != "ML011").all(|n| n.area_matched), "every other code matches");
}

/// HAPI's processed output, one figure per (admin level, code, sector, category, status): ours must
/// hold exactly the same figures for Afghanistan.
async fn afghanistan_needs_equal_hapis_output(backend: Backend) {
    let Some(store) = TestStore::new(backend).await else { return };
    let server = server_with(&[]).await;
    let r = ingest(&store, &server, &["AFG"]).await;
    assert_eq!(r.status, status::SUCCEEDED, "{:?}", r.error);
    let rows = stored(&store, "AFG").await;
    let mut ours: Vec<(String, String, String, String, i64)> = Vec::new();
    for n in &rows {
        for (status, value) in
            [("all", n.population), ("INN", n.in_need), ("TGT", n.targeted), ("AFF", n.affected), ("REA", n.reached)]
        {
            if let Some(value) = value {
                ours.push((n.source_pcode.clone(), n.sector.clone(), n.category.clone(), status.to_string(), value));
            }
        }
    }
    let sector_of = |hapi: &str| match hapi {
        "Intersectoral" => "ALL".to_string(),
        "Multi" => "MS".to_string(),
        code => code.to_string(),
    };
    let mut hapi: Vec<(String, String, String, String, i64)> = csv_rows(&read(HAPI_FILE))
        .into_iter()
        .filter(|h| h["location_code"] == "AFG")
        .map(|h| {
            let code = match h["admin_level"].as_str() {
                "0" => "AFG".to_string(),
                "1" => h["admin1_code"].clone(),
                _ => h["admin2_code"].clone(),
            };
            let value = h["population"].parse().expect("population");
            (code, sector_of(&h["sector_code"]), h["category"].clone(), h["population_status"].clone(), value)
        })
        .collect();
    ours.sort();
    hapi.sort();
    assert_eq!(ours.len(), hapi.len());
    assert_eq!(ours, hapi);
    // And the AFG p-codes of the global file are ours.
    assert!(rows.iter().all(|n| n.area_matched), "{:?}", rows.iter().find(|n| !n.area_matched));
}

async fn chad_needs_equal_the_workbook(backend: Backend) {
    let Some(store) = TestStore::new(backend).await else { return };
    let server = server_with(&[]).await;
    let r = ingest(&store, &server, &["TCD"]).await;
    assert_eq!(r.status, status::SUCCEEDED, "{:?}", r.error);
    let rows = stored(&store, "TCD").await;
    // Independently of the kit's table reader: the worksheet read with calamine alone.
    use calamine::{Data, DataType, Reader, Xlsx};
    let bytes = read("sample/hno/tcd_hpc2023_rev_pin-cible_20231006.xlsx");
    let mut book: Xlsx<_> = calamine::open_workbook_from_rs(std::io::Cursor::new(bytes)).expect("workbook");
    let range = book.worksheet_range("PINCIBLE").expect("sheet");
    let header: Vec<String> = range.rows().next().expect("header").iter().map(|c| c.to_string()).collect();
    let col = |n: &str| header.iter().position(|h| h.trim() == n).expect("column");
    let mut expected = 0;
    for cells in range.rows().skip(2) {
        let Data::String(code) = &cells[col("ADM2_Pcode")] else { continue };
        expected += 1;
        let row = rows.iter().find(|n| &n.source_pcode == code).unwrap_or_else(|| panic!("{code}"));
        assert_eq!(row.in_need, cells[col("PIN")].as_f64().map(|v| v.round() as i64), "{code}");
        assert_eq!(row.targeted, cells[col("Cible")].as_f64().map(|v| v.round() as i64), "{code}");
        assert_eq!((row.year, row.sector.as_str(), row.admin_level), (2023, "ALL", 2));
    }
    assert_eq!(rows.len(), expected);
    assert_eq!(r.rejected, 0);
}

async fn bad_numbers_and_unknown_sectors_are_rejected_and_the_rest_kept(backend: Backend) {
    let Some(store) = TestStore::new(backend).await else { return };
    // Mali's file with three rows spoilt: a negative figure, text for a number, a sector no list has.
    let text = String::from_utf8(read(MALI_FILE)).expect("utf-8");
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let spoil = |line: &str, from: &str, to: &str| line.replacen(from, to, 1);
    lines[2] = spoil(&lines[2], ",7107194,", ",-7107194,");
    lines[3] = spoil(&lines[3], ",1937229,", ",many,");
    lines[4] = spoil(&lines[4], ",ALL,", ",NOPE,");
    let server = server_with(&[(ingest::sources::needs::SAMPLE_MALI_PATH, lines.join("\n").into_bytes())]).await;
    let r = ingest(&store, &server, &["MLI"]).await;
    assert_eq!(r.status, status::SUCCEEDED, "{:?}", r.error);
    let raw = csv_rows(&read(MALI_FILE));
    assert_eq!((r.rejected, r.inserted), (3, raw.len() as i64 - 3));
    let data = graphql(
        &store.pool,
        &format!("{{ ingestRun(id: {}) {{ rejected rejectedRows {{ rowNumber reason raw }} }} }}", r.id),
    )
    .await;
    let rejected = data["ingestRun"]["rejectedRows"].as_array().cloned().unwrap_or_default();
    let reason = |line: i64| {
        rejected
            .iter()
            .find(|x| x["rowNumber"] == line)
            .and_then(|x| x["reason"].as_str())
            .unwrap_or_else(|| panic!("line {line}: {rejected:?}"))
            .to_string()
    };
    assert!(reason(3).contains("negative"), "{rejected:?}");
    assert!(reason(4).contains("\"many\" is not a number"), "{rejected:?}");
    assert_eq!(reason(5), "unknown sector \"NOPE\"");
    assert!(rejected.iter().all(|x| x["raw"].as_str().is_some_and(|raw| !raw.is_empty())));
}

async fn rerun_writes_nothing(backend: Backend) {
    let Some(store) = TestStore::new(backend).await else { return };
    let server = server_with(&[]).await;
    let ingester = ingester(&store, &server);
    let countries = ["MLI", "TCD", "AFG", "SDN"];
    // Sudan is not in the bundled p-code list: no geography for it.
    assert_eq!(run(&ingester, Source::Geography, &countries[..3], &[]).await.status, status::SUCCEEDED);
    let first = run(&ingester, Source::Needs, &countries, &[]).await;
    assert_eq!(first.status, status::SUCCEEDED, "{:?}", first.error);
    let second = run(&ingester, Source::Needs, &countries, &[]).await;
    assert_eq!(second.status, status::SUCCEEDED, "{:?}", second.error);
    assert_eq!((second.inserted, second.updated), (0, 0));
    assert_eq!(second.unchanged, first.inserted);
    assert_eq!(second.rejected, first.rejected);
    // Sudan has no areas in the store: its rows are kept with their codes, unmatched.
    let sudan = stored(&store, "SDN").await;
    assert!(!sudan.is_empty() && sudan.iter().all(|n| !n.area_matched && n.area_id.is_none()));
    let raw_sudan = csv_rows(&read(GLOBAL_FILE)).into_iter().filter(|r| r["Country ISO3"] == "SDN").count();
    let no_cluster = csv_rows(&read(GLOBAL_FILE))
        .into_iter()
        .filter(|r| r["Country ISO3"] == "SDN" && r["Cluster"].is_empty())
        .count();
    assert_eq!(sudan.len(), raw_sudan - no_cluster);
}

/// The figures the issue names, asked through GraphQL and computed here from Mali's raw file.
async fn mali_graphql_answers_the_check_figures(backend: Backend) {
    let Some(store) = TestStore::new(backend).await else { return };
    let server = server_with(&[]).await;
    let r = ingest(&store, &server, &["MLI"]).await;
    assert_eq!(r.status, status::SUCCEEDED, "{:?}", r.error);
    let raw = csv_rows(&read(MALI_FILE));
    let whole =
        |r: &&HashMap<String, String>| r["Gender"] == "a" && r["Age Range"] == "ALL" && r["Population Group"] == "ALL";
    let raw_at = |adm1: &str, adm2: &str, sector: &str| {
        raw.iter()
            .filter(whole)
            .find(|r| r["Admin 1 PCode"] == adm1 && r["Admin 2 PCode"] == adm2 && r["Sector"] == sector)
            .cloned()
            .unwrap_or_else(|| panic!("{adm1} {adm2} {sector}"))
    };
    let whole_node = |nodes: &serde_json::Value| {
        nodes
            .as_array()
            .expect("nodes")
            .iter()
            .find(|n| n["gender"] == "all" && n["ageRange"] == "all" && n["populationGroup"] == "all")
            .cloned()
            .expect("the whole-population figure set")
    };

    // National intersectoral.
    let data = graphql(
        &store.pool,
        r#"{ country(iso3:"MLI") { humanitarianNeeds(year: 2024, sector: "ALL", adminLevel: 0, first: 100) {
             totalCount nodes { adminLevel sourcePcode sector { code name } populationGroup gender ageRange
               population inNeed targeted affected reached
               provenance { licence credit sourceUrl dataAsOf dataset { key } } } } } }"#,
    )
    .await;
    let conn = &data["country"]["humanitarianNeeds"];
    let national_rows = raw.iter().filter(|r| r["Admin 1 PCode"].is_empty() && r["Sector"] == "ALL").count();
    assert_eq!(conn["totalCount"].as_u64(), Some(national_rows as u64));
    let national = whole_node(&conn["nodes"]);
    let expected = raw_at("", "", "ALL");
    assert_eq!(national["inNeed"].as_i64(), figure(&expected["In Need"]));
    assert_eq!(national["targeted"].as_i64(), figure(&expected["Targeted"]));
    assert_eq!(national["affected"].as_i64(), figure(&expected["Affected"]));
    assert_eq!((national["inNeed"].as_i64(), national["targeted"].as_i64()), (Some(7_107_194), Some(4_081_412)));
    assert_eq!(national["sector"]["name"], "Intersectoral");
    assert_eq!(national["sourcePcode"], "MLI");
    let provenance = &national["provenance"];
    assert_eq!(provenance["licence"], "Creative Commons Attribution for Intergovernmental Organisations");
    assert_eq!(provenance["dataset"]["key"], "hdx:hno-data-for-mli");
    assert_eq!(provenance["dataAsOf"], "2024-01-01");
    assert!(provenance["sourceUrl"].as_str().is_some_and(|u| u.ends_with("/download/hno_data_mli.csv")));

    // Bandiagara, intersectoral, in its own area's list.
    let data = graphql(
        &store.pool,
        r#"{ adminArea(pcode:"ML0501") { humanitarianNeeds(year: 2024, sector: "ALL") {
             nodes { id area { pcode } sourcePcode gender ageRange populationGroup inNeed targeted } } } }"#,
    )
    .await;
    let bandiagara = whole_node(&data["adminArea"]["humanitarianNeeds"]["nodes"]);
    let expected = raw_at("ML05", "ML0501", "ALL");
    assert_eq!(bandiagara["inNeed"].as_i64(), figure(&expected["In Need"]));
    assert_eq!(bandiagara["inNeed"].as_i64(), Some(187_366));
    assert_eq!(bandiagara["area"]["pcode"], "ML0501");
    let id = bandiagara["id"].as_str().expect("id");
    let node = graphql(
        &store.pool,
        &format!(r#"{{ node(id: "{id}") {{ ... on HumanitarianNeed {{ inNeed sourcePcode }} }} }}"#),
    )
    .await;
    assert_eq!(node["node"]["inNeed"], bandiagara["inNeed"]);

    // Mopti: food security as reported; intersectoral summed from its cercles.
    let data = graphql(
        &store.pool,
        r#"{ adminArea(pcode:"ML05") {
             fsc: needsTotal(year: 2024, sector: "FSC") { inNeed targeted method areasCounted sector { code } }
             all: needsTotal(year: 2024) { inNeed targeted method areasCounted areasAtLevel sector { code } }
             none: needsTotal(year: 2019) { inNeed } } }"#,
    )
    .await;
    let mopti = &data["adminArea"];
    let fsc = raw_at("ML05", "", "FSC");
    assert_eq!(mopti["fsc"]["inNeed"].as_i64(), figure(&fsc["In Need"]));
    assert_eq!(mopti["fsc"]["inNeed"].as_i64(), Some(473_916));
    assert_eq!(mopti["fsc"]["method"], "REPORTED_AT_LEVEL");
    let cercles: Vec<_> = raw
        .iter()
        .filter(whole)
        .filter(|r| r["Admin 1 PCode"] == "ML05" && !r["Admin 2 PCode"].is_empty() && r["Sector"] == "ALL")
        .collect();
    let sum = |f: &str| cercles.iter().filter_map(|r| figure(&r[f])).sum::<i64>();
    assert_eq!(mopti["all"]["inNeed"].as_i64(), Some(sum("In Need")));
    assert_eq!(mopti["all"]["inNeed"].as_i64(), Some(1_300_197));
    assert_eq!(mopti["all"]["targeted"].as_i64(), Some(sum("Targeted")));
    assert_eq!(mopti["all"]["method"], "SUMMED_FROM_CHILDREN");
    assert_eq!(mopti["all"]["areasCounted"].as_u64(), Some(cercles.len() as u64));
    assert_eq!(mopti["all"]["sector"]["code"], "ALL");
    assert!(mopti["none"].is_null());

    // Every region at once (one batched read): its own figure, else its cercles' sum, from the file.
    let data = graphql(
        &store.pool,
        r#"{ country(iso3:"MLI") { adminAreas(level: 1) { pcode needsTotal(year: 2024) { inNeed method } } } }"#,
    )
    .await;
    let regions = data["country"]["adminAreas"].as_array().expect("regions");
    assert!(regions.len() >= 9, "{regions:?}");
    for region in regions {
        let pcode = region["pcode"].as_str().expect("pcode");
        let own = raw
            .iter()
            .filter(whole)
            .find(|r| r["Admin 1 PCode"] == pcode && r["Admin 2 PCode"].is_empty() && r["Sector"] == "ALL");
        let cercles: Vec<_> = raw
            .iter()
            .filter(whole)
            .filter(|r| r["Admin 1 PCode"] == pcode && !r["Admin 2 PCode"].is_empty() && r["Sector"] == "ALL")
            .collect();
        let total = &region["needsTotal"];
        match own {
            Some(own) => {
                assert_eq!(total["inNeed"].as_i64(), figure(&own["In Need"]), "{pcode}");
                assert_eq!(total["method"], "REPORTED_AT_LEVEL", "{pcode}");
            }
            None if cercles.is_empty() => assert!(total.is_null(), "{pcode}: {total}"),
            None => {
                assert_eq!(
                    total["inNeed"].as_i64(),
                    Some(cercles.iter().filter_map(|r| figure(&r["In Need"])).sum()),
                    "{pcode}"
                );
                assert_eq!(total["method"], "SUMMED_FROM_CHILDREN", "{pcode}");
            }
        }
    }

    // The odd code: kept, unmatched, under its own code.
    let data = graphql(
        &store.pool,
        r#"{ country(iso3:"MLI") { humanitarianNeeds(pcode: "ML011") { totalCount
             nodes { sourcePcode areaMatched adminLevel sector { code } inNeed } } } }"#,
    )
    .await;
    let odd = &data["country"]["humanitarianNeeds"];
    let raw_odd: Vec<_> = raw.iter().filter(|r| r["Admin 1 PCode"] == "ML011").collect();
    assert_eq!(odd["totalCount"].as_u64(), Some(raw_odd.len() as u64));
    assert_eq!(odd["nodes"][0]["areaMatched"], false);
    assert_eq!(odd["nodes"][0]["sourcePcode"], "ML011");
    assert_eq!(odd["nodes"][0]["inNeed"].as_i64(), figure(&raw_odd[0]["In Need"]));

    // Paging through everything gives every row once.
    let mut seen = 0;
    let mut after = String::new();
    loop {
        let q = format!(
            r#"{{ country(iso3:"MLI") {{ humanitarianNeeds(first: 400{after}) {{ totalCount pageInfo {{ hasNextPage endCursor }} nodes {{ sourcePcode }} }} }} }}"#
        );
        let data = graphql(&store.pool, &q).await;
        let conn = &data["country"]["humanitarianNeeds"];
        assert_eq!(conn["totalCount"].as_u64(), Some(raw.len() as u64));
        seen += conn["nodes"].as_array().map(Vec::len).unwrap_or(0);
        if conn["pageInfo"]["hasNextPage"] != serde_json::Value::Bool(true) {
            break;
        }
        after = format!(r#", after: "{}""#, conn["pageInfo"]["endCursor"].as_str().expect("cursor"));
    }
    assert_eq!(seen, raw.len());

    // A sector no list has is a clear error.
    let response = common::graphql_response(
        &store.pool,
        r#"{ country(iso3:"MLI") { humanitarianNeeds(sector: "NOPE") { totalCount } } }"#,
    )
    .await;
    assert!(response["errors"][0]["message"].as_str().is_some_and(|m| m.contains("unknown sector")), "{response}");
}

/// `/export/needs.csv`: the `bi_needs` view's rows, filtered, with the raw file's figures.
async fn mali_needs_export_follows_the_file(backend: Backend) {
    tokio::task::LocalSet::new().run_until(export_scenario(backend)).await;
}

async fn export_scenario(backend: Backend) {
    use actix_web::test as awtest;
    let Some(store) = TestStore::new(backend).await else { return };
    let server = server_with(&[]).await;
    let r = ingest(&store, &server, &["MLI"]).await;
    assert_eq!(r.status, status::SUCCEEDED, "{:?}", r.error);
    let schema = api::build_schema(store.pool.clone(), api::Operations::default());
    let app =
        awtest::init_service(actix_web::App::new().configure(api::server::configure(schema, store.pool.clone()))).await;
    let get = |uri: &str| awtest::TestRequest::get().uri(uri).to_request();
    let response = awtest::call_service(&app, get("/export/needs.csv?country=MLI&year=2024&sector=ALL")).await;
    assert_eq!(response.status(), 200);
    let exported = csv_rows(&awtest::read_body(response).await);
    let raw = csv_rows(&read(MALI_FILE));
    let raw_all: Vec<_> = raw.iter().filter(|r| r["Sector"] == "ALL").collect();
    assert_eq!(exported.len(), raw_all.len());
    for row in &raw_all {
        let code = [&row["Admin 2 PCode"], &row["Admin 1 PCode"]].into_iter().find(|c| !c.is_empty()).cloned();
        let code = code.unwrap_or_else(|| "MLI".into());
        let gender = if row["Gender"] == "a" { "all".to_string() } else { row["Gender"].clone() };
        let age = if row["Age Range"] == "ALL" { "all".to_string() } else { row["Age Range"].clone() };
        let group = if row["Population Group"] == "ALL" { "all".to_string() } else { row["Population Group"].clone() };
        let ours = exported
            .iter()
            .find(|e| {
                e["source_pcode"] == code
                    && e["gender"] == gender
                    && e["age_range"] == age
                    && e["population_group"] == group
            })
            .unwrap_or_else(|| panic!("{row:?}"));
        assert_eq!(figure(&ours["in_need"]), figure(&row["In Need"]), "{row:?}");
        assert_eq!(figure(&ours["targeted"]), figure(&row["Targeted"]), "{row:?}");
        assert_eq!(ours["licence"], "Creative Commons Attribution for Intergovernmental Organisations");
        assert_eq!(ours["sector_code"], "ALL");
    }
    // The area filter keeps Mopti and its cercles.
    let response = awtest::call_service(&app, get("/export/needs.json?pcode=ML05&year=2024&sector=FSC")).await;
    assert_eq!(response.status(), 200);
    let json: serde_json::Value = serde_json::from_slice(&awtest::read_body(response).await).expect("JSON");
    let rows = json.as_array().expect("array");
    let raw_mopti = raw.iter().filter(|r| r["Admin 1 PCode"] == "ML05" && r["Sector"] == "FSC").count();
    assert_eq!(rows.len(), raw_mopti);
    assert!(
        rows.iter()
            .all(|r| r["sector_code"] == "FSC" && r["area_pcode"].as_str().is_some_and(|p| p.starts_with("ML05")))
    );
}
