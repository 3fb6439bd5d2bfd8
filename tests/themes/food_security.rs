//! Food security (`food-security`): the Cadre Harmonisé workbook (its Mali and Chad rows, as the
//! sample bundles them) and IPC's Afghanistan files, served at their HDX paths, ingested through the
//! real fetch path, and every check figure of the issue asserted both as given and against the raw
//! files read here (calamine and csv alone). Both stores.

use std::collections::{BTreeSet, HashMap};

use ingest::Source;
use ingest::sources::food_security::{
    CH_SAMPLE_FILE, IPC_AREA_SAMPLE_FILE, IPC_NATIONAL_SAMPLE_FILE, IPC_NATIONAL_SAMPLE_PATH,
};
use serde_json::Value;
use store::models::IngestRun;
use store::runs::status;
use store::with_conn;
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::common::{self, Backend, TestStore, graphql, ingester, read, run};

crate::on_both_stores!(
    food_security_equals_the_files,
    bad_values_are_rejected_and_the_rest_kept,
    rerun_writes_nothing,
    the_sample_answers_mopti_in_graphql_and_the_export,
);

const COUNTRIES: [&str; 3] = ["MLI", "TCD", "AFG"];

fn sample_path(file: &str) -> String {
    format!("sample/food_security/{file}")
}

/// The fixture server with the p-codes and every bundled HDX payload (IPC's national file among
/// them, unless replaced).
async fn server_with(national: Option<Vec<u8>>) -> MockServer {
    let server = common::fixture_server().await;
    for (file_path, id, bytes) in ingest::sample::hdx_payloads() {
        if id.is_none() && file_path == IPC_NATIONAL_SAMPLE_PATH && national.is_some() {
            continue;
        }
        let mock = Mock::given(method("GET")).and(path(file_path));
        let mock = match id {
            Some(id) => mock.and(query_param("id", id)),
            None => mock,
        };
        mock.respond_with(ResponseTemplate::new(200).set_body_bytes(bytes)).mount(&server).await;
    }
    if let Some(bytes) = national {
        Mock::given(method("GET"))
            .and(path(IPC_NATIONAL_SAMPLE_PATH))
            .respond_with(ResponseTemplate::new(200).set_body_bytes(bytes))
            .mount(&server)
            .await;
    }
    server
}

async fn ingest(store: &TestStore, server: &MockServer) -> IngestRun {
    let ingester = ingester(store, server);
    let geo = run(&ingester, Source::Geography, &COUNTRIES, &[]).await;
    assert_eq!(geo.status, status::SUCCEEDED, "{:?}", geo.error);
    run(&ingester, Source::FoodSecurity, &COUNTRIES, &[]).await
}

pub(crate) type Row = HashMap<String, String>;

/// The CH workbook's rows, read with calamine alone, keyed by column name.
pub(crate) fn raw_ch() -> Vec<Row> {
    use calamine::{Reader, Xlsx};
    let bytes = read(&sample_path(CH_SAMPLE_FILE));
    let mut book: Xlsx<_> = calamine::open_workbook_from_rs(std::io::Cursor::new(bytes)).expect("workbook");
    let range = book.worksheet_range("Feuil1").expect("sheet");
    let mut rows = range.rows();
    let header: Vec<String> = rows.next().expect("header").iter().map(|c| c.to_string()).collect();
    rows.map(|r| header.iter().cloned().zip(r.iter().map(|c| c.to_string())).collect()).collect()
}

/// An IPC CSV's lines, read with the csv crate alone.
fn raw_ipc(file: &str) -> Vec<Row> {
    let bytes = read(&sample_path(file));
    csv::Reader::from_reader(bytes.as_slice()).deserialize().map(|r| r.expect("line")).collect()
}

pub(crate) fn number(r: &Row, column: &str) -> i64 {
    r[column].parse::<f64>().map(|f| f as i64).unwrap_or_else(|_| panic!("{column} {:?}", r[column]))
}

pub(crate) fn is(r: &Row, label: &str, year: i64, chtype: &str) -> bool {
    r["adm0_pcod3"] == "MLI"
        && r["exercise_label"] == label
        && number(r, "exercise_year") == year
        && r["chtype"] == chtype
}

/// The raw sum of `phase35` over Mali's rows of an exercise, restricted by `keep`.
pub(crate) fn ch_sum(raw: &[Row], label: &str, year: i64, chtype: &str, keep: impl Fn(&Row) -> bool) -> (usize, i64) {
    let rows: Vec<&Row> = raw.iter().filter(|r| is(r, label, year, chtype) && keep(r)).collect();
    (rows.len(), rows.iter().map(|r| number(r, "phase35")).sum())
}

