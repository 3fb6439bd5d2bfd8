//! HDX's CKAN catalog: `GET {hdx}/api/3/action/package_show?id=<name>` answers
//! `{help, success, result: <package>}`. A package gives the dataset's provenance (organisation,
//! licence, methodology, update frequency, last modified) and its resources, of which a source picks
//! the ones it reads by name pattern and format.

use chrono::NaiveDateTime;
use serde_json::Value;
use store::models::{DatasetInfo, ResourceInfo};

use crate::{DEFAULT_HDX_URL, IngestError};

/// The path of CKAN's `package_show` action, after the HDX base.
pub const PACKAGE_SHOW: &str = "/api/3/action/package_show";

/// The URL of the catalog entry of `dataset` (a CKAN name or id).
pub fn package_show_url(hdx_url: &str, dataset: &str) -> String {
    format!("{}{PACKAGE_SHOW}?id={dataset}", hdx_url.trim_end_matches('/'))
}

/// One resource of a package, as the catalog lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct HdxResource {
    pub id: String,
    pub name: String,
    /// Upper case, e.g. `CSV`, `XLSX`.
    pub format: String,
    pub download_url: String,
    pub last_modified: Option<NaiveDateTime>,
}

/// A package (dataset) as the catalog describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct Package {
    pub id: String,
    pub name: String,
    pub title: String,
    pub organisation: String,
    pub licence_id: String,
    pub licence_title: String,
    pub licence_url: Option<String>,
    pub licence_other: Option<String>,
    pub methodology: Option<String>,
    pub update_frequency_days: Option<i32>,
    pub last_modified: Option<NaiveDateTime>,
    /// Dataset notes (description), where publishers state e.g. the reference year.
    pub notes: Option<String>,
    /// The start of `dataset_date` (`[2018-03-07T00:00:00 TO *]`).
    pub date_start: Option<NaiveDateTime>,
    pub resources: Vec<HdxResource>,
}

/// CKAN timestamps come with or without fractional seconds, and without a zone (UTC).
pub fn parse_timestamp(text: &str) -> Option<NaiveDateTime> {
    let t = text.trim().trim_end_matches('Z');
    NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S%.f")
        .ok()
        .or_else(|| NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S").ok())
        .map(|d| chrono::Timelike::with_nanosecond(&d, d.and_utc().timestamp_subsec_micros() * 1000).unwrap_or(d))
}

fn text(object: &serde_json::Map<String, Value>, field: &str) -> Option<String> {
    match object.get(field) {
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    }
}

/// Parses a `package_show` answer. `success: false` (or a missing `result`) is an error: the dataset
/// is not there, and nothing may be written on its behalf.
pub fn parse_package(bytes: &[u8], dataset: &str) -> Result<Package, IngestError> {
    let what = format!("HDX package_show for {dataset}");
    let parse_error = |reason: String| IngestError::Parse { what: what.clone(), reason };
    let envelope: Value = serde_json::from_slice(bytes).map_err(|e| parse_error(e.to_string()))?;
    let object = envelope.as_object().ok_or_else(|| parse_error("the answer is not a JSON object".into()))?;
    if object.get("success").and_then(Value::as_bool) != Some(true) {
        let message =
            object.get("error").and_then(|e| e.get("message")).and_then(Value::as_str).unwrap_or("success is not true");
        return Err(IngestError::SourceReported(format!("HDX package_show for {dataset}: {message}")));
    }
    let result = object.get("result").and_then(Value::as_object).ok_or_else(|| parse_error("no `result`".into()))?;
    let required = |field: &str| text(result, field).ok_or_else(|| parse_error(format!("`{field}` is missing")));
    let organisation = result
        .get("organization")
        .and_then(Value::as_object)
        .and_then(|o| text(o, "title").or_else(|| text(o, "name")))
        .or_else(|| text(result, "dataset_source"))
        .ok_or_else(|| parse_error("no organisation".into()))?;
    let methodology = match (text(result, "methodology"), text(result, "methodology_other")) {
        (Some(m), Some(other)) if m.eq_ignore_ascii_case("other") => Some(other),
        (Some(m), Some(other)) => Some(format!("{m}: {other}")),
        (m, other) => m.or(other),
    };
    let date_start = text(result, "dataset_date")
        .and_then(|d| d.trim_start_matches('[').split(" TO ").next().map(str::to_string))
        .and_then(|d| parse_timestamp(&d));
    let mut resources = Vec::new();
    for r in result.get("resources").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]) {
        let Some(r) = r.as_object() else { continue };
        let (Some(id), Some(name)) = (text(r, "id"), text(r, "name")) else { continue };
        let Some(download_url) = text(r, "download_url").or_else(|| text(r, "url")) else { continue };
        resources.push(HdxResource {
            id,
            name,
            format: text(r, "format").unwrap_or_default().to_uppercase(),
            download_url,
            last_modified: text(r, "last_modified").and_then(|t| parse_timestamp(&t)),
        });
    }
    Ok(Package {
        id: required("id")?,
        name: required("name")?,
        title: required("title")?,
        organisation,
        licence_id: text(result, "license_id").unwrap_or_else(|| "notspecified".into()),
        licence_title: text(result, "license_title").unwrap_or_else(|| "License not specified".into()),
        licence_url: text(result, "license_url"),
        licence_other: text(result, "license_other"),
        methodology,
        update_frequency_days: text(result, "data_update_frequency").and_then(|f| f.parse().ok()),
        last_modified: text(result, "last_modified").and_then(|t| parse_timestamp(&t)),
        notes: text(result, "notes"),
        date_start,
        resources,
    })
}

