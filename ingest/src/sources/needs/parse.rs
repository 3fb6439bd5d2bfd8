//! Reading an HNO table. Three layouts are published, and one set of columns reads them all (by
//! header, else HXL tag, as every table is read):
//!
//! - a country's HNO data (`hno-data-for-<iso3>`, HXL row): p-codes, `Sector`, `Gender`, `Age Range`,
//!   `Disabled`, `Population Group` and the five figures;
//! - the global HPC file (`hpc_hno_<year>.csv`, no HXL row): `Country ISO3`, p-codes, `Cluster`, a
//!   free-text `Category` (`Children - Female - IDP`) and the five figures;
//! - a country workbook with intersectoral people in need and targeted only (Chad: `PIN`, `Cible`).
//!
//! A row's level is where its codes stop: no code is the country, an admin 1 code alone admin 1, an
//! admin 2 code admin 2. Figures with a fraction (modelled estimates: Mali's population, Chad's PIN)
//! are rounded to the nearest person, as HAPI does. The first row of a key is kept and a repeat is
//! rejected (the global file lists "General Protection" and "Protection (overall)" both as `PRO`;
//! HAPI keeps the first too).

use std::collections::HashMap;

use store::models::Rejection;
use store::needs::ALL;

use crate::IngestError;
use crate::kit::cells::{NumberError, differences, is_missing};
use crate::kit::reference::{INTERSECTORAL, sector};
use crate::kit::table::{Col, Table, record_text};
use crate::kit::{bounds, cells};

/// Where each field is, in every layout.
mod columns {
    use super::Col;

    pub const COUNTRY: Col = Col::tagged("#country+code", &["Country ISO3"]);
    pub const ADMIN1: Col = Col::tagged("#adm1+code", &["Admin 1 PCode", "ADM1_Pcode"]);
    pub const ADMIN2: Col = Col::tagged("#adm2+code", &["Admin 2 PCode", "ADM2_Pcode"]);
    pub const SECTOR: Col = Col::tagged("#sector+code", &["Sector", "Cluster"]);
    pub const CATEGORY: Col = Col::header(&["Category"]);
    pub const POPULATION_GROUP: Col = Col::tagged("#population_group+code", &["Population Group"]);
    pub const GENDER: Col = Col::tagged("#gender+code", &["Gender"]);
    pub const AGE_RANGE: Col = Col::tagged("#age+range", &["Age Range"]);
    pub const DISABLED: Col = Col::tagged("#is_disabled", &["Disabled"]);
    pub const POPULATION: Col = Col::tagged("#population", &["Population"]);
    pub const IN_NEED: Col = Col::tagged("#inneed", &["In Need", "PIN"]);
    pub const TARGETED: Col = Col::tagged("#targeted", &["Targeted", "Cible"]);
    pub const AFFECTED: Col = Col::tagged("#affected", &["Affected"]);
    pub const REACHED: Col = Col::tagged("#reached", &["Reached"]);
}

/// One valid row of an HNO table.
#[derive(Debug, Clone, PartialEq)]
pub struct NeedsRow {
    pub row_number: i64,
    /// 0 (the country), 1 or 2.
    pub admin_level: i32,
    /// The row's own area code; `None` for the country.
    pub pcode: Option<String>,
    /// The admin 1 code of an admin 2 row, when given.
    pub parent_pcode: Option<String>,
    /// A code of [`crate::kit::reference`].
    pub sector: String,
    pub category: String,
    pub population_group: String,
    pub gender: String,
    pub age_range: String,
    pub disabled_marker: String,
    pub population: Option<i64>,
    pub in_need: Option<i64>,
    pub targeted: Option<i64>,
    pub affected: Option<i64>,
    pub reached: Option<i64>,
}

impl NeedsRow {
    /// What makes two rows of a file the same figure set.
    fn key(&self) -> RowKey {
        (
            self.pcode.clone(),
            self.sector.clone(),
            self.category.clone(),
            self.population_group.clone(),
            self.gender.clone(),
            self.age_range.clone(),
            self.disabled_marker.clone(),
        )
    }

