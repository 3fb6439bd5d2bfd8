//! OCHA FTS funding appeals.
//!
//! - HDX "requirements and funding" CSV (`fts_requirements_funding_global.csv`, and the per-country
//!   `fts_requirements_funding_<iso3>.csv` of the same layout): one row per country and plan, columns
//!   `countryCode,id,name,code,typeId,typeName,startDate,endDate,year,requirements,funding,percentFunded`,
//!   with an HXL row that OCHA has since dropped (so columns are found by name, else by tag). Rows
//!   named "Not specified" without a code are funding outside any appeal, not an appeal. The file's
//!   `percentFunded` is ignored: it is computed from the amounts when read.
//! - FTS API `GET {fts}/v1/fts/flow/custom-search?planid=<id>&groupby=cluster`: requirements and
//!   funding per cluster of one plan, in `{status, data: {requirements, report3}}`.

use std::collections::HashMap;

use chrono::NaiveDate;
use serde_json::Value;
use store::models::Rejection;

use crate::IngestError;
use crate::kit::bounds;
use crate::kit::cells::{NumberError, date, differences, is_missing, whole_number};
use crate::kit::hdx::NamePattern;
use crate::kit::table::{Table, record_text};

/// The HDX dataset and resource holding every country's appeals.
pub const DATASET: &str = "fts-requirements-and-funding-data";
pub fn resource_pattern() -> NamePattern {
    NamePattern::new("fts_requirements_funding_global.csv")
}

/// The FTS API request for one plan's figures per cluster.
pub fn cluster_url(fts_url: &str, plan_id: i64) -> String {
    format!("{}/v1/fts/flow/custom-search?planid={plan_id}&groupby=cluster", fts_url.trim_end_matches('/'))
}

/// One appeal row of the file, for one country.
#[derive(Debug, Clone, PartialEq)]
pub struct AppealRow {
    pub row_number: i64,
    pub country_iso3: String,
    pub fts_id: Option<i64>,
    pub code: String,
    pub name: String,
    pub appeal_type: Option<String>,
    pub year: i32,
    pub start_date: Option<NaiveDate>,
    pub end_date: Option<NaiveDate>,
    pub requirements: Option<i64>,
    pub funding: Option<i64>,
    /// The whole plan's amounts: the sum of the shares of every country the file lists it under.
    pub plan_requirements: Option<i64>,
    pub plan_funding: Option<i64>,
}

/// A "Not specified" row: funding of a country and year outside any appeal.
#[derive(Debug, Clone, PartialEq)]
pub struct OutsideRow {
    pub row_number: i64,
    pub country_iso3: String,
    pub year: i32,
    pub funding: i64,
}

/// What the file held for the requested countries.
#[derive(Debug, Default)]
pub struct Parsed {
    pub appeals: Vec<AppealRow>,
    pub outside: Vec<OutsideRow>,
    /// Rejections per country.
    pub rejections: HashMap<String, Vec<Rejection>>,
}

/// A USD amount: a whole number, not negative, at most [`bounds::MAX_USD`]; `Ok(None)` when empty.
fn amount(cell: &str, column: &str) -> Result<Option<i64>, String> {
    let value = whole_number(cell).map_err(|e| match e {
        NumberError::NotWhole => format!("{column} {cell:?} is not a whole number of USD"),
        NumberError::Negative(value) => {
            format!("{column} is negative ({value} USD): FTS amounts cannot be below zero")
        }
    })?;
    value.map(|v| bounds::usd(column, v)).transpose()
}

