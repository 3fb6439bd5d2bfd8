//! Reading XLSX workbooks (with calamine) into the same [`Table`] the CSV reader gives, so that a
//! source maps its columns the same way whatever the format. Formula cells yield the value Excel
//! cached for them; error cells (`#N/A`, `#REF!`...) yield their error text, which callers treat as
//! a missing value, never as data.

use std::io::Cursor;

use calamine::{Data, Reader, Xlsx};

use super::table::Table;
use crate::IngestError;

/// Texts that stand for "no value" in published files: empty, `NA`, `N/A`, `<Null>`, `Not available`,
/// and spreadsheet error values such as `#N/A`.
pub fn is_missing(cell: &str) -> bool {
    let c = cell.trim();
    c.is_empty()
        || c.starts_with('#') && (c.ends_with('!') || c.ends_with("/A") || c.ends_with('?') || c == "#NULL!")
        || ["na", "n/a", "<null>", "null", "not available", "none", "-"].iter().any(|m| c.eq_ignore_ascii_case(m))
}

/// A cell as text: whole numbers without a decimal point, dates as `YYYY-MM-DD`.
fn cell_text(cell: &Data) -> String {
    match cell {
        Data::Empty => String::new(),
        Data::String(s) => s.trim().to_string(),
        Data::Int(i) => i.to_string(),
        Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", *f as i64),
        Data::Float(f) => f.to_string(),
        Data::Bool(b) => if *b { "TRUE" } else { "FALSE" }.to_string(),
        Data::DateTime(d) => match d.as_datetime() {
            Some(t) if t.time() == chrono::NaiveTime::MIN => t.date().to_string(),
            Some(t) => t.to_string(),
            None => d.as_f64().to_string(),
        },
        Data::DateTimeIso(s) | Data::DurationIso(s) => s.clone(),
        Data::Error(e) => e.to_string(),
    }
}

fn is_hxl_row(cells: &[String]) -> bool {
    let mut any = false;
    for c in cells.iter().map(|c| c.trim()).filter(|c| !c.is_empty()) {
        if !c.starts_with('#') {
            return false;
        }
        any = true;
    }
    any
}

/// Reads one worksheet (`sheet`, or the first one) of an XLSX workbook: row 1 is the header, row 2
/// the HXL row if it is one. Record numbers are the worksheet's own row numbers.
pub fn xlsx_table(bytes: &[u8], sheet: Option<&str>, what: &str) -> Result<Table, IngestError> {
    let parse_error = |reason: String| IngestError::Parse { what: what.to_string(), reason };
    let mut workbook: Xlsx<_> =
        Xlsx::new(Cursor::new(bytes)).map_err(|e| parse_error(format!("not a readable XLSX workbook: {e}")))?;
    let names = workbook.sheet_names();
    let name = match sheet {
        Some(wanted) => names
            .iter()
            .find(|n| n.trim().eq_ignore_ascii_case(wanted.trim()))
            .cloned()
            .ok_or_else(|| parse_error(format!("no worksheet {wanted:?}; the workbook has {names:?}")))?,
        None => names.first().cloned().ok_or_else(|| parse_error("the workbook has no worksheet".into()))?,
    };
    let range = workbook.worksheet_range(&name).map_err(|e| parse_error(format!("worksheet {name:?}: {e}")))?;
    let first_row = range.start().map(|(r, _)| r as i64 + 1).unwrap_or(1);
    let first_col = range.start().map(|(_, c)| c as usize).unwrap_or(0);
    let mut rows = range.rows().enumerate().map(|(i, row)| {
        let mut cells = vec![String::new(); first_col];
        cells.extend(row.iter().map(cell_text));
        (first_row + i as i64, cells)
    });
    let headers: Vec<String> = match rows.next() {
        Some((_, h)) => h,
        None => return Err(parse_error(format!("worksheet {name:?} is empty"))),
    };
    let mut hxl = None;
    let mut records = Vec::new();
    for (index, (line, cells)) in rows.enumerate() {
        if index == 0 && is_hxl_row(&cells) {
            hxl = Some(cells);
            continue;
        }
        if cells.iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        records.push((line, csv::StringRecord::from(cells)));
    }
    Ok(Table { headers, hxl, records })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_markers() {
        for m in ["", " NA ", "n/a", "<Null>", "Not available", "#N/A", "#REF!", "#DIV/0!", "#NAME?"] {
            assert!(is_missing(m), "{m:?}");
        }
        for v in ["0", "Mopti", "#adm1+code", "NAB"] {
            assert!(!is_missing(v), "{v:?}");
        }
    }

    /// The real OCHA Mali 3W workbook (HDX `mali-operational-presence`, 3.8 MB): sheet `ML_5W` has a
    /// header row, an HXL row, 24,088 data rows (rows 3 to 24,090), and 6,848 `=VLOOKUP(...)`
    /// formulas in column J (`admin3Pcod`) whose cached value is `#N/A`. The expected counts were
    /// read from the workbook's raw sheet XML with an independent reader (Python's zipfile and
    /// ElementTree), not from this code.
    #[test]
    fn reads_the_real_mali_3w_workbook_with_formulas_and_na() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/fixtures/hdx/mali-3w-presence-operationnelle-december-2023.xlsx"
        );
        let bytes = std::fs::read(path).expect("fixture");
        let t = xlsx_table(&bytes, Some("ML_5W"), "3W").expect("reads");
        assert_eq!(
            &t.headers[..4],
            ["Organisation Accronyme", "Nom Organisation", "Type Organisation", "Program Organization"]
        );
        let hxl = t.hxl.as_ref().expect("HXL row detected");
        assert_eq!(&hxl[..6], ["#org+acronym", "#org+name", "#org+type", "", "#actor", "#adm1+code"]);
        assert_eq!(t.records.len(), 24_088);
        assert_eq!(t.records[0].0, 3);
        assert_eq!(t.records.last().map(|r| r.0), Some(24_090));
        let adm1 = t.column(&["admin1Pcod"], "#adm1+code").expect("admin1 column");
        let adm3 = t.column(&["admin3Pcod"], "#adm3+code").expect("admin3 column");
        assert_eq!(adm3, 9);
        let na = t.records.iter().filter(|(_, r)| r.get(adm3) == Some("#N/A")).count();
        assert_eq!(na, 6_848);
        assert!(t.records.iter().filter(|(_, r)| r.get(adm3).is_some_and(is_missing)).count() >= na);
        let mopti = t.records.iter().filter(|(_, r)| r.get(adm1) == Some("ML05")).count();
        assert_eq!(mopti, 7_476);
        let last = &t.records.last().expect("rows").1;
        assert_eq!((last.get(0), last.get(7), last.get(9)), (Some("WVI"), Some("ML0502"), Some("ML050512")));
        // The `Admin` sheet mixes ISO2 and ISO3 p-code styles.
        let admin = xlsx_table(&bytes, Some("Admin"), "3W Admin").expect("reads");
        assert_eq!(admin.records[0].1.get(1), Some("ML01"));
        assert_eq!(admin.records[0].1.get(4), Some("MLI01"));
        assert!(matches!(xlsx_table(&bytes, Some("nope"), "3W"), Err(IngestError::Parse { .. })));
        assert!(matches!(xlsx_table(b"PK not really", None, "3W"), Err(IngestError::Parse { .. })));
    }
}
