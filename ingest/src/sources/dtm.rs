//! IOM DTM API v3: IDP figures at admin levels 0, 1 and 2 for one country.
//! `GET {dtm}/v3/displacement/admin{0,1,2}?Admin0Pcode=ISO3`, key in `Ocp-Apim-Subscription-Key`,
//! answer `{result, statusCode, isSuccess, errorMessages, totalRecordsCount}`. v3 splits every figure
//! by displacement reason and origin, so a row here is one part of a total, never a total.

use std::collections::HashMap;

use chrono::NaiveDate;
use serde_json::Value;
use store::models::{DatasetInfo, Rejection, ResourceInfo};

use crate::IngestError;

/// IOM's mandatory credit line, carried by every DTM figure.
pub const CREDIT: &str = "International Organization for Migration (IOM), Displacement Tracking Matrix (DTM)";

pub fn dataset_info(dtm_url: &str) -> DatasetInfo {
    DatasetInfo {
        source_key: "dtm-api-v3".into(),
        hdx_id: None,
        title: "IOM DTM API v3: internally displaced persons by admin level".into(),
        organisation: "International Organization for Migration (IOM)".into(),
        url: format!("{dtm_url}/v3/displacement"),
        licence_id: "hdx-other".into(),
        licence_title: "IOM terms of use (non-commercial; no redistribution or derivative works without permission)"
            .into(),
        licence_url: Some("https://dtm.iom.int/terms-and-conditions".into()),
        licence_other: Some(
            "Copyright © International Organization for Migration. Non-commercial use only; no redistribution or \
             derivative works without IOM's permission; mandatory credit: Source: International Organization for \
             Migration (IOM), Displacement Tracking Matrix (DTM)."
                .into(),
        ),
        credit: CREDIT.into(),
        methodology: Some(
            "Baseline (BA) and site (SA) assessments by DTM field teams; figures are IDPs present per area and round."
                .into(),
        ),
        update_frequency_days: Some(7),
        last_modified: None,
    }
}

/// The endpoint of one admin level: one resource of the DTM dataset.
pub fn resource_info(dtm_url: &str, level: u8) -> ResourceInfo {
    ResourceInfo {
        hdx_id: None,
        name: format!("displacement/admin{level}"),
        url: format!("{dtm_url}/v3/displacement/admin{level}"),
        format: "JSON".into(),
        last_modified: None,
    }
}

pub fn request_url(dtm_url: &str, level: u8, iso3: &str) -> String {
    format!("{dtm_url}/v3/displacement/admin{level}?Admin0Pcode={iso3}")
}

/// One valid row of a DTM response, with the source's own codes and names (not yet matched).
#[derive(Debug, Clone, PartialEq)]
pub struct DtmRow {
    pub row_number: i64,
    pub admin_level: u8,
    pub admin0_pcode: String,
    pub admin0_name: String,
    pub admin1_pcode: Option<String>,
    pub admin1_name: Option<String>,
    pub admin2_pcode: Option<String>,
    pub admin2_name: Option<String>,
    pub operation: String,
    pub round_number: i32,
    pub reporting_date: NaiveDate,
    pub assessment_type: String,
    pub displacement_reason: String,
    pub origin_pcode: String,
    pub origin_name: String,
    pub individuals: i64,
    pub males: Option<i64>,
    pub females: Option<i64>,
}

impl DtmRow {
    /// The source's code and name of the area the figure is for.
    pub fn area(&self) -> (&str, &str) {
        match self.admin_level {
            2 => (self.admin2_pcode.as_deref().unwrap_or(""), self.admin2_name.as_deref().unwrap_or("")),
            1 => (self.admin1_pcode.as_deref().unwrap_or(""), self.admin1_name.as_deref().unwrap_or("")),
            _ => (&self.admin0_pcode, &self.admin0_name),
        }
    }
}

/// What one response held: valid rows and rejected ones.
#[derive(Debug, Default)]
pub struct Parsed {
    pub rows: Vec<DtmRow>,
    pub rejections: Vec<Rejection>,
}

