//! IOM DTM API v3: IDP figures at admin levels 0, 1 and 2 for one country.
//! `GET {dtm}/v3/displacement/admin{0,1,2}?Admin0Pcode=ISO3`, key in `Ocp-Apim-Subscription-Key`,
//! answer `{result, statusCode, isSuccess, errorMessages, totalRecordsCount}`. v3 splits every figure
//! by displacement reason and origin, so a row here is one part of a total, never a total.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};

use chrono::NaiveDate;
use serde_json::Value;
use store::models::{DatasetInfo, Rejection, ResourceInfo};

use crate::kit::bounded_rows::{BoundedRows, OversizedQueue};
use crate::kit::bounds;
use crate::{IngestError, RowLimits};

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

/// Parses one response for `iso3` at `level` held in memory, with the default [`RowLimits`]. A
/// malformed envelope or `isSuccess: false` is an error (the run fails, nothing is written); a
/// malformed row is a rejection.
pub fn parse(bytes: &[u8], level: u8, iso3: &str) -> Result<Parsed, IngestError> {
    let mut rows = Vec::new();
    let summary = parse_stream(bytes, level, iso3, &RowLimits::default(), &mut |row| {
        rows.push(row);
        Ok(())
    })?;
    Ok(Parsed { rows, rejections: summary.rejections })
}

/// What a streamed parse found besides the valid rows it handed on.
#[derive(Debug, Default)]
pub struct ParseSummary {
    /// Valid rows handed to the sink.
    pub valid: i64,
    /// Rows rejected, all of them.
    pub rejected: i64,
    /// The first rejected rows (up to the limit of rejected rows kept), with their reasons.
    pub rejections: Vec<Rejection>,
}

impl ParseSummary {
    /// Rows in the response, valid or not.
    pub fn fetched(&self) -> i64 {
        self.valid + self.rejected
    }
}

/// Parses one response for `iso3` at `level` from `reader`, handing each valid row to `sink` as soon as
/// it is read, so that neither the response nor its rows are ever all in memory: a row larger than
/// `limits.max_row_bytes`, or with a field longer than `limits.max_field_bytes`, is rejected without
/// being held (see [`BoundedRows`]), and only the first `limits.max_rejected_kept` rejections are
/// kept (all are counted). Errors as [`parse`]; an error of `sink` stops the parse and is returned.
/// The envelope is only known to be good at the end: a caller that wrote rows must undo them when
/// this fails (one transaction).
pub fn parse_stream<R: std::io::Read>(
    reader: R,
    level: u8,
    iso3: &str,
    limits: &RowLimits,
    sink: &mut dyn FnMut(DtmRow) -> Result<(), IngestError>,
) -> Result<ParseSummary, IngestError> {
    let what = format!("DTM admin{level} response for {iso3}");
    let parse_error = |reason: String| IngestError::Parse { what: what.clone(), reason };
    let (reader, oversized) = BoundedRows::new(reader, limits.max_row_bytes, limits.max_field_bytes);
    let mut state = RowsState {
        level,
        iso3,
        next_row: 1,
        summary: ParseSummary::default(),
        keep: limits.max_rejected_kept,
        oversized,
        first_seen: HashMap::new(),
        hashers: (RandomState::new(), RandomState::new()),
        sink,
        sink_error: None,
    };
    let mut deserializer = serde_json::Deserializer::from_reader(reader);
    let envelope = serde::Deserializer::deserialize_any(&mut deserializer, EnvelopeVisitor { rows: &mut state });
    if let Some(error) = state.sink_error.take() {
        return Err(error);
    }
    let envelope = envelope.map_err(|e| parse_error(e.to_string()))?;
    deserializer.end().map_err(|e| parse_error(e.to_string()))?;
    if envelope.is_success == Some(false) {
        let messages = envelope
            .error_messages
            .as_ref()
            .and_then(Value::as_array)
            .map(|m| m.iter().filter_map(Value::as_str).collect::<Vec<_>>().join("; "))
            .unwrap_or_default();
        return Err(IngestError::SourceReported(format!("DTM admin{level} for {iso3}: {messages}")));
    }
    if !envelope.result_array {
        return Err(parse_error("no `result` array".into()));
    }
    Ok(state.summary)
}

/// What the envelope said besides its rows.
struct Envelope {
    is_success: Option<bool>,
    error_messages: Option<Value>,
    /// `result` was there and was an array.
    result_array: bool,
}

