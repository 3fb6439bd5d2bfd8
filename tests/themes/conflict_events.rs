//! Conflict events (`conflict`): ACLED's three aggregated workbooks.
//!
//! ACLED's terms of use forbid redistributing its data, so no ACLED file is in the repository: the
//! scenarios build three workbooks of the same shape here (sheets `TOU`, `Non_HRP`, `HRP_1`,
//! `HRP_2`; the same headers; `Year` as text; no `Fatalities` in the demonstrations workbook) with
//! invented numbers, and catalog entries written here, and check every figure against the invented
//! rows. When ACLED's real (cut-down) workbooks are at hand (`CRISISGRAPH_ACLED_FIXTURES`, else
//! `<repo>/../shared/fixtures/acled`, else `/work/shared/fixtures/acled`), one more scenario serves
//! them from there and compares Mali's January 2025 with HAPI's processed output, row for row.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

use ingest::Source;
use store::conflict_events::ConflictEventRow;
use store::models::IngestRun;
use store::runs::status;
use store::with_conn;
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::common::{self, Backend, TestStore, graphql, ingester, run};

crate::on_both_stores!(
    conflict_events_equal_the_invented_workbooks,
    bad_rows_are_rejected_and_the_rest_kept,
    conflict_rerun_writes_nothing,
    graphql_answers_from_the_invented_workbooks,
    conflict_events_export_follows_the_workbooks,
    real_acled_workbooks_equal_hapis_output_for_mali,
);

/// ACLED's datasets, the event type stored for each, the workbook's name on HDX.
const DATASETS: [(&str, &str, &str); 3] = [
    ("political-violence-events-and-fatalities", "political_violence", "political-violence-events-and-fatalities"),
    ("civilian-targeting-events-and-fatalities", "civilian_targeting", "civilian-targeting-events-and-fatalities"),
    ("demonstration-events", "demonstration", "demonstration-events"),
];

/// Where the written catalog entries say the invented workbooks are.
fn served_path(dataset: &str) -> String {
    format!("/dataset/{dataset}/resource/invented-{dataset}/download/{dataset}_as-of-2025-02-10.xlsx")
}

/// The catalog entry written for `dataset` (tests/fixtures/conflict): ACLED's licence and terms, the
/// invented workbook's path, no figure.
fn catalog_entry(dataset: &str) -> Vec<u8> {
    common::read(&format!("tests/fixtures/conflict/package_show.{dataset}.json"))
}

// --- the invented data and the workbooks built from it ---

/// One invented row of an HRP sheet: (ISO3, country, admin1 p-code, admin1, admin2 p-code, admin2,
/// month name, year text, events, fatalities). Cells are text, as a row of the workbook.
#[derive(Clone)]
struct RawRow {
    sheet: &'static str,
    iso3: &'static str,
    country: &'static str,
    admin1_pcode: &'static str,
    admin1: &'static str,
    admin2_pcode: &'static str,
    admin2: &'static str,
    month: String,
    year: String,
    events: String,
    fatalities: String,
}

/// The areas of the invented rows: (sheet, ISO3, country, admin1 p-code, admin1, admin2 p-code, admin2).
/// `ML0599` is no p-code of Mali's (kept unmatched, under Mopti); Haiti is not asked for.
const AREAS: [(&str, &str, &str, &str, &str, &str, &str); 8] = [
    ("HRP_1", "MLI", "Mali", "ML05", "Mopti", "ML0501", "Bandiagara"),
    ("HRP_1", "MLI", "Mali", "ML05", "Mopti", "ML0504", "Douentza"),
    ("HRP_1", "MLI", "Mali", "ML05", "Mopti", "ML0599", "Invented"),
    ("HRP_1", "MLI", "Mali", "ML06", "Tombouctou", "ML0602", "Goundam"),
    ("HRP_1", "MLI", "Mali", "ML10", "Menaka", "ML1001", "Menaka"),
    ("HRP_1", "HTI", "Haiti", "HT01", "Ouest", "HT0111", "Port-au-Prince"),
    ("HRP_2", "TCD", "Chad", "TD01", "Batha", "TD0101", "Batha Est"),
    ("HRP_2", "TCD", "Chad", "TD07", "Lac", "TD0701", "Mamdi"),
];

