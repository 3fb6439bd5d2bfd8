//! The files HDX publishes as one [`Table`], whatever their format: CSV (UTF-8 BOM or not) and XLSX
//! worksheets (read with calamine) alike give a header row, the HXL hashtag row when the file has
//! one right below it, and the data records with their line (row) numbers. Columns are found in one
//! way, [`Table::column`]: by header name first, then by HXL tag.
//!
//! Why headers first: a header is by definition on its column, while HXL rows are sometimes partial
//! or shifted (South Sudan's DTM location list carries `#adm1+code` on its county column), and on
//! every file crisisgraph reads where both are present they agree. The tag is the fallback that keeps
//! a file readable when a publisher renames a header (FTS renamed `requirements` once).
//!
//! Size bounds: [`Table::set_aside_oversized`] takes out the rows with a field or a row over the
//! configured size (`CRISISGRAPH_MAX_FIELD_BYTES`, `CRISISGRAPH_MAX_ROW_BYTES`) as rejections with
//! their reason; [`crate::kit::RunContext::read_table`] does so for every table a source reads.

use std::io::Cursor;

use calamine::{Data, Reader, Xlsx};
use store::models::Rejection;

use crate::IngestError;

/// A parsed file: its header, its HXL tags (if the file has that row) and its data records.
#[derive(Debug)]
pub struct Table {
    pub headers: Vec<String>,
    pub hxl: Option<Vec<String>>,
    /// (1-based line number in the file, or row number in the worksheet; record)
    pub records: Vec<(i64, csv::StringRecord)>,
}

/// A row counts as HXL when every non-empty cell starts with `#` and at least one is not empty.
pub fn is_hxl_row<'a>(cells: impl IntoIterator<Item = &'a str>) -> bool {
    let mut any = false;
    for cell in cells.into_iter().map(str::trim).filter(|c| !c.is_empty()) {
        if !cell.starts_with('#') {
            return false;
        }
        any = true;
    }
    any
}

/// Where a field is: one of its header names, else its HXL tag (see the module documentation).
#[derive(Debug, Clone, PartialEq)]
pub struct Col {
    pub headers: &'static [&'static str],
    pub hxl: Option<&'static str>,
}

impl Col {
    /// A field found by header name only (the files' HXL tag for it is unreliable or absent).
    pub const fn header(headers: &'static [&'static str]) -> Col {
        Col { hxl: None, headers }
    }

    /// A field found by header name, else by HXL tag.
    pub const fn tagged(tag: &'static str, headers: &'static [&'static str]) -> Col {
        Col { hxl: Some(tag), headers }
    }

    /// The column index in `table`.
    pub fn find(&self, table: &Table) -> Option<usize> {
        table.lookup(self.headers, self.hxl)
    }
}

impl Table {
    /// Reads a CSV file: BOM stripped, flexible record lengths.
    pub fn parse(bytes: &[u8], what: &str) -> Result<Table, IngestError> {
        let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(bytes);
        let rows = reader.records().enumerate().map(|(index, row)| {
            let line = index as i64 + 1;
            row.map(|record| (line, record)).map_err(|e| parse_error(what, format!("line {line}: {e}")))
        });
        Table::from_rows(rows, what, "the file is empty")
    }

    /// Reads one worksheet (`sheet`, or the first one) of an XLSX workbook. Formula cells yield the
    /// value Excel cached for them; error cells (`#N/A`, `#REF!`...) yield their error text, which
    /// [`super::cells::is_missing`] treats as a missing value, never as data. Record numbers are the
    /// worksheet's own row numbers.
    pub fn from_xlsx(bytes: &[u8], sheet: Option<&str>, what: &str) -> Result<Table, IngestError> {
        let mut workbook: Xlsx<_> = Xlsx::new(Cursor::new(bytes))
            .map_err(|e| parse_error(what, format!("not a readable XLSX workbook: {e}")))?;
        let names = workbook.sheet_names();
        let name = match sheet {
            Some(wanted) => names
                .iter()
                .find(|n| n.trim().eq_ignore_ascii_case(wanted.trim()))
                .cloned()
                .ok_or_else(|| parse_error(what, format!("no worksheet {wanted:?}; the workbook has {names:?}")))?,
            None => names.first().cloned().ok_or_else(|| parse_error(what, "the workbook has no worksheet".into()))?,
        };
        let range =
            workbook.worksheet_range(&name).map_err(|e| parse_error(what, format!("worksheet {name:?}: {e}")))?;
        let first_row = range.start().map(|(r, _)| r as i64 + 1).unwrap_or(1);
        let first_col = range.start().map(|(_, c)| c as usize).unwrap_or(0);
        let rows = range.rows().enumerate().map(|(i, row)| {
            let mut cells = vec![String::new(); first_col];
            cells.extend(row.iter().map(cell_text));
            Ok((first_row + i as i64, csv::StringRecord::from(cells)))
        });
        Table::from_rows(rows, what, &format!("worksheet {name:?} is empty"))
    }

