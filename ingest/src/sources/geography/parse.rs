//! The global p-codes list (HDX `global-pcodes`, resource `global_pcodes_adm_1_2.csv`): countries
//! and their admin 1 and 2 areas with parents and the date their boundary edition became valid.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use store::geography::{AreaInput, CountryInput};
use store::models::{DatasetInfo, Rejection, ResourceInfo};

use crate::IngestError;
use crate::kit::table::{Table, record_text};
pub use crate::pcode::country_name;

/// Path of the resource on HDX, after the base URL.
pub const RESOURCE_PATH: &str = "/dataset/cb963915-d7d1-4ffa-90dc-31277e24406f/resource/f65bc260-4d8b-416f-ac07-f2433b4d5142/download/global_pcodes_adm_1_2.csv";

pub fn dataset_info(hdx_url: &str) -> DatasetInfo {
    DatasetInfo {
        source_key: "hdx:global-pcodes".into(),
        hdx_id: Some("cb963915-d7d1-4ffa-90dc-31277e24406f".into()),
        title: "Global P-Code List".into(),
        organisation: "OCHA Field Information Services Section (FISS)".into(),
        url: format!("{hdx_url}/dataset/global-pcodes"),
        licence_id: "cc-by-igo".into(),
        licence_title: "Creative Commons Attribution for Intergovernmental Organisations".into(),
        licence_url: Some("https://creativecommons.org/licenses/by/3.0/igo/legalcode".into()),
        licence_other: None,
        credit: "OCHA, Common Operational Datasets (COD) p-codes via HDX".into(),
        methodology: Some("Compiled by OCHA from the COD-AB gazetteers of each country.".into()),
        update_frequency_days: None,
        last_modified: None,
    }
}

pub fn resource_info(hdx_url: &str) -> ResourceInfo {
    ResourceInfo {
        hdx_id: Some("f65bc260-4d8b-416f-ac07-f2433b4d5142".into()),
        name: "global_pcodes_adm_1_2.csv".into(),
        url: format!("{hdx_url}{RESOURCE_PATH}"),
        format: "CSV".into(),
        last_modified: None,
    }
}

/// One country's part of the list.
#[derive(Debug, Clone, PartialEq)]
pub struct CountryAreas {
    pub country: CountryInput,
    /// The country itself (level 0) first, then its areas as listed.
    pub areas: Vec<AreaInput>,
    pub rejections: Vec<Rejection>,
}

/// Parses the list; `only` limits it to some countries (ISO3), empty means all. Rows within the
/// default [`crate::RowLimits`].
pub fn parse(bytes: &[u8], only: &[String]) -> Result<BTreeMap<String, CountryAreas>, IngestError> {
    let limits = crate::RowLimits::default();
    parse_bounded(bytes, only, limits.max_field_bytes, limits.max_row_bytes)
}