const MONTHS: [(&str, &str); 3] = [("January", "1997"), ("January", "2025"), ("February", "2025")];

/// The invented rows of one workbook (`kind` 0, 1, 2 in [`DATASETS`]' order): every area and month,
/// numbers from a formula (many zeros, as ACLED's).
fn invented(kind: usize) -> Vec<RawRow> {
    let mut rows = Vec::new();
    for (a, (sheet, iso3, country, admin1_pcode, admin1, admin2_pcode, admin2)) in AREAS.into_iter().enumerate() {
        for (m, (month, year)) in MONTHS.into_iter().enumerate() {
            let events = (a * 5 + m * 3 + kind * 2) % 7;
            let fatalities = if events == 0 { 0 } else { (a * 11 + m * 7 + kind) % 13 };
            rows.push(RawRow {
                sheet,
                iso3,
                country,
                admin1_pcode,
                admin1,
                admin2_pcode,
                admin2,
                month: month.into(),
                year: year.into(),
                events: events.to_string(),
                fatalities: fatalities.to_string(),
            });
        }
    }
    rows
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn column_letter(i: usize) -> char {
    (b'A' + i as u8) as char
}

/// A worksheet's rows: each cell's text and whether it is a number.
type SheetCells = Vec<Vec<(String, bool)>>;

/// A worksheet's XML: text cells as inline strings, numbers as numbers.
fn sheet_xml(rows: &SheetCells) -> String {
    let mut xml = String::from(
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>"#,
    );
    for (r, row) in rows.iter().enumerate() {
        xml.push_str(&format!(r#"<row r="{}">"#, r + 1));
        for (c, (value, number)) in row.iter().enumerate() {
            let at = format!("{}{}", column_letter(c), r + 1);
            if *number {
                xml.push_str(&format!(r#"<c r="{at}"><v>{value}</v></c>"#));
            } else {
                xml.push_str(&format!(r#"<c r="{at}" t="inlineStr"><is><t>{}</t></is></c>"#, escape(value)));
            }
        }
        xml.push_str("</row>");
    }
    xml.push_str("</sheetData></worksheet>");
    xml
}

/// A workbook of ACLED's shape with `rows` in its HRP sheets (`fatalities`: whether it has that column).
fn workbook(rows: &[RawRow], fatalities: bool) -> Vec<u8> {
    let text = |s: &str| (s.to_string(), false);
    // A cell that is a number where it reads as one (as ACLED's Events), text otherwise (a bad value).
    let number = |s: &str| (s.to_string(), s.parse::<i64>().is_ok());
    let tou = vec![vec![text("Licensing")], vec![text("Invented workbook for crisisgraph's tests: no ACLED data.")]];
    let mut non_hrp = vec![["Country", "Month", "Year", "Events"].map(text).to_vec()];
    if fatalities {
        non_hrp[0].push(text("Fatalities"));
    }
    non_hrp.push(vec![text("Albania"), text("January"), text("2025"), number("4"), number("1")]);
    non_hrp[1].truncate(if fatalities { 5 } else { 4 });
    let mut header = ["Country", "Admin1", "Admin2", "ISO3", "Admin2 Pcode", "Admin1 Pcode", "Month", "Year", "Events"]
        .map(text)
        .to_vec();
    if fatalities {
        header.push(text("Fatalities"));
    }
    let mut sheets: Vec<(&str, SheetCells)> =
        vec![("TOU", tou), ("Non_HRP", non_hrp), ("HRP_1", vec![header.clone()]), ("HRP_2", vec![header])];
    for row in rows {
        let mut cells = vec![
            text(row.country),
            text(row.admin1),
            text(row.admin2),
            text(row.iso3),
            text(row.admin2_pcode),
            text(row.admin1_pcode),
            text(&row.month),
            text(&row.year),
            number(&row.events),
        ];
        if fatalities {
            cells.push(number(&row.fatalities));
        }
        if let Some((_, sheet)) = sheets.iter_mut().find(|(name, _)| *name == row.sheet) {
            sheet.push(cells);
        }
    }
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    let mut put = |name: &str, content: &str| {
        zip.start_file(name, options).expect("zip entry");
        zip.write_all(content.as_bytes()).expect("zip write");
    };
    let overrides: String = (1..=sheets.len())
        .map(|i| {
            format!(
                r#"<Override PartName="/xl/worksheets/sheet{i}.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>"#
            )
        })
        .collect();
    put(
        "[Content_Types].xml",
        &format!(
            r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>{overrides}</Types>"#
        ),
    );
    put(
        "_rels/.rels",
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>"#,
    );
    let sheet_list: String = sheets
        .iter()
        .enumerate()
        .map(|(i, (name, _))| format!(r#"<sheet name="{name}" sheetId="{}" r:id="rId{}"/>"#, i + 1, i + 1))
        .collect();
    put(
        "xl/workbook.xml",
        &format!(
            r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets>{sheet_list}</sheets></workbook>"#
        ),
    );
    let rels: String = (1..=sheets.len())
        .map(|i| {
            format!(
                r#"<Relationship Id="rId{i}" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet{i}.xml"/>"#
            )
        })
        .collect();
    put(
        "xl/_rels/workbook.xml.rels",
        &format!(
            r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">{rels}</Relationships>"#
        ),
    );
    for (i, (_, rows)) in sheets.iter().enumerate() {
        put(&format!("xl/worksheets/sheet{}.xml", i + 1), &sheet_xml(rows));
    }
    zip.finish().expect("zip").into_inner()
}

/// The fixture server (p-codes) with the three catalog entries and the three workbooks built from
/// `rows` (one list per dataset, in [`DATASETS`]' order).
async fn server_with(rows: &[Vec<RawRow>; 3]) -> MockServer {
    let server = common::fixture_server().await;
    for (kind, (dataset, _, _)) in DATASETS.into_iter().enumerate() {
        Mock::given(method("GET"))
            .and(path("/api/3/action/package_show"))
            .and(query_param("id", dataset))
            .respond_with(ResponseTemplate::new(200).set_body_bytes(catalog_entry(dataset)))
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path(served_path(dataset)))
            .respond_with(ResponseTemplate::new(200).set_body_bytes(workbook(&rows[kind], kind != 2)))
            .mount(&server)
            .await;
    }
    server
}

fn all_invented() -> [Vec<RawRow>; 3] {
    [invented(0), invented(1), invented(2)]
}

fn month_of(name: &str, year: &str) -> String {
    let m = ["January", "February"].iter().position(|m| *m == name).expect("month") + 1;
    format!("{year}-{m:02}-01")
}

/// (event type, admin2 p-code, month) → (events, fatalities), computed from the invented rows of
/// `iso3` (rows whose numbers are not numbers left out).
type Figures = BTreeMap<(String, String, String), (i64, Option<i64>)>;

fn expected(rows: &[Vec<RawRow>; 3], iso3: &str) -> Figures {
    let mut out = Figures::new();
    for (kind, (_, event_type, _)) in DATASETS.into_iter().enumerate() {
        for r in rows[kind].iter().filter(|r| r.iso3 == iso3) {
            let (Ok(events), Ok(fatalities)) = (r.events.parse::<i64>(), r.fatalities.parse::<i64>()) else { continue };
            if !["January", "February"].contains(&r.month.as_str()) {
                continue;
            }
            out.insert(
                (event_type.into(), r.admin2_pcode.into(), month_of(&r.month, &r.year)),
                (events, (kind != 2).then_some(fatalities)),
            );
        }
    }
    out
}

fn figures(rows: &[ConflictEventRow]) -> Figures {
    rows.iter()
        .map(|r| ((r.event_type.clone(), r.source_pcode.clone(), r.month.to_string()), (r.events, r.fatalities)))
        .collect()
}

async fn ingest(store: &TestStore, server: &MockServer, countries: &[&str]) -> IngestRun {
    let ingester = ingester(store, server);
    let geo = run(&ingester, Source::Geography, countries, &[]).await;
    assert_eq!(geo.status, status::SUCCEEDED, "{:?}", geo.error);
    run(&ingester, Source::Conflict, countries, &[]).await
}

async fn stored(store: &TestStore, iso3: &str) -> Vec<ConflictEventRow> {
    let iso3 = iso3.to_string();
    with_conn(&store.pool, move |c| store::conflict_events::conflict_events_of_country(c, &iso3))
        .await
        .expect("conflict events")
}

async fn conflict_events_equal_the_invented_workbooks(backend: Backend) {
    let Some(store) = TestStore::new(backend).await else { return };
    let rows = all_invented();
    let server = server_with(&rows).await;
    let r = ingest(&store, &server, &["MLI", "TCD"]).await;
    assert_eq!(r.status, status::SUCCEEDED, "{:?}", r.error);
    let (mali, chad) = (expected(&rows, "MLI"), expected(&rows, "TCD"));
    assert_eq!(mali.len(), 5 * 3 * 3, "every area, month and event type, zeros included");
    let mali_rows = stored(&store, "MLI").await;
    assert_eq!(figures(&mali_rows), mali);
    assert_eq!(figures(&stored(&store, "TCD").await), chad, "HRP_2 is read too");
    assert!(stored(&store, "HTI").await.is_empty(), "Haiti was not asked for");
    let total = (mali.len() + chad.len()) as i64;
    assert_eq!((r.fetched, r.inserted, r.rejected), (total, total, 0));
    // Demonstrations have no fatalities; the others always have them.
    assert!(mali_rows.iter().all(|r| (r.event_type == "demonstration") == r.fatalities.is_none()));
    // Matched p-codes, and the invented code kept unmatched under its province.
    let areas = with_conn(&store.pool, |c| store::geography::areas_of_country(c, "MLI")).await.expect("areas");
    let pcode = |id: Option<i64>| areas.iter().find(|a| Some(a.id) == id).map(|a| a.pcode.clone());
    for row in &mali_rows {
        if row.source_pcode == "ML0599" {
            assert!(!row.area_matched);
            assert_eq!(pcode(row.area_id).as_deref(), Some("ML05"), "the nearest enclosing area");
        } else {
            assert!(row.area_matched, "{}", row.source_pcode);
            assert_eq!(pcode(row.area_id).as_deref(), Some(row.source_pcode.as_str()));
        }
        assert_eq!(row.admin_level, 2);
    }
    let bandiagara = mali_rows.iter().find(|r| r.source_pcode == "ML0501").expect("Bandiagara");
    assert_eq!(
        (bandiagara.source_admin1_pcode.as_str(), bandiagara.source_admin2_name.as_str()),
        ("ML05", "Bandiagara")
    );
}

async fn bad_rows_are_rejected_and_the_rest_kept(backend: Backend) {
    let Some(store) = TestStore::new(backend).await else { return };
    let mut rows = all_invented();
    let mali_first = rows[0].iter().position(|r| r.iso3 == "MLI").expect("a Mali row");
    // Text for a number, a month that is not one, a duplicate with other figures, no p-code.
    rows[0][mali_first].events = "many".into();
    rows[0][mali_first + 1].month = "Smarch".into();
    let mut duplicate = rows[0][mali_first + 2].clone();
    duplicate.events = "99".into();
    duplicate.sheet = "HRP_2";
    rows[0].push(duplicate);
    let mut no_code = rows[1][mali_first + 2].clone();
    no_code.admin2_pcode = "";
    no_code.month = "February".into();
    no_code.year = "2024".into();
    rows[1].push(no_code);
    let server = server_with(&rows).await;
    let r = ingest(&store, &server, &["MLI"]).await;
    assert_eq!(r.status, status::SUCCEEDED, "{:?}", r.error);
    assert_eq!(r.rejected, 4);
    let data =
        graphql(&store.pool, &format!("{{ ingestRun(id: {}) {{ rejectedRows {{ rowNumber reason raw }} }} }}", r.id))
            .await;
    let rejected = data["ingestRun"]["rejectedRows"].as_array().cloned().unwrap_or_default();
    let reasons: Vec<String> = rejected.iter().filter_map(|x| x["reason"].as_str().map(str::to_string)).collect();
    // The header is worksheet row 1: Mali's first row of HRP_1 is row 2 (after nothing else in HRP_1).
    let first_line = rejected.iter().find(|x| x["reason"].as_str().is_some_and(|s| s.contains("\"many\"")));
    assert!(first_line.is_some(), "{reasons:?}");
    assert!(reasons.iter().any(|s| s.contains("\"Smarch\" is not a month")), "{reasons:?}");
    assert!(reasons.iter().any(|s| s.contains("duplicate") && s.contains("other figures")), "{reasons:?}");
    assert!(reasons.iter().any(|s| s.contains("Admin2 Pcode is empty")), "{reasons:?}");
    // Every other figure is stored: the expected ones without the three bad political violence rows.
    let mut want = expected(&all_invented(), "MLI");
    for r in &all_invented()[0][mali_first..mali_first + 2] {
        want.remove(&("political_violence".into(), r.admin2_pcode.into(), month_of(&r.month, &r.year)));
    }
    assert_eq!(figures(&stored(&store, "MLI").await), want);
}

async fn conflict_rerun_writes_nothing(backend: Backend) {
    let Some(store) = TestStore::new(backend).await else { return };
    let server = server_with(&all_invented()).await;
    let first = ingest(&store, &server, &["MLI"]).await;
    assert_eq!(first.status, status::SUCCEEDED, "{:?}", first.error);
    let second = ingest(&store, &server, &["MLI"]).await;
    assert_eq!(second.status, status::SUCCEEDED, "{:?}", second.error);
    assert_eq!((second.inserted, second.updated), (0, 0));
    assert_eq!(second.unchanged, first.inserted);
}

/// Sums of events and fatalities over `nodes`.
fn sums(nodes: &serde_json::Value) -> (i64, i64) {
    let nodes = nodes.as_array().cloned().unwrap_or_default();
    (
        nodes.iter().filter_map(|n| n["events"].as_i64()).sum(),
        nodes.iter().filter_map(|n| n["fatalities"].as_i64()).sum(),
    )
}

/// Sums of the expected figures of `event_type` and `month` whose p-code starts with `prefix`.
fn expected_sums(f: &Figures, event_type: &str, month: &str, prefix: &str) -> (i64, i64, usize) {
    let matching: Vec<_> =
        f.iter().filter(|((t, p, m), _)| t == event_type && m == month && p.starts_with(prefix)).collect();
    (matching.iter().map(|(_, (e, _))| e).sum(), matching.iter().filter_map(|(_, (_, f))| *f).sum(), matching.len())
}

async fn graphql_answers_from_the_invented_workbooks(backend: Backend) {
    let Some(store) = TestStore::new(backend).await else { return };
    let rows = all_invented();
    let server = server_with(&rows).await;
    let r = ingest(&store, &server, &["MLI"]).await;
    assert_eq!(r.status, status::SUCCEEDED, "{:?}", r.error);
    let want = expected(&rows, "MLI");
    let data = graphql(
        &store.pool,
        r#"{
          country(iso3: "MLI") {
            all: conflictEvents(from: "2025-01-01", to: "2025-01-31", eventType: POLITICAL_VIOLENCE, first: 1000) {
              totalCount nodes { id area { pcode } sourcePcode month eventType events fatalities
                provenance { licence credit dataset { key } } } }
            mopti: conflictEvents(adminLevel: 2, pcode: "ML05", from: "2025-01-01", to: "2025-01-31",
              eventType: POLITICAL_VIOLENCE) { totalCount nodes { events fatalities } }
            demonstrations: conflictEvents(eventType: DEMONSTRATION, first: 1000) { totalCount nodes { fatalities } }
            paged: conflictEvents(first: 10) { totalCount pageInfo { hasNextPage endCursor } }
          }
          mopti: adminArea(pcode: "ML05") {
            conflictEvents(from: "2025-01-15", to: "2025-01-31", eventType: POLITICAL_VIOLENCE) {
              totalCount nodes { events fatalities } } }
          bandiagara: adminArea(pcode: "ML0501") {
            conflictEvents(from: "2025-01-01", to: "2025-01-31", eventType: CIVILIAN_TARGETING) {
              nodes { area { pcode } events fatalities } } }
        }"#,
    )
    .await;
    let country = &data["country"];
    let (events, fatalities, count) = expected_sums(&want, "political_violence", "2025-01-01", "ML");
    assert_eq!(country["all"]["totalCount"], count as i64);
    assert_eq!(sums(&country["all"]["nodes"]), (events, fatalities));
    let node = &country["all"]["nodes"][0];
    assert_eq!(node["eventType"], "POLITICAL_VIOLENCE");
    assert_eq!(node["month"], "2025-01-01");
    assert_eq!(node["provenance"]["licence"], "Other");
    assert_eq!(node["provenance"]["credit"], ingest::sources::conflict::ACLED_CREDIT);
    assert_eq!(node["provenance"]["dataset"]["key"], "hdx:political-violence-events-and-fatalities");

    // Mopti: its areas' figures, the unmatched code kept under it included.
    let (events, fatalities, count) = expected_sums(&want, "political_violence", "2025-01-01", "ML05");
    assert_eq!(count, 3);
    assert_eq!(country["mopti"]["totalCount"], 3);
    assert_eq!(sums(&country["mopti"]["nodes"]), (events, fatalities));
    assert_eq!(data["mopti"]["conflictEvents"]["totalCount"], 3, "the month containing `from` counts");
    assert_eq!(sums(&data["mopti"]["conflictEvents"]["nodes"]), (events, fatalities));
    let (events, fatalities, _) = expected_sums(&want, "civilian_targeting", "2025-01-01", "ML0501");
    let bandiagara = &data["bandiagara"]["conflictEvents"]["nodes"];
    assert_eq!(bandiagara[0]["area"]["pcode"], "ML0501");
    assert_eq!(sums(bandiagara), (events, fatalities));

    let demonstrations = &country["demonstrations"];
    assert_eq!(demonstrations["totalCount"], want.keys().filter(|k| k.0 == "demonstration").count() as i64);
    assert!(demonstrations["nodes"].as_array().is_some_and(|n| n.iter().all(|n| n["fatalities"].is_null())));
    assert_eq!(country["paged"]["totalCount"], want.len() as i64);
    assert_eq!(country["paged"]["pageInfo"]["hasNextPage"], true);

    // The next page, and a figure by its global id.
    let cursor = country["paged"]["pageInfo"]["endCursor"].as_str().expect("cursor").to_string();
    let next = graphql(
        &store.pool,
        &format!(
            r#"{{ country(iso3: "MLI") {{ conflictEvents(first: 1000, after: "{cursor}") {{ nodes {{ id }} }} }} }}"#
        ),
    )
    .await;
    let rest = next["country"]["conflictEvents"]["nodes"].as_array().map(Vec::len).unwrap_or_default();
    assert_eq!(rest + 10, want.len());
    let id = node["id"].as_str().expect("id").to_string();
    let found = graphql(
        &store.pool,
        &format!(r#"{{ node(id: "{id}") {{ ... on ConflictEventFigure {{ sourcePcode events fatalities }} }} }}"#),
    )
    .await;
    assert_eq!(found["node"]["sourcePcode"], node["sourcePcode"]);
    assert_eq!(found["node"]["events"], node["events"]);
}

async fn conflict_events_export_follows_the_workbooks(backend: Backend) {
    tokio::task::LocalSet::new().run_until(export_scenario(backend)).await;
}

async fn export_scenario(backend: Backend) {
    use actix_web::test as awtest;
    let Some(store) = TestStore::new(backend).await else { return };
    let rows = all_invented();
    let server = server_with(&rows).await;
    let r = ingest(&store, &server, &["MLI"]).await;
    assert_eq!(r.status, status::SUCCEEDED, "{:?}", r.error);
    let schema = api::build_schema(store.pool.clone(), api::Operations::default());
    let app =
        awtest::init_service(actix_web::App::new().configure(api::server::configure(schema, store.pool.clone()))).await;
    let uri = "/export/conflict_events.csv?country=MLI&event_type=political_violence&from=2025-01-01&to=2025-01-31";
    let response = awtest::call_service(&app, awtest::TestRequest::get().uri(uri).to_request()).await;
    assert_eq!(response.status(), 200);
    let body = awtest::read_body(response).await;
    let mut reader = csv::Reader::from_reader(body.as_ref());
    let headers = reader.headers().expect("header").clone();
    let exported: Vec<BTreeMap<String, String>> = reader
        .records()
        .map(|r| headers.iter().map(str::to_string).zip(r.expect("row").iter().map(str::to_string)).collect())
        .filter(|r: &BTreeMap<String, String>| !r["country_iso3"].starts_with('#'))
        .collect();
    let want = expected(&rows, "MLI");
    let (events, fatalities, count) = expected_sums(&want, "political_violence", "2025-01-01", "ML");
    assert_eq!(exported.len(), count);
    let sum = |column: &str| exported.iter().map(|r| r[column].parse::<i64>().expect("number")).sum::<i64>();
    assert_eq!((sum("events"), sum("fatalities")), (events, fatalities));
    assert!(exported.iter().all(|r| r["licence"] == "Other" && r["credit"] == ingest::sources::conflict::ACLED_CREDIT));
}

// --- ACLED's real workbooks, when at hand (never copied into the repository) ---

/// The folder of ACLED's real workbooks, if there is one.
fn real_folder() -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("CRISISGRAPH_ACLED_FIXTURES").map(PathBuf::from),
        Some(common::repo_path("../shared/fixtures/acled")),
        Some(PathBuf::from("/work/shared/fixtures/acled")),
    ];
    candidates.into_iter().flatten().find(|p| p.join("hdx_hapi_conflict_event_MLI_2025.csv").is_file())
}

/// HAPI's processed output for Mali, January 2025: (admin2 code, event type) → (admin1 code, events,
/// fatalities), read with the csv crate alone.
fn hapi_rows(folder: &std::path::Path) -> BTreeMap<(String, String), (String, i64, Option<i64>)> {
    let bytes = std::fs::read(folder.join("hdx_hapi_conflict_event_MLI_2025.csv")).expect("HAPI's file");
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
    let mut reader = csv::Reader::from_reader(bytes);
    let headers = reader.headers().expect("header").clone();
    let mut out = BTreeMap::new();
    for record in reader.records() {
        let r: BTreeMap<String, String> =
            headers.iter().map(str::to_string).zip(record.expect("row").iter().map(str::to_string)).collect();
        assert_eq!(
            (r["reference_period_start"].as_str(), r["reference_period_end"].as_str()),
            ("2025-01-01", "2025-01-31")
        );
        let fatalities = (!r["fatalities"].is_empty()).then(|| r["fatalities"].parse::<i64>().expect("fatalities"));
        let previous = out.insert(
            (r["admin2_code"].clone(), r["event_type"].clone()),
            (r["admin1_code"].clone(), r["events"].parse::<i64>().expect("events"), fatalities),
        );
        assert!(previous.is_none(), "one HAPI row per area and event type");
    }
    out
}

async fn real_acled_workbooks_equal_hapis_output_for_mali(backend: Backend) {
    let Some(folder) = real_folder() else {
        eprintln!(
            "NOT RUN: real_acled_workbooks_equal_hapis_output_for_mali: ACLED's workbooks were not found \
             (set CRISISGRAPH_ACLED_FIXTURES, or put them in ../shared/fixtures/acled); ACLED's terms keep \
             them out of the repository"
        );
        return;
    };
    let Some(store) = TestStore::new(backend).await else { return };
    eprintln!("real_acled_workbooks_equal_hapis_output_for_mali: ACLED's workbooks from {}", folder.display());
    let server = common::fixture_server().await;
    for (dataset, _, file) in DATASETS {
        let entry: serde_json::Value = serde_json::from_slice(
            &std::fs::read(folder.join(format!("acled_{file}.hdx_dataset.json"))).expect("catalog entry"),
        )
        .expect("JSON");
        let resource = &entry["resources"][0];
        let url = resource["download_url"].as_str().expect("download_url");
        let served = url.strip_prefix("https://data.humdata.org").expect("an HDX URL").to_string();
        let name = resource["name"].as_str().expect("name").replace('_', "-");
        let workbook = std::fs::read(folder.join(format!("acled_{name}"))).expect("the workbook");
        let envelope = serde_json::json!({ "success": true, "result": entry });
        Mock::given(method("GET"))
            .and(path("/api/3/action/package_show"))
            .and(query_param("id", dataset))
            .respond_with(ResponseTemplate::new(200).set_body_bytes(envelope.to_string()))
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path(served))
            .respond_with(ResponseTemplate::new(200).set_body_bytes(workbook))
            .mount(&server)
            .await;
    }
    let r = ingest(&store, &server, &["MLI"]).await;
    assert_eq!(r.status, status::SUCCEEDED, "{:?}", r.error);
    assert_eq!(r.rejected, 0);

    // HAPI's 159 rows, row for row: every one is ours, and we hold no other for January 2025.
    let hapi = hapi_rows(&folder);
    assert_eq!(hapi.len(), 159);
    let ours = stored(&store, "MLI").await;
    let areas = with_conn(&store.pool, |c| store::geography::areas_of_country(c, "MLI")).await.expect("areas");
    let january: Vec<&ConflictEventRow> =
        ours.iter().filter(|r| r.month == chrono::NaiveDate::from_ymd_opt(2025, 1, 1).expect("date")).collect();
    assert_eq!(january.len(), hapi.len());
    for ((admin2, event_type), (admin1, events, fatalities)) in &hapi {
        let row = january
            .iter()
            .find(|r| &r.source_pcode == admin2 && &r.event_type == event_type)
            .unwrap_or_else(|| panic!("{admin2} {event_type} is missing"));
        assert_eq!((row.events, row.fatalities), (*events, *fatalities), "{admin2} {event_type}");
        assert_eq!(&row.source_admin1_pcode, admin1);
        assert!(row.area_matched, "{admin2}");
        let area = areas.iter().find(|a| Some(a.id) == row.area_id).expect("area");
        assert_eq!(&area.pcode, admin2);
    }

    // The check figures, from HAPI's output and through GraphQL.
    let hapi_sum = |event_type: &str, prefix: &str| {
        hapi.iter()
            .filter(|((a, t), _)| t == event_type && a.starts_with(prefix))
            .fold((0, 0), |(e, f), (_, (_, events, fatalities))| (e + events, f + fatalities.unwrap_or(0)))
    };
    assert_eq!(hapi_sum("political_violence", "ML"), (23, 83));
    assert_eq!(hapi_sum("political_violence", "ML05"), (5, 10));
    assert_eq!(hapi_sum("political_violence", "ML0501"), (3, 10));
    assert_eq!(hapi_sum("civilian_targeting", "ML"), (11, 31));
    let data = graphql(
        &store.pool,
        r#"{
          country(iso3: "MLI") {
            pv: conflictEvents(from: "2025-01-01", to: "2025-01-31", eventType: POLITICAL_VIOLENCE, first: 1000) {
              totalCount nodes { events fatalities provenance { licence credit } } }
            ct: conflictEvents(from: "2025-01-01", to: "2025-01-31", eventType: CIVILIAN_TARGETING, first: 1000) {
              nodes { events fatalities } } }
          mopti: adminArea(pcode: "ML05") {
            conflictEvents(from: "2025-01-01", to: "2025-01-31", eventType: POLITICAL_VIOLENCE) { nodes { events fatalities } } }
          bandiagara: adminArea(pcode: "ML0501") {
            conflictEvents(from: "2025-01-01", to: "2025-01-31", eventType: POLITICAL_VIOLENCE) {
              nodes { area { pcode } sourcePcode month eventType events fatalities } } }
        }"#,
    )
    .await;
    assert_eq!(data["country"]["pv"]["totalCount"], 53);
    assert_eq!(sums(&data["country"]["pv"]["nodes"]), (23, 83));
    assert_eq!(sums(&data["country"]["ct"]["nodes"]), (11, 31));
    assert_eq!(sums(&data["mopti"]["conflictEvents"]["nodes"]), (5, 10));
    let bandiagara = &data["bandiagara"]["conflictEvents"]["nodes"][0];
    assert_eq!(bandiagara["area"]["pcode"], "ML0501");
    assert_eq!((bandiagara["events"].as_i64(), bandiagara["fatalities"].as_i64()), (Some(3), Some(10)));
    let provenance = &data["country"]["pv"]["nodes"][0]["provenance"];
    assert_eq!(provenance["licence"], "Other");
    assert_eq!(provenance["credit"], ingest::sources::conflict::ACLED_CREDIT);
}
