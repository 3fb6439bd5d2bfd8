//! National risk (`national-risk`): the INFORM Risk 2024 workbook, its formula cells read as cached,
//! checked against the issue's figures and against the worksheet read here with calamine alone.

use ingest::Source;
use store::models::IngestRun;
use store::national_risk::NationalRiskRow;
use store::runs::status;
use store::with_conn;
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::common::{self, Backend, TestStore, graphql, ingester, read, run};

crate::on_both_stores!(
    national_risk_equals_the_workbook,
    bad_values_are_rejected_and_the_rest_kept,
    rerun_writes_nothing,
    graphql_answers_the_check_figures,
);

const WORKBOOK: &str = "sample/national_risk/inform_risk_2024_v067.xlsx";
const SHEET: &str = "INFORM Risk 2024 (a-z)";
const COUNTRIES: [&str; 5] = ["MLI", "SSD", "AFG", "TCD", "HTI"];

/// The fixture server with the p-codes and every bundled HDX payload (the INFORM workbook among
/// them, unless replaced).
async fn server_with(workbook: Option<Vec<u8>>) -> MockServer {
    let server = common::fixture_server().await;
    for (file_path, id, bytes) in ingest::sample::hdx_payloads() {
        if id.is_none() && file_path == ingest::sources::national_risk::SAMPLE_PATH && workbook.is_some() {
            continue;
        }
        let mock = Mock::given(method("GET")).and(path(file_path));
        let mock = match id {
            Some(id) => mock.and(query_param("id", id)),
            None => mock,
        };
        mock.respond_with(ResponseTemplate::new(200).set_body_bytes(bytes)).mount(&server).await;
    }
    if let Some(bytes) = workbook {
        Mock::given(method("GET"))
            .and(path(ingest::sources::national_risk::SAMPLE_PATH))
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
    run(&ingester, Source::NationalRisk, &COUNTRIES, &[]).await
}

async fn stored(store: &TestStore, iso3: &str) -> Vec<NationalRiskRow> {
    let iso3 = iso3.to_string();
    with_conn(&store.pool, move |c| store::national_risk::risk_of_country(c, &iso3, None)).await.expect("risk")
}

/// A country's cells (risk, class, rank, hazard, vulnerability, coping), read with calamine alone.
pub(crate) fn raw_row(iso3: &str) -> (f64, String, i32, f64, f64, f64) {
    use calamine::{DataType, Reader, Xlsx};
    let mut book: Xlsx<_> = calamine::open_workbook_from_rs(std::io::Cursor::new(read(WORKBOOK))).expect("workbook");
    let range = book.worksheet_range(SHEET).expect("sheet");
    let rows: Vec<_> = range.rows().collect();
    let header_at = rows.iter().position(|r| r.iter().any(|c| c.get_string() == Some("ISO3"))).expect("header");
    let header: Vec<String> = rows[header_at].iter().map(|c| c.to_string()).collect();
    let col = |n: &str| header.iter().position(|h| h.trim() == n).expect("column");
    let row = rows.iter().find(|r| r[col("ISO3")].get_string() == Some(iso3)).expect("row");
    let number = |n: &str| row[col(n)].as_f64().expect("number");
    (
        number("INFORM RISK"),
        row[col("RISK CLASS")].to_string(),
        number("Rank") as i32,
        number("HAZARD & EXPOSURE"),
        number("VULNERABILITY"),
        number("LACK OF COPING CAPACITY"),
    )
}

async fn national_risk_equals_the_workbook(backend: Backend) {
    let Some(store) = TestStore::new(backend).await else { return };
    let server = server_with(None).await;
    let r = ingest(&store, &server).await;
    assert_eq!(r.status, status::SUCCEEDED, "{:?}", r.error);
    assert_eq!((r.fetched, r.inserted, r.rejected), (5, 5, 0));
    // The issue's figures.
    let expected = [
        ("MLI", 6.8, "Very High", 15),
        ("SSD", 8.5, "Very High", 2),
        ("AFG", 8.1, "Very High", 4),
        ("TCD", 7.8, "Very High", 5),
        ("HTI", 7.2, "Very High", 9),
    ];
    for (iso3, score, class, rank) in expected {
        let rows = stored(&store, iso3).await;
        assert_eq!(rows.len(), 1, "{iso3}");
        let n = &rows[0];
        assert_eq!((n.year, n.risk_score, n.risk_class.as_str(), n.rank), (2024, score, class, rank), "{iso3}");
        // And every figure as the worksheet caches it.
        let raw = raw_row(iso3);
        assert_eq!(
            (n.risk_score, n.risk_class.clone(), n.rank, n.hazard_exposure, n.vulnerability, n.lack_of_coping_capacity),
            (raw.0, raw.1, raw.2, Some(raw.3), Some(raw.4), Some(raw.5)),
            "{iso3}"
        );
    }
    let mali = &stored(&store, "MLI").await[0];
    assert_eq!(
        (mali.hazard_exposure, mali.vulnerability, mali.lack_of_coping_capacity),
        (Some(7.2), Some(6.7), Some(6.5))
    );
}

/// The workbook with Mali's score overwritten by text and Chad's class by an unknown one, built by
/// rewriting the sheet's XML in the XLSX archive: those two countries' rows are rejected with their
/// reason, the others kept.
async fn bad_values_are_rejected_and_the_rest_kept(backend: Backend) {
    let Some(store) = TestStore::new(backend).await else { return };
    let spoilt = spoil_workbook(&read(WORKBOOK));
    let server = server_with(Some(spoilt)).await;
    let r = ingest(&store, &server).await;
    // Mali and Chad fail (their only row is rejected, over the allowed share); the others are written.
    assert_eq!(r.inserted, 3, "{:?}", r.error);
    assert!(stored(&store, "TCD").await.is_empty());
    assert!(stored(&store, "MLI").await.is_empty());
    assert_eq!(stored(&store, "SSD").await[0].rank, 2);
    let reasons: Vec<String> = with_conn(&store.pool, |c| {
        use diesel::prelude::*;
        use store::schema::rejected_rows;
        Ok(rejected_rows::table.select(rejected_rows::reason).load::<String>(c)?)
    })
    .await
    .expect("rejections");
    assert!(reasons.iter().any(|r| r.contains("INFORM RISK") && r.contains("not a number")), "{reasons:?}");
    assert!(reasons.iter().any(|r| r.contains("RISK CLASS") && r.contains("Extreme")), "{reasons:?}");
    assert_eq!(reasons.len(), 2, "{reasons:?}");
}

/// Rewrites, in the a-z worksheet's XML (`xl/worksheets/sheet2.xml`), Mali's cached INFORM RISK (C109)
/// to the text `high` and Chad's cached RISK CLASS to `Extreme`; every other entry is copied as is.
fn spoil_workbook(bytes: &[u8]) -> Vec<u8> {
    use std::io::{Read, Write};
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).expect("zip");
    let mut out = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).expect("entry");
        let name = entry.name().to_string();
        let mut content = Vec::new();
        entry.read_to_end(&mut content).expect("read");
        if name == "xl/worksheets/sheet2.xml" {
            let mut xml = String::from_utf8(content).expect("xml");
            let mali = r#"<c r="C109" s="79"><f t="shared" si="23"/><v>6.8</v></c>"#;
            assert!(xml.contains(mali), "Mali's INFORM RISK cell");
            xml = xml.replace(mali, r#"<c r="C109" s="79" t="str"><f t="shared" si="23"/><v>high</v></c>"#);
            // Chad's row: the row of the cell caching `TCD`; its RISK CLASS is in column D.
            let at = xml.find("<v>TCD</v>").expect("TCD");
            let cell = xml[..at].rfind("<c r=\"B").expect("cell");
            let row: String = xml[cell + 7..].chars().take_while(char::is_ascii_digit).collect();
            let start = xml.find(&format!("<c r=\"D{row}\"")).expect("class cell");
            let end = start + xml[start..].find("</c>").expect("end");
            let spoilt = xml[start..end].replace("<v>Very High</v>", "<v>Extreme</v>");
            assert_ne!(spoilt, xml[start..end], "Chad's class cell");
            xml.replace_range(start..end, &spoilt);
            content = xml.into_bytes();
        }
        out.start_file(name, options).expect("start");
        out.write_all(&content).expect("write");
    }
    out.finish().expect("finish").into_inner()
}

