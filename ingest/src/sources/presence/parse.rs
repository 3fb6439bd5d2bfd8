//! A 3W file read into presences: which canonical organisation works in which area and sector.
//!
//! A 3W row is an activity (Mali's lists every village and project); a presence is what HAPI
//! publishes: one organisation in one area and one sector. Rows of one presence are counted, not
//! rejected as duplicates. A row without an organisation, an area or a known cluster is rejected with
//! its reason.

use std::collections::HashMap;

use store::models::Rejection;

use super::organisations::{Canonical, canonical};
use crate::IngestError;
use crate::kit::cells::is_missing;
use crate::kit::hdx::NamePattern;
use crate::kit::reference::sector;
pub use crate::kit::table::Col;
use crate::kit::table::{Table, record_text};

/// The columns of one 3W layout.
#[derive(Debug, Clone, PartialEq)]
pub struct PresenceColumns {
    pub org_acronym: Col,
    pub org_name: Col,
    pub org_type: Option<Col>,
    pub admin1: Col,
    /// The admin 2 code, where the file has one (the presence is then at admin 2).
    pub admin2: Option<Col>,
    pub cluster: Col,
}

/// One country's 3W dataset.
#[derive(Debug, Clone, PartialEq)]
pub struct PresenceConfig {
    pub country_iso3: &'static str,
    /// HDX dataset name.
    pub dataset: &'static str,
    pub resources: NamePattern,
    pub formats: &'static [&'static str],
    /// The worksheet of an XLSX resource.
    pub sheet: Option<&'static str>,
    pub columns: PresenceColumns,
}

/// Mali: OCHA Mali's 3W (`mali-operational-presence`), sheet `ML_5W`, one row per activity with
/// admin 1 to 3 codes (admin 3 is often a `#N/A` formula); presences are read at admin 2, as HAPI does.
pub fn mali() -> PresenceConfig {
    PresenceConfig {
        country_iso3: "MLI",
        dataset: "mali-operational-presence",
        resources: NamePattern::new("*"),
        formats: &["XLSX", "CSV"],
        sheet: Some("ML_5W"),
        columns: PresenceColumns {
            org_acronym: Col::tagged("#org+acronym", &["Organisation Accronyme"]),
            org_name: Col::tagged("#org+name", &["Nom Organisation"]),
            org_type: Some(Col::tagged("#org+type", &["Type Organisation"])),
            admin1: Col::tagged("#adm1+code", &["admin1Pcod"]),
            admin2: Some(Col::tagged("#adm2+code", &["admin2Pcod"])),
            cluster: Col::tagged("#sector", &["Cluster"]),
        },
    }
}

/// Chad: OCHA Chad's 3W (`chad-operational-presence`), sheet `3W Opérationnelle`, one row per
/// province, cluster and organisation; the province's code (`TD19`) is in the `Title` column.
pub fn chad() -> PresenceConfig {
    PresenceConfig {
        country_iso3: "TCD",
        dataset: "chad-operational-presence",
        resources: NamePattern::new("*"),
        formats: &["XLSX", "CSV"],
        sheet: Some("3W Opérationnelle"),
        columns: PresenceColumns {
            org_acronym: Col::tagged("#org+acronym", &["Acronyme"]),
            org_name: Col::header(&["Organisation"]),
            org_type: Some(Col::header(&["TypeOrganisation"])),
            admin1: Col::header(&["Title"]),
            admin2: None,
            cluster: Col::tagged("#sector", &["Cluster"]),
        },
    }
}

/// The 3W configured for a country, if any.
pub fn config_for(iso3: &str) -> Option<PresenceConfig> {
    match iso3.to_uppercase().as_str() {
        "MLI" => Some(mali()),
        "TCD" => Some(chad()),
        _ => None,
    }
}

/// One organisation in one area and sector.
#[derive(Debug, Clone, PartialEq)]
pub struct Presence {
    /// The line of the first row that reported it.
    pub row_number: i64,
    pub admin_level: i32,
    /// The area code as the file writes it (upper case).
    pub pcode: String,
    /// The admin 1 code of an admin 2 presence, for matching when the admin 2 code matches nothing.
    pub parent_pcode: Option<String>,
    /// [`Canonical::match_key`] of its organisation.
    pub organisation: String,
    pub sector_code: String,
    /// The cluster as the file writes it.
    pub source_sector: String,
    /// How many rows of the file report it.
    pub rows: i32,
}