/// Parses the CSV and keeps the rows of `only` (ISO3 codes); plan totals are summed over every
/// country in the file. A file missing a required column is an error.
pub fn parse(table: &Table, only: &[String], what: &str) -> Result<Parsed, IngestError> {
    let c_country = table.require(&["countryCode"], "#country+code", what)?;
    let c_id = table.require(&["id"], "#activity+appeal+id+fts_internal", what)?;
    let c_name = table.require(&["name"], "#activity+appeal+name", what)?;
    let c_code = table.require(&["code"], "#activity+appeal+id+external", what)?;
    let c_type = table.column(&["typeName"], "#activity+appeal+type+name");
    let c_start = table.column(&["startDate"], "#date+start");
    let c_end = table.column(&["endDate"], "#date+end");
    let c_year = table.require(&["year"], "#date+year", what)?;
    let c_req = table.require(&["requirements"], "#value+funding+required+usd", what)?;
    let c_fund = table.require(&["funding"], "#value+funding+total+usd", what)?;

    let wanted = |iso3: &str| only.iter().any(|c| c.eq_ignore_ascii_case(iso3));
    let mut parsed = Parsed::default();
    let mut all_appeals: Vec<AppealRow> = Vec::new();
    // Per key: the first line, and its requirements (appeals) or funding (outside appeals).
    let mut seen: HashMap<(String, String, i32), (i64, Option<i64>)> = HashMap::new();
    let mut seen_outside: HashMap<(String, i32), (i64, i64)> = HashMap::new();
    for (line, record) in &table.records {
        let cell = |i: usize| record.get(i).map(str::trim).unwrap_or("");
        let iso3 = cell(c_country).to_uppercase();
        let keep = wanted(&iso3);
        let reject = |reason: String| Rejection { row_number: *line, reason, raw: record_text(record) };
        let rejected = |reason: String, parsed: &mut Parsed| {
            if keep {
                parsed.rejections.entry(iso3.clone()).or_default().push(reject(reason));
            }
        };
        if iso3.len() != 3 {
            rejected(format!("countryCode {iso3:?} is not an ISO3 code"), &mut parsed);
            continue;
        }
        let year = match cell(c_year).parse::<i32>() {
            Ok(y) if (1950..=2200).contains(&y) => y,
            _ => {
                rejected(format!("year {:?} is not a year", cell(c_year)), &mut parsed);
                continue;
            }
        };
        let (requirements, funding) = match (amount(cell(c_req), "requirements"), amount(cell(c_fund), "funding")) {
            (Ok(r), Ok(f)) => (r, f),
            (Err(reason), _) | (_, Err(reason)) => {
                rejected(reason, &mut parsed);
                continue;
            }
        };
        let code = cell(c_code).to_string();
        let name = cell(c_name).to_string();
        if is_missing(&code) {
            if !name.eq_ignore_ascii_case("Not specified") || !is_missing(cell(c_id)) {
                rejected(format!("appeal {name:?} has no code"), &mut parsed);
                continue;
            }
            match funding {
                Some(funding) if keep && seen_outside.contains_key(&(iso3.clone(), year)) => {
                    let (first, before) = seen_outside.get(&(iso3.clone(), year)).copied().unwrap_or_default();
                    let same = "same country and year outside appeals";
                    let reason = match differences(&[("funding", Some(before), Some(funding))]) {
                        None => format!("duplicate of line {first} ({same})"),
                        Some(diff) => format!("conflicting duplicate of line {first} ({same}): {diff}"),
                    };
                    rejected(reason, &mut parsed);
                }
                Some(funding) if keep => {
                    seen_outside.insert((iso3.clone(), year), (*line, funding));
                    parsed.outside.push(OutsideRow { row_number: *line, country_iso3: iso3.clone(), year, funding })
                }
                Some(_) => {}
                None => rejected("a \"Not specified\" row without a funding amount".into(), &mut parsed),
            }
            continue;
        }
        let fts_id = match cell(c_id) {
            id if is_missing(id) => None,
            id => match id.parse::<i64>() {
                Ok(v) => Some(v),
                Err(_) => {
                    rejected(format!("id {id:?} is not an FTS plan id"), &mut parsed);
                    continue;
                }
            },
        };
        let dates = (
            c_start.map(|c| date(cell(c), "startDate")).transpose(),
            c_end.map(|c| date(cell(c), "endDate")).transpose(),
        );
        let (start_date, end_date) = match dates {
            (Ok(s), Ok(e)) => (s.flatten(), e.flatten()),
            (Err(reason), _) | (_, Err(reason)) => {
                rejected(reason, &mut parsed);
                continue;
            }
        };
        if let Some((first, before)) = seen.get(&(iso3.clone(), code.clone(), year)) {
            let reason = match differences(&[
                ("requirements", *before, requirements),
                ("funding", before_funding(&all_appeals, *first), funding),
            ]) {
                None => format!("duplicate of line {first} (same country, appeal code and year)"),
                Some(diff) => {
                    format!("conflicting duplicate of line {first} (same country, appeal code and year): {diff}")
                }
            };
            rejected(reason, &mut parsed);
            continue;
        }
        seen.insert((iso3.clone(), code.clone(), year), (*line, requirements));
        all_appeals.push(AppealRow {
            row_number: *line,
            country_iso3: iso3.clone(),
            fts_id,
            code,
            name,
            appeal_type: c_type.map(cell).filter(|t| !is_missing(t)).map(str::to_string),
            year,
            start_date,
            end_date,
            requirements,
            funding,
            plan_requirements: None,
            plan_funding: None,
        });
    }
    let mut totals: HashMap<(String, i32), (Option<i64>, Option<i64>)> = HashMap::new();
    for a in &all_appeals {
        let t = totals.entry((a.code.clone(), a.year)).or_default();
        t.0 = add(t.0, a.requirements);
        t.1 = add(t.1, a.funding);
    }
    for mut a in all_appeals.into_iter().filter(|a| wanted(&a.country_iso3)) {
        let (req, fund) = totals.get(&(a.code.clone(), a.year)).copied().unwrap_or_default();
        (a.plan_requirements, a.plan_funding) = (req, fund);
        parsed.appeals.push(a);
    }
    Ok(parsed)
}