/// The raw `Number` of IPC lines.
fn ipc_number(lines: &[Row], analysis: &str, validity: &str, area: Option<&str>, phase: &str) -> i64 {
    let found: Vec<i64> = lines
        .iter()
        .filter(|l| l["Date of analysis"] == analysis && l["Validity period"] == validity && l["Phase"] == phase)
        .filter(|l| area.is_none_or(|a| l.get("Area").map(String::as_str) == Some(a)))
        .map(|l| number(l, "Number"))
        .collect();
    assert_eq!(found.len(), 1, "{analysis} {validity} {area:?} {phase}");
    found[0]
}

/// The figure sets the files hold (distinct keys) and their rows repeating a key, per country.
fn expected_counts() -> (i64, i64) {
    let mut keys: BTreeSet<String> = BTreeSet::new();
    let mut rows = 0i64;
    for r in raw_ch().iter().filter(|r| r["adm0_pcod3"] == "MLI" || r["adm0_pcod3"] == "TCD") {
        rows += 1;
        let code = ["adm3_pcod2", "adm2_pcod2", "adm1_pcod2"].iter().map(|c| r[*c].as_str()).find(|c| !c.is_empty());
        keys.insert(format!(
            "{}|{}|{}|{}|{}|{}|{}|{:?}",
            r["adm0_pcod3"],
            r["exercise_label"],
            r["exercise_year"],
            r["chtype"],
            r["reference_label"],
            r["reference_year"],
            r["adm0_pcod3"],
            code
        ));
    }
    let mut groups = 0i64;
    for file in [IPC_NATIONAL_SAMPLE_FILE, IPC_AREA_SAMPLE_FILE] {
        let distinct: BTreeSet<String> = raw_ipc(file)
            .iter()
            .map(|l| {
                format!(
                    "{}|{}|{}|{}",
                    l["Date of analysis"],
                    l["Validity period"],
                    l["From"],
                    l.get("Area").cloned().unwrap_or_default()
                )
            })
            .collect();
        groups += distinct.len() as i64;
    }
    (keys.len() as i64 + groups, rows - keys.len() as i64)
}

fn sum_of(nodes: &Value, field: &str) -> i64 {
    nodes.as_array().expect("nodes").iter().map(|n| n[field].as_i64().unwrap_or(0)).sum()
}