/// What one 3W file held.
#[derive(Debug, Default)]
pub struct Parsed {
    pub presences: Vec<Presence>,
    /// The canonical organisations by match key, each with the spelling of its first row.
    pub organisations: Vec<(String, Canonical)>,
    pub rejections: Vec<Rejection>,
    /// Rows read, valid or not.
    pub rows: usize,
}

/// Parses a 3W file for `config`. Missing required columns fail the file; bad rows are rejected.
pub fn parse(table: &Table, config: &PresenceConfig, what: &str) -> Result<Parsed, IngestError> {
    let cols = &config.columns;
    let c_acronym = table.require_col(&cols.org_acronym, "organisation acronym", what)?;
    let c_name = table.require_col(&cols.org_name, "organisation name", what)?;
    let c_admin1 = table.require_col(&cols.admin1, "admin 1 code", what)?;
    let c_cluster = table.require_col(&cols.cluster, "cluster", what)?;
    let c_type = cols.org_type.as_ref().and_then(|c| c.find(table));
    let c_admin2 = cols.admin2.as_ref().and_then(|c| c.find(table));

    let mut parsed = Parsed { rows: table.records.len(), ..Parsed::default() };
    let mut organisation_index: HashMap<String, usize> = HashMap::new();
    let mut presence_index: HashMap<(String, String, String), usize> = HashMap::new();
    for (line, record) in &table.records {
        let cell = |i: usize| record.get(i).map(str::trim).unwrap_or("");
        let present = |i: Option<usize>| i.map(cell).filter(|v| !is_missing(v));
        let result = (|| -> Result<(Presence, Canonical), String> {
            let name = present(Some(c_name)).unwrap_or("");
            let acronym = present(Some(c_acronym)).unwrap_or("");
            let organisation = canonical(config.country_iso3, name, acronym, present(c_type).unwrap_or(""))
                .ok_or("no organisation (neither a name nor an acronym)")?;
            let cluster = present(Some(c_cluster)).ok_or("no cluster")?;
            let sector = sector(cluster).ok_or_else(|| format!("unknown cluster {cluster:?}"))?;
            let admin1 = present(Some(c_admin1)).map(str::to_uppercase);
            let (admin_level, pcode, parent_pcode) = match (present(c_admin2).map(str::to_uppercase), admin1) {
                (Some(admin2), parent) => (2, admin2, parent),
                (None, Some(admin1)) => (1, admin1, None),
                (None, None) => return Err("no area code".into()),
            };
            let presence = Presence {
                row_number: *line,
                admin_level,
                pcode,
                parent_pcode,
                organisation: organisation.match_key(),
                sector_code: sector.code.clone(),
                source_sector: cluster.to_string(),
                rows: 1,
            };
            Ok((presence, organisation))
        })();
        match result {
            Ok((presence, organisation)) => {
                match organisation_index.get(&presence.organisation) {
                    Some(&i) => {
                        let known = &mut parsed.organisations[i].1;
                        if known.org_type.is_none() {
                            known.org_type = organisation.org_type;
                        }
                    }
                    None => {
                        organisation_index.insert(presence.organisation.clone(), parsed.organisations.len());
                        parsed.organisations.push((presence.organisation.clone(), organisation));
                    }
                }
                let key = (presence.pcode.clone(), presence.organisation.clone(), presence.sector_code.clone());
                match presence_index.get(&key) {
                    Some(&i) => parsed.presences[i].rows += 1,
                    None => {
                        presence_index.insert(key, parsed.presences.len());
                        parsed.presences.push(presence);
                    }
                }
            }
            Err(reason) => parsed.rejections.push(Rejection { row_number: *line, reason, raw: record_text(record) }),
        }
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeSet, HashSet};

    use super::*;
    use crate::sources::presence::organisations::match_text;

    fn fixture(relative: &str) -> Vec<u8> {
        let path = format!("{}/../{relative}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    const MALI: &str = "tests/fixtures/hdx/mali-3w-presence-operationnelle-december-2023.xlsx";
    const CHAD: &str = "sample/operational_presence/tcd_3w_avr2025.xlsx";
    const CHAD_HAPI: &str = "tests/fixtures/operational_presence/hdx_hapi_operational_presence_global_TCD-subset.csv";

    /// The Mali workbook's check figures, counted on the raw worksheet (not through the parser):
    /// 93 acronyms in Mopti (admin1Pcod ML05) and 57 in Bandiagara (admin2Pcod ML0501); after
    /// canonicalisation 92 and 56 organisations remain (Help/HELP and Educo/EDUCO are one each,
    /// FAO's two spellings of its French name one; World Vision's misspelt "Wold Vision" stays apart).
    #[test]
    fn mali_3w_organisations_before_and_after_canonicalisation() {
        let table = Table::from_xlsx(&fixture(MALI), Some("ML_5W"), "3W").expect("workbook");
        let p = parse(&table, &mali(), "3W").expect("parses");
        assert_eq!(p.rows, 24_088);
        assert!(p.rejections.is_empty(), "{:?}", &p.rejections[..p.rejections.len().min(3)]);
        // Raw acronyms, by column position as the header row names them.
        let col = |name: &str| table.headers.iter().position(|h| h == name).expect("column");
        let (acr, adm1, adm2) = (col("Organisation Accronyme"), col("admin1Pcod"), col("admin2Pcod"));
        let raw = |column: usize, code: &str| -> HashSet<&str> {
            table.records.iter().filter(|(_, r)| r.get(column) == Some(code)).filter_map(|(_, r)| r.get(acr)).collect()
        };
        assert_eq!(raw(adm1, "ML05").len(), 93);
        assert_eq!(raw(adm2, "ML0501").len(), 57);
        // After canonicalisation: the organisations of the rows of those areas.
        let organisations_of = |column: usize, code: &str| -> BTreeSet<String> {
            let lines: HashSet<i64> =
                table.records.iter().filter(|(_, r)| r.get(column) == Some(code)).map(|(l, _)| *l).collect();
            let mut out = BTreeSet::new();
            for (line, record) in &table.records {
                if lines.contains(line) {
                    let c = canonical("MLI", &record[1], &record[0], &record[2]).expect("organisation");
                    out.insert(c.match_key());
                }
            }
            out
        };
        assert_eq!(organisations_of(adm1, "ML05").len(), 92);
        assert_eq!(organisations_of(adm2, "ML0501").len(), 56);
        // The parser's presences of Bandiagara hold the same organisations.
        let bandiagara: BTreeSet<String> =
            p.presences.iter().filter(|x| x.pcode == "ML0501").map(|x| x.organisation.clone()).collect();
        assert_eq!(bandiagara, organisations_of(adm2, "ML0501"));
        // Every row is one presence or counted in one.
        assert_eq!(p.presences.iter().map(|x| x.rows as usize).sum::<usize>(), 24_088);
        assert!(p.presences.iter().all(|x| x.admin_level == 2 && x.parent_pcode.is_some()));
        let clusters: HashSet<(&str, &str)> =
            p.presences.iter().map(|x| (x.source_sector.as_str(), x.sector_code.as_str())).collect();
        for pair in [("EHA", "WSH"), ("Sécurité Alimentaire", "FSC"), ("Abris", "SHL"), ("Coordination", "CSS")] {
            assert!(clusters.contains(&pair), "{pair:?} in {clusters:?}");
        }
        let oim = p.organisations.iter().find(|(_, c)| c.acronym == "IOM").expect("OIM is IOM");
        assert_eq!(oim.1.name, "International Organization for Migration");
        assert!(p.organisations.iter().any(|(_, c)| c.acronym == "WHO"), "OMS is WHO");
        assert!(!p.organisations.iter().any(|(_, c)| c.acronym == "OIM" || c.acronym == "OMS"));
    }

    /// Chad against HAPI's own processed output for the same file: the (admin 1, organisation)
    /// pairs are exactly HAPI's, and so are the (admin 1, sector, organisation) triples of every
    /// cluster but the two HAPI files under camp coordination (`Coordination`, `Réponse aux
    /// réfugiés`), which crisisgraph keeps as coordination (CSS) and multi-sector (MS).
    #[test]
    fn chad_3w_equals_hapis_processed_output() {
        let table = Table::from_xlsx(&fixture(CHAD), Some("3W Opérationnelle"), "3W").expect("workbook");
        let p = parse(&table, &chad(), "3W").expect("parses");
        assert_eq!(p.rows, 1_556);
        assert!(p.rejections.is_empty(), "{:?}", p.rejections);
        let organisations: HashMap<&str, &Canonical> = p.organisations.iter().map(|(k, c)| (k.as_str(), c)).collect();
        let admin1 = |pcode: &str| pcode.trim_start_matches("TCD").trim_start_matches("TD").to_string();
        let ours = |wanted: &dyn Fn(&str) -> bool| -> BTreeSet<(String, String, String)> {
            p.presences
                .iter()
                .filter(|x| wanted(&x.sector_code))
                .map(|x| {
                    (
                        admin1(&x.pcode),
                        x.sector_code.clone(),
                        match_text(&organisations[x.organisation.as_str()].acronym),
                    )
                })
                .collect()
        };
        let mut reader = csv::Reader::from_reader(std::io::Cursor::new(fixture(CHAD_HAPI)));
        let headers = reader.headers().expect("header").clone();
        let col = |n: &str| headers.iter().position(|h| h == n).expect("column");
        let hapi: Vec<(String, String, String)> = reader
            .records()
            .map(|r| r.expect("row"))
            .map(|r| {
                (admin1(&r[col("admin1_code")]), r[col("sector_code")].to_string(), match_text(&r[col("org_acronym")]))
            })
            .collect();
        assert_eq!(hapi.len(), 1_505);
        let pairs = |s: &mut dyn Iterator<Item = (String, String, String)>| -> BTreeSet<(String, String)> {
            s.map(|(a, _, o)| (a, o)).collect()
        };
        let hapi_pairs = pairs(&mut hapi.iter().cloned());
        assert_eq!(hapi_pairs.len(), 789);
        assert_eq!(pairs(&mut ours(&|_| true).into_iter()), hapi_pairs);
        let ambiguous = |code: &str| code == "CSS" || code == "MS" || code == "CCM";
        let hapi_clear: BTreeSet<_> = hapi.iter().filter(|(_, s, _)| !ambiguous(s)).cloned().collect();
        assert_eq!(ours(&|s| !ambiguous(s)), hapi_clear);
        // Camp coordination: ours (from the CCCM cluster) are HAPI's, and HAPI's others are our
        // coordination and refugee-response presences.
        let hapi_ccm: BTreeSet<_> = hapi.iter().filter(|(_, s, _)| s == "CCM").cloned().collect();
        let ccm = ours(&|s| s == "CCM");
        assert!(ccm.is_subset(&hapi_ccm));
        let moved: BTreeSet<(String, String)> =
            ours(&|s| s == "CSS" || s == "MS").into_iter().map(|(a, _, o)| (a, o)).collect();
        for (a, _, o) in hapi_ccm.difference(&ccm) {
            assert!(moved.contains(&(a.clone(), o.clone())), "{a} {o}");
        }
    }

    #[test]
    fn rows_without_organisation_area_or_known_cluster_are_rejected() {
        let csv = "Title,Cluster,Acronyme,Organisation,TypeOrganisation\n\
                   TD19,Nutrition,ACF,Action Contre la Faim,ONG Internationale\n\
                   TD19,Nutrition,ACF,Action Contre la Faim,ONG Internationale\n\
                   TD19,Astrologie,ACF,Action Contre la Faim,ONG Internationale\n\
                   TD19,Nutrition,,,ONG Internationale\n\
                   ,Nutrition,ACF,Action Contre la Faim,ONG Internationale\n\
                   TD19,#N/A,ACF,Action Contre la Faim,ONG Internationale\n";
        let p = parse(&Table::parse(csv.as_bytes(), "t").expect("table"), &chad(), "t").expect("parses");
        assert_eq!(p.presences.len(), 1);
        assert_eq!((p.presences[0].rows, p.presences[0].sector_code.as_str()), (2, "NUT"));
        assert_eq!(p.organisations[0].1.name, "Action against Hunger");
        let reasons: Vec<(i64, &str)> = p.rejections.iter().map(|r| (r.row_number, r.reason.as_str())).collect();
        assert_eq!(
            reasons,
            [
                (4, "unknown cluster \"Astrologie\""),
                (5, "no organisation (neither a name nor an acronym)"),
                (6, "no area code"),
                (7, "no cluster")
            ]
        );
        let missing = "Title,Acronyme,Organisation\nTD19,ACF,ACF\n";
        assert!(matches!(
            parse(&Table::parse(missing.as_bytes(), "t").expect("table"), &chad(), "t"),
            Err(IngestError::Parse { .. })
        ));
    }
}
