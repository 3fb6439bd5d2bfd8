//! Reading the CSV files HDX publishes: UTF-8 BOM, a header row, and an HXL hashtag row that may or
//! may not follow it. Columns are found by header name or by HXL tag.

use store::models::Rejection;

use crate::IngestError;

/// A parsed CSV: its header, its HXL tags (if the file has that row) and its data records.
#[derive(Debug)]
pub struct Table {
    pub headers: Vec<String>,
    pub hxl: Option<Vec<String>>,
    /// (1-based line number in the file, record)
    pub records: Vec<(i64, csv::StringRecord)>,
}

/// A row counts as HXL when every non-empty cell starts with `#` and at least one is not empty.
fn is_hxl_row(record: &csv::StringRecord) -> bool {
    let mut any = false;
    for cell in record.iter().map(str::trim).filter(|c| !c.is_empty()) {
        if !cell.starts_with('#') {
            return false;
        }
        any = true;
    }
    any
}

impl Table {
    pub fn parse(bytes: &[u8], what: &str) -> Result<Table, IngestError> {
        let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        let parse_error = |reason: String| IngestError::Parse { what: what.to_string(), reason };
        let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(bytes);
        let mut rows = reader.records();
        let headers: Vec<String> = match rows.next() {
            Some(Ok(h)) => h.iter().map(|s| s.trim().to_string()).collect(),
            Some(Err(e)) => return Err(parse_error(e.to_string())),
            None => return Err(parse_error("the file is empty".into())),
        };
        let mut hxl = None;
        let mut records = Vec::new();
        for (index, row) in rows.enumerate() {
            let line = index as i64 + 2;
            let record = row.map_err(|e| parse_error(format!("line {line}: {e}")))?;
            if index == 0 && is_hxl_row(&record) {
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
    /// (and no table stores) a 100 MB name.
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

    /// The index of the column with one of `names` as header (case-insensitive), or else with `tag` as HXL tag.
    pub fn column(&self, names: &[&str], tag: &str) -> Option<usize> {
        self.headers
            .iter()
            .position(|h| names.iter().any(|n| h.eq_ignore_ascii_case(n)))
            .or_else(|| self.hxl.as_ref()?.iter().position(|t| t.eq_ignore_ascii_case(tag)))
    }

    /// Like [`Table::column`], but a missing column is an error naming it.
    pub fn require(&self, names: &[&str], tag: &str, what: &str) -> Result<usize, IngestError> {
        self.column(names, tag).ok_or_else(|| IngestError::Parse {
            what: what.to_string(),
            reason: format!("no column {:?} (HXL {tag}); headers are {:?}", names[0], self.headers),
        })
    }
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
}
