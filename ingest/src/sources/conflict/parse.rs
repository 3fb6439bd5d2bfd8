//! Reading ACLED's aggregated workbooks. Each has the sheets `TOU` (the terms of use), `Non_HRP`
//! (`Country, Month, Year, Events[, Fatalities]`: national figures of countries without a response
//! plan, named but not coded) and `HRP_1`, `HRP_2`... (`Country, Admin1, Admin2, ISO3, Admin2 Pcode,
//! Admin1 Pcode, Month, Year, Events[, Fatalities]`: one row per admin 2 area and month). No HXL row.
//! `Month` is an English month name, `Year` is written as text ("2025"); the demonstrations workbook
//! has no `Fatalities` column.
//!
//! Only the sheets with an `ISO3` column are read (the HRP sheets; the `Non_HRP` sheet has no codes),
//! streamed cell by cell: a row is kept only when its `ISO3` is one of the wanted countries, so the
//! whole-world workbook is never held as text.

use std::collections::BTreeSet;
use std::io::Cursor;

use calamine::{DataRef, Reader, Xlsx};
use chrono::NaiveDate;
use store::models::Rejection;

use crate::IngestError;
use crate::kit::cells;
use crate::kit::table::{Table, record_text};

/// One admin 2 area's figure for a month, as the workbook gives it.
#[derive(Debug, Clone, PartialEq)]
pub struct ConflictFigure {
    /// The worksheet and its row number (1-based).
    pub sheet: String,
    pub row_number: i64,
    pub iso3: String,
    pub admin1_pcode: String,
    pub admin1_name: String,
    pub admin2_pcode: String,
    pub admin2_name: String,
    /// The first day of the month.
    pub month: NaiveDate,
    pub event_type: &'static str,
    pub events: i64,
    /// None for demonstrations.
    pub fatalities: Option<i64>,
}

/// A rejected row, with the country it belongs to.
#[derive(Debug, Clone, PartialEq)]
pub struct CountryRejection {
    pub iso3: String,
    pub rejection: Rejection,
}

/// What one worksheet held for the wanted countries.
#[derive(Debug, Default)]
pub struct Parsed {
    pub figures: Vec<ConflictFigure>,
    pub rejections: Vec<CountryRejection>,
}

/// The worksheets of a workbook that have an `ISO3` column, each with only the rows whose `ISO3` is
/// one of `wanted` (upper case), streamed: the other rows are dropped as they are read. Row numbers
/// are the worksheet's. Fails when the workbook is unreadable or no sheet has an `ISO3` column.
pub fn read_workbook(bytes: &[u8], wanted: &BTreeSet<String>, what: &str) -> Result<Vec<(String, Table)>, IngestError> {
    let mut workbook: Xlsx<_> =
        Xlsx::new(Cursor::new(bytes)).map_err(|e| parse_error(what, format!("not a readable XLSX workbook: {e}")))?;
    let mut out = Vec::new();
    for name in workbook.sheet_names() {
        let mut reader = workbook
            .worksheet_cells_reader(&name)
            .map_err(|e| parse_error(what, format!("worksheet {name:?}: {e}")))?;
        let mut sheet = SheetRows::default();
        let mut row: Vec<String> = Vec::new();
        let mut current: Option<u32> = None;
        while let Some(cell) = reader.next_cell().map_err(|e| parse_error(what, format!("worksheet {name:?}: {e}")))? {
            let (r, c) = cell.get_position();
            if current != Some(r) {
                if let Some(done) = current
                    && !sheet.take(done, std::mem::take(&mut row), wanted)
                {
                    break;
                }
                current = Some(r);
            }
            let c = c as usize;
            if row.len() <= c {
                row.resize(c + 1, String::new());
            }
            row[c] = text(cell.get_value());
        }
        if let Some(done) = current {
            sheet.take(done, row, wanted);
        }
        if let (Some(headers), Some(_)) = (sheet.headers, sheet.iso3_col) {
            out.push((name.clone(), Table { headers, hxl: None, records: sheet.records }));
        }
    }
    if out.is_empty() {
        return Err(parse_error(
            what,
            "no worksheet has an ISO3 column (not one of ACLED's aggregated workbooks)".into(),
        ));
    }
    Ok(out)
}

/// A worksheet as it is streamed: its header, the column of `ISO3`, the kept rows.
#[derive(Default)]
struct SheetRows {
    headers: Option<Vec<String>>,
    iso3_col: Option<usize>,
    records: Vec<(i64, csv::StringRecord)>,
}