/// Parses one response for `iso3` at `level`. A malformed envelope or `isSuccess: false` is an error
/// (the run fails, nothing is written); a malformed row is a rejection.
pub fn parse(bytes: &[u8], level: u8, iso3: &str) -> Result<Parsed, IngestError> {
    let what = format!("DTM admin{level} response for {iso3}");
    let envelope: Value =
        serde_json::from_slice(bytes).map_err(|e| IngestError::Parse { what: what.clone(), reason: e.to_string() })?;
    let object = envelope
        .as_object()
        .ok_or_else(|| IngestError::Parse { what: what.clone(), reason: "the answer is not a JSON object".into() })?;
    if object.get("isSuccess").and_then(Value::as_bool) == Some(false) {
        let messages = object
            .get("errorMessages")
            .and_then(Value::as_array)
            .map(|m| m.iter().filter_map(Value::as_str).collect::<Vec<_>>().join("; "))
            .unwrap_or_default();
        return Err(IngestError::SourceReported(format!("DTM admin{level} for {iso3}: {messages}")));
    }
    let rows = object
        .get("result")
        .and_then(Value::as_array)
        .ok_or_else(|| IngestError::Parse { what: what.clone(), reason: "no `result` array".into() })?;

    let mut parsed = Parsed::default();
    let mut first_seen: HashMap<Vec<String>, i64> = HashMap::new();
    for (index, raw) in rows.iter().enumerate() {
        let row_number = index as i64 + 1;
        match parse_row(raw, level, iso3, row_number) {
            Ok(row) => {
                let key = vec![
                    row.area().0.to_string(),
                    row.area().1.to_string(),
                    row.operation.clone(),
                    row.round_number.to_string(),
                    row.reporting_date.to_string(),
                    row.assessment_type.clone(),
                    row.displacement_reason.clone(),
                    row.origin_pcode.clone(),
                    row.origin_name.clone(),
                ];
                if let Some(first) = first_seen.get(&key) {
                    parsed.rejections.push(Rejection {
                        row_number,
                        reason: format!("duplicate row: same area, operation, round, date, assessment type, reason and origin as row {first}"),
                        raw: raw.to_string(),
                    });
                } else {
                    first_seen.insert(key, row_number);
                    parsed.rows.push(row);
                }
            }
            Err(reason) => parsed.rejections.push(Rejection { row_number, reason, raw: raw.to_string() }),
        }
    }
    Ok(parsed)
}

fn text(row: &serde_json::Map<String, Value>, field: &str) -> Option<String> {
    match row.get(field) {
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    }
}

fn required_text(row: &serde_json::Map<String, Value>, field: &str) -> Result<String, String> {
    text(row, field).ok_or_else(|| format!("{field} is missing or empty"))
}

/// A people count: a whole number, not negative.
fn count(row: &serde_json::Map<String, Value>, field: &str) -> Result<Option<i64>, String> {
    match row.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => match n.as_i64() {
            Some(v) if v < 0 => Err(format!("{field} is negative ({v})")),
            Some(v) => Ok(Some(v)),
            None => Err(format!("{field} is not a whole number ({n})")),
        },
        Some(other) => Err(format!("{field} is not a number ({other})")),
    }
}

