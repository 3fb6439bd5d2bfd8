//! COD-PS population statistics on HDX (`cod-ps-<iso3>`, resources `<iso3>_pop_adm{0,1,2}_v2.csv`):
//! one row per area with `adminNPcode`, `adminNName_<lang>`, and `F_TL`, `M_TL`, `T_TL` (female, male,
//! total), a UTF-8 BOM, `<Null>` for empty cells, and the country's ISO2 code at level 0 (`ML`).
//!
//! A file is published for one boundary edition: Mali's 2018 figures use the 9-region edition, where
//! Ménaka is cercle `ML0704` of Gao, before the 2021-12-20 edition made it region `ML10`. Each country
//! may declare its edition and crosswalk here ([`PopulationConfig`]); codes it names as changed are
//! never matched to today's area of the same code.

use chrono::NaiveDate;
use store::models::Rejection;

use super::hdx::NamePattern;
use super::sheet::is_missing;
use super::table::{Table, record_text};
use crate::IngestError;

/// How an older edition's code relates to a current area.
#[derive(Debug, Clone, PartialEq)]
pub struct Crosswalk {
    /// The code in the population file's edition.
    pub source_code: &'static str,
    /// The current p-code it relates to.
    pub current_pcode: &'static str,
    /// `same` (same territory: the figure is the area's), `contains` (the old area is larger).
    pub relation: &'static str,
    pub note: &'static str,
}

/// Which dataset holds a country's population, and the boundary edition it was published for.
#[derive(Debug, Clone, PartialEq)]
pub struct PopulationConfig {
    pub country_iso3: String,
    /// HDX dataset name, e.g. `cod-ps-mli`.
    pub dataset: String,
    /// Resource names to read, e.g. `mli_pop_adm*_v2.csv`.
    pub resources: NamePattern,
    /// Highest admin level read.
    pub max_level: i32,
    /// The reference year, when known here; otherwise read from the dataset notes or date.
    pub reference_year: Option<i32>,
    /// Name of the boundary edition the figures are published for.
    pub boundary_edition: String,
    /// The last day the edition was current, if it has been replaced.
    pub edition_valid_to: Option<NaiveDate>,
    pub crosswalk: Vec<Crosswalk>,
}

/// The population dataset of a country: Mali's, with its known edition and crosswalk, or the COD-PS
/// naming convention for any other country (edition "as published", codes matched as they are).
pub fn config_for(iso3: &str) -> PopulationConfig {
    let lower = iso3.to_lowercase();
    if iso3.eq_ignore_ascii_case("MLI") {
        return PopulationConfig {
            country_iso3: "MLI".into(),
            dataset: "cod-ps-mli".into(),
            resources: NamePattern::new("mli_pop_adm*_v2.csv"),
            max_level: 2,
            reference_year: Some(2018),
            boundary_edition: "MLI 2018 (9 regions; Ménaka = cercle ML0704 of Gao)".into(),
            edition_valid_to: NaiveDate::from_ymd_opt(2021, 12, 20),
            crosswalk: vec![
                Crosswalk {
                    source_code: "ML07",
                    current_pcode: "ML07",
                    relation: "contains",
                    note: "Gao before 2021-12-20 included the cercle of Ménaka (ML0704), now region ML10",
                },
                Crosswalk {
                    source_code: "ML07",
                    current_pcode: "ML10",
                    relation: "contains",
                    note: "Gao before 2021-12-20 included the cercle of Ménaka (ML0704), now region ML10",
                },
                Crosswalk {
                    source_code: "ML0704",
                    current_pcode: "ML10",
                    relation: "same",
                    note: "the cercle of Ménaka (ML0704, in Gao) became region ML10 on 2021-12-20",
                },
            ],
        };
    }
    PopulationConfig {
        country_iso3: iso3.to_uppercase(),
        dataset: format!("cod-ps-{lower}"),
        resources: NamePattern::new(format!("{lower}_pop_adm*.csv")),
        max_level: 2,
        reference_year: None,
        boundary_edition: format!("as published in cod-ps-{lower}"),
        edition_valid_to: None,
        crosswalk: Vec::new(),
    }
}

/// The admin level a COD-PS resource name is for (`mli_pop_adm1_v2.csv` → 1).
pub fn level_of_resource(name: &str) -> Option<i32> {
    let lower = name.to_lowercase();
    let rest = &lower[lower.find("adm")? + 3..];
    rest.chars().next()?.to_digit(10).map(|d| d as i32)
}

