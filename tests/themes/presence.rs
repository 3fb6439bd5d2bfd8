//! Operational presence (3W), end to end on both stores: the local fixture server answers HDX
//! `package_show` for Mali and Chad and serves their real 3W workbooks at the real paths. Figures are
//! counted here on the raw worksheets; Chad's are compared with HDX HAPI's own processed output.

use std::collections::{BTreeSet, HashMap};

use ingest::Source;
use ingest::kit::table::{Table, xlsx_table};
use ingest::sources::presence::organisations::{canonical, match_text};
use serde_json::Value;
use store::runs::status;
use store::with_conn;
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::common::{self, Backend, TestStore, graphql, ingester, read, run};

crate::on_both_stores!(
    mali_and_chad_presence_equal_the_workbooks_and_hapis_output,
    rows_without_organisation_or_known_cluster_are_rejected_and_kept,
    the_sample_answers_who_works_in_mopti_in_graphql_and_the_export,
);

const PACKAGE_SHOW: &str = "/api/3/action/package_show";
const MALI_XLSX: &str = "tests/fixtures/hdx/mali-3w-presence-operationnelle-december-2023.xlsx";
const CHAD_XLSX: &str = "sample/operational_presence/tcd_3w_avr2025.xlsx";
const CHAD_HAPI: &str = "tests/fixtures/operational_presence/hdx_hapi_operational_presence_global_TCD-subset.csv";

/// A catalog record (a `package_show` `result`) in CKAN's envelope.
fn envelope(record: &[u8]) -> Vec<u8> {
    let result: Value = serde_json::from_slice(record).expect("catalog record");
    serde_json::to_vec(&serde_json::json!({ "success": true, "result": result })).expect("JSON")
}

/// The path of a catalog record's first resource on HDX.
fn first_resource_path(record: &[u8]) -> String {
    let result: Value = serde_json::from_slice(record).expect("catalog record");
    let url = result["resources"][0]["download_url"].as_str().expect("download URL");
    url.trim_start_matches("https://data.humdata.org").to_string()
}

/// The fixture server (p-codes) with both countries' 3W catalog entries and workbooks; `chad`
/// replaces Chad's workbook.
async fn server(chad: Option<Vec<u8>>) -> MockServer {
    let server = common::fixture_server().await;
    let mali = read("tests/fixtures/hdx/package_show.result.mali-operational-presence.json");
    let tcd = read("tests/fixtures/operational_presence/tcd_3w_avr2025.hdx_dataset.json");
    for (id, record, file) in [
        ("mali-operational-presence", &mali, read(MALI_XLSX)),
        ("chad-operational-presence", &tcd, chad.clone().unwrap_or_else(|| read(CHAD_XLSX))),
    ] {
        Mock::given(method("GET"))
            .and(path(PACKAGE_SHOW))
            .and(query_param("id", id))
            .respond_with(ResponseTemplate::new(200).set_body_bytes(envelope(record)))
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path(first_resource_path(record)))
            .respond_with(ResponseTemplate::new(200).set_body_bytes(file))
            .mount(&server)
            .await;
    }
    server
}

/// A worksheet's rows as header → value maps (values as the workbook caches them).
fn sheet_rows(file: &str, sheet: &str) -> Vec<HashMap<String, String>> {
    let table: Table = xlsx_table(&read(file), Some(sheet), file).expect("workbook");
    table
        .records
        .iter()
        .map(|(_, r)| table.headers.iter().cloned().zip(r.iter().map(|c| c.trim().to_string())).collect())
        .collect()
}