fn parse_row(raw: &Value, level: u8, iso3: &str, row_number: i64) -> Result<DtmRow, String> {
    let row = raw.as_object().ok_or("the row is not a JSON object")?;
    let admin0_pcode = required_text(row, "admin0Pcode")?.to_uppercase();
    if admin0_pcode != iso3.to_uppercase() {
        return Err(format!("row is for {admin0_pcode}, not the requested {iso3}"));
    }
    let individuals = count(row, "numPresentIdpInd")?.ok_or("numPresentIdpInd is missing")?;
    let round_number = match row.get("roundNumber") {
        Some(Value::Number(n)) => n
            .as_i64()
            .and_then(|v| i32::try_from(v).ok())
            .filter(|v| *v >= 0)
            .ok_or_else(|| format!("roundNumber is not a round number ({n})"))?,
        _ => return Err("roundNumber is missing or not a number".into()),
    };
    let date_text = required_text(row, "reportingDate")?;
    let reporting_date = NaiveDate::parse_from_str(date_text.get(..10).unwrap_or(&date_text), "%Y-%m-%d")
        .map_err(|_| format!("reportingDate {date_text:?} is not a date"))?;
    let (admin1_pcode, admin1_name) = if level >= 1 {
        (Some(required_text(row, "admin1Pcode")?), Some(required_text(row, "admin1Name")?))
    } else {
        (None, None)
    };
    let (admin2_pcode, admin2_name) = if level >= 2 {
        (Some(required_text(row, "admin2Pcode")?), Some(required_text(row, "admin2Name")?))
    } else {
        (None, None)
    };
    let _ = row_number;
    Ok(DtmRow {
        row_number,
        admin_level: level,
        admin0_name: text(row, "admin0Name").unwrap_or_else(|| admin0_pcode.clone()),
        admin0_pcode,
        admin1_pcode,
        admin1_name,
        admin2_pcode,
        admin2_name,
        operation: required_text(row, "operation")?,
        round_number,
        reporting_date,
        assessment_type: required_text(row, "assessmentType")?,
        displacement_reason: text(row, "displacementReason").unwrap_or_default(),
        origin_pcode: text(row, "idpOriginAdmin1Pcode").unwrap_or_default(),
        origin_name: text(row, "idpOriginAdmin1Name").unwrap_or_default(),
        individuals,
        males: count(row, "numberMales")?,
        females: count(row, "numberFemales")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_rows_are_rejected_with_reasons_and_good_ones_kept() {
        let body = br#"{"result":[
            {"operation":"Op","admin0Pcode":"TCD","admin0Name":"Chad","numPresentIdpInd":10,"reportingDate":"2020-01-31T00:00:00","roundNumber":3,"assessmentType":"BA","displacementReason":"Conflict","idpOriginAdmin1Pcode":"Not available","idpOriginAdmin1Name":"Not available","numberMales":null,"numberFemales":null},
            {"operation":"Op","admin0Pcode":"TCD","admin0Name":"Chad","numPresentIdpInd":-5,"reportingDate":"2020-01-31T00:00:00","roundNumber":3,"assessmentType":"BA"},
            {"operation":"Op","admin0Pcode":"TCD","admin0Name":"Chad","numPresentIdpInd":"many","reportingDate":"2020-01-31T00:00:00","roundNumber":3,"assessmentType":"BA"},
            {"operation":"Op","admin0Pcode":"TCD","admin0Name":"Chad","numPresentIdpInd":10,"reportingDate":"2020-01-31T00:00:00","roundNumber":3,"assessmentType":"BA","displacementReason":"Conflict","idpOriginAdmin1Pcode":"Not available","idpOriginAdmin1Name":"Not available"}
        ],"statusCode":200,"isSuccess":true,"errorMessages":[],"totalRecordsCount":4}"#;
        let parsed = parse(body, 0, "TCD").expect("envelope parses");
        assert_eq!(parsed.rows.len(), 1);
        let reasons: Vec<&str> = parsed.rejections.iter().map(|r| r.reason.as_str()).collect();
        assert_eq!(parsed.rejections.len(), 3, "{reasons:?}");
        assert!(reasons[0].contains("negative"));
        assert!(reasons[1].contains("not a number"));
        assert!(reasons[2].contains("duplicate row"));
        assert_eq!(parsed.rejections[2].row_number, 4);
    }

    #[test]
    fn garbage_and_reported_errors_fail_the_response() {
        assert!(matches!(parse(b"<html>oops", 0, "TCD"), Err(IngestError::Parse { .. })));
        let failed = br#"{"result":null,"statusCode":400,"isSuccess":false,"errorMessages":["bad key"]}"#;
        assert!(matches!(parse(failed, 0, "TCD"), Err(IngestError::SourceReported(m)) if m.contains("bad key")));
    }
}
