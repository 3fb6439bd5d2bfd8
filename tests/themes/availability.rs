//! `Country.themes` (data availability) on the sample: which themes hold Mali's figures, how many, for
//! which period and from which datasets, checked against the sample's files and against the rows each
//! theme's export reads (a plain filtered read, not the grouped one `themes` makes). Both stores.

use std::collections::BTreeMap;

use serde_json::Value;
use store::bi::{Condition, Cursor};
use store::runs::status;
use store::with_conn;

use crate::common::{self, Backend, TestStore, graphql};

crate::on_both_stores!(themes_say_what_the_sample_holds_for_mali);

const THEMES: &str = r#"{ country(iso3: "MLI") { themes {
    theme view rows periodStart periodEnd adminLevels datasets { key licence } lastRetrievedAt exportPath
} } }"#;

/// Mali's DTM rows in the sample: (rows, first reporting day, last reporting day).
fn dtm_from_files() -> (i64, String, String) {
    let mut days: Vec<String> = Vec::new();
    for level in ["admin0", "admin1"] {
        let file = format!("sample/dtm/mali_reconstructed/displacement-{level}-admin0pcode-mli.json");
        let parsed: Value = serde_json::from_slice(&common::read(&file)).expect("JSON");
        for row in parsed["result"].as_array().expect("rows") {
            let day = row["reportingDate"].as_str().expect("reportingDate");
            days.push(day[..10].to_string());
        }
    }
    days.sort();
    let rows = days.len() as i64;
    (rows, days[0].clone(), days[days.len() - 1].clone())
}

async fn themes_say_what_the_sample_holds_for_mali(backend: Backend) {
    let Some(store) = TestStore::new(backend).await else { return };
    let runs = ingest::sample::load_sample(&store.pool).await.expect("sample loads");
    assert!(runs.iter().all(|r| r.status == status::SUCCEEDED), "{runs:?}");

    let data = graphql(&store.pool, THEMES).await;
    let themes: BTreeMap<String, Value> = data["country"]["themes"]
        .as_array()
        .expect("themes")
        .iter()
        .map(|t| (t["theme"].as_str().expect("theme").to_string(), t.clone()))
        .collect();

    // Every theme's count equals the rows its export reads for Mali, and a theme without Mali rows
    // is not listed.
    for entity in store::BI_ENTITIES.iter().copied().filter(|e| e.period.is_some()) {
        let rows = with_conn(&store.pool, move |c| {
            let condition = Condition::In("country_iso3", vec!["MLI".to_string()]);
            entity.rows(c, &[condition], 1_000_000, &mut Cursor::default())
        })
        .await
        .expect("export rows")
        .len() as i64;
        match themes.get(entity.export) {
            Some(theme) => {
                assert_eq!(theme["rows"].as_i64(), Some(rows), "{}", entity.export);
                assert_eq!(theme["view"], entity.view);
                assert_eq!(theme["exportPath"], format!("/export/{}.csv?country=MLI", entity.export));
                assert!(theme["lastRetrievedAt"].is_string(), "{}", entity.export);
                assert!(!theme["datasets"].as_array().expect("datasets").is_empty(), "{}", entity.export);
            }
            None => assert_eq!(rows, 0, "{} has Mali rows but is not listed", entity.export),
        }
    }
    assert_eq!(themes.len(), themes.keys().filter(|k| store::BI_ENTITIES.iter().any(|e| e.export == *k)).count());

    // IDPs: DTM's Mali files, national and regional, from their first to their last reporting day.
    let (rows, first, last) = dtm_from_files();
    let idps = &themes["idps"];
    assert_eq!(idps["rows"].as_i64(), Some(rows));
    assert_eq!(idps["periodStart"].as_str(), Some(first.as_str()));
    assert_eq!(idps["periodEnd"].as_str(), Some(last.as_str()));
    assert_eq!(idps["adminLevels"], serde_json::json!([0, 1]));
    assert_eq!(idps["datasets"][0]["key"], "dtm-api-v3");

    // National risk: one row, the 2024 edition (its whole year).
    let risk = &themes["national_risk"];
    assert_eq!(risk["rows"], 1);
    assert_eq!((risk["periodStart"].as_str(), risk["periodEnd"].as_str()), (Some("2024-01-01"), Some("2024-12-31")));

    // Who is present: undated, at admin 2 as Mali's 3W reports it.
    let presence = &themes["operational_presence"];
    assert!(presence["periodStart"].is_null() && presence["periodEnd"].is_null());
    assert_eq!(presence["adminLevels"], serde_json::json!([2]));

    // A country the store knows with no figures lists no theme.
    let none = graphql(&store.pool, r#"{ country(iso3: "HTI") { themes { theme } } }"#).await;
    let listed: Vec<&str> =
        none["country"]["themes"].as_array().expect("themes").iter().filter_map(|t| t["theme"].as_str()).collect();
    assert!(!listed.contains(&"needs") && !listed.contains(&"operational_presence"), "{listed:?}");
}