/// The store's presences with their area's p-code, sector and organisation (acronym, name, type).
async fn stored(store: &TestStore, iso3: &str) -> Vec<(String, String, String, String, Option<String>)> {
    let iso3 = iso3.to_string();
    with_conn(&store.pool, move |c| {
        let filter = store::presence::PresenceFilter { country_iso3: Some(iso3), ..Default::default() };
        let (rows, _, _) = store::presence::presence_page(c, &filter, None, 100_000)?;
        let orgs: HashMap<i64, store::presence::OrganisationRow> =
            store::presence::organisations_by_ids(c, &rows.iter().map(|r| r.organisation_id).collect::<Vec<_>>())?
                .into_iter()
                .map(|o| (o.id, o))
                .collect();
        let areas: HashMap<i64, String> =
            store::geography::areas_by_ids(c, &rows.iter().filter_map(|r| r.area_id).collect::<Vec<_>>())?
                .into_iter()
                .map(|a| (a.id, a.pcode))
                .collect();
        Ok(rows
            .iter()
            .map(|r| {
                let o = &orgs[&r.organisation_id];
                let area = r.area_id.and_then(|id| areas.get(&id).cloned()).unwrap_or_default();
                (area, r.sector_code.clone(), o.acronym.clone(), o.name.clone(), o.org_type.clone())
            })
            .collect())
    })
    .await
    .expect("presences")
}