/// [`parse`], rejecting rows with a cell over `max_field` bytes or over `max_row` bytes in all.
pub fn parse_bounded(
    bytes: &[u8],
    only: &[String],
    max_field: usize,
    max_row: usize,
) -> Result<BTreeMap<String, CountryAreas>, IngestError> {
    let what = "global p-codes CSV";
    let mut table = Table::parse(bytes, what)?;
    let oversized = table.set_aside_oversized(max_field, max_row);
    let c_country = table.require(&["Location"], "#country+code", what)?;
    let c_level = table.require(&["Admin Level"], "#geo+admin_level", what)?;
    let c_pcode = table.require(&["P-Code"], "#adm+code", what)?;
    let c_name = table.require(&["Name"], "#adm+name", what)?;
    let c_parent = table.require(&["Parent P-Code"], "#adm+code+parent", what)?;
    let c_valid = table.require(&["Valid from date"], "#date+start", what)?;

    let mut out: BTreeMap<String, CountryAreas> = BTreeMap::new();
    let mut seen = std::collections::HashMap::new();
    for (line, record) in &table.records {
        let cell = |i: usize| record.get(i).map(str::trim).unwrap_or("");
        let iso3 = cell(c_country).to_uppercase();
        if !only.is_empty() && !only.iter().any(|c| c.eq_ignore_ascii_case(&iso3)) {
            continue;
        }
        let reject = |reason: String| Rejection { row_number: *line, reason, raw: record_text(record) };
        let entry = out.entry(iso3.clone()).or_insert_with(|| {
            let (name, iso2) = country_name(&iso3).unwrap_or_else(|| (iso3.clone(), String::new()));
            CountryAreas {
                country: CountryInput { iso3: iso3.clone(), iso2: (!iso2.is_empty()).then_some(iso2), name },
                areas: Vec::new(),
                rejections: Vec::new(),
            }
        });
        if iso3.len() != 3 || !iso3.chars().all(|c| c.is_ascii_alphabetic()) {
            entry.rejections.push(reject(format!("country code {iso3:?} is not an ISO3 code")));
            continue;
        }
        let level: i32 = match cell(c_level).parse() {
            Ok(l) if (1..=5).contains(&l) => l,
            _ => {
                entry.rejections.push(reject(format!("admin level {:?} is not a number from 1 to 5", cell(c_level))));
                continue;
            }
        };
        let pcode = cell(c_pcode).to_uppercase();
        let name = cell(c_name).to_string();
        let parent = cell(c_parent).to_uppercase();
        if pcode.is_empty() || name.is_empty() || parent.is_empty() {
            entry.rejections.push(reject("p-code, name and parent p-code are required".into()));
            continue;
        }
        let valid_from = match NaiveDate::parse_from_str(cell(c_valid), "%Y-%m-%d") {
            Ok(d) => d,
            Err(_) => {
                entry.rejections.push(reject(format!("valid-from date {:?} is not YYYY-MM-DD", cell(c_valid))));
                continue;
            }
        };
        if let Some(first) = seen.insert((pcode.clone(), valid_from), *line) {
            entry.rejections.push(reject(format!("duplicate of line {first} (same p-code and valid-from date)")));
            continue;
        }
        entry.areas.push(AreaInput {
            country_iso3: iso3.clone(),
            pcode,
            name,
            level,
            parent_pcode: Some(parent),
            valid_from,
        });
    }
    for country in out.values_mut() {
        if let Some(start) = country.areas.iter().map(|a| a.valid_from).min() {
            let national = AreaInput {
                country_iso3: country.country.iso3.clone(),
                pcode: country.country.iso3.clone(),
                name: country.country.name.clone(),
                level: 0,
                parent_pcode: None,
                valid_from: start,
            };
            country.areas.insert(0, national);
        }
    }
    // An oversized row counts for its country, when that cell is readable and the country is listed.
    for (record, rejection) in oversized {
        let iso3 = record.get(c_country).map(|c| c.trim().to_uppercase()).unwrap_or_default();
        if let Some(country) = out.get_mut(&iso3) {
            country.rejections.push(rejection);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_header_hxl_and_rejects_bad_rows() {
        let csv = "\u{feff}Location,Admin Level,P-Code,Name,Parent P-Code,Valid from date\r\n\
#country+code,#geo+admin_level,#adm+code,#adm+name,#adm+code+parent,#date+start\r\n\
MLI,1,ML05,Mopti,MLI,2021-12-20\r\n\
MLI,x,ML06,Bad,MLI,2021-12-20\r\n\
MLI,1,ML05,Again,MLI,2021-12-20\r\n\
TCD,1,TCD07,Lac,TCD,2012-09-04\r\n";
        let parsed = parse(csv.as_bytes(), &["MLI".to_string()]).expect("parses");
        let mali = &parsed["MLI"];
        assert_eq!(parsed.len(), 1);
        assert_eq!(mali.country.name, "Mali");
        assert_eq!(mali.areas.len(), 2);
        assert_eq!(mali.areas[0].pcode, "MLI");
        assert_eq!(mali.areas[1].pcode, "ML05");
        assert_eq!(mali.rejections.len(), 2);
        assert_eq!(mali.rejections[0].row_number, 4);
        assert!(mali.rejections[1].reason.contains("duplicate of line 3"));
    }
}