    fn figures(&self) -> Figures {
        [
            ("population", self.population),
            ("in need", self.in_need),
            ("targeted", self.targeted),
            ("affected", self.affected),
            ("reached", self.reached),
        ]
    }
}

/// A row's area code, sector, category, population group, gender, age range and disability.
type RowKey = (Option<String>, String, String, String, String, String, String);

/// A row's five figures, named.
type Figures = [(&'static str, Option<i64>); 5];

/// What one table held for a country.
#[derive(Debug, Default)]
pub struct Parsed {
    pub rows: Vec<NeedsRow>,
    pub rejections: Vec<Rejection>,
}

/// A count of people that may be written with a fraction (a modelled estimate): rounded to the
/// nearest person. Negative and oversized counts are rejected as [`cells::people`] rejects them.
fn people(cell: &str, label: &str) -> Result<Option<i64>, String> {
    match cells::whole_number(cell) {
        Ok(_) | Err(NumberError::Negative(_)) => cells::people(cell, label),
        Err(NumberError::NotWhole) => {
            // A decimal point only: `1,234` may be a thousands separator, never guessed at.
            let value: f64 = match cell.trim().parse() {
                Ok(v) if f64::is_finite(v) => v,
                _ => return Err(format!("{label} {cell:?} is not a number")),
            };
            if value < 0.0 {
                return Err(format!("{label} is negative ({value})"));
            }
            bounds::people(label, value.round() as i64).map(Some)
        }
    }
}

/// `all`, `f` or `m` (HXL gender codes `a`, `f`, `m`; or spelt out).
fn gender(cell: &str) -> Result<String, String> {
    match cell.trim().to_lowercase().as_str() {
        "" | "a" | "all" => Ok(ALL.into()),
        "f" | "female" => Ok("f".into()),
        "m" | "male" => Ok("m".into()),
        other => Err(format!("unknown gender {other:?} (expected a, f or m)")),
    }
}

/// A dimension's code, with every spelling of "all" (`ALL`, `a`, empty) as [`ALL`].
fn dimension(cell: &str) -> String {
    let c = cell.trim();
    if c.is_empty() || c.eq_ignore_ascii_case("all") || c.eq_ignore_ascii_case("a") { ALL.into() } else { c.into() }
}

/// Parses the rows of `iso3` in an HNO table (a file without a country column is all `iso3`'s).
/// `intersectoral_only`: the file has no sector column, every row is the intersectoral figure.
/// Missing required columns fail the file; bad rows are rejected with their reason.
pub fn parse(table: &Table, iso3: &str, intersectoral_only: bool, what: &str) -> Result<Parsed, IngestError> {
    let admin1 = table.require_col(&columns::ADMIN1, "admin 1 p-code", what)?;
    let in_need = table.require_col(&columns::IN_NEED, "people in need", what)?;
    let sector_col =
        if intersectoral_only { None } else { Some(table.require_col(&columns::SECTOR, "sector", what)?) };
    let country = columns::COUNTRY.find(table);
    let admin2 = columns::ADMIN2.find(table);
    let category = columns::CATEGORY.find(table);
    let group = columns::POPULATION_GROUP.find(table);
    let gender_col = columns::GENDER.find(table);
    let age = columns::AGE_RANGE.find(table);
    let disabled = columns::DISABLED.find(table);
    let population = columns::POPULATION.find(table);
    let targeted = columns::TARGETED.find(table);
    let affected = columns::AFFECTED.find(table);
    let reached = columns::REACHED.find(table);

    let mut parsed = Parsed::default();
    // Per key: the first line and its figures.
    let mut seen: HashMap<RowKey, (i64, Figures)> = HashMap::new();
    for (line, record) in &table.records {
        let cell = |i: Option<usize>| i.and_then(|i| record.get(i)).map(str::trim).unwrap_or("");
        if country.is_some() && !cell(country).eq_ignore_ascii_case(iso3) {
            continue;
        }
        let result = (|| -> Result<NeedsRow, String> {
            let code = |c: Option<usize>| {
                let v = cell(c);
                (!is_missing(v)).then(|| v.to_uppercase())
            };
            let (a1, a2) = (code(Some(admin1)), code(admin2));
            let (admin_level, pcode, parent_pcode) = match (a1, a2) {
                (a1, Some(a2)) => (2, Some(a2), a1),
                (Some(a1), None) => (1, Some(a1), None),
                (None, None) => (0, None, None),
            };
            let sector = match sector_col {
                None => INTERSECTORAL.to_string(),
                Some(c) => {
                    let given = cell(Some(c));
                    if is_missing(given) {
                        return Err("sector is missing".into());
                    }
                    sector(given).map(|s| s.code.clone()).ok_or_else(|| format!("unknown sector {given:?}"))?
                }
            };
            let category = cell(category).to_string();
            // The global file's groups are in its category; a row is for everyone only when the
            // category says so (empty or `total`).
            let whole = category.is_empty() || category.eq_ignore_ascii_case("total");
            let unsplit = |c: Option<usize>| if c.is_none() && !whole { String::new() } else { dimension(cell(c)) };
            let row = NeedsRow {
                row_number: *line,
                admin_level,
                pcode,
                parent_pcode,
                sector,
                population_group: match unsplit(group) {
                    g if g == ALL => g,
                    g => g.to_uppercase(),
                },
                gender: if gender_col.is_none() && !whole { String::new() } else { gender(cell(gender_col))? },
                age_range: unsplit(age),
                disabled_marker: unsplit(disabled).to_lowercase(),
                category,
                population: people(cell(population), "population")?,
                in_need: people(cell(Some(in_need)), "people in need")?,
                targeted: people(cell(targeted), "people targeted")?,
                affected: people(cell(affected), "people affected")?,
                reached: people(cell(reached), "people reached")?,
            };
            if row.figures().iter().all(|(_, v)| v.is_none()) {
                return Err("no figure: population, in need, targeted, affected and reached are all empty".into());
            }
            Ok(row)
        })();
        match result {
            Ok(row) => {
                if let Some((first, figures)) = seen.get(&row.key()) {
                    let compared: Vec<(&str, Option<i64>, Option<i64>)> = figures
                        .iter()
                        .zip(row.figures())
                        .map(|((name, there), (_, here))| (*name, *there, here))
                        .collect();
                    let reason = match differences(&compared) {
                        None => format!("duplicate of line {first} (same area, sector and group)"),
                        Some(diff) => {
                            format!("conflicting duplicate of line {first} (same area, sector and group): {diff}")
                        }
                    };
                    parsed.rejections.push(Rejection { row_number: *line, reason, raw: record_text(record) });
                } else {
                    seen.insert(row.key(), (*line, row.figures()));
                    parsed.rows.push(row);
                }
            }
            Err(reason) => parsed.rejections.push(Rejection { row_number: *line, reason, raw: record_text(record) }),
        }
    }
    Ok(parsed)
}

/// The plan year a resource is for: the first year (20xx) in its name (`hpc_hno_2024.csv`,
/// `tcd_hpc2023_rev_pin-cible_20231006.xlsx`).
pub fn year_of_name(name: &str) -> Option<i32> {
    let bytes = name.as_bytes();
    (0..bytes.len().saturating_sub(3)).find_map(|i| {
        let candidate = name.get(i..i + 4)?;
        let before_digit = i > 0 && bytes[i - 1].is_ascii_digit();
        (!before_digit && candidate.starts_with("20") && candidate.bytes().all(|b| b.is_ascii_digit()))
            .then(|| candidate.parse().ok())
            .flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo(path: &str) -> Vec<u8> {
        std::fs::read(format!("{}/../{path}", env!("CARGO_MANIFEST_DIR"))).expect("fixture")
    }

    const MALI: &str = "sample/hno/hpc_hno_mli.download-hno-data-mli.csv";
    const GLOBAL: &str = "tests/fixtures/hno/hpc_hno_2024_AFG_SDN.csv";
    const CHAD: &str = "sample/hno/tcd_hpc2023_rev_pin-cible_20231006.xlsx";

    /// The raw file's records by header name (BOM stripped, the HXL row dropped), read with the csv
    /// crate alone.
    fn raw_rows(bytes: &[u8]) -> Vec<HashMap<String, String>> {
        let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        let mut reader = csv::Reader::from_reader(bytes);
        let headers = reader.headers().expect("headers").clone();
        reader
            .records()
            .map(|r| r.expect("record"))
            .filter(|r| !r.get(0).unwrap_or("").starts_with('#') && !r.get(2).unwrap_or("").starts_with('#'))
            .map(|r| headers.iter().zip(r.iter()).map(|(h, v)| (h.to_string(), v.to_string())).collect())
            .collect()
    }

    fn rounded(cell: &str) -> Option<i64> {
        (!cell.trim().is_empty()).then(|| cell.trim().parse::<f64>().expect("number").round() as i64)
    }

    #[test]
    fn mali_file_parses_every_row_with_its_figures() {
        let bytes = repo(MALI);
        let table = Table::parse(&bytes, "mli").expect("table");
        let p = parse(&table, "MLI", false, "mli").expect("parses");
        let raw = raw_rows(&bytes);
        assert_eq!((p.rows.len(), p.rejections.len()), (raw.len(), 0), "{:?}", p.rejections.first());
        let sum = |f: &str| raw.iter().filter_map(|r| rounded(&r[f])).sum::<i64>();
        assert_eq!(p.rows.iter().filter_map(|r| r.in_need).sum::<i64>(), sum("In Need"));
        assert_eq!(p.rows.iter().filter_map(|r| r.targeted).sum::<i64>(), sum("Targeted"));
        assert_eq!(p.rows.iter().filter_map(|r| r.population).sum::<i64>(), sum("Population"));

        let whole = |r: &&NeedsRow| r.gender == ALL && r.age_range == ALL && r.population_group == ALL;
        let raw_whole = |r: &&HashMap<String, String>| {
            r["Gender"] == "a" && r["Age Range"] == "ALL" && r["Population Group"] == "ALL"
        };
        // National intersectoral: the row without codes.
        let national = p.rows.iter().filter(whole).find(|r| r.admin_level == 0 && r.sector == "ALL").expect("national");
        let raw_national = raw
            .iter()
            .filter(raw_whole)
            .find(|r| r["Admin 1 PCode"].is_empty() && r["Sector"] == "ALL")
            .expect("raw national");
        assert_eq!(national.in_need, rounded(&raw_national["In Need"]));
        assert_eq!(national.targeted, rounded(&raw_national["Targeted"]));
        assert_eq!(national.in_need, Some(7_107_194));
        // Bandiagara, and Mopti's food security as reported.
        let at = |code: &str, sector: &str| {
            p.rows.iter().filter(whole).find(|r| r.pcode.as_deref() == Some(code) && r.sector == sector).cloned()
        };
        assert_eq!(at("ML0501", "ALL").and_then(|r| r.in_need), Some(187_366));
        let bandiagara = at("ML0501", "ALL").expect("ML0501");
        assert_eq!((bandiagara.admin_level, bandiagara.parent_pcode.as_deref()), (2, Some("ML05")));
        assert_eq!(at("ML05", "FSC").and_then(|r| r.in_need), Some(473_916));
        // Mopti has no intersectoral row of its own.
        assert!(at("ML05", "ALL").is_none());
        // The odd code is kept as given.
        assert_eq!(at("ML011", "FSC").map(|r| r.admin_level), Some(1));
        // Sector spellings become the reference codes.
        let sectors: std::collections::BTreeSet<&str> = p.rows.iter().map(|r| r.sector.as_str()).collect();
        assert!(
            sectors.contains("PRO-CPN") && sectors.contains("PRO-GBV") && !sectors.contains("PRO_CPM"),
            "{sectors:?}"
        );
        assert_eq!(sectors.len(), 13, "{sectors:?}");
    }

    #[test]
    fn global_file_keeps_a_countrys_rows_and_rejects_repeats_and_unknown_sectors() {
        let bytes = repo(GLOBAL);
        let table = Table::parse(&bytes, "global").expect("table");
        assert!(table.hxl.is_none());
        let raw = raw_rows(&bytes);
        let afg = parse(&table, "AFG", false, "global").expect("parses");
        let raw_afg: Vec<_> = raw.iter().filter(|r| r["Country ISO3"] == "AFG").collect();
        assert_eq!(afg.rows.len() + afg.rejections.len(), raw_afg.len());
        // "Protection (overall)" repeats "General Protection" (both PRO) row for row: rejected.
        let overall = raw_afg.iter().filter(|r| r["Description"] == "Protection (overall)").count();
        let repeats = afg.rejections.iter().filter(|r| r.reason.contains("duplicate of line")).count();
        assert_eq!(repeats, overall);
        assert!(afg.rejections.iter().any(|r| r.reason.starts_with("no figure")));
        let national = afg
            .rows
            .iter()
            .find(|r| r.admin_level == 0 && r.sector == "ALL" && r.category.is_empty())
            .expect("national");
        assert_eq!(
            (national.population, national.in_need, national.reached),
            (Some(44_532_600), Some(23_666_389), Some(18_400_000))
        );
        assert_eq!((national.gender.as_str(), national.population_group.as_str()), (ALL, ALL));
        let children = afg.rows.iter().find(|r| r.category == "Children - Female - IDP").expect("category");
        assert_eq!((children.gender.as_str(), children.age_range.as_str()), ("", ""));

        let sdn = parse(&table, "SDN", false, "global").expect("parses");
        let no_cluster = raw.iter().filter(|r| r["Country ISO3"] == "SDN" && r["Cluster"].is_empty()).count();
        assert_eq!(sdn.rejections.iter().filter(|r| r.reason == "sector is missing").count(), no_cluster);
        // Rounded as HAPI does: Jebel Awlia's WSH targets are fractions in the file.
        assert!(sdn.rows.iter().all(|r| r.targeted.is_none_or(|t| t >= 0)));
    }

    #[test]
    fn chad_workbook_is_intersectoral_at_admin_2() {
        use calamine::{Data, DataType, Reader, Xlsx};
        let bytes = repo(CHAD);
        let table = Table::read(&bytes, "XLSX", None, "tcd").expect("table");
        let p = parse(&table, "TCD", true, "tcd").expect("parses");
        // Independently: the worksheet's cells, read with calamine alone.
        let mut book: Xlsx<_> = calamine::open_workbook_from_rs(std::io::Cursor::new(bytes)).expect("workbook");
        let range = book.worksheet_range("PINCIBLE").expect("sheet");
        let header: Vec<String> = range.rows().next().expect("header").iter().map(|c| c.to_string()).collect();
        let col = |n: &str| header.iter().position(|h| h.trim() == n).expect("column");
        let figures: Vec<(String, f64, f64)> = range
            .rows()
            .skip(2)
            .filter_map(|r| match (&r[col("ADM2_Pcode")], &r[col("PIN")], &r[col("Cible")]) {
                (Data::String(code), pin, cible) => Some((code.clone(), pin.as_f64()?, cible.as_f64()?)),
                _ => None,
            })
            .collect();
        assert_eq!(figures.len(), 70);
        assert_eq!(p.rows.len(), figures.len(), "{:?}", p.rejections);
        assert!(p.rows.iter().all(|r| r.admin_level == 2 && r.sector == "ALL"));
        for (code, pin, cible) in &figures {
            let row = p.rows.iter().find(|r| r.pcode.as_deref() == Some(code.as_str())).expect("row");
            assert_eq!((row.in_need, row.targeted), (Some(pin.round() as i64), Some(cible.round() as i64)), "{code}");
        }
        let barh = p.rows.iter().find(|r| r.pcode.as_deref() == Some("TD1901")).expect("TD1901");
        assert_eq!((barh.in_need, barh.targeted), (Some(74_466), Some(41_548)));
        // TD1902 has no admin 1 code: still admin 2, without a parent.
        let nord = p.rows.iter().find(|r| r.pcode.as_deref() == Some("TD1902")).expect("TD1902");
        assert_eq!(nord.parent_pcode, None);
    }

    #[test]
    fn bad_numbers_and_unknown_sectors_are_rejected_with_reasons() {
        let csv = "Admin 1 PCode,Admin 2 PCode,Sector,Gender,Age Range,Min Age,Max Age,Disabled,Population Group,Population,In Need,Targeted,Affected,Reached\n\
                   #adm1+code,#adm2+code,#sector+code,#gender+code,#age+range,#age+min,#age+max,#is_disabled,#population_group+code,#population,#inneed,#targeted,#affected,#reached\n\
                   ML05,,FSC,a,ALL,,,a,ALL,,100,50,,\n\
                   ML05,,XYZ,a,ALL,,,a,ALL,,100,50,,\n\
                   ML05,,NUT,a,ALL,,,a,ALL,,-3,50,,\n\
                   ML05,,NUT,a,ALL,,,a,ALL,,lots,50,,\n\
                   ML05,,NUT,x,ALL,,,a,ALL,,1,50,,\n\
                   ML05,,NUT,a,ALL,,,a,ALL,,20000000000,50,,\n\
                   ML05,,FSC,a,ALL,,,a,ALL,,100,50,,\n\
                   ML05,,fsc,a,ALL,,,a,ALL,,120,50,,\n\
                   ML05,,HEA,a,ALL,,,a,ALL,,,,,\n\
                   ML05,,HEA,f,0-17,0,17,a,IDP,,10.6,NA,,\n\
                   ML06,,HEA,a,ALL,,,a,ALL,,\"1,234\",,,\n";
        let p = parse(&Table::parse(csv.as_bytes(), "t").expect("table"), "MLI", false, "t").expect("parses");
        let reasons: Vec<&str> = p.rejections.iter().map(|r| r.reason.as_str()).collect();
        assert_eq!(reasons.len(), 9, "{reasons:?}");
        assert_eq!(reasons[0], "unknown sector \"XYZ\"");
        assert!(reasons[1].contains("negative"), "{reasons:?}");
        assert!(reasons[2].contains("not a number"), "{reasons:?}");
        assert!(reasons[3].contains("unknown gender"), "{reasons:?}");
        assert!(reasons[4].contains("more people than live on Earth"), "{reasons:?}");
        assert!(reasons[5].starts_with("duplicate of line 3"), "{reasons:?}");
        assert_eq!(
            reasons[6],
            "conflicting duplicate of line 3 (same area, sector and group): in need 120 here, 100 there"
        );
        assert!(reasons[7].starts_with("no figure"), "{reasons:?}");
        assert_eq!(reasons[8], "people in need \"1,234\" is not a number");
        assert_eq!(p.rows.len(), 2);
        let idp = &p.rows[1];
        assert_eq!((idp.gender.as_str(), idp.age_range.as_str(), idp.population_group.as_str()), ("f", "0-17", "IDP"));
        assert_eq!((idp.in_need, idp.targeted), (Some(11), None));
    }

    #[test]
    fn plan_years_from_resource_names() {
        assert_eq!(year_of_name("hpc_hno_2024.csv"), Some(2024));
        assert_eq!(year_of_name("tcd_hpc2023_rev_pin-cible_20231006.xlsx"), Some(2023));
        assert_eq!(year_of_name("HNO Data for MLI"), None);
    }
}