async fn mali_and_chad_presence_equal_the_workbooks_and_hapis_output(backend: Backend) {
    let Some(store) = TestStore::new(backend).await else { return };
    let server = server(None).await;
    let ingester = ingester(&store, &server);
    assert_eq!(run(&ingester, Source::Geography, &["MLI", "TCD"], &[]).await.status, status::SUCCEEDED);
    let first = run(&ingester, Source::Presence, &["MLI", "TCD"], &[]).await;
    assert_eq!(first.status, status::SUCCEEDED, "{:?}", first.error);
    assert_eq!(first.rejected, 0);

    // Mali: the check figures on the raw worksheet.
    let mali = sheet_rows(MALI_XLSX, "ML_5W");
    assert_eq!(mali.len(), 24_088);
    assert_eq!(first.fetched, 24_088 + 1_556);
    let acronyms = |wanted: &dyn Fn(&HashMap<String, String>) -> bool| -> BTreeSet<String> {
        mali.iter().filter(|r| wanted(r)).map(|r| r["Organisation Accronyme"].clone()).collect()
    };
    let raw_acronyms = |wanted: &dyn Fn(&HashMap<String, String>) -> bool| -> usize {
        mali.iter().filter(|r| wanted(r)).map(|r| r["Organisation Accronyme"].as_str()).collect::<BTreeSet<_>>().len()
    };
    assert_eq!(raw_acronyms(&|r| r["admin1Pcod"] == "ML05"), 93);
    assert_eq!(raw_acronyms(&|r| r["admin2Pcod"] == "ML0501"), 57);
    assert!(!acronyms(&|r| r["admin1Pcod"] == "ML05").is_empty());
    let canonical_of = |wanted: &dyn Fn(&HashMap<String, String>) -> bool| -> BTreeSet<String> {
        mali.iter()
            .filter(|r| wanted(r))
            .filter_map(|r| canonical("MLI", &r["Nom Organisation"], &r["Organisation Accronyme"], ""))
            .map(|c| c.match_key())
            .collect()
    };
    let ours = stored(&store, "MLI").await;
    let ours_mali = ours.clone();
    let stored_in = |prefix: &str| -> BTreeSet<String> {
        ours.iter()
            .filter(|(area, ..)| area.starts_with(prefix))
            .map(|(_, _, a, n, _)| format!("{}|{}", match_text(a), match_text(n)))
            .collect()
    };
    // Bandiagara: 57 acronyms, 56 organisations once canonicalised (Help and HELP are one).
    let bandiagara = canonical_of(&|r| r["admin2Pcod"] == "ML0501");
    assert_eq!(bandiagara.len(), 56);
    assert_eq!(stored_in("ML0501"), bandiagara);
    // Mopti: 93 acronyms, 92 organisations in the rows marked ML05; the store places each row by its
    // cercle (admin 2), and 15 of those rows name cercles of other regions, so Mopti's own cercles hold 89.
    assert_eq!(canonical_of(&|r| r["admin1Pcod"] == "ML05").len(), 92);
    let in_mopti_cercles = canonical_of(&|r| r["admin2Pcod"].starts_with("ML05"));
    assert_eq!(in_mopti_cercles.len(), 89);
    assert_eq!(stored_in("ML05"), in_mopti_cercles);
    // One presence per cercle, organisation and cluster of the file.
    let presences: BTreeSet<(String, String, String)> = mali
        .iter()
        .map(|r| {
            let org = canonical("MLI", &r["Nom Organisation"], &r["Organisation Accronyme"], "").expect("org");
            (r["admin2Pcod"].clone(), org.match_key(), r["Cluster"].clone())
        })
        .collect();
    assert_eq!(ours.len(), presences.len());
    assert!(ours.iter().any(|(_, _, a, n, t)| a == "IOM"
        && n == "International Organization for Migration"
        && t.as_deref() == Some("United Nations")));
    assert!(!ours.iter().any(|(_, _, a, ..)| a == "OIM" || a == "OMS"));

    // Chad against HAPI's processed output of the same workbook.
    let chad = sheet_rows(CHAD_XLSX, "3W Opérationnelle");
    assert_eq!(chad.len(), 1_556);
    let ours = stored(&store, "TCD").await;
    let mut reader = csv::Reader::from_reader(std::io::Cursor::new(read(CHAD_HAPI)));
    let hapi: Vec<HashMap<String, String>> = reader.deserialize().map(|r| r.expect("row")).collect();
    assert_eq!(hapi.len(), 1_505);
    let pairs = |rows: &mut dyn Iterator<Item = (String, String)>| -> BTreeSet<(String, String)> { rows.collect() };
    let hapi_pairs = pairs(&mut hapi.iter().map(|r| (r["admin1_code"].clone(), match_text(&r["org_acronym"]))));
    assert_eq!(hapi_pairs.len(), 789);
    assert_eq!(pairs(&mut ours.iter().map(|(p, _, a, _, _)| (p.clone(), match_text(a)))), hapi_pairs);
    // HAPI files the clusters "Coordination" and "Réponse aux réfugiés" under camp coordination
    // (CCM); crisisgraph keeps them as coordination (CSS) and multi-sector (MS). Every other cluster
    // gives exactly HAPI's (admin 1, sector, organisation) triples.
    let unambiguous = |code: &str| !matches!(code, "CCM" | "CSS" | "MS");
    let triples = |rows: &mut dyn Iterator<Item = (String, String, String)>| -> BTreeSet<(String, String, String)> {
        rows.filter(|(_, s, _)| unambiguous(s)).collect()
    };
    let hapi_triples = triples(
        &mut hapi.iter().map(|r| (r["admin1_code"].clone(), r["sector_code"].clone(), match_text(&r["org_acronym"]))),
    );
    assert!(hapi_triples.len() > 1_000);
    assert_eq!(triples(&mut ours.iter().map(|(p, s, a, _, _)| (p.clone(), s.clone(), match_text(a)))), hapi_triples);
    let ccm = |rows: &mut dyn Iterator<Item = (String, String, String)>| -> BTreeSet<(String, String)> {
        rows.filter(|(_, s, _)| s == "CCM").map(|(p, _, o)| (p, o)).collect()
    };
    let ours_ccm = ccm(&mut ours.iter().map(|(p, s, a, _, _)| (p.clone(), s.clone(), match_text(a))));
    let hapi_ccm = ccm(&mut hapi
        .iter()
        .map(|r| (r["admin1_code"].clone(), r["sector_code"].clone(), match_text(&r["org_acronym"]))));
    assert!(ours_ccm.is_subset(&hapi_ccm));
    let moved: BTreeSet<(String, String)> = ours
        .iter()
        .filter(|(_, s, ..)| s == "CSS" || s == "MS")
        .map(|(p, _, a, _, _)| (p.clone(), match_text(a)))
        .collect();
    assert!(hapi_ccm.difference(&ours_ccm).all(|pair| moved.contains(pair)));
    // Organisation types equal HAPI's wherever HAPI gives one.
    let hapi_types: HashMap<String, String> = hapi
        .iter()
        .filter(|r| !r["org_type_description"].is_empty())
        .map(|r| (match_text(&r["org_acronym"]), r["org_type_description"].clone()))
        .collect();
    for (_, _, acronym, _, org_type) in &ours {
        if let Some(expected) = hapi_types.get(&match_text(acronym)) {
            assert_eq!(org_type.as_deref(), Some(expected.as_str()), "{acronym}");
        }
    }

    // GraphQL: Bandiagara's organisations, a country's presences by area, sector and organisation.
    let data = graphql(
        &store.pool,
        r#"{ adminArea(pcode:"ML0501") { organisations { id acronym name type }
                                         operationalPresence(first: 1) { totalCount } } }"#,
    )
    .await;
    let area = &data["adminArea"];
    let orgs = area["organisations"].as_array().expect("organisations");
    let answered: BTreeSet<String> = orgs
        .iter()
        .map(|o| {
            format!(
                "{}|{}",
                match_text(o["acronym"].as_str().unwrap_or("")),
                match_text(o["name"].as_str().unwrap_or(""))
            )
        })
        .collect();
    assert_eq!(answered, bandiagara);
    let in_bandiagara = ours_mali.iter().filter(|(p, ..)| p == "ML0501").count();
    assert_eq!(area["operationalPresence"]["totalCount"].as_u64(), Some(in_bandiagara as u64));
    // One organisation working in Mopti's food security, asked for in lower case and by French sector name.
    let (_, _, wfp_acronym, wfp_name, _) = ours_mali
        .iter()
        .find(|(p, s, ..)| p.starts_with("ML05") && s == "FSC")
        .cloned()
        .expect("a food security presence in Mopti");
    let in_mopti_fsc = ours_mali
        .iter()
        .filter(|(p, s, a, n, _)| p.starts_with("ML05") && s == "FSC" && *a == wfp_acronym && *n == wfp_name)
        .count();
    let data = graphql(
        &store.pool,
        &format!(
            r#"{{ country(iso3:"MLI") {{
               all: operationalPresence(first: 1) {{ totalCount }}
               fsc: operationalPresence(pcode:"ML05", sector:"Sécurité alimentaire", organisation:"{}", first: 50) {{
                 totalCount nodes {{ id adminLevel sourcePcode area {{ pcode }} organisation {{ acronym name type }}
                                    sector {{ code name nameFr }} sourceSector
                                    provenance {{ dataset {{ key licenceId }} resource {{ url }} retrievedAt }} }} }} }} }}"#,
            wfp_name.to_lowercase()
        ),
    )
    .await;
    let country = &data["country"];
    assert_eq!(country["all"]["totalCount"].as_u64(), Some(ours_mali.len() as u64));
    assert_eq!(country["fsc"]["totalCount"].as_u64(), Some(in_mopti_fsc as u64));
    let node = &country["fsc"]["nodes"][0];
    assert_eq!(node["organisation"]["name"], wfp_name.as_str());
    assert_eq!(node["sector"]["code"], "FSC");
    assert_eq!(node["sector"]["name"], "Food Security");
    assert_eq!(node["sector"]["nameFr"], "Sécurité alimentaire");
    assert_eq!(node["adminLevel"], 2);
    assert!(node["area"]["pcode"].as_str().is_some_and(|p| p.starts_with("ML05")));
    assert_eq!(node["provenance"]["dataset"]["key"], "hdx:mali-operational-presence");
    assert_eq!(node["provenance"]["dataset"]["licenceId"], "cc-by-igo");
    assert!(node["provenance"]["resource"]["url"].as_str().is_some_and(|u| u.ends_with(".xlsx")));
    let id = node["id"].as_str().expect("id");
    let again = graphql(
        &store.pool,
        &format!(r#"{{ node(id: "{id}") {{ id ... on OperationalPresence {{ sourcePcode }} }} }}"#),
    )
    .await;
    assert_eq!(again["node"]["sourcePcode"], node["sourcePcode"]);
    let org_id = orgs[0]["id"].as_str().expect("organisation id");
    let org = graphql(
        &store.pool,
        &format!(
            r#"{{ node(id: "{org_id}") {{ ... on Organisation {{ acronym presence(first: 1) {{ totalCount }} }} }} }}"#
        ),
    )
    .await;
    assert_eq!(org["node"]["acronym"], orgs[0]["acronym"]);
    assert!(org["node"]["presence"]["totalCount"].as_u64().is_some_and(|n| n >= 1));
    let search = graphql(&store.pool, r#"{ organisations(search: "migration") { acronym } }"#).await;
    assert!(search["organisations"].as_array().is_some_and(|a| a.iter().any(|o| o["acronym"] == "IOM")));
    // Chad's presences, paged through.
    let mut seen = 0;
    let mut after = String::new();
    loop {
        let q = format!(
            r#"{{ country(iso3:"TCD") {{ operationalPresence(first: 400{after}) {{ totalCount pageInfo {{ hasNextPage endCursor }} nodes {{ id }} }} }} }}"#
        );
        let data = graphql(&store.pool, &q).await;
        let conn = &data["country"]["operationalPresence"];
        assert_eq!(conn["totalCount"].as_u64(), Some(ours.len() as u64));
        seen += conn["nodes"].as_array().map(Vec::len).unwrap_or(0);
        if conn["pageInfo"]["hasNextPage"] != Value::Bool(true) {
            break;
        }
        after = format!(r#", after: "{}""#, conn["pageInfo"]["endCursor"].as_str().expect("cursor"));
    }
    assert_eq!(seen, ours.len());
    let bad = common::graphql_response(
        &store.pool,
        r#"{ country(iso3:"MLI") { operationalPresence(sector:"Astrologie") { totalCount } } }"#,
    )
    .await;
    assert_eq!(bad["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");

    // Re-running writes nothing.
    let second = run(&ingester, Source::Presence, &["MLI", "TCD"], &[]).await;
    assert_eq!(second.status, status::SUCCEEDED, "{:?}", second.error);
    assert_eq!((second.inserted, second.updated), (0, 0));
    assert_eq!(second.unchanged, first.inserted + first.unchanged);
}

async fn rows_without_organisation_or_known_cluster_are_rejected_and_kept(backend: Backend) {
    let Some(store) = TestStore::new(backend).await else { return };
    // Chad's workbook as CSV: its first rows, then one with an unknown cluster and one without an organisation.
    let chad = sheet_rows(CHAD_XLSX, "3W Opérationnelle");
    let mut csv = String::from("Title,Cluster,Acronyme,Organisation,TypeOrganisation\n");
    for r in chad.iter().take(20) {
        csv.push_str(&format!(
            "{},{},{},\"{}\",{}\n",
            r["Title"], r["Cluster"], r["Acronyme"], r["Organisation"], r["TypeOrganisation"]
        ));
    }
    csv.push_str("TD19,Astrologie,ACF,Action Contre la Faim,ONG Internationale\n");
    csv.push_str("TD19,Nutrition,,,ONG Internationale\n");
    let record = read("tests/fixtures/operational_presence/tcd_3w_avr2025.hdx_dataset.json");
    let mut result: Value = serde_json::from_slice(&record).expect("record");
    result["resources"][0]["format"] = Value::String("CSV".into());
    let server = server(None).await;
    Mock::given(method("GET"))
        .and(path(PACKAGE_SHOW))
        .and(query_param("id", "chad-operational-presence"))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(
            serde_json::to_vec(&serde_json::json!({ "success": true, "result": result })).expect("JSON"),
        ))
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(first_resource_path(&record)))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(csv.into_bytes()))
        .with_priority(1)
        .mount(&server)
        .await;
    let ingester = ingester(&store, &server);
    assert_eq!(run(&ingester, Source::Geography, &["TCD"], &[]).await.status, status::SUCCEEDED);
    let r = run(&ingester, Source::Presence, &["TCD"], &[]).await;
    assert_eq!((r.status.as_str(), r.fetched, r.rejected), (status::SUCCEEDED, 22, 2), "{:?}", r.error);
    let data =
        graphql(&store.pool, &format!("{{ ingestRun(id: {}) {{ rejectedRows {{ rowNumber reason raw }} }} }}", r.id))
            .await;
    let rows = data["ingestRun"]["rejectedRows"].as_array().cloned().unwrap_or_default();
    let reasons: Vec<(i64, &str)> =
        rows.iter().map(|x| (x["rowNumber"].as_i64().unwrap_or(0), x["reason"].as_str().unwrap_or(""))).collect();
    assert!(reasons.contains(&(22, "unknown cluster \"Astrologie\"")), "{reasons:?}");
    assert!(reasons.contains(&(23, "no organisation (neither a name nor an acronym)")), "{reasons:?}");
    assert!(rows.iter().any(|x| x["raw"].as_str().is_some_and(|m| m.starts_with("TD19,Astrologie,ACF"))));
    // The 20 good rows are stored as their distinct presences.
    let distinct: BTreeSet<(String, String, String)> =
        chad.iter().take(20).map(|r| (r["Title"].clone(), r["Cluster"].clone(), r["Acronyme"].clone())).collect();
    assert_eq!(stored(&store, "TCD").await.len(), distinct.len());
}