async fn food_security_equals_the_files(backend: Backend) {
    let Some(store) = TestStore::new(backend).await else { return };
    let server = server_with(None).await;
    let r = ingest(&store, &server).await;
    assert_eq!(r.status, status::SUCCEEDED, "{:?}", r.error);
    let (figure_sets, repeats) = expected_counts();
    assert_eq!((r.inserted, r.rejected), (figure_sets, repeats), "{r:?}");
    assert_eq!(repeats, 2, "Koro (ML0505) twice in Mali's Jan-May 2021 exercise");

    let raw = raw_ch();
    let national = raw_ipc(IPC_NATIONAL_SAMPLE_FILE);
    let areas = raw_ipc(IPC_AREA_SAMPLE_FILE);
    // Mopti, September-December 2021, current: the area and the areas inside it.
    let data = graphql(
        &store.pool,
        r#"{ adminArea(pcode: "ML05") { foodSecurity(from: "2021-09-01", to: "2021-12-31", projection: CURRENT) {
               totalCount nodes { id area { pcode } adminLevel sourcePcode analysis projection referencePeriodStart
                 referencePeriodEnd population phase1 phase2 phase3 phase4 phase5 phase3Plus phaseClass
                 provenance { dataset { key } licence dataAsOf } } } } }"#,
    )
    .await;
    let mopti = &data["adminArea"]["foodSecurity"];
    let (count, phase35) = ch_sum(&raw, "Sep-Dec", 2021, "current", |r| r["adm1_pcod2"] == "ML05");
    assert_eq!(mopti["totalCount"].as_u64(), Some(count as u64));
    assert_eq!(count, 8);
    assert_eq!(sum_of(&mopti["nodes"], "phase3Plus"), phase35);
    assert_eq!(phase35, 556_531);
    let nodes = mopti["nodes"].as_array().expect("nodes");
    let bandiagara = nodes.iter().find(|n| n["area"]["pcode"] == "ML0501").expect("Bandiagara");
    let raw_bandiagara =
        raw.iter().find(|r| is(r, "Sep-Dec", 2021, "current") && r["adm2_pcod2"] == "ML0501").expect("raw Bandiagara");
    assert_eq!(bandiagara["population"].as_i64(), Some(number(raw_bandiagara, "population")));
    assert_eq!(bandiagara["phase3Plus"].as_i64(), Some(number(raw_bandiagara, "phase35")));
    assert_eq!((bandiagara["population"].as_i64(), bandiagara["phase3Plus"].as_i64()), (Some(468_120), Some(117_030)));
    for (field, column) in
        [("phase1", "phase1"), ("phase2", "phase2"), ("phase3", "phase3"), ("phase4", "phase4"), ("phase5", "phase5")]
    {
        assert_eq!(bandiagara[field].as_i64(), Some(number(raw_bandiagara, column)), "{field}");
    }
    assert_eq!(bandiagara["phaseClass"], 3);
    assert_eq!(bandiagara["adminLevel"], 2);
    assert_eq!(bandiagara["sourcePcode"], "ML0501");
    assert_eq!(bandiagara["analysis"], "Sep-Dec 2021");
    assert_eq!(bandiagara["projection"], "CURRENT");
    assert_eq!(
        (&bandiagara["referencePeriodStart"], &bandiagara["referencePeriodEnd"]),
        (&"2021-09-01".into(), &"2021-12-31".into())
    );
    assert_eq!(bandiagara["provenance"]["dataset"]["key"], "hdx:cadre-harmonise");
    assert_eq!(bandiagara["provenance"]["licence"], "Creative Commons Attribution International");
    assert_eq!(bandiagara["provenance"]["dataAsOf"], "2021-09-01");
    // Its global id fetches it again.
    let id = bandiagara["id"].as_str().expect("id");
    let again = graphql(
        &store.pool,
        &format!(r#"{{ node(id: "{id}") {{ ... on FoodSecurityFigure {{ phase3Plus sourcePcode }} }} }}"#),
    )
    .await;
    assert_eq!(again["node"]["phase3Plus"], 117_030);

    // All of Mali, that exercise; then the June-August 2022 projection of the January-May 2022
    // exercise (the September-December 2021 exercise projects the same months, superseded).
    let data = graphql(
        &store.pool,
        r#"{ country(iso3: "MLI") {
               current: foodSecurity(from: "2021-09-01", to: "2021-12-31", projection: CURRENT, first: 1000) {
                 totalCount nodes { phase3Plus } }
               projected: foodSecurity(analysis: "Jan-May 2022", from: "2022-06-01", to: "2022-08-31", projection: PROJECTED, first: 1000) {
                 totalCount nodes { phase3Plus superseded } }
               june: foodSecurity(from: "2022-06-01", to: "2022-08-31", projection: PROJECTED, first: 1000) {
                 totalCount nodes { analysis superseded } }
               menaka: foodSecurity(pcode: "ML0704", analysis: "Sep-Dec 2021", projection: CURRENT) {
                 nodes { sourcePcode sourceAreaName areaMatched area { pcode } phase3Plus } } } }"#,
    )
    .await;
    let mali = &data["country"];
    let (count, phase35) = ch_sum(&raw, "Sep-Dec", 2021, "current", |_| true);
    assert_eq!((mali["current"]["totalCount"].as_u64(), count), (Some(56), 56));
    assert_eq!(sum_of(&mali["current"]["nodes"], "phase3Plus"), phase35);
    assert_eq!(phase35, 1_161_526);
    let (count, phase35) = ch_sum(&raw, "Jan-May", 2022, "projected", |r| r["reference_label"] == "Jun-Aug");
    assert_eq!((mali["projected"]["totalCount"].as_u64(), count), (Some(56), 56));
    assert_eq!(sum_of(&mali["projected"]["nodes"], "phase3Plus"), phase35);
    assert_eq!(phase35, 1_841_064);
    assert!(mali["projected"]["nodes"].as_array().expect("nodes").iter().all(|n| n["superseded"] == false));
    let june = mali["june"]["nodes"].as_array().expect("nodes");
    assert_eq!(june.len(), 112);
    assert!(june.iter().all(|n| (n["analysis"] == "Sep-Dec 2021") == (n["superseded"] == true)));
    // Ménaka as the file codes it (a cercle of Gao, ML0704): kept, under Gao.
    let menaka = &mali["menaka"]["nodes"][0];
    let raw_menaka =
        raw.iter().find(|r| is(r, "Sep-Dec", 2021, "current") && r["adm2_pcod2"] == "ML0704").expect("raw Ménaka");
    assert_eq!(menaka["sourcePcode"], "ML0704");
    assert_eq!(menaka["areaMatched"], false);
    assert_eq!(menaka["area"]["pcode"], "ML07");
    assert_eq!(menaka["phase3Plus"].as_i64(), Some(number(raw_menaka, "phase35")));

    // Afghanistan, April 2023, current: the country and Kabul Urban.
    let data = graphql(
        &store.pool,
        r#"{ country(iso3: "AFG") {
               national: foodSecurity(adminLevel: 0, from: "2023-04-01", to: "2023-04-30", projection: CURRENT) {
                 totalCount nodes { analysis population phase4 phase3Plus sourcePcode area { pcode } areaMatched
                   provenance { dataset { key } licence dataAsOf } } }
               kabul: foodSecurity(areaName: "Kabul Urban", from: "2023-04-01", to: "2023-04-30", projection: CURRENT) {
                 totalCount nodes { population phase3Plus sourcePcode sourceAreaName areaMatched area { pcode } } }
               areas: foodSecurity(adminLevel: 1, projection: CURRENT) { totalCount } } }"#,
    )
    .await;
    let afg = &data["country"];
    assert_eq!(afg["national"]["totalCount"], 1);
    let n = &afg["national"]["nodes"][0];
    assert_eq!(n["analysis"], "Apr 2023");
    assert_eq!(n["phase3Plus"].as_i64(), Some(ipc_number(&national, "Apr 2023", "current", None, "3+")));
    assert_eq!(n["phase3Plus"], 17_213_584);
    assert_eq!(n["population"].as_i64(), Some(ipc_number(&national, "Apr 2023", "current", None, "all")));
    assert_eq!(n["phase4"].as_i64(), Some(ipc_number(&national, "Apr 2023", "current", None, "4")));
    assert_eq!(
        (&n["sourcePcode"], &n["area"]["pcode"], &n["areaMatched"]),
        (&"AFG".into(), &"AFG".into(), &true.into())
    );
    assert_eq!(n["provenance"]["dataset"]["key"], "hdx:global-acute-food-insecurity-country-data");
    assert_eq!(n["provenance"]["dataAsOf"], "2023-04-01");
    assert!(n["provenance"]["licence"].as_str().is_some_and(|l| l.contains("Public Domain")), "{n}");
    let kabul = &afg["kabul"]["nodes"][0];
    assert_eq!(afg["kabul"]["totalCount"], 1);
    assert_eq!(
        kabul["phase3Plus"].as_i64(),
        Some(ipc_number(&areas, "Apr 2023", "current", Some("Kabul Urban"), "3+"))
    );
    assert_eq!(kabul["phase3Plus"], 1_689_705);
    assert_eq!(
        kabul["population"].as_i64(),
        Some(ipc_number(&areas, "Apr 2023", "current", Some("Kabul Urban"), "all"))
    );
    assert_eq!(
        (&kabul["sourcePcode"], &kabul["areaMatched"], &kabul["area"]["pcode"]),
        (&"".into(), &false.into(), &"AFG".into())
    );
    let area_names: BTreeSet<&str> =
        areas.iter().filter(|l| l["Validity period"] == "current").map(|l| l["Area"].as_str()).collect();
    assert_eq!(afg["areas"]["totalCount"].as_u64(), Some(area_names.len() as u64));
}

