//! A conflict run: the three workbooks are downloaded and streamed once for all the run's countries
//! (only their rows kept), then each country's figures are matched to its areas and written in its
//! own transaction. An unmatched p-code is kept with ACLED's code (`area_matched = false`, the
//! nearest enclosing area), as DTM's are.

use std::collections::{BTreeSet, HashMap};

use chrono::NaiveDate;
use store::conflict_events::ConflictEventInput;
use store::models::Rejection;
use store::upsert::upsert;

use crate::IngestError;
use crate::kit::table::record_text;
use crate::kit::{CountryOutcome, PayloadRejections, RunContext};
use crate::pcode::AreaMatch;
use crate::sources::conflict::{ConflictFigure, WORKBOOKS, datasets, parse, read_workbook};

/// One workbook as read for the run's countries.
pub(super) struct Workbook {
    resource_id: i64,
    sha256: String,
    figures: Vec<ConflictFigure>,
    /// Rejected rows (bad values, over the size bounds), with their country.
    rejections: Vec<(String, Rejection)>,
}

/// Downloads the three workbooks and reads the rows of `wanted` from each.
pub(super) async fn read_workbooks(
    ctx: &RunContext<'_>,
    wanted: &BTreeSet<String>,
) -> Result<Vec<Workbook>, IngestError> {
    let mut out = Vec::new();
    for (wanted_dataset, (_, event_type)) in datasets().iter().zip(WORKBOOKS) {
        let (dataset, package) = ctx.catalog_entry(&wanted_dataset.dataset, wanted_dataset.credit).await?;
        let resource = package
            .pick(&wanted_dataset.resources, &wanted_dataset.formats)
            .into_iter()
            .next()
            .ok_or_else(|| IngestError::Invalid(format!("{} lists no XLSX workbook", wanted_dataset.dataset)))?;
        let (recorded, mut fetched) = ctx.download(&dataset, resource).await?;
        let what = format!("{} ({})", recorded.name, wanted_dataset.dataset);
        let bytes = fetched.bytes()?;
        let sheets = read_workbook(&bytes, wanted, &what)?;
        drop(bytes);
        let limits = ctx.limits();
        let mut workbook =
            Workbook { resource_id: recorded.id, sha256: fetched.sha256, figures: Vec::new(), rejections: Vec::new() };
        for (sheet, mut table) in sheets {
            let iso3_col = table.headers.iter().position(|h| h.eq_ignore_ascii_case("ISO3"));
            for (record, rejection) in table.set_aside_oversized(limits.max_field_bytes, limits.max_row_bytes) {
                let iso3 = iso3_col.and_then(|i| record.get(i)).map(|c| c.trim().to_uppercase()).unwrap_or_default();
                workbook.rejections.push((iso3, rejection));
            }
            let parsed = parse(&table, &sheet, event_type, &what)?;
            workbook.figures.extend(parsed.figures);
            workbook.rejections.extend(parsed.rejections.into_iter().map(|r| (r.iso3, r.rejection)));
        }
        out.push(workbook);
    }
    Ok(out)
}

/// A figure's natural key in the store (the run's country is the same for all).
type Key = (String, NaiveDate, &'static str);

pub(super) async fn conflict_country(
    ctx: &RunContext<'_>,
    iso3: &str,
    workbooks: &[Workbook],
) -> Result<CountryOutcome, IngestError> {
    let (matcher, _) = ctx.areas(iso3).await?;
    let mut inputs = Vec::new();
    let mut rejections = Vec::new();
    let mut fetched_rows = 0i64;
    for workbook in workbooks {
        let mut rows: Vec<Rejection> =
            workbook.rejections.iter().filter(|(c, _)| c == iso3).map(|(_, r)| r.clone()).collect();
        fetched_rows += rows.len() as i64;
        let mut seen: HashMap<Key, &ConflictFigure> = HashMap::new();
        for f in workbook.figures.iter().filter(|f| f.iso3 == iso3) {
            fetched_rows += 1;
            let key = (f.admin2_pcode.clone(), f.month, f.event_type);
            if let Some(first) = seen.get(&key) {
                let differs = (first.events, first.fatalities) != (f.events, f.fatalities);
                rows.push(Rejection {
                    row_number: f.row_number,
                    reason: format!(
                        "worksheet {:?}: duplicate of worksheet {:?} row {} (same p-code and month){}",
                        f.sheet,
                        first.sheet,
                        first.row_number,
                        if differs {
                            format!(
                                ", with other figures: events {} and fatalities {:?} there, {} and {:?} here",
                                first.events, first.fatalities, f.events, f.fatalities
                            )
                        } else {
                            String::new()
                        }
                    ),
                    raw: record_text(&csv::StringRecord::from(vec![
                        f.iso3.as_str(),
                        f.admin2_pcode.as_str(),
                        &f.month.to_string(),
                        &f.events.to_string(),
                    ])),
                });
                continue;
            }
            seen.insert(key, f);
            let parents = [(1, f.admin1_pcode.as_str())];
            let (area_id, area_matched) = match matcher.match_code(2, &f.admin2_pcode, &parents) {
                AreaMatch::Matched { area_id, .. } => (Some(area_id), true),
                AreaMatch::Unmatched { nearest_parent } => (nearest_parent, false),
            };
            inputs.push(ConflictEventInput {
                country_iso3: iso3.to_string(),
                admin_level: 2,
                area_id,
                area_matched,
                source_pcode: f.admin2_pcode.clone(),
                source_admin1_pcode: f.admin1_pcode.clone(),
                source_admin1_name: f.admin1_name.clone(),
                source_admin2_name: f.admin2_name.clone(),
                month: f.month,
                event_type: f.event_type.to_string(),
                events: f.events,
                fatalities: f.fatalities,
                resource_id: workbook.resource_id,
            });
        }
        rejections.push(PayloadRejections {
            resource_id: workbook.resource_id,
            sha256: workbook.sha256.clone(),
            rows,
            own: false,
        });
    }
    let stamp = ctx.stamp();
    ctx.write_checked(iso3, fetched_rows, rejections, move |c| Ok(upsert(c, &inputs, &stamp)?)).await
}