/// The parse so far: counts, rejections, and per 128-bit hash of a valid row's key the number and
/// counts of the first row with that key (a duplicate, and whether it disagrees, is found without
/// keeping the rows).
struct RowsState<'a> {
    level: u8,
    iso3: &'a str,
    next_row: i64,
    summary: ParseSummary,
    /// Rejections kept at most.
    keep: usize,
    /// Rows the byte-level bounds replaced by `null`, with why.
    oversized: OversizedQueue,
    first_seen: HashMap<u128, FirstSeen>,
    /// Two independently keyed hashers: together a 128-bit hash, where a collision is not a concern.
    hashers: (RandomState, RandomState),
    sink: &'a mut dyn FnMut(DtmRow) -> Result<(), IngestError>,
    sink_error: Option<IngestError>,
}

impl RowsState<'_> {
    fn key_hash(&self, row: &DtmRow) -> u128 {
        let key = (
            (row.area(), &row.operation, row.round_number, row.reporting_date, &row.assessment_type),
            (&row.displacement_reason, &row.origin_pcode, &row.origin_name),
        );
        (u128::from(self.hashers.0.hash_one(key)) << 64) | u128::from(self.hashers.1.hash_one(key))
    }

    /// Counts a rejection, and keeps it while fewer than `keep` are kept.
    fn reject(&mut self, row_number: i64, reason: String, raw: impl FnOnce() -> String) {
        self.summary.rejected += 1;
        if self.summary.rejections.len() < self.keep {
            self.summary.rejections.push(Rejection { row_number, reason, raw: crate::kept_raw(raw()) });
        }
    }

    /// Validates one raw row: handed on, or rejected with its reason (also when it was too large, and
    /// as a duplicate of an earlier row: a conflicting one when its counts differ). Fails only when
    /// the sink failed.
    fn push(&mut self, raw: Value) -> Result<(), ()> {
        let row_number = self.next_row;
        self.next_row += 1;
        if raw.is_null() {
            let index = u64::try_from(row_number - 1).unwrap_or(u64::MAX);
            let oversized = {
                let mut queue = self.oversized.borrow_mut();
                if queue.front().is_some_and(|o| o.index == index) { queue.pop_front() } else { None }
            };
            if let Some(o) = oversized {
                self.reject(row_number, o.reason, || o.sample);
                return Ok(());
            }
        }
        match parse_row(&raw, self.level, self.iso3, row_number) {
            Ok(row) => {
                let hash = self.key_hash(&row);
                if let Some(first) = self.first_seen.get(&hash) {
                    let same = "same area, operation, round, date, assessment type, reason and origin";
                    let reason = match first.differences(&row) {
                        None => format!("duplicate row: {same} as row {}", first.row),
                        Some(diff) => format!("conflicting duplicate of row {}: {same}, but {diff}", first.row),
                    };
                    self.reject(row_number, reason, || raw.to_string());
                    return Ok(());
                }
                self.first_seen.insert(hash, FirstSeen::of(&row));
                self.summary.valid += 1;
                if let Err(e) = (self.sink)(row) {
                    self.sink_error = Some(e);
                    return Err(());
                }
            }
            Err(reason) => self.reject(row_number, reason, || raw.to_string()),
        }
        Ok(())
    }
}

/// The first row with a key: its number and counts (-1 for a missing count), to tell a plain
/// duplicate from a conflicting one.
struct FirstSeen {
    row: i64,
    counts: [i64; 3],
}

impl FirstSeen {
    fn counts(row: &DtmRow) -> [i64; 3] {
        [row.individuals, row.males.unwrap_or(-1), row.females.unwrap_or(-1)]
    }

    fn of(row: &DtmRow) -> FirstSeen {
        FirstSeen { row: row.row_number, counts: Self::counts(row) }
    }

    /// "numPresentIdpInd 120 here and 100 there; ..." when `row`'s counts differ from these.
    fn differences(&self, row: &DtmRow) -> Option<String> {
        let show = |v: i64| if v < 0 { "missing".to_string() } else { v.to_string() };
        let parts: Vec<String> = ["numPresentIdpInd", "numberMales", "numberFemales"]
            .iter()
            .zip(Self::counts(row).iter().zip(self.counts.iter()))
            .filter(|(_, (here, there))| here != there)
            .map(|(field, (here, there))| format!("{field} {} here and {} there", show(*here), show(*there)))
            .collect();
        (!parts.is_empty()).then(|| parts.join("; "))
    }
}

struct EnvelopeVisitor<'s, 'a> {
    rows: &'s mut RowsState<'a>,
}

