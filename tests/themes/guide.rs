//! The GraphQL guide opens with one query asking everything about Mopti (ML05) across every theme.
//! This runs that very query, read from docs/graphql.md (so the page cannot drift from the API), on
//! the bundled sample, and checks each answer against the sample's own files. Both stores.

use std::collections::{BTreeSet, HashMap};

use ingest::sources::presence::organisations::{canonical, match_text};
use serde_json::Value;
use store::runs::status;

use crate::common::{self, Backend, TestStore, graphql, read};
use crate::food_security::{ch_sum, is, number, raw_ch};

crate::on_both_stores!(the_guides_mopti_query_answers_from_the_sample_files);

type Row = HashMap<String, String>;

/// The guide's opening query: the first GraphQL block of docs/graphql.md, which must be under its
/// first section, the Mopti one.
fn guide_query() -> String {
    let guide = String::from_utf8(read("docs/graphql.md")).expect("UTF-8");
    let first_section = guide.lines().find(|l| l.starts_with("## ")).expect("a section");
    assert!(first_section.contains("Mopti in one query"), "the guide opens with the Mopti query: {first_section}");
    let start = guide.find("```graphql\n").expect("a GraphQL block") + "```graphql\n".len();
    let length = guide[start..].find("```").expect("the block ends");
    guide[start..start + length].to_string()
}

/// `1300197` as the guide writes it: `1,300,197`.
fn thousands(n: i64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A CSV file's rows as header → value maps, without HXL's hashtag row.
fn csv_rows(file: &str) -> Vec<Row> {
    let bytes = read(file);
    let body = bytes.strip_prefix(b"\xEF\xBB\xBF".as_slice()).unwrap_or(&bytes);
    csv::Reader::from_reader(body)
        .deserialize()
        .map(|r| r.expect("row"))
        .filter(|r: &Row| !r.values().any(|v| v.starts_with('#')))
        .collect()
}

fn int(text: &str) -> i64 {
    text.parse::<f64>().map(|v| v.round() as i64).unwrap_or_else(|_| panic!("a number: {text:?}"))
}

/// Mopti's latest round in DTM's regional file: (round, reporting day, IDPs).
fn dtm_mopti_latest() -> (i64, String, i64) {
    let file = "sample/dtm/mali_reconstructed/displacement-admin1-admin0pcode-mli.json";
    let parsed: Value = serde_json::from_slice(&read(file)).expect("JSON");
    let mut mopti: Vec<(i64, String, i64)> = parsed["result"]
        .as_array()
        .expect("rows")
        .iter()
        .filter(|r| r["admin1Pcode"] == "ML05")
        .map(|r| {
            let day = r["reportingDate"].as_str().expect("date")[..10].to_string();
            (r["roundNumber"].as_i64().expect("round"), day, r["numPresentIdpInd"].as_i64().expect("IDPs"))
        })
        .collect();
    mopti.sort();
    mopti.pop().expect("Mopti rows")
}

/// Mopti's total population in the COD-PS admin 1 file.
fn cod_mopti_population() -> i64 {
    let rows = csv_rows("sample/cod/mli_pop_adm1_v2.csv");
    let mopti: Vec<&Row> = rows.iter().filter(|r| r["admin1Pcode"] == "ML05").collect();
    assert_eq!(mopti.len(), 1);
    int(&mopti[0]["T_TL"])
}

/// The HNO file's intersectoral figures (everyone) of Mopti's cercles: (cercles, in need, targeted).
fn hno_mopti_cercles() -> (usize, i64, i64) {
    let rows: Vec<Row> = csv_rows("sample/hno/hpc_hno_mli.download-hno-data-mli.csv")
        .into_iter()
        .filter(|r| r["Sector"] == "ALL" && r["Admin 2 PCode"].starts_with("ML05"))
        .filter(|r| {
            r["Gender"] == "a" && r["Age Range"] == "ALL" && r["Disabled"] == "a" && r["Population Group"] == "ALL"
        })
        .collect();
    let mopti_own = csv_rows("sample/hno/hpc_hno_mli.download-hno-data-mli.csv")
        .into_iter()
        .filter(|r| r["Sector"] == "ALL" && r["Admin 1 PCode"] == "ML05" && r["Admin 2 PCode"].is_empty())
        .count();
    assert_eq!(mopti_own, 0, "the file gives Mopti's intersectoral figure only per cercle");
    (rows.len(), rows.iter().map(|r| int(&r["In Need"])).sum(), rows.iter().map(|r| int(&r["Targeted"])).sum())
}

/// The Mopti 3W extract: distinct presences (cercle, cluster, organisation) and organisations in
/// Mopti's cercles. (The extract is the rows marked region ML05; a few of them name a cercle of
/// another region, where the store places them.)
fn presence_mopti() -> (usize, usize) {
    let rows = csv_rows("sample/operational_presence/mali-3w-presence-operationnelle-december-2023.ML05.csv");
    let mut presences = BTreeSet::new();
    let mut organisations = BTreeSet::new();
    for r in rows.iter().filter(|r| r["admin2Pcod"].starts_with("ML05")) {
        let Some(c) = canonical("MLI", &r["Nom Organisation"], &r["Organisation Accronyme"], "") else { continue };
        let organisation = (match_text(&c.acronym), match_text(&c.name));
        presences.insert((r["admin2Pcod"].clone(), r["Cluster"].clone(), organisation.clone()));
        organisations.insert(organisation);
    }
    (presences.len(), organisations.len())
}

/// WFP's markets in Mopti, in the file's order: (name, latitude, longitude).
fn wfp_mopti_markets() -> Vec<(String, f64, f64)> {
    csv_rows("sample/wfp/wfp_markets_global.AFG-MLI-subset.csv")
        .iter()
        .filter(|r| r["countryiso3"] == "MLI" && r["admin1"] == "Mopti")
        .map(|r| (r["market"].clone(), r["latitude"].parse().expect("lat"), r["longitude"].parse().expect("lon")))
        .collect()
}

/// FTS's row of the 2021 appeal: (code, required, funded).
fn fts_hmli21() -> (String, i64, i64) {
    let rows = csv_rows("sample/fts/fts_requirements_funding_global.MLI-subset.csv");
    let row = rows.iter().find(|r| r["code"] == "HMLI21").expect("HMLI21");
    (row["code"].clone(), int(&row["requirements"]), int(&row["funding"]))
}

/// UNHCR's figures of people from Mali abroad: each non-zero population type of an end-year totals
/// row, and each demographics row (its total for everyone).
fn unhcr_from_mali() -> usize {
    let totals: usize = csv_rows("sample/unhcr/unhcr_HDX_EndYearPopulationTotals.csv")
        .iter()
        .filter(|r| r["ISO3CoO"] == "MLI")
        .map(|r| ["REF", "ASY", "OOC", "STA", "OIP"].iter().filter(|t| int(&r[**t]) != 0).count())
        .sum();
    let demographics =
        csv_rows("sample/unhcr/unhcr_HDX_Demographics.csv").iter().filter(|r| r["ISO3CoO"] == "MLI").count();
    totals + demographics
}

/// Every file's path under `dir`.
fn files_under(dir: &std::path::Path) -> Vec<String> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).expect("a directory") {
        let path = entry.expect("an entry").path();
        if path.is_dir() {
            files.extend(files_under(&path));
        } else {
            files.push(path.to_string_lossy().into_owned());
        }
    }
    files
}