async fn the_sample_answers_who_works_in_mopti_in_graphql_and_the_export(backend: Backend) {
    tokio::task::LocalSet::new().run_until(sample_scenario(backend)).await;
}

/// The guide's Mali example on the bundled sample, and the export of the same rows.
async fn sample_scenario(backend: Backend) {
    let Some(store) = TestStore::new(backend).await else { return };
    for r in ingest::sample::load_sample(&store.pool).await.expect("sample loads") {
        assert_eq!(r.status, status::SUCCEEDED, "{} {:?}", r.source, r.error);
    }
    // The sample's Mopti extract, read here.
    let extract = read("sample/operational_presence/mali-3w-presence-operationnelle-december-2023.ML05.csv");
    let mut reader = csv::Reader::from_reader(extract.as_slice());
    let rows: Vec<HashMap<String, String>> = reader
        .deserialize()
        .map(|r| r.expect("row"))
        .filter(|r: &HashMap<String, String>| !r["admin1Pcod"].starts_with('#'))
        .collect();
    let fsc_mopti: BTreeSet<(String, String)> = rows
        .iter()
        .filter(|r| r["Cluster"] == "Sécurité Alimentaire" && r["admin2Pcod"].starts_with("ML05"))
        .filter_map(|r| canonical("MLI", &r["Nom Organisation"], &r["Organisation Accronyme"], ""))
        .map(|c| (match_text(&c.acronym), match_text(&c.name)))
        .collect();
    // How many people are in need there, from the sample's HNO file, read here: Mopti's own food
    // security row, and its intersectoral figure, which the file gives only for its cercles.
    let hno = read("sample/hno/hpc_hno_mli.download-hno-data-mli.csv");
    let mut reader = csv::Reader::from_reader(hno.as_slice());
    let hno: Vec<HashMap<String, String>> = reader
        .deserialize()
        .map(|r| r.expect("row"))
        .filter(|r: &HashMap<String, String>| !r["Sector"].starts_with('#'))
        .filter(|r| {
            r["Gender"] == "a" && r["Age Range"] == "ALL" && r["Disabled"] == "a" && r["Population Group"] == "ALL"
        })
        .collect();
    let in_need = |r: &HashMap<String, String>| r["In Need"].parse::<f64>().map(|v| v.round() as i64).expect("in need");
    let fsc_in_need: Vec<i64> = hno
        .iter()
        .filter(|r| r["Sector"] == "FSC" && r["Admin 1 PCode"] == "ML05" && r["Admin 2 PCode"].is_empty())
        .map(in_need)
        .collect();
    assert_eq!(fsc_in_need.len(), 1, "one Mopti food security row in the file");
    let all_in_need: i64 =
        hno.iter().filter(|r| r["Sector"] == "ALL" && r["Admin 2 PCode"].starts_with("ML05")).map(in_need).sum();

    // The guide's query (docs/graphql.md, "Who works where"): who works in Mopti, in which sector, and
    // how many people there are in need.
    let data = graphql(
        &store.pool,
        r#"{ adminArea(pcode: "ML05") { name
               inNeed: needsTotal(year: 2024) { inNeed method }
               foodInsecureInNeed: needsTotal(year: 2024, sector: "FSC") { inNeed method }
               organisations(sector: "FSC") { acronym name type }
               operationalPresence(sector: "FSC", first: 1000) { totalCount
                 nodes { area { pcode name } organisation { acronym } sector { code name } provenance { dataset { credit } } } } } }"#,
    )
    .await;
    let mopti = &data["adminArea"];
    assert_eq!(mopti["name"], "Mopti");
    assert_eq!(mopti["inNeed"]["inNeed"].as_i64(), Some(all_in_need));
    assert_eq!(mopti["inNeed"]["method"], "SUMMED_FROM_CHILDREN");
    assert_eq!(mopti["foodInsecureInNeed"]["inNeed"].as_i64(), Some(fsc_in_need[0]));
    assert_eq!(mopti["foodInsecureInNeed"]["method"], "REPORTED_AT_LEVEL");
    let organisations: BTreeSet<(String, String)> = mopti["organisations"]
        .as_array()
        .expect("organisations")
        .iter()
        .map(|o| (match_text(o["acronym"].as_str().unwrap_or("")), match_text(o["name"].as_str().unwrap_or(""))))
        .collect();
    assert_eq!(organisations, fsc_mopti);
    let presences = mopti["operationalPresence"]["totalCount"].as_u64().expect("count") as usize;
    let expected: BTreeSet<(String, (String, String))> = rows
        .iter()
        .filter(|r| r["Cluster"] == "Sécurité Alimentaire" && r["admin2Pcod"].starts_with("ML05"))
        .filter_map(|r| {
            let c = canonical("MLI", &r["Nom Organisation"], &r["Organisation Accronyme"], "")?;
            Some((r["admin2Pcod"].clone(), (match_text(&c.acronym), match_text(&c.name))))
        })
        .collect();
    assert_eq!(presences, expected.len());
    assert!(
        mopti["operationalPresence"]["nodes"][0]["provenance"]["dataset"]["credit"]
            .as_str()
            .is_some_and(|c| c.contains("OCHA"))
    );

    // The export: the same presences, with organisation, sector and provenance columns.
    let schema = api::build_schema(store.pool.clone(), api::Operations::default());
    let app = actix_web::test::init_service(
        actix_web::App::new().configure(api::server::configure(schema, store.pool.clone())),
    )
    .await;
    let request =
        actix_web::test::TestRequest::get().uri("/export/operational_presence.csv?pcode=ML05&sector=FSC").to_request();
    let response = actix_web::test::call_service(&app, request).await;
    assert!(response.status().is_success(), "{}", response.status());
    let body = actix_web::test::read_body(response).await;
    let mut reader = csv::Reader::from_reader(body.as_ref());
    let exported: Vec<HashMap<String, String>> = reader.deserialize().map(|r| r.expect("row")).collect();
    assert_eq!(exported.len(), expected.len());
    let pairs: BTreeSet<(String, (String, String))> = exported
        .iter()
        .map(|r| (r["source_pcode"].clone(), (match_text(&r["org_acronym"]), match_text(&r["org_name"]))))
        .collect();
    assert_eq!(pairs, expected);
    assert!(exported.iter().all(|r| r["sector_code"] == "FSC" && r["licence"].contains("Creative Commons")));
    // Chad's sample workbook is there too.
    let tcd =
        graphql(&store.pool, r#"{ country(iso3: "TCD") { operationalPresence(first: 1) { totalCount } } }"#).await;
    assert!(tcd["country"]["operationalPresence"]["totalCount"].as_u64().is_some_and(|n| n > 1_000));
}
