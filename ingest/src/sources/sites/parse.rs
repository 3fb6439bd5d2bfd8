//! DTM site and location lists published on HDX (XLSX or CSV): site id, name, type (host community,
//! displacement site, collective centre...), coordinates, admin area, IDP households and individuals,
//! round. Layouts differ per dataset and HXL rows are partial (and sometimes shifted), so each
//! dataset declares its columns ([`Col`]: header names, else HXL tag, as every table is read).

use std::collections::HashMap;

use chrono::NaiveDate;
use store::models::Rejection;

use crate::IngestError;
use crate::kit::cells::{date, decimal, differences, is_missing, people};
use crate::kit::hdx::NamePattern;
pub use crate::kit::table::Col;
use crate::kit::table::{Table, record_text};
use crate::sources::dtm::CREDIT;

/// The columns of one site list layout.
#[derive(Debug, Clone, PartialEq)]
pub struct SiteColumns {
    pub code: Col,
    pub name: Col,
    pub site_type: Col,
    pub latitude: Col,
    pub longitude: Col,
    /// The admin level of `area`, and where its code is.
    pub area: (i32, Col),
    /// The enclosing area's level and column, used when `area` matches nothing.
    pub parent_area: Option<(i32, Col)>,
    pub households: Col,
    pub individuals: Col,
    pub round: Option<Col>,
    pub reporting_date: Option<Col>,
}

/// One dataset of site lists.
#[derive(Debug, Clone, PartialEq)]
pub struct SiteConfig {
    pub country_iso3: &'static str,
    /// HDX dataset name.
    pub dataset: &'static str,
    pub resources: NamePattern,
    pub formats: &'static [&'static str],
    /// The worksheet to read in an XLSX resource.
    pub sheet: Option<&'static str>,
    pub columns: SiteColumns,
    pub credit: &'static str,
}

/// South Sudan: IOM DTM Mobility Tracking round 16, baseline locations (sheet
/// "MT R16 Baseline_Loc_Dataset"). Its HXL row is partial and shifted (`#adm1+code` sits on the
/// county column), so areas are read by header. The HDX dataset name is our assumption for this
/// list (the fixture is an extract of the published workbook); check it against HDX before use.
pub fn south_sudan() -> SiteConfig {
    SiteConfig {
        country_iso3: "SSD",
        dataset: "ssd-dtm-mobility-tracking-r16-baseline-locations",
        resources: NamePattern::new("*baseline*"),
        formats: &["XLSX", "CSV"],
        sheet: Some("MT R16 Baseline_Loc_Dataset"),
        columns: SiteColumns {
            code: Col::tagged("#loc+code", &["location_ssid", "site_id", "ssid"]),
            name: Col::tagged("#loc+name", &["village_idp_settlement_name", "site_name", "location_name"]),
            site_type: Col::tagged("#loc+type", &["location_type", "site_type"]),
            latitude: Col::tagged("#geo+lat", &["latitude", "lat"]),
            longitude: Col::tagged("#geo+lon", &["longitude", "lon", "long"]),
            area: (2, Col::header(&["County_INT_PCode", "admin2Pcode"])),
            parent_area: Some((1, Col::header(&["State_INT_PCode", "admin1Pcode"]))),
            households: Col::tagged("#affected+idps+hh", &["a_idp_hhs_ssd", "idp_households"]),
            individuals: Col::tagged("#affected+idps+ind", &["a_idp_inds_ssd", "idp_individuals"]),
            round: Some(Col::header(&["mt_round", "round"])),
            reporting_date: None,
        },
        credit: CREDIT,
    }
}

/// The site list configured for a country, if any.
pub fn config_for(iso3: &str) -> Option<SiteConfig> {
    iso3.eq_ignore_ascii_case("SSD").then(south_sudan)
}

/// Approximate extents (south, west, north, east) of the countries crisisgraph covers, widened by
/// half a degree: a coarse check that catches swapped, truncated or mistyped coordinates, not a
/// boundary test. A country not listed gets only the range check.
pub fn bounding_box(iso3: &str) -> Option<(f64, f64, f64, f64)> {
    let (s, w, n, e) = match iso3.to_uppercase().as_str() {
        "SSD" => (3.48, 23.44, 12.24, 35.95),
        "MLI" => (10.14, -12.24, 25.0, 4.27),
        "TCD" => (7.44, 13.47, 23.45, 24.0),
        "HTI" => (18.02, -74.48, 20.09, -71.62),
        "AFG" => (29.37, 60.47, 38.49, 74.89),
        "BFA" => (9.39, -5.52, 15.08, 2.41),
        "NER" => (11.69, 0.16, 23.52, 15.99),
        _ => return None,
    };
    Some((s - 0.5, w - 0.5, n + 0.5, e + 0.5))
}