/// The reference year stated in dataset notes ("REFERENCE YEAR:  2018").
pub fn year_from_notes(notes: &str) -> Option<i32> {
    let upper = notes.to_uppercase();
    let rest = &upper[upper.find("REFERENCE YEAR")? + "REFERENCE YEAR".len()..];
    let digits: String = rest.trim_start_matches([':', ' ', '\t']).chars().take_while(|c| c.is_ascii_digit()).collect();
    digits.parse().ok().filter(|y| (1900..=2200).contains(y))
}

/// One valid row of a COD-PS file.
#[derive(Debug, Clone, PartialEq)]
pub struct PopulationRow {
    pub row_number: i64,
    pub level: i32,
    /// The area's code as the file gives it.
    pub pcode: String,
    pub name: String,
    /// Codes of the enclosing areas as the file gives them, nearest first.
    pub parents: Vec<(i32, String)>,
    pub total: i64,
    pub female: Option<i64>,
    pub male: Option<i64>,
}

/// What one file held.
#[derive(Debug, Default)]
pub struct Parsed {
    pub level: i32,
    pub rows: Vec<PopulationRow>,
    pub rejections: Vec<Rejection>,
}

/// A count: a whole number (written `123` or `123.0`), not negative. `Ok(None)` for a missing value.
pub fn people(cell: &str, column: &str) -> Result<Option<i64>, String> {
    if is_missing(cell) {
        return Ok(None);
    }
    let c = cell.trim().replace([' ', '\u{a0}'], "");
    let value = match c.parse::<i64>() {
        Ok(v) => v,
        Err(_) => match c.parse::<f64>() {
            Ok(f) if f.fract() == 0.0 && f.abs() < 1e15 => f as i64,
            _ => return Err(format!("{column} {cell:?} is not a whole number")),
        },
    };
    if value < 0 {
        return Err(format!("{column} is negative ({value})"));
    }
    super::bounds::people(column, value).map(Some)
}