    /// Reads a resource by its catalog format: XLSX (`sheet`, or the first worksheet), else CSV.
    pub fn read(bytes: &[u8], format: &str, sheet: Option<&str>, what: &str) -> Result<Table, IngestError> {
        if format.eq_ignore_ascii_case("XLSX") {
            Table::from_xlsx(bytes, sheet, what)
        } else {
            Table::parse(bytes, what)
        }
    }

    /// The first row is the header (trimmed), the next one the HXL row if it is one; blank rows are skipped.
    fn from_rows(
        mut rows: impl Iterator<Item = Result<(i64, csv::StringRecord), IngestError>>,
        what: &str,
        empty: &str,
    ) -> Result<Table, IngestError> {
        let headers: Vec<String> = match rows.next() {
            Some(row) => row?.1.iter().map(|s| s.trim().to_string()).collect(),
            None => return Err(parse_error(what, empty.to_string())),
        };
        let mut hxl = None;
        let mut records = Vec::new();
        for (index, row) in rows.enumerate() {
            let (line, record) = row?;
            if index == 0 && is_hxl_row(record.iter()) {
                hxl = Some(record.iter().map(|s| s.trim().to_string()).collect());
                continue;
            }
            if record.iter().all(|c| c.trim().is_empty()) {
                continue;
            }
            records.push((line, record));
        }
        Ok(Table { headers, hxl, records })
    }

    /// Takes out the records with a cell longer than `max_field` bytes or larger than `max_row` bytes
    /// in all, and returns them as rejections with their reason and first KiB, so that no parser keeps
    /// (and no table stores) a 100 MB name. With each comes the record with its oversized cells
    /// emptied, so that a source can still tell whose row it was (e.g. its country).
    pub fn set_aside_oversized(&mut self, max_field: usize, max_row: usize) -> Vec<(csv::StringRecord, Rejection)> {
        let mut out = Vec::new();
        self.records.retain(|(line, record)| {
            let size = record.as_slice().len();
            let reason = match record.iter().enumerate().find(|(_, cell)| cell.len() > max_field) {
                Some((i, cell)) => {
                    let name =
                        self.headers.get(i).filter(|h| !h.is_empty()).cloned().unwrap_or(format!("column {}", i + 1));
                    Some(format!("{name} is longer than the {max_field} bytes a field may have ({} bytes)", cell.len()))
                }
                None if size > max_row => {
                    Some(format!("the row is larger than the {max_row} bytes a row may have ({size} bytes)"))
                }
                None => None,
            };
            match reason {
                None => true,
                Some(reason) => {
                    let mut raw: String = record_text(record).chars().take(super::bounded_rows::SAMPLE_BYTES).collect();
                    raw.push('…');
                    let short = csv::StringRecord::from(
                        record.iter().map(|c| if c.len() > max_field { "" } else { c }).collect::<Vec<_>>(),
                    );
                    out.push((short, Rejection { row_number: *line, reason, raw }));
                    false
                }
            }
        });
        out
    }

    /// The index of the column with one of `names` as header (case-insensitive), or else with `tag`
    /// as HXL tag: the one column lookup (see the module documentation).
    pub fn column(&self, names: &[&str], tag: &str) -> Option<usize> {
        self.lookup(names, Some(tag))
    }

    fn lookup(&self, names: &[&str], tag: Option<&str>) -> Option<usize> {
        self.headers.iter().position(|h| names.iter().any(|n| h.trim().eq_ignore_ascii_case(n))).or_else(|| {
            let tag = tag?;
            self.hxl.as_ref()?.iter().position(|t| t.trim().eq_ignore_ascii_case(tag))
        })
    }