impl Package {
    /// What we record about the dataset. `credit` overrides the default credit line
    /// ("<organisation>, <title>, via HDX") where the publisher requires its own (IOM DTM).
    pub fn dataset_info(&self, hdx_url: &str, credit: Option<&str>) -> DatasetInfo {
        DatasetInfo {
            source_key: format!("hdx:{}", self.name),
            hdx_id: Some(self.id.clone()),
            title: self.title.clone(),
            organisation: self.organisation.clone(),
            url: format!("{}/dataset/{}", hdx_url.trim_end_matches('/'), self.name),
            licence_id: self.licence_id.clone(),
            licence_title: self.licence_title.clone(),
            licence_url: self.licence_url.clone(),
            licence_other: self.licence_other.clone(),
            credit: credit
                .map(str::to_string)
                .unwrap_or_else(|| format!("{}, {}, via HDX (data.humdata.org)", self.organisation, self.title)),
            methodology: self.methodology.clone(),
            update_frequency_days: self.update_frequency_days,
            last_modified: self.last_modified,
        }
    }

    /// The resources whose name matches `pattern` and whose format is one of `formats`
    /// (in the catalog's order).
    pub fn pick<'a>(&'a self, pattern: &NamePattern, formats: &[&str]) -> Vec<&'a HdxResource> {
        self.resources
            .iter()
            .filter(|r| pattern.matches(&r.name) && formats.iter().any(|f| f.eq_ignore_ascii_case(&r.format)))
            .collect()
    }
}

impl HdxResource {
    /// What we record about the resource; `url` is where we download it from.
    pub fn resource_info(&self, hdx_url: &str) -> ResourceInfo {
        ResourceInfo {
            hdx_id: Some(self.id.clone()),
            name: self.name.clone(),
            url: download_url(hdx_url, &self.download_url),
            format: self.format.clone(),
            last_modified: self.last_modified,
        }
    }
}

/// Where to download a resource: a file hosted on HDX itself is fetched from the configured HDX base
/// (a mirror, or the local fixture server in tests), anything else from where the catalog says.
pub fn download_url(hdx_url: &str, url: &str) -> String {
    let base = hdx_url.trim_end_matches('/');
    for public in [DEFAULT_HDX_URL, "http://data.humdata.org"] {
        if let Some(path) = url.strip_prefix(public) {
            return format!("{base}{path}");
        }
    }
    url.to_string()
}

/// A resource name pattern: case-insensitive, with `*` matching any run of characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamePattern(pub String);

impl NamePattern {
    pub fn new(pattern: impl Into<String>) -> Self {
        NamePattern(pattern.into().to_lowercase())
    }

    pub fn matches(&self, name: &str) -> bool {
        glob(self.0.as_bytes(), name.to_lowercase().as_bytes())
    }
}