impl SheetRows {
    /// Takes the worksheet's row `r` (0-based); false when the sheet is not one to read (no `ISO3`
    /// column in its header).
    fn take(&mut self, r: u32, row: Vec<String>, wanted: &BTreeSet<String>) -> bool {
        if row.iter().all(|c| c.trim().is_empty()) {
            return true;
        }
        match (&self.headers, self.iso3_col) {
            (None, _) => {
                let headers: Vec<String> = row.iter().map(|h| h.trim().to_string()).collect();
                self.iso3_col = headers.iter().position(|h| h.eq_ignore_ascii_case("ISO3"));
                self.headers = Some(headers);
                self.iso3_col.is_some()
            }
            (Some(_), Some(col)) => {
                let iso3 = row.get(col).map(|c| c.trim().to_uppercase()).unwrap_or_default();
                if wanted.contains(&iso3) {
                    self.records.push((i64::from(r) + 1, csv::StringRecord::from(row)));
                }
                true
            }
            (Some(_), None) => false,
        }
    }
}

/// A cell as text: whole numbers without a decimal point.
fn text(cell: &DataRef<'_>) -> String {
    match cell {
        DataRef::Empty => String::new(),
        DataRef::String(s) => s.trim().to_string(),
        DataRef::SharedString(s) => s.trim().to_string(),
        DataRef::Int(i) => i.to_string(),
        DataRef::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", *f as i64),
        DataRef::Float(f) => f.to_string(),
        DataRef::Bool(b) => if *b { "TRUE" } else { "FALSE" }.to_string(),
        DataRef::DateTime(d) => d.as_f64().to_string(),
        DataRef::DateTimeIso(s) | DataRef::DurationIso(s) => s.clone(),
        DataRef::Error(e) => e.to_string(),
    }
}

fn parse_error(what: &str, reason: String) -> IngestError {
    IngestError::Parse { what: what.to_string(), reason }
}

const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

/// `January` (any case, or its first three letters) or `1` → 1.
fn month_number(cell: &str) -> Result<u32, String> {
    let c = cell.trim().to_lowercase();
    if let Ok(n) = c.parse::<u32>()
        && (1..=12).contains(&n)
    {
        return Ok(n);
    }
    MONTHS
        .iter()
        .position(|m| *m == c || (c.len() == 3 && m.starts_with(&c)))
        .map(|i| i as u32 + 1)
        .ok_or_else(|| format!("month {cell:?} is not a month"))
}

fn year(cell: &str) -> Result<i32, String> {
    match cell.trim().parse::<i32>() {
        Ok(y) if (1900..=2100).contains(&y) => Ok(y),
        _ => Err(format!("year {cell:?} is not a year")),
    }
}