/// IPC's national file with April 2023's current phase 3+ written as text, and a line with an unknown
/// phase: both lines are rejected with their reason and kept; every other figure is written.
async fn bad_values_are_rejected_and_the_rest_kept(backend: Backend) {
    let Some(store) = TestStore::new(backend).await else { return };
    let original = String::from_utf8(read(&sample_path(IPC_NATIONAL_SAMPLE_FILE))).expect("text");
    let line = "Apr 2023,AFG,43100596,current,2023-04-01,2023-04-30,3+,17213584,0.4";
    assert!(original.contains(line));
    let spoilt = original.replace(line, "Apr 2023,AFG,43100596,current,2023-04-01,2023-04-30,3+,lots,0.4").replace(
        "Apr 2023,AFG,43100596,current,2023-04-01,2023-04-30,4,",
        "Apr 2023,AFG,43100596,current,2023-04-01,2023-04-30,9,",
    );
    let server = server_with(Some(spoilt.into_bytes())).await;
    let r = ingest(&store, &server).await;
    assert_eq!(r.status, status::SUCCEEDED, "{:?}", r.error);
    let reasons: Vec<(String, String)> = with_conn(&store.pool, |c| {
        use diesel::prelude::*;
        use store::schema::rejected_rows;
        Ok(rejected_rows::table.select((rejected_rows::reason, rejected_rows::raw)).load::<(String, String)>(c)?)
    })
    .await
    .expect("rejections");
    assert!(reasons.iter().any(|(r, raw)| r.contains("Number \"lots\"") && raw.contains("lots")), "{reasons:?}");
    assert!(reasons.iter().any(|(r, _)| r.contains("Phase \"9\"")), "{reasons:?}");
    // The two duplicate Koro rows of Mali, and these two lines.
    assert_eq!(reasons.len(), 4, "{reasons:?}");
    let data = graphql(
        &store.pool,
        r#"{ country(iso3: "AFG") { foodSecurity(adminLevel: 0, analysis: "Apr 2023", projection: CURRENT) {
               nodes { population phase3Plus phase4 } } } }"#,
    )
    .await;
    let n = &data["country"]["foodSecurity"]["nodes"][0];
    assert_eq!((n["phase3Plus"].is_null(), n["phase4"].is_null()), (true, true), "{n}");
    assert_eq!(n["population"], 43_100_598);
}