fn glob(pattern: &[u8], text: &[u8]) -> bool {
    match pattern.split_first() {
        None => text.is_empty(),
        Some((b'*', rest)) => (0..=text.len()).any(|skip| glob(rest, &text[skip..])),
        Some((c, rest)) => text.split_first().is_some_and(|(t, tail)| t == c && glob(rest, tail)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wrapped(path: &str) -> Vec<u8> {
        let result = std::fs::read_to_string(path).expect("fixture");
        format!(r#"{{"help":"https://data.humdata.org/api/3/action/help_show?name=package_show","success":true,"result":{result}}}"#)
            .into_bytes()
    }

    const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/hdx");

    #[test]
    fn cod_ps_mali_package_gives_provenance_and_its_csv_resources() {
        let p = parse_package(&wrapped(&format!("{FIXTURES}/package_show.result.cod-ps-mli.json")), "cod-ps-mli")
            .expect("parses");
        assert_eq!(p.id, "ce21c7db-d8f0-40f8-adc2-452d2d2d105c");
        assert_eq!(p.title, "Mali - Subnational Population Statistics");
        assert_eq!(p.organisation, "OCHA Mali");
        assert_eq!(p.licence_id, "cc-by-igo");
        assert_eq!(p.update_frequency_days, Some(365));
        assert_eq!(p.methodology.as_deref(), Some("Census"));
        assert_eq!(p.last_modified, parse_timestamp("2023-06-30T20:44:28.061168"));
        let picked: Vec<&str> =
            p.pick(&NamePattern::new("mli_pop_adm*.csv"), &["CSV"]).iter().map(|r| r.name.as_str()).collect();
        assert_eq!(
            picked,
            ["mli_pop_adm0_v2.csv", "mli_pop_adm1_v2.csv", "mli_pop_adm2_v2.csv", "mli_pop_adm3_v2.csv"]
        );
        let adm1 = p.resources.iter().find(|r| r.name == "mli_pop_adm1_v2.csv").expect("adm1");
        assert_eq!(
            adm1.resource_info("http://127.0.0.1:9").url,
            "http://127.0.0.1:9/dataset/ce21c7db-d8f0-40f8-adc2-452d2d2d105c/resource/0bd515ae-613c-400f-a84c-ea203cc529be/download/mli_pop_adm1_v2.csv"
        );
    }

    #[test]
    fn fts_country_package_picks_only_the_requirements_file() {
        let p = parse_package(
            &wrapped(&format!(
                "{FIXTURES}/package_show.result.fts-requirements-and-funding-data-for-burkina-faso.json"
            )),
            "fts-requirements-and-funding-data-for-burkina-faso",
        )
        .expect("parses");
        let picked: Vec<&str> = p
            .pick(&NamePattern::new("fts_requirements_funding_bfa.csv"), &["CSV"])
            .iter()
            .map(|r| r.name.as_str())
            .collect();
        assert_eq!(picked, ["fts_requirements_funding_bfa.csv"]);
        assert!(p.methodology.as_deref().is_some_and(|m| m.starts_with("FTS is open")));
    }

    #[test]
    fn iom_licence_terms_are_kept() {
        let p = parse_package(
            &wrapped(&format!("{FIXTURES}/package_show.result.global-iom-dtm-from-api.json")),
            "global-iom-dtm-from-api",
        )
        .expect("parses");
        assert_eq!(p.licence_id, "hdx-other");
        assert!(p.licence_other.as_deref().is_some_and(|t| t.contains("non-commercial")));
        let info = p.dataset_info("https://data.humdata.org", Some("IOM DTM"));
        assert_eq!(info.credit, "IOM DTM");
        assert_eq!(info.source_key, "hdx:global-iom-dtm-from-api");
    }

    #[test]
    fn failures_and_garbage_are_errors() {
        let missing = br#"{"help":"x","success":false,"error":{"message":"Not found","__type":"Not Found Error"}}"#;
        assert!(matches!(parse_package(missing, "x"), Err(IngestError::SourceReported(m)) if m.contains("Not found")));
        assert!(matches!(parse_package(b"<html>", "x"), Err(IngestError::Parse { .. })));
    }

    #[test]
    fn name_patterns() {
        let p = NamePattern::new("mli_pop_adm*.csv");
        assert!(p.matches("MLI_POP_ADM1_v2.csv"));
        assert!(!p.matches("mli_pop_adm1_v2.xlsx"));
        assert!(NamePattern::new("*baseline*").matches("ssd-dtm-baseline-locations.csv"));
    }
}
