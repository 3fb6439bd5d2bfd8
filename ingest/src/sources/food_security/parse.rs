//! The two layouts food security figures come in: the Cadre Harmonisé workbook (one row per area,
//! analysis and projection, phases in columns) and IPC's long CSVs (one row per area, analysis,
//! projection and phase).

use std::collections::HashMap;

use chrono::NaiveDate;
use store::food_security::{CURRENT, PROJECTED, SECOND_PROJECTED};
use store::models::Rejection;

use crate::IngestError;
use crate::kit::cells::{self, differences, is_missing};
use crate::kit::table::{Col, Table, record_text};

/// One figure set as a source gives it, before its area is matched.
#[derive(Debug, Clone, PartialEq)]
pub struct FoodSecurityFigure {
    /// The line of its (first) row in the file.
    pub row_number: i64,
    /// 0 for the country, 1 to 3 for its areas.
    pub admin_level: i32,
    /// The source's code of the area: the deepest code given (CH), the ISO3 code for a national row
    /// (IPC), empty for an IPC area (named only).
    pub pcode: String,
    /// The enclosing areas' codes, nearest first, with their levels (CH).
    pub parent_pcodes: Vec<(i32, String)>,
    /// The source's name of the area.
    pub area_name: String,
    pub analysis: String,
    pub projection: &'static str,
    pub reference_period_start: NaiveDate,
    pub reference_period_end: NaiveDate,
    pub superseded: bool,
    pub population: Option<i64>,
    pub phases: [Option<i64>; 5],
    pub phase3_plus: Option<i64>,
    pub phase_class: Option<i32>,
}

impl FoodSecurityFigure {
    /// The natural key within a country (as stored).
    fn key(&self) -> Key {
        (
            self.analysis.clone(),
            self.projection,
            self.reference_period_start,
            self.pcode.clone(),
            self.area_name.clone(),
        )
    }

    fn figures(&self) -> Figures {
        vec![
            ("population", self.population),
            ("phase1", self.phases[0]),
            ("phase2", self.phases[1]),
            ("phase3", self.phases[2]),
            ("phase4", self.phases[3]),
            ("phase5", self.phases[4]),
            ("phase35", self.phase3_plus),
            ("phase_class", self.phase_class.map(i64::from)),
        ]
    }
}

/// What a file held for a country.
#[derive(Debug, Default)]
pub struct Parsed {
    pub rows: Vec<FoodSecurityFigure>,
    pub rejections: Vec<Rejection>,
}