/// One valid site row.
#[derive(Debug, Clone, PartialEq)]
pub struct SiteRow {
    pub row_number: i64,
    pub code: String,
    pub name: String,
    pub site_type: Option<String>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub area_code: Option<String>,
    pub parent_code: Option<String>,
    pub households: Option<i64>,
    pub individuals: Option<i64>,
    pub round: Option<i32>,
    pub reporting_date: Option<NaiveDate>,
}

/// What one list held.
#[derive(Debug, Default)]
pub struct Parsed {
    pub rows: Vec<SiteRow>,
    pub rejections: Vec<Rejection>,
}

fn coordinate(cell: &str, label: &str, limit: f64) -> Result<Option<f64>, String> {
    match decimal(cell, label)? {
        Some(v) if v.abs() > limit => Err(format!("{label} {v} is out of range (-{limit} to {limit})")),
        v => Ok(v),
    }
}

/// Parses a site list for `config`. Missing required columns fail the file; bad rows are rejected.
pub fn parse(table: &Table, config: &SiteConfig, what: &str) -> Result<Parsed, IngestError> {
    let cols = &config.columns;
    let need = |col: &Col, field: &str| table.require_col(col, field, what);
    let c_code = need(&cols.code, "site id")?;
    let c_name = need(&cols.name, "site name")?;
    let c_lat = need(&cols.latitude, "latitude")?;
    let c_lon = need(&cols.longitude, "longitude")?;
    let c_area = need(&cols.area.1, "admin area")?;
    let c_hh = need(&cols.households, "IDP households")?;
    let c_ind = need(&cols.individuals, "IDP individuals")?;
    let c_type = cols.site_type.find(table);
    let c_parent = cols.parent_area.as_ref().and_then(|(_, c)| c.find(table));
    let c_round = cols.round.as_ref().and_then(|c| c.find(table));
    let c_date = cols.reporting_date.as_ref().and_then(|c| c.find(table));
    let bounds = bounding_box(config.country_iso3);

    let mut parsed = Parsed::default();
    // Per site id and round: the first line, and its households and individuals.
    type FirstLine = (i64, Option<i64>, Option<i64>);
    let mut seen: HashMap<(String, Option<i32>), FirstLine> = HashMap::new();
    for (line, record) in &table.records {
        let cell = |i: usize| record.get(i).map(str::trim).unwrap_or("");
        let optional = |c: Option<usize>| c.map(cell).filter(|v| !is_missing(v)).map(str::to_string);
        let result = (|| -> Result<SiteRow, String> {
            let code = cell(c_code);
            if is_missing(code) {
                return Err(format!("site id is missing ({code:?})"));
            }
            let name = cell(c_name);
            if is_missing(name) {
                return Err(format!("site name is missing ({name:?})"));
            }
            let latitude = coordinate(cell(c_lat), "latitude", 90.0)?;
            let longitude = coordinate(cell(c_lon), "longitude", 180.0)?;
            match (latitude, longitude) {
                (Some(lat), Some(lon)) => {
                    if lat == 0.0 && lon == 0.0 {
                        return Err("coordinates 0, 0 are a placeholder, not a location".into());
                    }
                    if let Some((s, w, n, e)) = bounds
                        && !(s..=n).contains(&lat) | !(w..=e).contains(&lon)
                    {
                        return Err(format!(
                            "coordinates {lat}, {lon} are outside {}'s bounding box (lat {s} to {n}, lon {w} to {e})",
                            config.country_iso3
                        ));
                    }
                }
                (None, None) => {}
                _ => return Err("only one of latitude and longitude is given".into()),
            }
            let round = match c_round.map(cell).filter(|r| !is_missing(r)) {
                None => None,
                Some(r) => Some(r.parse::<i32>().map_err(|_| format!("round {r:?} is not a number"))?),
            };
            let reporting_date = c_date.map(|c| date(cell(c), "reporting date")).transpose()?.flatten();
            Ok(SiteRow {
                row_number: *line,
                code: code.to_string(),
                name: name.to_string(),
                site_type: optional(c_type),
                latitude,
                longitude,
                area_code: optional(Some(c_area)).map(|c| c.to_uppercase()),
                parent_code: optional(c_parent).map(|c| c.to_uppercase()),
                households: people(cell(c_hh), "IDP households")?,
                individuals: people(cell(c_ind), "IDP individuals")?,
                round,
                reporting_date,
            })
        })();
        match result {
            Ok(row) => {
                if let Some((first, households, individuals)) = seen.get(&(row.code.clone(), row.round)) {
                    let reason = match differences(&[
                        ("IDP households", *households, row.households),
                        ("IDP individuals", *individuals, row.individuals),
                    ]) {
                        None => format!("duplicate of line {first} (same site id and round)"),
                        Some(diff) => format!("conflicting duplicate of line {first} (same site id and round): {diff}"),
                    };
                    parsed.rejections.push(Rejection { row_number: *line, reason, raw: record_text(record) });
                } else {
                    seen.insert((row.code.clone(), row.round), (*line, row.households, row.individuals));
                    parsed.rows.push(row);
                }
            }
            Err(reason) => parsed.rejections.push(Rejection { row_number: *line, reason, raw: record_text(record) }),
        }
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../sample/dtm/hdx_xlsx_extract/ssd-dtm-mobility-tracking-r16-baseline-locations.first40rows.csv"
    );

    #[test]
    fn south_sudan_locations_parse_with_partial_hxl_and_na() {
        let bytes = std::fs::read(FILE).expect("fixture");
        let table = Table::parse(&bytes, "ssd").expect("table");
        assert!(table.hxl.is_some());
        let p = parse(&table, &south_sudan(), "ssd").expect("parses");
        assert_eq!(p.rows.len(), 40, "{:?}", p.rejections);
        // Independent of the column mapping: the raw file read by header name.
        let mut reader = csv::Reader::from_reader(bytes.as_slice());
        let headers = reader.headers().expect("headers").clone();
        let col = |n: &str| headers.iter().position(|h| h == n).expect("column");
        let records: Vec<csv::StringRecord> = reader.records().skip(1).map(|r| r.expect("row")).collect();
        let sum = |n: &str| records.iter().map(|r| r[col(n)].parse::<i64>().expect("count")).sum::<i64>();
        assert_eq!(p.rows.iter().filter_map(|r| r.individuals).sum::<i64>(), sum("a_idp_inds_ssd"));
        assert_eq!(p.rows.iter().filter_map(|r| r.households).sum::<i64>(), sum("a_idp_hhs_ssd"));
        let mahad = p.rows.iter().find(|r| r.code == "ssid_SS0101_0020").expect("Mahad");
        assert_eq!(mahad.site_type.as_deref(), Some("Displacement Site"));
        assert_eq!((mahad.latitude, mahad.longitude), (Some(4.830456), Some(31.610185)));
        assert_eq!((mahad.area_code.as_deref(), mahad.round), (Some("SS0101"), Some(16)));
    }

    #[test]
    fn bad_coordinates_and_counts_are_rejected_with_reasons() {
        let csv = "location_ssid,village_idp_settlement_name,location_type,latitude,longitude,County_INT_PCode,a_idp_hhs_ssd,a_idp_inds_ssd,mt_round\n\
                   a,A,Host Community,4.6,31.3,SS0101,1,5,16\n\
                   b,B,Host Community,31.3,4.6,SS0101,1,5,16\n\
                   c,C,Host Community,95,31.3,SS0101,1,5,16\n\
                   d,D,Host Community,NA,NA,SS0101,NA,NA,16\n\
                   e,E,Host Community,4.6,31.3,SS0101,-2,5,16\n\
                   f,F,Host Community,0,0,SS0101,1,5,16\n\
                   a,A again,Host Community,4.6,31.3,SS0101,1,5,16\n\
                   a,A changed,Host Community,4.6,31.3,SS0101,1,7,16\n\
                   g,G,Host Community,4.6,31.3,SS0101,1,20000000000,16\n";
        let p = parse(&Table::parse(csv.as_bytes(), "t").expect("table"), &south_sudan(), "t").expect("parses");
        let codes: Vec<&str> = p.rows.iter().map(|r| r.code.as_str()).collect();
        assert_eq!(codes, ["a", "d"]);
        assert_eq!((p.rows[1].latitude, p.rows[1].individuals), (None, None));
        let reasons: Vec<&str> = p.rejections.iter().map(|r| r.reason.as_str()).collect();
        assert!(reasons[0].contains("bounding box"), "{reasons:?}");
        assert!(reasons[1].contains("out of range"), "{reasons:?}");
        assert!(reasons[2].contains("negative"), "{reasons:?}");
        assert!(reasons[3].contains("placeholder"), "{reasons:?}");
        assert!(reasons[4].starts_with("duplicate of line 2"), "{reasons:?}");
        assert_eq!(
            reasons[5], "conflicting duplicate of line 2 (same site id and round): IDP individuals 7 here, 5 there",
            "{reasons:?}"
        );
        assert!(reasons[6].contains("more people than live on Earth"), "{reasons:?}");
    }
}