impl<'de> serde::de::Visitor<'de> for EnvelopeVisitor<'_, '_> {
    type Value = Envelope;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("the answer to be a JSON object")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Envelope, A::Error> {
        let mut envelope = Envelope { is_success: None, error_messages: None, result_array: false };
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "result" => envelope.result_array = map.next_value_seed(ResultSeed { rows: &mut *self.rows })?,
                "isSuccess" => envelope.is_success = map.next_value::<Value>()?.as_bool(),
                "errorMessages" => envelope.error_messages = Some(map.next_value::<Value>()?),
                _ => {
                    map.next_value::<serde::de::IgnoredAny>()?;
                }
            }
        }
        Ok(envelope)
    }
}

/// `result`: an array of rows, each validated as it is read (true), or anything else (false).
struct ResultSeed<'s, 'a> {
    rows: &'s mut RowsState<'a>,
}

impl<'de> serde::de::DeserializeSeed<'de> for ResultSeed<'_, '_> {
    type Value = bool;

    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<bool, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for ResultSeed<'_, '_> {
    type Value = bool;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an array of rows")
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<bool, A::Error> {
        while let Some(raw) = seq.next_element::<Value>()? {
            if self.rows.push(raw).is_err() {
                return Err(serde::de::Error::custom("stopped by the writer"));
            }
        }
        Ok(true)
    }

    fn visit_unit<E>(self) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_none<E>(self) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_bool<E>(self, _: bool) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_i64<E>(self, _: i64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_u64<E>(self, _: u64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_f64<E>(self, _: f64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_str<E>(self, _: &str) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        while map.next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?.is_some() {}
        Ok(false)
    }
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

/// A people count: a whole number, not negative, at most [`bounds::MAX_PEOPLE`].
fn count(row: &serde_json::Map<String, Value>, field: &str) -> Result<Option<i64>, String> {
    match row.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => match n.as_i64() {
            Some(v) if v < 0 => Err(format!("{field} is negative ({v})")),
            Some(v) => bounds::people(field, v).map(Some),
            None if n.as_u64().is_some() => {
                Err(format!("{field} is {n}, more people than live on Earth (at most {})", bounds::MAX_PEOPLE))
            }
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
    fn a_duplicate_with_other_counts_is_a_conflict_showing_both() {
        let row = |n: i64, males: &str| {
            format!(
                r#"{{"operation":"Op","admin0Pcode":"TCD","admin0Name":"Chad","numPresentIdpInd":{n},"numberMales":{males},"reportingDate":"2020-01-31T00:00:00","roundNumber":3,"assessmentType":"BA"}}"#
            )
        };
        let body = format!(r#"{{"result":[{},{},{},{}]}}"#, row(10, "4"), row(10, "4"), row(12, "null"), row(10, "4"));
        let parsed = parse(body.as_bytes(), 0, "TCD").expect("parses");
        assert_eq!(parsed.rows.len(), 1);
        let reasons: Vec<(i64, &str)> = parsed.rejections.iter().map(|r| (r.row_number, r.reason.as_str())).collect();
        assert_eq!(reasons.len(), 3);
        assert!(reasons[0].1.starts_with("duplicate row: same area"), "{reasons:?}");
        assert_eq!(
            reasons[1],
            (
                3,
                "conflicting duplicate of row 1: same area, operation, round, date, assessment type, reason and \
                 origin, but numPresentIdpInd 12 here and 10 there; numberMales missing here and 4 there"
            )
        );
        assert!(reasons[2].1.starts_with("duplicate row:"), "{reasons:?}");
    }

    #[test]
    fn garbage_and_reported_errors_fail_the_response() {
        assert!(matches!(parse(b"<html>oops", 0, "TCD"), Err(IngestError::Parse { .. })));
        let failed = br#"{"result":null,"statusCode":400,"isSuccess":false,"errorMessages":["bad key"]}"#;
        assert!(matches!(parse(failed, 0, "TCD"), Err(IngestError::SourceReported(m)) if m.contains("bad key")));
        // Read as a stream: the envelope's order does not matter, and its shape is still checked.
        let late = br#"{"result":[{"operation":"Op"}],"isSuccess":false,"errorMessages":["late"]}"#;
        assert!(matches!(parse(late, 0, "TCD"), Err(IngestError::SourceReported(m)) if m.contains("late")));
        for body in [&br#"[{"result":[]}]"#[..], br#"{"result":null}"#, br#"{"result":{"a":1}}"#, br#"{"result":[]} x"#]
        {
            assert!(
                matches!(parse(body, 0, "TCD"), Err(IngestError::Parse { .. })),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        let empty = parse(br#"{"statusCode":200,"result":[],"isSuccess":true}"#, 0, "TCD").expect("empty answer");
        assert!(empty.rows.is_empty() && empty.rejections.is_empty());
    }
}