/// A figure set's key within a country: analysis, projection, period start, code, area name.
type Key = (String, &'static str, NaiveDate, String, String);

/// A figure set's figures by name (as `differences` compares them).
type Figures = Vec<(&'static str, Option<i64>)>;

/// Keeps the first figure set of each key; a repeat is rejected (a conflicting one with both values).
#[derive(Default)]
struct Dedup {
    seen: HashMap<Key, (i64, Figures)>,
}

impl Dedup {
    fn push(&mut self, parsed: &mut Parsed, row: FoodSecurityFigure, raw: String) {
        if let Some((first, there)) = self.seen.get(&row.key()) {
            let compared: Vec<(&str, Option<i64>, Option<i64>)> =
                there.iter().zip(row.figures()).map(|((name, there), (_, here))| (*name, *there, here)).collect();
            let reason = match differences(&compared) {
                None => format!("duplicate of line {first} (same area, analysis and period)"),
                Some(diff) => format!("conflicting duplicate of line {first} (same area, analysis and period): {diff}"),
            };
            parsed.rejections.push(Rejection { row_number: row.row_number, reason, raw });
        } else {
            self.seen.insert(row.key(), (row.row_number, row.figures()));
            parsed.rows.push(row);
        }
    }
}

/// A month's number from its English or French name or abbreviation (`Sep`, `June`, `Juin`, `Août`).
fn month_number(name: &str) -> Option<u32> {
    let n = name.trim().to_lowercase();
    let months: [(&[&str], u32); 12] = [
        (&["jan", "janv", "janvier", "january"], 1),
        (&["feb", "fev", "fév", "fevr", "févr", "février", "fevrier", "february"], 2),
        (&["mar", "mars", "march"], 3),
        (&["apr", "avr", "avril", "april"], 4),
        (&["may", "mai"], 5),
        (&["jun", "juin", "june"], 6),
        (&["jul", "juil", "juillet", "july"], 7),
        (&["aug", "aou", "aoû", "août", "aout", "august"], 8),
        (&["sep", "sept", "septembre", "september"], 9),
        (&["oct", "octobre", "october"], 10),
        (&["nov", "novembre", "november"], 11),
        (&["dec", "déc", "décembre", "decembre", "december"], 12),
    ];
    months.iter().find(|(names, _)| names.contains(&n.as_str())).map(|(_, m)| *m)
}

/// The last day of a month.
fn month_end(year: i32, month: u32) -> Option<NaiveDate> {
    let (y, m) = if month == 12 { (year + 1, 1) } else { (year, month + 1) };
    NaiveDate::from_ymd_opt(y, m, 1)?.pred_opt()
}

/// The period a CH label and year stand for: `Sep-Dec` 2021 → 2021-09-01..2021-12-31; a range that
/// wraps (`Oct-Feb`) ends the next year.
pub fn month_range(label: &str, year: i32) -> Option<(NaiveDate, NaiveDate)> {
    let (from, to) = label.split_once('-').unwrap_or((label, label));
    let (start, end) = (month_number(from)?, month_number(to)?);
    let end_year = if end < start { year + 1 } else { year };
    Some((NaiveDate::from_ymd_opt(year, start, 1)?, month_end(end_year, end)?))
}

/// A year cell (`2021` or `2021.0`), 1990 to 2100.
fn year(cell: &str, label: &str) -> Result<i32, String> {
    match cells::whole_number(cell) {
        Ok(Some(y)) if (1990..=2100).contains(&y) => Ok(y as i32),
        _ => Err(format!("{label} {cell:?} is not a year")),
    }
}

/// Where each field of the CH workbook is (by header; the sheet has no HXL row).
mod ch_columns {
    use super::Col;

    pub const ISO3: Col = Col::header(&["adm0_pcod3"]);
    pub const ADM0_NAME: Col = Col::header(&["adm0_name"]);
    pub const ADM1_NAME: Col = Col::header(&["adm1_name"]);
    pub const ADM1: Col = Col::header(&["adm1_pcod2"]);
    pub const ADM2_NAME: Col = Col::header(&["adm2_name"]);
    pub const ADM2: Col = Col::header(&["adm2_pcod2"]);
    pub const ADM3_NAME: Col = Col::header(&["adm3_name"]);
    pub const ADM3: Col = Col::header(&["adm3_pcod2"]);
    pub const EXERCISE_LABEL: Col = Col::header(&["exercise_label"]);
    pub const EXERCISE_YEAR: Col = Col::header(&["exercise_year"]);
    pub const CHTYPE: Col = Col::header(&["chtype"]);
    pub const REFERENCE_LABEL: Col = Col::header(&["reference_label"]);
    pub const REFERENCE_YEAR: Col = Col::header(&["reference_year"]);
    pub const POPULATION: Col = Col::header(&["population"]);
    pub const PHASE_CLASS: Col = Col::header(&["phase_class"]);
    pub const PHASE1: Col = Col::header(&["phase1"]);
    pub const PHASE2: Col = Col::header(&["phase2"]);
    pub const PHASE3: Col = Col::header(&["phase3"]);
    pub const PHASE4: Col = Col::header(&["phase4"]);
    pub const PHASE5: Col = Col::header(&["phase5"]);
    pub const PHASE35: Col = Col::header(&["phase35"]);
    pub const USE_THIS_PERIOD: Col = Col::header(&["usethisperiod"]);
}

/// The projection a CH `chtype` names.
fn ch_projection(cell: &str) -> Option<&'static str> {
    match cell.trim().to_lowercase().as_str() {
        "current" | "courant" => Some(CURRENT),
        "projected" | "projeté" | "projete" => Some(PROJECTED),
        _ => None,
    }
}

/// `iso3`'s rows of the Cadre Harmonisé workbook (sheet `Feuil1`): each row is an area (its deepest
/// code among admin 1 to 3; Mali's as the file gives them, `ML0501`), an exercise (the analysis,
/// `Sep-Dec 2021`), `current` or `projected`, and its reference period (`Jun-Aug` of
/// `reference_year`).
pub fn parse_cadre_harmonise(table: &Table, iso3: &str, what: &str) -> Result<Parsed, IngestError> {
    use ch_columns as c;
    let req = |col: &Col, name: &str| table.require_col(col, name, what);
    let iso3_col = req(&c::ISO3, "adm0_pcod3")?;
    let adm0_name = c::ADM0_NAME.find(table);
    let levels = [
        (1, req(&c::ADM1, "adm1_pcod2")?, c::ADM1_NAME.find(table)),
        (2, req(&c::ADM2, "adm2_pcod2")?, c::ADM2_NAME.find(table)),
        (3, req(&c::ADM3, "adm3_pcod2")?, c::ADM3_NAME.find(table)),
    ];
    let exercise_label = req(&c::EXERCISE_LABEL, "exercise_label")?;
    let exercise_year = req(&c::EXERCISE_YEAR, "exercise_year")?;
    let chtype = req(&c::CHTYPE, "chtype")?;
    let reference_label = req(&c::REFERENCE_LABEL, "reference_label")?;
    let reference_year = req(&c::REFERENCE_YEAR, "reference_year")?;
    let population = req(&c::POPULATION, "population")?;
    let phase_class = c::PHASE_CLASS.find(table);
    let phases = [
        req(&c::PHASE1, "phase1")?,
        req(&c::PHASE2, "phase2")?,
        req(&c::PHASE3, "phase3")?,
        req(&c::PHASE4, "phase4")?,
        req(&c::PHASE5, "phase5")?,
    ];
    let phase35 = req(&c::PHASE35, "phase35")?;
    let use_this_period = c::USE_THIS_PERIOD.find(table);
    let mut parsed = Parsed::default();
    let mut dedup = Dedup::default();
    for (line, record) in &table.records {
        let cell = |i: usize| record.get(i).unwrap_or("").trim();
        if !cell(iso3_col).eq_ignore_ascii_case(iso3) {
            continue;
        }
        let row = (|| -> Result<FoodSecurityFigure, String> {
            let given: Vec<(i32, String, String)> = levels
                .iter()
                .filter(|(_, code, _)| !is_missing(cell(*code)))
                .map(|(level, code, name)| {
                    (*level, cell(*code).to_uppercase(), name.map(cell).unwrap_or("").to_string())
                })
                .collect();
            let (admin_level, pcode, area_name) = match given.last() {
                Some(deepest) => deepest.clone(),
                None => (0, iso3.to_uppercase(), adm0_name.map(cell).unwrap_or("").to_string()),
            };
            let parent_pcodes: Vec<(i32, String)> =
                given.iter().rev().skip(1).map(|(level, code, _)| (*level, code.clone())).collect();
            let projection = ch_projection(cell(chtype))
                .ok_or_else(|| format!("chtype {:?} is not current or projected", cell(chtype)))?;
            let exercise = cell(exercise_label);
            let exercise_year = year(cell(exercise_year), "exercise_year")?;
            if month_range(exercise, exercise_year).is_none() {
                return Err(format!("exercise_label {exercise:?} is not a range of months"));
            }
            let reference = cell(reference_label);
            let (start, end) = month_range(reference, year(cell(reference_year), "reference_year")?)
                .ok_or_else(|| format!("reference_label {reference:?} is not a range of months"))?;
            let population = cells::people(cell(population), "population")?;
            let mut figures = [None; 5];
            for (n, column) in phases.iter().enumerate() {
                figures[n] = cells::people(cell(*column), &format!("phase{}", n + 1))?;
            }
            let phase3_plus = cells::people(cell(phase35), "phase35")?;
            if population.is_none() && figures.iter().all(Option::is_none) && phase3_plus.is_none() {
                return Err("no population and no phase figure".into());
            }
            let phase_class = match phase_class.map(cell).filter(|c| !is_missing(c)) {
                None => None,
                Some(text) => match cells::whole_number(text) {
                    Ok(Some(p)) if (1..=5).contains(&p) => Some(p as i32),
                    _ => return Err(format!("phase_class {text:?} is not a phase from 1 to 5")),
                },
            };
            let superseded = use_this_period.map(cell).is_some_and(|u| u.eq_ignore_ascii_case("N"));
            Ok(FoodSecurityFigure {
                row_number: *line,
                admin_level,
                pcode,
                parent_pcodes,
                area_name,
                analysis: format!("{exercise} {exercise_year}"),
                projection,
                reference_period_start: start,
                reference_period_end: end,
                superseded,
                population,
                phases: figures,
                phase3_plus,
                phase_class,
            })
        })();
        match row {
            Ok(row) => dedup.push(&mut parsed, row, record_text(record)),
            Err(reason) => parsed.rejections.push(Rejection { row_number: *line, reason, raw: record_text(record) }),
        }
    }
    Ok(parsed)
}

/// Where each field of IPC's long CSVs is (by header; no HXL row).
mod ipc_columns {
    use super::Col;

    pub const ANALYSIS: Col = Col::header(&["Date of analysis"]);
    pub const COUNTRY: Col = Col::header(&["Country"]);
    pub const LEVEL1: Col = Col::header(&["Level 1"]);
    pub const AREA: Col = Col::header(&["Area"]);
    pub const VALIDITY: Col = Col::header(&["Validity period"]);
    pub const FROM: Col = Col::header(&["From"]);
    pub const TO: Col = Col::header(&["To"]);
    pub const PHASE: Col = Col::header(&["Phase"]);
    pub const NUMBER: Col = Col::header(&["Number"]);
}

/// The projection an IPC validity period names.
fn ipc_projection(cell: &str) -> Option<&'static str> {
    match cell.trim().to_lowercase().as_str() {
        "current" => Some(CURRENT),
        "first projection" | "projected" => Some(PROJECTED),
        "second projection" => Some(SECOND_PROJECTED),
        _ => None,
    }
}

