//! A large DTM API v3 admin2 response made by repeating real published rows (e.g. Haiti's) over
//! synthetic rounds and reporting dates, so that sizes and value distributions stay realistic.

use chrono::{Duration, NaiveDate};
use serde_json::Value;

use crate::BenchError;

/// The rows of a DTM v3 response (`{"result": [...]}`).
pub fn template_rows(response: &[u8]) -> Result<Vec<serde_json::Map<String, Value>>, BenchError> {
    let envelope: Value = serde_json::from_slice(response)?;
    let rows = envelope
        .get("result")
        .and_then(Value::as_array)
        .ok_or_else(|| BenchError::Invalid("the template has no `result` array".into()))?;
    rows.iter()
        .map(|r| r.as_object().cloned().ok_or_else(|| BenchError::Invalid("a template row is not an object".into())))
        .collect()
}

/// Copy `copy` of a template row: its round moved to `1000 * (copy + 1) + round` and its date
/// `copy` days later, so that every copy is a distinct figure under the DTM's natural key.
fn shifted(row: &serde_json::Map<String, Value>, copy: usize) -> serde_json::Map<String, Value> {
    let mut out = row.clone();
    if copy == 0 {
        return out;
    }
    let round = row.get("roundNumber").and_then(Value::as_i64).unwrap_or(0);
    out.insert("roundNumber".into(), Value::from(1000 * (copy as i64 + 1) + round));
    let date = row.get("reportingDate").and_then(Value::as_str).and_then(|d| d.get(..10));
    if let Some(date) = date.and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok()) {
        let moved = date + Duration::days(copy as i64);
        out.insert("reportingDate".into(), Value::from(format!("{}T00:00:00", moved.format("%Y-%m-%d"))));
    }
    out
}

/// A response of exactly `rows` rows built from `template` (a real DTM v3 response), written
/// row by row so that building a million rows does not hold them all as JSON values.
pub fn synthetic_response(template: &[u8], rows: usize) -> Result<Vec<u8>, BenchError> {
    let source = template_rows(template)?;
    if source.is_empty() {
        return Err(BenchError::Invalid("the template has no rows".into()));
    }
    let mut out = Vec::with_capacity(rows * 520 + 128);
    out.extend_from_slice(b"{\"result\":[");
    for i in 0..rows {
        if i > 0 {
            out.push(b',');
        }
        let row = shifted(&source[i % source.len()], i / source.len());
        serde_json::to_writer(&mut out, &row)?;
    }
    out.extend_from_slice(
        format!("],\"statusCode\":200,\"isSuccess\":true,\"errorMessages\":[],\"totalRecordsCount\":{rows}}}")
            .as_bytes(),
    );
    Ok(out)
}

/// The columns of [`copy_csv`], as a bare PostgreSQL table (no keys, no indexes): the COPY baseline.
pub const COPY_TABLE: &str = "CREATE TABLE copy_limit (country_iso3 TEXT, admin_level INTEGER, \
     source_pcode TEXT, source_name TEXT, operation TEXT, round_number INTEGER, reporting_date DATE, \
     assessment_type TEXT, displacement_reason TEXT, origin_pcode TEXT, origin_name TEXT, individuals BIGINT, \
     males BIGINT, females BIGINT)";

/// The same rows as [`synthetic_response`], as CSV for `COPY copy_limit FROM ... (FORMAT csv)`.
pub fn copy_csv(template: &[u8], rows: usize) -> Result<Vec<u8>, BenchError> {
    let source = template_rows(template)?;
    if source.is_empty() {
        return Err(BenchError::Invalid("the template has no rows".into()));
    }
    let text = |row: &serde_json::Map<String, Value>, field: &str| -> String {
        let value = match row.get(field) {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => String::new(),
        };
        format!("\"{}\"", value.replace('"', "\"\""))
    };
    let mut out = Vec::with_capacity(rows * 200);
    for i in 0..rows {
        let row = shifted(&source[i % source.len()], i / source.len());
        let date = row.get("reportingDate").and_then(Value::as_str).and_then(|d| d.get(..10)).unwrap_or("");
        let line = [
            "HTI".to_string(),
            "2".to_string(),
            text(&row, "admin2Pcode"),
            text(&row, "admin2Name"),
            text(&row, "operation"),
            text(&row, "roundNumber"),
            date.to_string(),
            text(&row, "assessmentType"),
            text(&row, "displacementReason"),
            text(&row, "idpOriginAdmin1Pcode"),
            text(&row, "idpOriginAdmin1Name"),
            text(&row, "numPresentIdpInd").replace('"', ""),
            text(&row, "numberMales").replace('"', ""),
            text(&row, "numberFemales").replace('"', ""),
        ]
        .join(",");
        out.extend_from_slice(line.as_bytes());
        out.push(b'\n');
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_are_distinct_figures_with_the_template_values() {
        let template = br#"{"result":[
            {"admin2Pcode":"HT0111","roundNumber":3,"reportingDate":"2024-03-31T00:00:00","numPresentIdpInd":7},
            {"admin2Pcode":"HT0112","roundNumber":4,"reportingDate":"2024-05-31T00:00:00","numPresentIdpInd":9}]}"#;
        let body = synthetic_response(template, 5).expect("builds");
        let rows = template_rows(&body).expect("parses");
        assert_eq!(rows.len(), 5);
        let keys: std::collections::BTreeSet<(String, i64)> = rows
            .iter()
            .map(|r| (r["admin2Pcode"].as_str().unwrap_or("").to_string(), r["roundNumber"].as_i64().unwrap_or(0)))
            .collect();
        assert_eq!(keys.len(), 5, "every row is a distinct key");
        assert_eq!(rows[2]["roundNumber"], 2003);
        assert_eq!(rows[2]["reportingDate"], "2024-04-01T00:00:00");
        assert_eq!(rows.iter().map(|r| r["numPresentIdpInd"].as_i64().unwrap_or(0)).sum::<i64>(), 7 + 9 + 7 + 9 + 7);
    }
}