async fn rerun_writes_nothing(backend: Backend) {
    let Some(store) = TestStore::new(backend).await else { return };
    let server = server_with(None).await;
    let first = ingest(&store, &server).await;
    assert_eq!(first.status, status::SUCCEEDED, "{:?}", first.error);
    let second = run(&ingester(&store, &server), Source::NationalRisk, &COUNTRIES, &[]).await;
    assert_eq!(second.status, status::SUCCEEDED, "{:?}", second.error);
    assert_eq!((second.inserted, second.updated, second.unchanged), (0, 0, first.inserted));
}

async fn graphql_answers_the_check_figures(backend: Backend) {
    let Some(store) = TestStore::new(backend).await else { return };
    let server = server_with(None).await;
    assert_eq!(ingest(&store, &server).await.status, status::SUCCEEDED);
    let answer = graphql(
        &store.pool,
        r#"{ country(iso3: "MLI") { nationalRisk(year: 2024) { year riskScore riskClass rank hazardExposure
             vulnerability lackOfCopingCapacity provenance { dataset { key } licence dataAsOf } } } }"#,
    )
    .await;
    let risk = &answer["country"]["nationalRisk"];
    assert_eq!(risk["riskScore"], 6.8, "{answer}");
    assert_eq!(risk["riskClass"], "Very High");
    assert_eq!(risk["rank"], 15);
    assert_eq!(risk["hazardExposure"], 7.2);
    assert_eq!(risk["provenance"]["dataset"]["key"], "hdx:inform-risk-index-2021");
    assert_eq!(risk["provenance"]["licence"], "Creative Commons Attribution International");
    assert_eq!(risk["provenance"]["dataAsOf"], "2024-01-01");
}