/// What one IPC line gives: a phase (`None` for `all`, the population; `Some(0)` for `3+`) and its number.
fn ipc_phase(cell: &str) -> Option<Option<usize>> {
    match cell.trim().to_lowercase().as_str() {
        "all" => Some(None),
        "3+" => Some(Some(0)),
        p => p.parse::<usize>().ok().filter(|n| (1..=5).contains(n)).map(Some),
    }
}

/// `iso3`'s figure sets of an IPC long CSV (`ipc_<iso3>_national_long.csv`, `..._area_long_latest.csv`,
/// or the global files of the same layout): one line per phase (`all`, `3+`, `1` to `5`) gathered into
/// one figure set per area, analysis and validity period. A national file (no `Area` column) gives
/// the country's rows (level 0, code the ISO3 code); an area file names its areas only (code empty):
/// level 1, or 2 where a `Level 1` area encloses them.
pub fn parse_ipc(table: &Table, iso3: &str, what: &str) -> Result<Parsed, IngestError> {
    use ipc_columns as c;
    let req = |col: &Col, name: &str| table.require_col(col, name, what);
    let analysis = req(&c::ANALYSIS, "Date of analysis")?;
    let country = req(&c::COUNTRY, "Country")?;
    let validity = req(&c::VALIDITY, "Validity period")?;
    let from = req(&c::FROM, "From")?;
    let to = req(&c::TO, "To")?;
    let phase = req(&c::PHASE, "Phase")?;
    let number = req(&c::NUMBER, "Number")?;
    let area = c::AREA.find(table);
    let level1 = c::LEVEL1.find(table);
    // Figure sets in the order of their first line, with which of their seven phases were given.
    let mut groups: Vec<(FoodSecurityFigure, Vec<bool>)> = Vec::new();
    let mut index: HashMap<Key, usize> = HashMap::new();
    let mut parsed = Parsed::default();
    for (line, record) in &table.records {
        let cell = |i: usize| record.get(i).unwrap_or("").trim();
        if !cell(country).eq_ignore_ascii_case(iso3) {
            continue;
        }
        let reject = |reason: String| Rejection { row_number: *line, reason, raw: record_text(record) };
        let read = (|| -> Result<(FoodSecurityFigure, Option<usize>, Option<i64>), String> {
            let projection = ipc_projection(cell(validity)).ok_or_else(|| {
                format!("Validity period {:?} is not current, first or second projection", cell(validity))
            })?;
            let start = cells::date(cell(from), "From")?.ok_or("no From date")?;
            let end = cells::date(cell(to), "To")?.ok_or("no To date")?;
            if end < start {
                return Err(format!("To {end} is before From {start}"));
            }
            let label = cell(analysis);
            if is_missing(label) {
                return Err("no Date of analysis".into());
            }
            let which =
                ipc_phase(cell(phase)).ok_or_else(|| format!("Phase {:?} is not all, 3+ or 1-5", cell(phase)))?;
            let value = cells::people(cell(number), "Number")?;
            let parent = level1.map(cell).filter(|c| !is_missing(c)).unwrap_or("");
            let (admin_level, pcode, area_name) = match area.map(cell).filter(|c| !is_missing(c)) {
                Some(name) => (if parent.is_empty() { 1 } else { 2 }, String::new(), name.to_string()),
                None if area.is_some() && !parent.is_empty() => (1, String::new(), parent.to_string()),
                None if area.is_some() => return Err("no Area".into()),
                None => (0, iso3.to_uppercase(), String::new()),
            };
            let figure = FoodSecurityFigure {
                row_number: *line,
                admin_level,
                pcode,
                parent_pcodes: Vec::new(),
                area_name,
                analysis: label.to_string(),
                projection,
                reference_period_start: start,
                reference_period_end: end,
                superseded: false,
                population: None,
                phases: [None; 5],
                phase3_plus: None,
                phase_class: None,
            };
            Ok((figure, which, value))
        })();
        let (figure, which, value) = match read {
            Ok(read) => read,
            Err(reason) => {
                parsed.rejections.push(reject(reason));
                continue;
            }
        };
        let at = *index.entry(figure.key()).or_insert_with(|| {
            groups.push((figure, vec![false; 7]));
            groups.len() - 1
        });
        let (group, seen) = &mut groups[at];
        // Slot 0: all; 1: 3+; 2..6: phases 1 to 5.
        let slot = match which {
            None => 0,
            Some(0) => 1,
            Some(p) => p + 1,
        };
        let target = match slot {
            0 => &mut group.population,
            1 => &mut group.phase3_plus,
            p => &mut group.phases[p - 2],
        };
        if seen[slot] {
            let reason = if *target == value {
                format!("duplicate of an earlier line of line {}'s area, analysis, period and phase", group.row_number)
            } else {
                format!(
                    "conflicting duplicate of an earlier line of line {}'s area, analysis, period and phase: {} here, {} there",
                    group.row_number,
                    value.map_or_else(|| "empty".into(), |v| v.to_string()),
                    target.map_or_else(|| "empty".into(), |v| v.to_string()),
                )
            };
            parsed.rejections.push(reject(reason));
            continue;
        }
        seen[slot] = true;
        *target = value;
    }
    parsed.rows = groups.into_iter().map(|(g, _)| g).collect();
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(name: &str) -> Vec<u8> {
        let path = format!("{}/../sample/food_security/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    /// Mali's rows of the workbook, read here with calamine alone, keyed by column name.
    fn raw_mali() -> Vec<HashMap<String, String>> {
        use calamine::{Reader, Xlsx};
        let mut book: Xlsx<_> =
            calamine::open_workbook_from_rs(std::io::Cursor::new(sample(super::super::CH_SAMPLE_FILE))).expect("xlsx");
        let range = book.worksheet_range("Feuil1").expect("sheet");
        let mut rows = range.rows();
        let header: Vec<String> = rows.next().expect("header").iter().map(|c| c.to_string()).collect();
        rows.map(|r| header.iter().cloned().zip(r.iter().map(|c| c.to_string())).collect::<HashMap<_, _>>())
            .filter(|r| r["adm0_pcod3"] == "MLI")
            .collect()
    }

    fn n(r: &HashMap<String, String>, k: &str) -> i64 {
        r[k].parse::<f64>().map(|f| f as i64).unwrap_or(0)
    }

    #[test]
    fn month_ranges() {
        let d = |y, m, day| NaiveDate::from_ymd_opt(y, m, day).expect("date");
        assert_eq!(month_range("Sep-Dec", 2021), Some((d(2021, 9, 1), d(2021, 12, 31))));
        assert_eq!(month_range("Jun-Aug", 2022), Some((d(2022, 6, 1), d(2022, 8, 31))));
        assert_eq!(month_range("Jan-May", 2024), Some((d(2024, 1, 1), d(2024, 5, 31))));
        assert_eq!(month_range("Oct-Feb", 2023), Some((d(2023, 10, 1), d(2024, 2, 29))));
        assert_eq!(month_range("Soon", 2023), None);
    }

    #[test]
    fn cadre_harmonise_mali_equals_the_workbook() {
        let table = Table::from_xlsx(&sample(super::super::CH_SAMPLE_FILE), Some("Feuil1"), "CH").expect("sheet");
        let parsed = parse_cadre_harmonise(&table, "MLI", "CH").expect("parse");
        let raw = raw_mali();
        assert_eq!(parsed.rows.len() + parsed.rejections.len(), raw.len());
        assert_eq!(raw.len(), 1774, "PROVENANCE.md: Mali has 1,774 rows");
        // Koro (ML0505) is given twice in the Jan-May 2021 exercise, current and projected.
        assert_eq!(parsed.rejections.len(), 2, "{:?}", parsed.rejections);
        assert!(parsed.rejections.iter().all(|r| r.reason.contains("duplicate of line")), "{:?}", parsed.rejections);
        let sep_dec_2021 = |r: &&FoodSecurityFigure| r.analysis == "Sep-Dec 2021" && r.projection == CURRENT;
        let ours: Vec<&FoodSecurityFigure> = parsed.rows.iter().filter(sep_dec_2021).collect();
        let theirs: Vec<&HashMap<String, String>> = raw
            .iter()
            .filter(|r| r["exercise_label"] == "Sep-Dec" && n(r, "exercise_year") == 2021 && r["chtype"] == "current")
            .collect();
        assert_eq!(ours.len(), theirs.len());
        assert_eq!(ours.len(), 56);
        let total: i64 = ours.iter().filter_map(|r| r.phase3_plus).sum();
        assert_eq!(total, theirs.iter().map(|r| n(r, "phase35")).sum::<i64>());
        assert_eq!(total, 1_161_526);
        let mopti: i64 = ours.iter().filter(|r| r.pcode.starts_with("ML05")).filter_map(|r| r.phase3_plus).sum();
        assert_eq!(mopti, 556_531);
        let bandiagara = ours.iter().find(|r| r.pcode == "ML0501").expect("Bandiagara");
        assert_eq!(
            (bandiagara.population, bandiagara.phase3_plus, bandiagara.phase_class, bandiagara.admin_level),
            (Some(468_120), Some(117_030), Some(3), 2)
        );
        assert_eq!(bandiagara.parent_pcodes, vec![(1, "ML05".to_string())]);
        assert_eq!(bandiagara.phases, [Some(163_842), Some(187_248), Some(117_030), Some(0), Some(0)]);
        let d = |y, m, day| NaiveDate::from_ymd_opt(y, m, day).expect("date");
        assert_eq!(
            (bandiagara.reference_period_start, bandiagara.reference_period_end),
            (d(2021, 9, 1), d(2021, 12, 31))
        );
        // Bamako's communes are at admin 3.
        assert!(ours.iter().any(|r| r.admin_level == 3 && r.pcode.starts_with("ML0901")));
        // Two exercises project June-August 2022: the older one is superseded.
        let june_2022: Vec<&FoodSecurityFigure> = parsed
            .rows
            .iter()
            .filter(|r| r.projection == PROJECTED && r.reference_period_start == d(2022, 6, 1))
            .collect();
        let current: Vec<&&FoodSecurityFigure> = june_2022.iter().filter(|r| !r.superseded).collect();
        assert!(current.iter().all(|r| r.analysis == "Jan-May 2022"));
        assert_eq!(current.iter().filter_map(|r| r.phase3_plus).sum::<i64>(), 1_841_064);
        assert!(june_2022.iter().filter(|r| r.superseded).all(|r| r.analysis == "Sep-Dec 2021"));
    }

    #[test]
    fn cadre_harmonise_rejects_bad_values() {
        let csv = "adm0_name,adm0_pcod3,adm1_name,adm1_pcod2,adm2_name,adm2_pcod2,adm3_name,adm3_pcod2,exercise_label,\
                   exercise_year,chtype,reference_label,reference_year,population,phase_class,phase1,phase2,phase3,phase4,\
                   phase5,phase35,usethisperiod\n\
                   Mali,MLI,Mopti,ML05,Bandiagara,ML0501,,,Sep-Dec,2021,current,Sep-Dec,2021,100,3,10,20,30,40,0,70,Y\n\
                   Mali,MLI,Mopti,ML05,Bankass,ML0502,,,Sep-Dec,2021,current,Sep-Dec,2021,many,3,10,20,30,40,0,70,Y\n\
                   Mali,MLI,Mopti,ML05,Djenne,ML0503,,,Sep-Dec,2021,guessed,Sep-Dec,2021,100,3,10,20,30,40,0,70,Y\n\
                   Mali,MLI,Mopti,ML05,Douentza,ML0504,,,Sep-Dec,2021,current,Sep-Dec,2021,100,7,10,20,30,40,0,70,Y\n\
                   Mali,MLI,Mopti,ML05,Koro,ML0505,,,Sep-Dec,2021,current,Someday,2021,100,3,10,20,30,40,0,70,Y\n\
                   Mali,MLI,Mopti,ML05,Bandiagara,ML0501,,,Sep-Dec,2021,current,Sep-Dec,2021,100,3,10,20,30,40,0,71,Y\n\
                   Niger,NER,Agadez,NE01,Arlit,NE0101,,,Sep-Dec,2021,current,Sep-Dec,2021,100,3,10,20,30,40,0,70,Y\n";
        let table = Table::parse(csv.as_bytes(), "test").expect("table");
        let parsed = parse_cadre_harmonise(&table, "MLI", "test").expect("parse");
        assert_eq!(parsed.rows.len(), 1);
        let reasons: Vec<&str> = parsed.rejections.iter().map(|r| r.reason.as_str()).collect();
        assert_eq!(reasons.len(), 5, "{reasons:?}");
        assert!(reasons[0].contains("population \"many\""), "{reasons:?}");
        assert!(reasons[1].contains("chtype \"guessed\""), "{reasons:?}");
        assert!(reasons[2].contains("phase_class \"7\""), "{reasons:?}");
        assert!(reasons[3].contains("reference_label \"Someday\""), "{reasons:?}");
        assert!(reasons[4].starts_with("conflicting duplicate of line"), "{reasons:?}");
        assert!(reasons[4].contains("phase35 71 here, 70 there"), "{reasons:?}");
    }

    /// Sums an IPC long file's `Number` for the lines matching (analysis, validity, area, phase), read
    /// here with the csv crate alone.
    fn raw_ipc(name: &str, analysis: &str, validity: &str, area: Option<&str>, phase: &str) -> i64 {
        let bytes = sample(name);
        let mut reader = csv::Reader::from_reader(bytes.as_slice());
        let headers = reader.headers().expect("headers").clone();
        let col = |h: &str| headers.iter().position(|x| x == h);
        reader
            .records()
            .map(|r| r.expect("record"))
            .filter(|r| {
                r.get(col("Date of analysis").expect("c")) == Some(analysis)
                    && r.get(col("Validity period").expect("c")) == Some(validity)
                    && r.get(col("Phase").expect("c")) == Some(phase)
                    && area.is_none_or(|a| col("Area").and_then(|c| r.get(c)) == Some(a))
            })
            .map(|r| r.get(col("Number").expect("c")).and_then(|n| n.parse::<i64>().ok()).unwrap_or(0))
            .sum()
    }

    #[test]
    fn ipc_afghanistan_equals_the_files() {
        let national = Table::parse(&sample(super::super::IPC_NATIONAL_SAMPLE_FILE), "national").expect("table");
        let parsed = parse_ipc(&national, "AFG", "national").expect("parse");
        assert!(parsed.rejections.is_empty(), "{:?}", parsed.rejections);
        assert_eq!(parsed.rows.len() * 7, national.records.len());
        let april = parsed.rows.iter().find(|r| r.analysis == "Apr 2023" && r.projection == CURRENT).expect("Apr 2023");
        assert_eq!(
            april.phase3_plus,
            Some(raw_ipc(super::super::IPC_NATIONAL_SAMPLE_FILE, "Apr 2023", "current", None, "3+"))
        );
        assert_eq!(april.phase3_plus, Some(17_213_584));
        assert_eq!((april.population, april.phases[3]), (Some(43_100_598), Some(3_359_317)));
        assert_eq!((april.admin_level, april.pcode.as_str()), (0, "AFG"));

        let areas = Table::parse(&sample(super::super::IPC_AREA_SAMPLE_FILE), "areas").expect("table");
        let parsed = parse_ipc(&areas, "AFG", "areas").expect("parse");
        assert!(parsed.rejections.is_empty(), "{:?}", parsed.rejections);
        assert_eq!(parsed.rows.len(), 90);
        let kabul =
            parsed.rows.iter().find(|r| r.area_name == "Kabul Urban" && r.projection == CURRENT).expect("Kabul Urban");
        let raw = raw_ipc(super::super::IPC_AREA_SAMPLE_FILE, "Apr 2023", "current", Some("Kabul Urban"), "3+");
        assert_eq!(kabul.phase3_plus, Some(raw));
        assert_eq!((kabul.phase3_plus, kabul.population), (Some(1_689_705), Some(4_224_262)));
        assert_eq!((kabul.admin_level, kabul.pcode.as_str()), (1, ""));
        // No line is another country's.
        assert!(parse_ipc(&areas, "SOM", "areas").expect("parse").rows.is_empty());
    }

    #[test]
    fn ipc_rejects_bad_lines() {
        let csv = "Date of analysis,Country,Total country population,Level 1,Area,Validity period,From,To,Phase,Number,Percentage\n\
                   Apr 2023,AFG,1,,Paktya,current,2023-04-01,2023-04-30,all,100,1.0\n\
                   Apr 2023,AFG,1,,Paktya,current,2023-04-01,2023-04-30,3+,lots,0.3\n\
                   Apr 2023,AFG,1,,Paktya,current,2023-04-01,2023-04-30,6,1,0.3\n\
                   Apr 2023,AFG,1,,Paktya,someday,2023-04-01,2023-04-30,1,1,0.3\n\
                   Apr 2023,AFG,1,,Paktya,current,2023-04-01,2023-04-30,all,101,1.0\n\
                   Apr 2023,AFG,1,,Paktya,current,2023-04-31,2023-04-30,all,101,1.0\n";
        let table = Table::parse(csv.as_bytes(), "test").expect("table");
        let parsed = parse_ipc(&table, "AFG", "test").expect("parse");
        assert_eq!(parsed.rows.len(), 1);
        assert_eq!(parsed.rows[0].population, Some(100));
        let reasons: Vec<&str> = parsed.rejections.iter().map(|r| r.reason.as_str()).collect();
        assert_eq!(reasons.len(), 5, "{reasons:?}");
        assert!(reasons[0].contains("Number \"lots\""), "{reasons:?}");
        assert!(reasons[1].contains("Phase \"6\""), "{reasons:?}");
        assert!(reasons[2].contains("Validity period \"someday\""), "{reasons:?}");
        assert!(
            reasons[3].starts_with("conflicting duplicate") && reasons[3].contains("101 here, 100 there"),
            "{reasons:?}"
        );
        assert!(reasons[4].contains("From"), "{reasons:?}");
    }
}
