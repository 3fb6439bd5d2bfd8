//! Property-based tests of every parser of outside data: whatever bytes a source sends, parsing
//! returns rows, rejections or an error, and never panics. Arbitrary bytes first, then inputs close to
//! the real files (real headers and rows with arbitrary cells and values), which reach deeper code.

mod common;

use ingest::sources::table::Table;
use ingest::sources::{dtm, funding, geography, hdx, population, sheet, sites};
use proptest::prelude::*;
use serde_json::{Value, json};

fn only() -> Vec<String> {
    vec!["MLI".into(), "HTI".into(), "SSD".into()]
}

/// A CSV cell: anything, or text shaped like the numbers, codes, dates and placeholders real files hold.
fn cell() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "-?[0-9]{0,22}(\\.[0-9]{0,6})?(e[+-]?[0-9]{1,4})?",
        "[A-Z]{2,3}[0-9]{0,8}",
        "[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(T[0-9:.]{0,12}Z?)?",
        Just(String::new()),
        Just("<Null>".to_string()),
        Just("#adm1+code".to_string()),
        "[ ,\"\\n\\r=+@-]{0,4}",
    ]
}

/// `prefix` (a real file: header, HXL row, real rows) followed by rows of arbitrary cells, CSV-quoted.
fn csv_after(prefix: &'static [u8]) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(prop::collection::vec(cell(), 0..14), 0..12).prop_map(move |rows| {
        let mut writer = csv::WriterBuilder::new().flexible(true).from_writer(prefix.to_vec());
        for row in rows {
            let _ = writer.write_record(&row);
        }
        writer.into_inner().unwrap_or_default()
    })
}

/// Any JSON value, including numbers too large for i64, fractions and nesting.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        cell().prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map("[a-zA-Z0-9]{0,12}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

const DTM_FIELDS: [&str; 19] = [
    "id",
    "operation",
    "admin0Name",
    "admin0Pcode",
    "admin1Name",
    "admin1Pcode",
    "admin2Name",
    "admin2Pcode",
    "numPresentIdpInd",
    "reportingDate",
    "yearReportingDate",
    "monthReportingDate",
    "roundNumber",
    "displacementReason",
    "numberMales",
    "numberFemales",
    "idpOriginAdmin1Name",
    "idpOriginAdmin1Pcode",
    "assessmentType",
];

/// Real Haiti admin2 rows with some fields replaced by arbitrary values or removed.
fn dtm_response() -> impl Strategy<Value = Vec<u8>> {
    let rows = crisisgraph_bench::synthetic::template_rows(&common::read(common::DTM_FILES[5].2)).unwrap_or_default();
    let edits = prop::collection::vec((0..DTM_FIELDS.len(), prop::option::of(json_value())), 0..8);
    prop::collection::vec((0..rows.len().max(1), edits), 0..6).prop_map(move |picked| {
        let result: Vec<Value> = picked
            .into_iter()
            .map(|(index, edits)| {
                let mut row = rows.get(index).cloned().unwrap_or_default();
                for (field, value) in edits {
                    match value {
                        Some(v) => row.insert(DTM_FIELDS[field].to_string(), v),
                        None => row.remove(DTM_FIELDS[field]),
                    };
                }
                Value::Object(row)
            })
            .collect();
        serde_json::to_vec(&json!({"result": result, "isSuccess": true})).unwrap_or_default()
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn dtm_never_panics_on_bytes(bytes in any::<Vec<u8>>(), level in 0u8..4) {
        let _ = dtm::parse(&bytes, level, "HTI");
    }

    #[test]
    fn dtm_never_panics_on_real_rows_with_arbitrary_fields(body in dtm_response(), level in 0u8..4) {
        if let Ok(parsed) = dtm::parse(&body, level, "HTI") {
            // Every row is either kept or rejected, never lost.
            let sent = serde_json::from_slice::<Value>(&body).ok()
                .and_then(|v| v["result"].as_array().map(Vec::len)).unwrap_or(0);
            prop_assert_eq!(parsed.rows.len() + parsed.rejections.len(), sent);
            prop_assert!(parsed.rows.iter().all(|r| r.individuals >= 0));
        }
    }

    #[test]
    fn csv_table_never_panics(bytes in any::<Vec<u8>>()) {
        if let Ok(table) = Table::parse(&bytes, "fuzz") {
            let _ = table.column(&["admin1Pcode"], "#adm1+code");
            let _ = table.require(&["x"], "#x", "fuzz");
        }
    }

    #[test]
    fn pcode_list_never_panics(bytes in any::<Vec<u8>>()) {
        let _ = geography::parse(&bytes, &only());
    }

    #[test]
    fn pcode_list_never_panics_on_real_header_and_arbitrary_rows(body in csv_after(PCODES_CSV)) {
        let _ = geography::parse(&body, &only());
    }

    #[test]
    fn hdx_package_never_panics(bytes in any::<Vec<u8>>(), value in json_value()) {
        let _ = hdx::parse_package(&bytes, "cod-ps-mli");
        let wrapped = serde_json::to_vec(&json!({"success": true, "result": value})).unwrap_or_default();
        let _ = hdx::parse_package(&wrapped, "cod-ps-mli");
        if let Some(text) = value.as_str() {
            let _ = hdx::parse_timestamp(text);
        }
    }

    #[test]
    fn population_never_panics(bytes in any::<Vec<u8>>(), body in csv_after(POPULATION_CSV), text in cell()) {
        for input in [&bytes, &body] {
            if let Ok(table) = Table::parse(input, "fuzz") {
                let _ = population::parse(&table, "fuzz");
            }
        }
        let _ = population::people(&text, "T_TL");
        let _ = population::year_from_notes(&text);
        let _ = population::level_of_resource(&text);
    }

    #[test]
    fn funding_never_panics(bytes in any::<Vec<u8>>(), body in csv_after(FTS_CSV), clusters in json_value()) {
        for input in [&bytes, &body] {
            if let Ok(table) = Table::parse(input, "fuzz") {
                let _ = funding::parse(&table, &only(), "fuzz");
            }
        }
        let _ = funding::parse_clusters(&bytes, 1);
        let wrapped = serde_json::to_vec(&json!({"data": {"report3": {"fundingTotals": {"objects": [clusters]}}}}))
            .unwrap_or_default();
        let _ = funding::parse_clusters(&wrapped, 1);
    }

    #[test]
    fn sites_never_panic(bytes in any::<Vec<u8>>(), body in csv_after(SITES_CSV)) {
        let config = sites::south_sudan();
        for input in [&bytes, &body] {
            if let Ok(table) = Table::parse(input, "fuzz") {
                let _ = sites::parse(&table, &config, "fuzz");
            }
        }
        let _ = sheet::xlsx_table(&bytes, None, "fuzz");
    }
}

const PCODES_CSV: &[u8] = include_bytes!("../sample/cod/global_pcodes_adm_1_2.AFG-HTI-MLI-SSD-TCD-subset.csv");
const POPULATION_CSV: &[u8] = include_bytes!("../sample/cod/mli_pop_adm2_v2.csv");
const FTS_CSV: &[u8] = include_bytes!("../sample/fts/fts_requirements_funding_global.MLI-subset.csv");
const SITES_CSV: &[u8] =
    include_bytes!("../sample/dtm/hdx_xlsx_extract/ssd-dtm-mobility-tracking-r16-baseline-locations.first40rows.csv");