async fn rerun_writes_nothing(backend: Backend) {
    let Some(store) = TestStore::new(backend).await else { return };
    let server = server_with(None).await;
    let first = ingest(&store, &server).await;
    assert_eq!(first.status, status::SUCCEEDED, "{:?}", first.error);
    let second = run(&ingester(&store, &server), Source::FoodSecurity, &COUNTRIES, &[]).await;
    assert_eq!(second.status, status::SUCCEEDED, "{:?}", second.error);
    assert_eq!((second.inserted, second.updated, second.unchanged), (0, 0, first.inserted));
}

async fn the_sample_answers_mopti_in_graphql_and_the_export(backend: Backend) {
    tokio::task::LocalSet::new().run_until(sample_scenario(backend)).await;
}

/// The guide's Mopti query on the bundled sample, and the export of the same rows.
async fn sample_scenario(backend: Backend) {
    let Some(store) = TestStore::new(backend).await else { return };
    for r in ingest::sample::load_sample(&store.pool).await.expect("sample loads") {
        assert_eq!(r.status, status::SUCCEEDED, "{} {:?}", r.source, r.error);
    }
    let raw = raw_ch();
    let (count, phase35) = ch_sum(&raw, "Sep-Dec", 2021, "current", |r| r["adm1_pcod2"] == "ML05");
    let data = graphql(
        &store.pool,
        r#"{ adminArea(pcode: "ML05") { name foodSecurity(from: "2021-09-01", to: "2021-12-31", projection: CURRENT) {
               totalCount nodes { area { pcode } phase3Plus provenance { ingestRun { trigger } } } } } }"#,
    )
    .await;
    let mopti = &data["adminArea"];
    assert_eq!(mopti["name"], "Mopti");
    assert_eq!(mopti["foodSecurity"]["totalCount"].as_u64(), Some(count as u64));
    assert_eq!(sum_of(&mopti["foodSecurity"]["nodes"], "phase3Plus"), phase35);
    assert_eq!(phase35, 556_531);
    assert_eq!(mopti["foodSecurity"]["nodes"][0]["provenance"]["ingestRun"]["trigger"], "sample");

    let schema = api::build_schema(store.pool.clone(), api::Operations::default());
    let app = actix_web::test::init_service(
        actix_web::App::new().configure(api::server::configure(schema, store.pool.clone())),
    )
    .await;
    let request = actix_web::test::TestRequest::get()
        .uri("/export/food_security.csv?pcode=ML05&analysis=Sep-Dec%202021&projection=current")
        .to_request();
    let response = actix_web::test::call_service(&app, request).await;
    assert!(response.status().is_success(), "{}", response.status());
    let body = actix_web::test::read_body(response).await;
    let exported: Vec<Row> = csv::Reader::from_reader(body.as_ref()).deserialize().map(|r| r.expect("row")).collect();
    assert_eq!(exported.len(), count);
    assert_eq!(exported.iter().map(|r| number(r, "phase3_plus")).sum::<i64>(), phase35);
    let codes: BTreeSet<&str> = exported.iter().map(|r| r["source_pcode"].as_str()).collect();
    let raw_codes: BTreeSet<&str> = raw
        .iter()
        .filter(|r| is(r, "Sep-Dec", 2021, "current") && r["adm1_pcod2"] == "ML05")
        .map(|r| r["adm2_pcod2"].as_str())
        .collect();
    assert_eq!(codes, raw_codes);
    assert!(exported.iter().all(|r| r["licence"].contains("Creative Commons") && r["superseded"] == "false"));
}