async fn the_guides_mopti_query_answers_from_the_sample_files(backend: Backend) {
    let Some(store) = TestStore::new(backend).await else { return };
    for run in ingest::sample::load_sample(&store.pool).await.expect("sample loads") {
        assert_eq!(run.status, status::SUCCEEDED, "{} {:?}", run.source, run.error);
    }
    let data = graphql(&store.pool, &guide_query()).await;
    let mopti = &data["mopti"];
    assert_eq!(mopti["name"], "Mopti");

    // Population: COD-PS 2018.
    assert_eq!(mopti["population"]["total"].as_i64(), Some(cod_mopti_population()));
    assert_eq!(mopti["population"]["referenceYear"].as_i64(), Some(2018));

    // IDPs: DTM's latest round for Mopti, with IOM's credit line and the reporting date.
    let (round, day, idps) = dtm_mopti_latest();
    let nodes = mopti["idps"]["nodes"].as_array().expect("IDP figures");
    assert_eq!(nodes.len(), 1, "{nodes:?}");
    assert_eq!((nodes[0]["round"].as_i64(), nodes[0]["individuals"].as_i64()), (Some(round), Some(idps)));
    assert_eq!(nodes[0]["reportingDate"].as_str(), Some(day.as_str()));
    assert_eq!(nodes[0]["provenance"]["dataAsOf"].as_str(), Some(day.as_str()));
    assert!(
        nodes[0]["provenance"]["credit"].as_str().is_some_and(|c| c.contains("Displacement Tracking Matrix")),
        "IOM DTM's credit line: {}",
        nodes[0]["provenance"]
    );

    // Needs: summed over the cercles, since the file has no intersectoral row for Mopti itself.
    let (cercles, in_need, targeted) = hno_mopti_cercles();
    let needs = &mopti["needsTotal"];
    assert_eq!((needs["inNeed"].as_i64(), needs["targeted"].as_i64()), (Some(in_need), Some(targeted)));
    assert_eq!(needs["method"], "SUMMED_FROM_CHILDREN");
    assert_eq!(needs["areasCounted"].as_u64(), Some(cercles as u64));

    // Food security: Cadre Harmonisé, September-December 2021, current, Mopti's cercles.
    let raw = raw_ch();
    let (count, phase35) = ch_sum(&raw, "Sep-Dec", 2021, "current", |r| r["adm1_pcod2"] == "ML05");
    let food = &mopti["foodSecurity"];
    assert_eq!(food["totalCount"].as_u64(), Some(count as u64));
    let nodes = food["nodes"].as_array().expect("figures");
    assert_eq!(nodes.iter().map(|n| n["phase3Plus"].as_i64().expect("phase 3+")).sum::<i64>(), phase35);
    assert_eq!(phase35, 556_531, "the issue's check figure");
    let bandiagara =
        raw.iter().find(|r| is(r, "Sep-Dec", 2021, "current") && r["adm2_pcod2"] == "ML0501").expect("raw");
    let ours = nodes.iter().find(|n| n["area"]["pcode"] == "ML0501").expect("Bandiagara");
    assert_eq!(ours["population"].as_i64(), Some(number(bandiagara, "population")));
    assert_eq!(ours["phase3Plus"].as_i64(), Some(number(bandiagara, "phase35")));
    assert!(nodes.iter().all(|n| n["analysis"] == "Sep-Dec 2021"));

    // Who works there: the 3W extract's distinct presences and organisations.
    let (presences, organisations) = presence_mopti();
    assert_eq!(mopti["operationalPresence"]["totalCount"].as_u64(), Some(presences as u64));
    assert_eq!(mopti["organisations"].as_array().expect("organisations").len(), organisations);

    // Markets: WFP's list, in the order the file gives them.
    let markets = wfp_mopti_markets();
    assert_eq!(mopti["markets"]["totalCount"].as_u64(), Some(markets.len() as u64));
    let first = &mopti["markets"]["nodes"][0];
    assert_eq!(
        (first["name"].as_str(), first["latitude"].as_f64(), first["longitude"].as_f64()),
        (Some(markets[0].0.as_str()), Some(markets[0].1), Some(markets[0].2))
    );

    // Conflict events: ACLED's data is never in the sample (its terms forbid redistribution).
    assert_eq!(mopti["conflictEvents"]["totalCount"].as_u64(), Some(0));
    assert!(files_under(&common::repo_path("sample")).iter().all(|f| !f.to_lowercase().contains("acled")));

    // The country: its 2021 appeal (FTS), its INFORM risk, people from Mali abroad (UNHCR).
    let country = &mopti["country"];
    assert_eq!(country["name"], "Mali");
    let (code, required, funded) = fts_hmli21();
    let appeal = &country["appeals"][0];
    assert_eq!(appeal["code"].as_str(), Some(code.as_str()));
    assert_eq!((appeal["requirementsUsd"].as_i64(), appeal["fundingUsd"].as_i64()), (Some(required), Some(funded)));
    let percent = appeal["percentFunded"].as_f64().expect("percent");
    assert!((percent - 100.0 * funded as f64 / required as f64).abs() < 0.05, "{percent}");
    let (risk, class, rank, ..) = crate::national_risk::raw_row("MLI");
    let national = &country["nationalRisk"];
    assert_eq!(national["riskScore"].as_f64(), Some(risk));
    assert_eq!(national["riskClass"].as_str(), Some(class.as_str()));
    assert_eq!(national["rank"].as_i64(), Some(rank as i64));
    assert_eq!(country["refugeesAbroad"]["totalCount"].as_u64(), Some(unhcr_from_mali() as u64));

    // Data availability lists the themes just asked, with their periods.
    let themes: BTreeSet<&str> =
        country["themes"].as_array().expect("themes").iter().filter_map(|t| t["theme"].as_str()).collect();
    for theme in ["idps", "population", "needs", "operational_presence", "food_security", "markets", "appeals"] {
        assert!(themes.contains(theme), "{theme} in {themes:?}");
    }
    assert!(!themes.contains("conflict_events"));

    // The guide's table of answers states the same figures.
    let guide = String::from_utf8(read("docs/graphql.md")).expect("UTF-8");
    let table_end = guide.find("## Endpoint and schema").expect("the section after the Mopti one");
    let table = &guide[..table_end];
    for figure in [idps, cod_mopti_population(), in_need, targeted, phase35, required, funded] {
        assert!(table.contains(&thousands(figure)), "the guide's Mopti table states {}", thousands(figure));
    }
    for count in [presences, organisations, markets.len(), unhcr_from_mali()] {
        assert!(table.contains(&format!("{count} ")), "the guide's Mopti table states {count}");
    }
}