/// The funding of the appeal first read at `line`.
fn before_funding(appeals: &[AppealRow], line: i64) -> Option<i64> {
    appeals.iter().rev().find(|a| a.row_number == line).and_then(|a| a.funding)
}

fn add(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (None, None) => None,
        (a, b) => Some(a.unwrap_or(0).saturating_add(b.unwrap_or(0))),
    }
}

/// One cluster's figures from the FTS API.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterRow {
    pub name: String,
    pub requirements: Option<i64>,
    pub funding: Option<i64>,
}

/// Cluster figures of one plan, with rejected parts.
#[derive(Debug, Default)]
pub struct ParsedClusters {
    pub clusters: Vec<ClusterRow>,
    pub rejections: Vec<Rejection>,
}

fn number(v: Option<&Value>) -> Option<i64> {
    v.and_then(|v| v.as_i64().or_else(|| v.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64)))
}

/// Parses a `groupby=cluster` answer: requirements are the revised ones (else the original), funding
/// the cluster's own (single) funding; funding to several clusters at once is one more line,
/// "Multiple clusters/sectors (shared)", and funding without a cluster "Not specified", as FTS shows them.
pub fn parse_clusters(bytes: &[u8], plan_id: i64) -> Result<ParsedClusters, IngestError> {
    let what = format!("FTS clusters of plan {plan_id}");
    let parse_error = |reason: String| IngestError::Parse { what: what.clone(), reason };
    let envelope: Value = serde_json::from_slice(bytes).map_err(|e| parse_error(e.to_string()))?;
    if envelope.get("status").and_then(Value::as_str) != Some("ok") {
        return Err(IngestError::SourceReported(format!("{what}: status is not \"ok\"")));
    }
    let data = envelope.get("data").ok_or_else(|| parse_error("no `data`".into()))?;
    let mut out = ParsedClusters::default();
    let mut order: Vec<String> = Vec::new();
    let mut rows: HashMap<String, ClusterRow> = HashMap::new();
    let mut key_of_id: HashMap<String, String> = HashMap::new();
    let mut row_number = 0i64;
    let check = |value: Option<i64>, label: &str, raw: &Value, rejections: &mut Vec<Rejection>, n: i64| match value {
        Some(v) if v < 0 => {
            rejections.push(Rejection {
                row_number: n,
                reason: format!("{label} is negative ({v} USD): FTS amounts cannot be below zero"),
                raw: raw.to_string(),
            });
            Err(())
        }
        Some(v) => match bounds::usd(label, v) {
            Ok(v) => Ok(Some(v)),
            Err(reason) => {
                rejections.push(Rejection { row_number: n, reason, raw: raw.to_string() });
                Err(())
            }
        },
        None => Ok(None),
    };
    let requirement_objects =
        data.pointer("/requirements/objects").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]);
    for o in requirement_objects {
        row_number += 1;
        let Some(name) = o.get("name").and_then(Value::as_str).map(str::trim).filter(|n| !n.is_empty()) else {
            out.rejections.push(Rejection {
                row_number,
                reason: "a cluster without a name".into(),
                raw: o.to_string(),
            });
            continue;
        };
        let req = number(o.get("revisedRequirements")).or_else(|| number(o.get("origRequirements")));
        let Ok(req) = check(req, "requirements", o, &mut out.rejections, row_number) else { continue };
        if let Some(id) = o.get("id") {
            key_of_id.insert(id.to_string().trim_matches('"').to_string(), name.to_string());
        }
        order.push(name.to_string());
        rows.insert(name.to_string(), ClusterRow { name: name.to_string(), requirements: req, funding: Some(0) });
    }
    let funding_objects =
        data.pointer("/report3/fundingTotals/objects").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]);
    for group in funding_objects.iter().filter(|g| g.get("type").and_then(Value::as_str) == Some("Cluster")) {
        for o in group.get("singleFundingObjects").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]) {
            row_number += 1;
            let name = o.get("name").and_then(Value::as_str).map(str::trim).unwrap_or("Not specified");
            let Ok(funding) = check(number(o.get("totalFunding")), "totalFunding", o, &mut out.rejections, row_number)
            else {
                continue;
            };
            let key = o
                .get("id")
                .map(|id| id.to_string().trim_matches('"').to_string())
                .and_then(|id| key_of_id.get(&id).cloned())
                .unwrap_or_else(|| name.to_string());
            match rows.get_mut(&key) {
                Some(row) => row.funding = funding,
                None => {
                    order.push(key.clone());
                    rows.insert(key.clone(), ClusterRow { name: key, requirements: None, funding });
                }
            }
        }
        row_number += 1;
        let shared = number(group.get("sharedFundingTotal"));
        if let Ok(Some(shared)) = check(shared, "sharedFundingTotal", group, &mut out.rejections, row_number)
            && shared > 0
        {
            let name = "Multiple clusters/sectors (shared)".to_string();
            order.push(name.clone());
            rows.insert(name.clone(), ClusterRow { name, requirements: None, funding: Some(shared) });
        }
    }
    out.clusters = order.into_iter().filter_map(|k| rows.remove(&k)).collect();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/fts");

    fn mali() -> Table {
        let bytes = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../sample/fts/fts_requirements_funding_global.MLI-subset.csv"
        ))
        .expect("fixture");
        Table::parse(&bytes, "fts").expect("table")
    }

    #[test]
    fn mali_appeals_and_not_specified_rows_are_told_apart() {
        let p = parse(&mali(), &["MLI".to_string()], "fts").expect("parses");
        let hmli21 = p.appeals.iter().find(|a| a.code == "HMLI21").expect("HMLI21");
        assert_eq!(
            (hmli21.fts_id, hmli21.year, hmli21.requirements, hmli21.funding),
            (Some(1036), 2021, Some(563_286_869), Some(228_381_821))
        );
        assert_eq!(hmli21.plan_requirements, Some(563_286_869));
        assert_eq!(hmli21.appeal_type.as_deref(), Some("Humanitarian response plan"));
        assert!(p.appeals.iter().all(|a| a.name != "Not specified"));
        let y2021 = p.outside.iter().find(|o| o.year == 2021).expect("2021 outside funding");
        assert_eq!(y2021.funding, 125_162_378);
        assert!(p.rejections.is_empty(), "{:?}", p.rejections);
        // Every data row is an appeal or funding outside appeals.
        assert_eq!(p.appeals.len() + p.outside.len(), mali().records.len());
    }

    /// Funding outside appeals is one figure per country and year: a second "Not specified" row for
    /// the same pair is rejected with a reason, not summed or silently replaced.
    #[test]
    fn a_second_not_specified_row_for_a_country_and_year_is_rejected() {
        let csv = "countryCode,id,name,code,typeId,typeName,startDate,endDate,year,requirements,funding,percentFunded\n\
                   MLI,,Not specified,,,,,,2021,,100,\n\
                   MLI,,Not specified,,,,,,2021,,200,\n\
                   MLI,,Not specified,,,,,,2022,,300,\n\
                   MLI,,Not specified,,,,,,2021,,100,\n";
        let p = parse(&Table::parse(csv.as_bytes(), "t").expect("table"), &["MLI".into()], "t").expect("parses");
        let outside: Vec<(i32, i64)> = p.outside.iter().map(|o| (o.year, o.funding)).collect();
        assert_eq!(outside, [(2021, 100), (2022, 300)]);
        let reasons: Vec<&str> = p.rejections["MLI"].iter().map(|r| r.reason.as_str()).collect();
        // A repeat with another amount is a conflict showing both (issue 16); a plain repeat is a duplicate.
        assert_eq!(
            reasons,
            [
                "conflicting duplicate of line 2 (same country and year outside appeals): funding 200 here, 100 there",
                "duplicate of line 2 (same country and year outside appeals)"
            ]
        );
        assert_eq!(p.rejections["MLI"][0].row_number, 3);
        assert_eq!(p.rejections["MLI"][1].row_number, 5);
    }

    #[test]
    fn per_country_file_of_the_same_layout_parses() {
        let bytes = std::fs::read(format!("{FTS}/fts_requirements_funding_bfa.csv")).expect("fixture");
        let t = Table::parse(&bytes, "bfa").expect("table");
        let p = parse(&t, &["BFA".to_string()], "bfa").expect("parses");
        let hbfa24 = p.appeals.iter().find(|a| a.code == "HBFA24").expect("HBFA24");
        assert_eq!((hbfa24.requirements, hbfa24.funding), (Some(934_604_385), Some(80_218_007)));
    }

    #[test]
    fn renamed_headers_fall_back_to_hxl_and_no_hxl_uses_headers() {
        let text = String::from_utf8(
            std::fs::read(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../sample/fts/fts_requirements_funding_global.MLI-subset.csv"
            ))
            .expect("fixture"),
        )
        .expect("utf-8");
        let renamed = text.replacen("requirements,funding", "requirementsUSD,fundingUSD", 1);
        let p = parse(&Table::parse(renamed.as_bytes(), "t").expect("table"), &["MLI".into()], "t").expect("parses");
        assert_eq!(p.appeals.iter().find(|a| a.code == "HMLI21").and_then(|a| a.requirements), Some(563_286_869));
        let no_hxl: String = text.lines().enumerate().filter(|(i, _)| *i != 1).map(|(_, l)| format!("{l}\n")).collect();
        let p = parse(&Table::parse(no_hxl.as_bytes(), "t").expect("table"), &["MLI".into()], "t").expect("parses");
        assert_eq!(p.appeals.iter().find(|a| a.code == "HMLI21").and_then(|a| a.funding), Some(228_381_821));
        // Renamed and no HXL row: the column cannot be found, the file is refused as a whole.
        let both: String =
            renamed.lines().enumerate().filter(|(i, _)| *i != 1).map(|(_, l)| format!("{l}\n")).collect();
        assert!(matches!(
            parse(&Table::parse(both.as_bytes(), "t").expect("table"), &[], "t"),
            Err(IngestError::Parse { .. })
        ));
    }

    #[test]
    fn afghanistan_2020_clusters_equal_ochas_own_output() {
        let bytes =
            std::fs::read(format!("{FTS}/1-fts-flow-custom-search-planid-929-groupby-cluster.json")).expect("fixture");
        let parsed = parse_clusters(&bytes, 929).expect("parses");
        assert!(parsed.rejections.is_empty());
        let oracle = std::fs::read(format!("{FTS}/fts_requirements_funding_cluster_afg.csv")).expect("oracle");
        let mut reader = csv::Reader::from_reader(oracle.as_slice());
        let mut expected = Vec::new();
        for r in reader.records() {
            let r = r.expect("row");
            let n = |i: usize| r[i].parse::<i64>().ok();
            expected.push((r[8].to_string(), n(9), n(10)));
        }
        let mut got: Vec<_> = parsed.clusters.iter().map(|c| (c.name.clone(), c.requirements, c.funding)).collect();
        expected.sort();
        got.sort();
        assert_eq!(got, expected);
    }
}