/// The figures of one worksheet `sheet` (read by [`read_workbook`]) of the workbook of `event_type`.
/// A missing column fails the file; a bad row is rejected with its reason, for its country.
pub fn parse(table: &Table, sheet: &str, event_type: &'static str, what: &str) -> Result<Parsed, IngestError> {
    let what = format!("{what}, worksheet {sheet:?}");
    let iso3_col = table.require(&["ISO3"], "#country+code", &what)?;
    let admin2_col = table.require(&["Admin2 Pcode"], "#adm2+code", &what)?;
    let admin1_col = table.require(&["Admin1 Pcode"], "#adm1+code", &what)?;
    let month_col = table.require(&["Month"], "#date+month", &what)?;
    let year_col = table.require(&["Year"], "#date+year", &what)?;
    let events_col = table.require(&["Events"], "#affected+events", &what)?;
    let admin1_name = table.column(&["Admin1"], "#adm1+name");
    let admin2_name = table.column(&["Admin2"], "#adm2+name");
    let fatalities_col = if event_type == store::conflict_events::event_type::DEMONSTRATION {
        None
    } else {
        Some(table.require(&["Fatalities"], "#affected+killed", &what)?)
    };
    let mut parsed = Parsed::default();
    for (line, record) in &table.records {
        let cell = |i: usize| record.get(i).map(str::trim).unwrap_or("");
        let iso3 = cell(iso3_col).to_uppercase();
        let result = (|| -> Result<ConflictFigure, String> {
            let admin2_pcode = cell(admin2_col).to_string();
            if cells::is_missing(&admin2_pcode) {
                return Err("Admin2 Pcode is empty".into());
            }
            let month = NaiveDate::from_ymd_opt(year(cell(year_col))?, month_number(cell(month_col))?, 1)
                .ok_or("no such month")?;
            let events = cells::people(cell(events_col), "events")?.ok_or("events is empty")?;
            let fatalities = match fatalities_col {
                Some(col) => Some(cells::people(cell(col), "fatalities")?.ok_or("fatalities is empty")?),
                None => None,
            };
            Ok(ConflictFigure {
                sheet: sheet.to_string(),
                row_number: *line,
                iso3: iso3.clone(),
                admin1_pcode: cell(admin1_col).to_string(),
                admin1_name: admin1_name.map(cell).unwrap_or("").to_string(),
                admin2_pcode,
                admin2_name: admin2_name.map(cell).unwrap_or("").to_string(),
                month,
                event_type,
                events,
                fatalities,
            })
        })();
        match result {
            Ok(figure) => parsed.figures.push(figure),
            Err(reason) => parsed.rejections.push(CountryRejection {
                iso3,
                rejection: Rejection {
                    row_number: *line,
                    reason: format!("worksheet {sheet:?}: {reason}"),
                    raw: record_text(record),
                },
            }),
        }
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_and_years_as_acled_writes_them() {
        assert_eq!(month_number("January"), Ok(1));
        assert_eq!(month_number(" december "), Ok(12));
        assert_eq!(month_number("Feb"), Ok(2));
        assert_eq!(month_number("7"), Ok(7));
        assert!(month_number("Smarch").is_err());
        assert!(month_number("13").is_err());
        assert_eq!(year("2025"), Ok(2025));
        assert!(year("20x5").is_err());
    }

    /// ACLED's real workbooks, when at hand outside the repository (ACLED's terms keep them out of it).
    fn real_folder() -> Option<std::path::PathBuf> {
        let candidates = [
            std::env::var_os("CRISISGRAPH_ACLED_FIXTURES").map(std::path::PathBuf::from),
            Some(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/acled")),
            Some(std::path::PathBuf::from("/work/shared/fixtures/acled")),
        ];
        candidates.into_iter().flatten().find(|p| p.join("hdx_hapi_conflict_event_MLI_2025.csv").is_file())
    }

    /// The real political violence workbook: only Mali's rows are kept, from `HRP_1`; January 2025
    /// equals HAPI's processed output (read here with the csv crate), area by area.
    #[test]
    fn the_real_political_violence_workbook_equals_hapis_output() {
        let Some(folder) = real_folder() else {
            eprintln!(
                "NOT RUN: ACLED's workbooks were not found (CRISISGRAPH_ACLED_FIXTURES or ../shared/fixtures/acled)"
            );
            return;
        };
        let bytes = std::fs::read(folder.join("acled_political-violence-events-and-fatalities-as-of-2025-01-10.xlsx"))
            .expect("workbook");
        let wanted: BTreeSet<String> = ["MLI".to_string()].into();
        let sheets = read_workbook(&bytes, &wanted, "political violence").expect("read");
        assert_eq!(sheets.iter().map(|(name, _)| name.as_str()).collect::<Vec<_>>(), ["HRP_1", "HRP_2"]);
        let mut figures = Vec::new();
        for (sheet, table) in &sheets {
            let parsed = parse(table, sheet, "political_violence", "political violence").expect("parse");
            assert!(parsed.rejections.is_empty(), "{:?}", parsed.rejections);
            figures.extend(parsed.figures);
        }
        assert!(figures.iter().all(|f| f.iso3 == "MLI" && f.sheet == "HRP_1"));
        let january: Vec<&ConflictFigure> =
            figures.iter().filter(|f| f.month == NaiveDate::from_ymd_opt(2025, 1, 1).expect("date")).collect();
        let hapi = std::fs::read(folder.join("hdx_hapi_conflict_event_MLI_2025.csv")).expect("HAPI");
        let hapi = hapi.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&hapi);
        let mut reader = csv::Reader::from_reader(hapi);
        let headers = reader.headers().expect("header").clone();
        let column = |name: &str| headers.iter().position(|h| h == name).expect("column");
        let (code, kind, events, fatalities) =
            (column("admin2_code"), column("event_type"), column("events"), column("fatalities"));
        let mut compared = 0;
        for record in reader.records().map(|r| r.expect("row")) {
            if &record[kind] != "political_violence" {
                continue;
            }
            let ours = january.iter().find(|f| f.admin2_pcode == record[code]).expect("the area");
            assert_eq!(ours.events.to_string(), record[events], "{}", &record[code]);
            assert_eq!(ours.fatalities.map(|f| f.to_string()).unwrap_or_default(), record[fatalities]);
            compared += 1;
        }
        assert_eq!((compared, january.len()), (53, 53));
        let sum = |prefix: &str| {
            january
                .iter()
                .filter(|f| f.admin2_pcode.starts_with(prefix))
                .fold((0, 0), |(e, d), f| (e + f.events, d + f.fatalities.unwrap_or(0)))
        };
        assert_eq!(sum("ML"), (23, 83));
        assert_eq!(sum("ML05"), (5, 10));
        assert_eq!(sum("ML0501"), (3, 10));
    }
}