    /// Like [`Table::column`], but a missing column is an error naming it.
    pub fn require(&self, names: &[&str], tag: &str, what: &str) -> Result<usize, IngestError> {
        self.column(names, tag).ok_or_else(|| {
            parse_error(
                what,
                format!("no column {:?} (HXL {tag}); headers are {:?}", names.first().unwrap_or(&""), self.headers),
            )
        })
    }

    /// Like [`Col::find`], but a missing column is an error naming the field.
    pub fn require_col(&self, col: &Col, field: &str, what: &str) -> Result<usize, IngestError> {
        col.find(self).ok_or_else(|| {
            parse_error(
                what,
                format!(
                    "no {field} column (HXL {:?} or header {:?}); headers are {:?}",
                    col.hxl, col.headers, self.headers
                ),
            )
        })
    }
}

fn parse_error(what: &str, reason: String) -> IngestError {
    IngestError::Parse { what: what.to_string(), reason }
}

/// A worksheet cell as text: whole numbers without a decimal point, dates as `YYYY-MM-DD`.
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

/// Reads one worksheet of an XLSX workbook (the path the site lists used before [`Table::from_xlsx`]).
pub fn xlsx_table(bytes: &[u8], sheet: Option<&str>, what: &str) -> Result<Table, IngestError> {
    Table::from_xlsx(bytes, sheet, what)
}

/// The record as one CSV line, for a rejected row's `raw`.
pub fn record_text(record: &csv::StringRecord) -> String {
    let mut writer = csv::WriterBuilder::new().from_writer(Vec::new());
    if writer.write_record(record).is_err() {
        return record.iter().collect::<Vec<_>>().join(",");
    }
    let bytes = writer.into_inner().unwrap_or_default();
    String::from_utf8_lossy(&bytes).trim_end().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kit::cells::is_missing;

    #[test]
    fn bom_and_hxl_row_are_recognised() {
        let t = Table::parse(b"\xEF\xBB\xBFa,b\r\n#x,\r\n1,2\r\n", "t").expect("parses");
        assert_eq!(t.headers, vec!["a", "b"]);
        assert_eq!(t.hxl, Some(vec!["#x".to_string(), String::new()]));
        assert_eq!(t.records.len(), 1);
        assert_eq!(t.records[0].0, 3);
        assert_eq!(t.column(&["zz"], "#x"), Some(0));
    }

    #[test]
    fn oversized_cells_and_rows_are_set_aside_with_their_reason() {
        let long = "n".repeat(300);
        let wide = vec!["xx"; 60].join(",");
        let csv = format!("code,name\nA,short\nB,{long}\nC,{wide}\n");
        let mut t = Table::parse(csv.as_bytes(), "t").expect("parses");
        let set_aside = t.set_aside_oversized(100, 100);
        assert_eq!(t.records.len(), 1, "only the row within the bounds stays");
        let reasons: Vec<(i64, &str)> = set_aside.iter().map(|(_, r)| (r.row_number, r.reason.as_str())).collect();
        assert_eq!(reasons[0], (3, "name is longer than the 100 bytes a field may have (300 bytes)"));
        assert_eq!(reasons[1], (4, "the row is larger than the 100 bytes a row may have (121 bytes)"));
        assert_eq!(set_aside[0].0.get(0), Some("B"), "the short cells stay readable");
    }

    #[test]
    fn a_file_without_hxl_keeps_its_first_row() {
        let t = Table::parse(b"a,b\n#1,x\n", "t").expect("parses");
        assert!(t.hxl.is_none());
        assert_eq!(t.records.len(), 1);
    }

    /// One precedence for every source: a header name wins over an HXL tag on another column, and
    /// the tag is used only when no header matches.
    #[test]
    fn header_names_win_over_hxl_tags_and_tags_are_the_fallback() {
        let t = Table::parse(b"county,state\n#adm1+code,#adm2+code\nSS0101,SS01\n", "t").expect("parses");
        assert_eq!(t.column(&["state"], "#adm1+code"), Some(1));
        assert_eq!(Col::tagged("#adm1+code", &["state"]).find(&t), Some(1));
        assert_eq!(t.column(&["renamed"], "#adm1+code"), Some(0));
        assert_eq!(Col::header(&["renamed"]).find(&t), None);
        assert!(matches!(t.require(&["renamed"], "#nope", "t"), Err(IngestError::Parse { .. })));
        assert!(is_hxl_row(["#a", " ", "#b"]));
        assert!(!is_hxl_row(["#a", "b"]));
        assert!(!is_hxl_row(["", " "]));
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