/// Parses one COD-PS table. The level is the deepest `adminNPcode` column. A file without a code or
/// total column is an error; a row without a usable total is a rejection.
pub fn parse(table: &Table, what: &str) -> Result<Parsed, IngestError> {
    let code_column = |level: i32| table.column(&[&format!("admin{level}Pcode")], &format!("#adm{level}+code"));
    let level = (0..=5).rev().find(|l| code_column(*l).is_some()).ok_or_else(|| IngestError::Parse {
        what: what.to_string(),
        reason: format!("no adminNPcode column; headers are {:?}", table.headers),
    })?;
    let c_code = table.require(&[&format!("admin{level}Pcode")], &format!("#adm{level}+code"), what)?;
    let c_name = table
        .headers
        .iter()
        .position(|h| h.to_lowercase().starts_with(&format!("admin{level}name")))
        .or_else(|| table.column(&[], &format!("#adm{level}+name")));
    let c_total = table.require(&["T_TL", "Total", "Population"], "#population+total", what)?;
    let c_female = table.column(&["F_TL"], "#population+f+total");
    let c_male = table.column(&["M_TL"], "#population+m+total");
    let parent_columns: Vec<(i32, usize)> = (1..level).rev().filter_map(|l| code_column(l).map(|c| (l, c))).collect();

    let mut parsed = Parsed { level, ..Parsed::default() };
    let mut seen = std::collections::HashMap::new();
    for (line, record) in &table.records {
        let cell = |i: usize| record.get(i).map(str::trim).unwrap_or("");
        let reject = |reason: String| Rejection { row_number: *line, reason, raw: record_text(record) };
        let pcode = cell(c_code).to_uppercase();
        if is_missing(&pcode) {
            parsed.rejections.push(reject(format!("admin{level}Pcode is missing ({:?})", cell(c_code))));
            continue;
        }
        let total = match people(cell(c_total), "T_TL") {
            Ok(Some(t)) => t,
            Ok(None) => {
                parsed.rejections.push(reject(format!("T_TL (total population) is missing ({:?})", cell(c_total))));
                continue;
            }
            Err(reason) => {
                parsed.rejections.push(reject(reason));
                continue;
            }
        };
        let sexed = |column: Option<usize>, label: &str| column.map(|c| people(cell(c), label)).transpose();
        let (female, male) = match (sexed(c_female, "F_TL"), sexed(c_male, "M_TL")) {
            (Ok(f), Ok(m)) => (f.flatten(), m.flatten()),
            (Err(reason), _) | (_, Err(reason)) => {
                parsed.rejections.push(reject(reason));
                continue;
            }
        };
        if let Some(first) = seen.insert(pcode.clone(), *line) {
            parsed.rejections.push(reject(format!("duplicate of line {first} (same p-code {pcode})")));
            continue;
        }
        let name = c_name.map(cell).filter(|n| !is_missing(n)).unwrap_or(&pcode).to_string();
        let parents = parent_columns
            .iter()
            .map(|(l, c)| (*l, cell(*c).to_uppercase()))
            .filter(|(_, code)| !is_missing(code))
            .collect();
        parsed.rows.push(PopulationRow { row_number: *line, level, pcode, name, parents, total, female, male });
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    const COD: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../sample/cod");

    fn table(name: &str) -> Table {
        let bytes = std::fs::read(format!("{COD}/{name}")).expect("fixture");
        Table::parse(&bytes, name).expect("parses")
    }

    /// Sums computed from the raw file with the csv crate alone, independent of [`parse`].
    fn raw_sum(name: &str, column: &str) -> i64 {
        let bytes = std::fs::read(format!("{COD}/{name}")).expect("fixture");
        let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes).to_vec();
        let mut reader = csv::Reader::from_reader(bytes.as_slice());
        let i = reader.headers().expect("header").iter().position(|h| h == column).expect("column");
        reader.records().map(|r| r.expect("row")[i].parse::<i64>().expect("number")).sum()
    }

    #[test]
    fn mali_2018_files_parse_at_their_levels_with_bom_and_null_strings() {
        let adm0 = parse(&table("mli_pop_adm0_v2.csv"), "adm0").expect("parses");
        assert_eq!((adm0.level, adm0.rows.len(), adm0.rejections.len()), (0, 1, 0));
        assert_eq!(adm0.rows[0].pcode, "ML");
        assert_eq!(adm0.rows[0].total, raw_sum("mli_pop_adm0_v2.csv", "T_TL"));
        let adm1 = parse(&table("mli_pop_adm1_v2.csv"), "adm1").expect("parses");
        assert_eq!((adm1.level, adm1.rows.len(), adm1.rejections.len()), (1, 9, 0));
        assert_eq!(adm1.rows.iter().map(|r| r.total).sum::<i64>(), raw_sum("mli_pop_adm1_v2.csv", "T_TL"));
        let mopti = adm1.rows.iter().find(|r| r.pcode == "ML05").expect("Mopti");
        assert_eq!((mopti.name.as_str(), mopti.female, mopti.male), ("Mopti", Some(1_268_527), Some(1_241_176)));
        let adm2 = parse(&table("mli_pop_adm2_v2.csv"), "adm2").expect("parses");
        assert_eq!(adm2.level, 2);
        assert_eq!(adm2.rows.len() + adm2.rejections.len(), 50);
        let menaka = adm2.rows.iter().find(|r| r.pcode == "ML0704").expect("Ménaka cercle");
        assert_eq!(menaka.parents, vec![(1, "ML07".to_string())]);
    }

    #[test]
    fn null_total_negative_and_text_are_rejected_with_reasons() {
        let csv = "\u{feff}admin1Name_fr,admin1Pcode,M_TL,F_TL,T_TL\nA,ML01,1,2,3\nB,ML02,1,2,<Null>\nC,ML03,-1,2,3\nD,ML04,x,2,3\nE,ML05,<Null>,<Null>,7\nA,ML01,1,2,3\n";
        let p = parse(&Table::parse(csv.as_bytes(), "t").expect("table"), "t").expect("parses");
        assert_eq!(p.rows.len(), 2);
        assert_eq!(p.rows[1].female, None);
        let reasons: Vec<&str> = p.rejections.iter().map(|r| r.reason.as_str()).collect();
        assert!(reasons[0].contains("T_TL") && reasons[0].contains("<Null>"), "{reasons:?}");
        assert!(reasons[1].contains("negative"), "{reasons:?}");
        assert!(reasons[2].contains("not a whole number"), "{reasons:?}");
        assert!(reasons[3].contains("duplicate"), "{reasons:?}");
        assert_eq!(p.rejections[0].row_number, 3);
    }

    #[test]
    fn names_and_notes() {
        assert_eq!(level_of_resource("mli_pop_adm2_v2.csv"), Some(2));
        assert_eq!(year_from_notes("Population of Mali 2018\r\n\r\nREFERENCE YEAR:  2018\r\n"), Some(2018));
        assert_eq!(year_from_notes("nothing"), None);
    }
}
