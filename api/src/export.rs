//! BI export: `GET /export/{idps,population,appeals,sites,admin-areas}.{csv,json}`. Flat rows with fixed
//! column names (the same as the `bi_*` SQL views), ISO dates, instants in UTC with `Z`, the licence's
//! title and URL, streamed page by page, `limit`/`offset` with a `Link: rel="next"` header, an optional
//! HXL tag row and UTF-8 BOM, cells neutralised against formula injection, and `ETag`/`Last-Modified`
//! from the data's last change (`If-None-Match`, `If-Modified-Since` and `HEAD` honoured). Each
//! export takes the filters that apply to it and refuses any other parameter.

use std::collections::HashMap;

use actix_web::http::header;
use actix_web::web::{self, Bytes};
use actix_web::{HttpRequest, HttpResponse};
use chrono::NaiveDate;
use futures_util::stream;
use serde_json::Value;
use store::bi::{self, BiAdminArea, BiAppeal, BiIdp, BiPopulation, BiSite, Cursor, ExportFilter};
use store::{AnyConnection, ReadSnapshot, SnapshotGate, StoreError};

/// Rows read from the store per page of the stream (about 2.5 MB of rows in memory). The IDP export
/// continues each page after the last key sent (an index range scan), so small pages cost no re-reading.
const PAGE: i64 = 5_000;
/// Rows a request gets when it does not ask for a `limit`.
pub const DEFAULT_LIMIT: i64 = 100_000;
/// The most rows one request may ask for.
pub const MAX_LIMIT: i64 = 1_000_000;

/// One cell of an exported row.
enum Cell {
    Text(Option<String>),
    Int(Option<i64>),
    Float(Option<f64>),
    Bool(bool),
    Date(Option<NaiveDate>),
    Time(Option<chrono::NaiveDateTime>),
}

impl Cell {
    fn csv(&self) -> String {
        match self {
            Cell::Text(Some(t)) => neutralise(t),
            Cell::Int(Some(n)) => n.to_string(),
            Cell::Float(Some(x)) => x.to_string(),
            Cell::Bool(b) => b.to_string(),
            Cell::Date(Some(d)) => d.format("%Y-%m-%d").to_string(),
            Cell::Time(Some(t)) => crate::scalars::utc_rfc3339(*t),
            _ => String::new(),
        }
    }

    fn json(&self) -> Value {
        match self {
            Cell::Text(Some(t)) => Value::from(t.as_str()),
            Cell::Int(Some(n)) => Value::from(*n),
            Cell::Float(Some(x)) => Value::from(*x),
            Cell::Bool(b) => Value::from(*b),
            Cell::Date(Some(d)) => Value::from(d.format("%Y-%m-%d").to_string()),
            Cell::Time(Some(t)) => Value::from(crate::scalars::utc_rfc3339(*t)),
            _ => Value::Null,
        }
    }
}

/// A text cell a spreadsheet would run as a formula gets a leading apostrophe.
fn neutralise(text: &str) -> String {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{text}") } else { text.to_string() }
}

/// An exportable row: its columns (name, HXL tag) and cells, in the same order, and how its pages are read.
trait ExportRow: Sized + Send + 'static {
    const COLUMNS: &'static [(&'static str, &'static str)];
    fn cells(&self) -> Vec<Cell>;
    /// The next `limit` rows from `cursor`, which moves past them.
    fn read(
        conn: &mut AnyConnection,
        filter: &ExportFilter,
        limit: i64,
        cursor: &mut Cursor,
    ) -> Result<Vec<Self>, StoreError>;
    /// Whether a row exists at position `offset`.
    fn exists_at(conn: &mut AnyConnection, filter: &ExportFilter, offset: i64) -> Result<bool, StoreError> {
        Ok(!Self::read(conn, filter, 1, &mut Cursor { offset, after: None })?.is_empty())
    }
}

/// An export whose pages are read by OFFSET (small tables).
macro_rules! read_by_offset {
    ($reader:path) => {
        fn read(
            conn: &mut AnyConnection,
            filter: &ExportFilter,
            limit: i64,
            cursor: &mut Cursor,
        ) -> Result<Vec<Self>, StoreError> {
            let rows = $reader(conn, filter, limit, cursor.offset)?;
            cursor.offset += rows.len() as i64;
            Ok(rows)
        }
    };
}

impl ExportRow for BiIdp {
    fn read(
        conn: &mut AnyConnection,
        filter: &ExportFilter,
        limit: i64,
        cursor: &mut Cursor,
    ) -> Result<Vec<Self>, StoreError> {
        bi::idp_rows(conn, filter, limit, cursor)
    }

    fn exists_at(conn: &mut AnyConnection, filter: &ExportFilter, offset: i64) -> Result<bool, StoreError> {
        bi::idp_row_exists_at(conn, filter, offset)
    }

    const COLUMNS: &'static [(&'static str, &'static str)] = &[
        ("country_iso3", "#country+code"),
        ("country_name", "#country+name"),
        ("admin_level", "#adm+level"),
        ("area_pcode", "#adm+code"),
        ("area_name", "#adm+name"),
        ("area_matched", "#meta+matched"),
        ("parent_pcode", "#adm+code+parent"),
        ("parent_name", "#adm+name+parent"),
        ("source_pcode", "#adm+code+provider"),
        ("source_name", "#adm+name+provider"),
        ("operation", "#operation+name"),
        ("round_number", "#round+code"),
        ("reporting_date", "#date+reported"),
        ("assessment_type", "#assessment+type"),
        ("idps", "#affected+idps+ind"),
        ("dataset", "#meta+dataset+id"),
        ("dataset_title", "#meta+dataset+title"),
        ("licence", "#meta+licence"),
        ("licence_url", "#meta+licence+url"),
        ("credit", "#meta+source"),
        ("resource_url", "#meta+url"),
        ("ingest_run_id", "#meta+run+id"),
        ("retrieved_at", "#date+retrieved"),
    ];

    fn cells(&self) -> Vec<Cell> {
        vec![
            Cell::Text(Some(self.country_iso3.clone())),
            Cell::Text(Some(self.country_name.clone())),
            Cell::Int(Some(i64::from(self.admin_level))),
            Cell::Text(self.area_pcode.clone()),
            Cell::Text(self.area_name.clone()),
            Cell::Bool(self.area_matched),
            Cell::Text(self.parent_pcode.clone()),
            Cell::Text(self.parent_name.clone()),
            Cell::Text(Some(self.source_pcode.clone())),
            Cell::Text(Some(self.source_name.clone())),
            Cell::Text(Some(self.operation.clone())),
            Cell::Int(Some(i64::from(self.round_number))),
            Cell::Date(Some(self.reporting_date)),
            Cell::Text(Some(self.assessment_type.clone())),
            Cell::Int(Some(self.idps)),
            Cell::Text(Some(self.dataset.clone())),
            Cell::Text(Some(self.dataset_title.clone())),
            Cell::Text(Some(self.licence.clone())),
            Cell::Text(self.licence_url.clone()),
            Cell::Text(Some(self.credit.clone())),
            Cell::Text(Some(self.resource_url.clone())),
            Cell::Int(Some(self.ingest_run_id)),
            Cell::Time(Some(self.retrieved_at)),
        ]
    }
}

impl ExportRow for BiAdminArea {
    read_by_offset!(bi::admin_area_rows);

    const COLUMNS: &'static [(&'static str, &'static str)] = &[
        ("country_iso3", "#country+code"),
        ("country_name", "#country+name"),
        ("admin_level", "#adm+level"),
        ("pcode", "#adm+code"),
        ("name", "#adm+name"),
        ("parent_pcode", "#adm+code+parent"),
        ("parent_name", "#adm+name+parent"),
        ("valid_from", "#date+start"),
        ("valid_to", "#date+end"),
        ("dataset", "#meta+dataset+id"),
        ("dataset_title", "#meta+dataset+title"),
        ("licence", "#meta+licence"),
        ("licence_url", "#meta+licence+url"),
        ("credit", "#meta+source"),
    ];

    fn cells(&self) -> Vec<Cell> {
        vec![
            Cell::Text(Some(self.country_iso3.clone())),
            Cell::Text(Some(self.country_name.clone())),
            Cell::Int(Some(i64::from(self.admin_level))),
            Cell::Text(Some(self.pcode.clone())),
            Cell::Text(Some(self.name.clone())),
            Cell::Text(self.parent_pcode.clone()),
            Cell::Text(self.parent_name.clone()),
            Cell::Date(Some(self.valid_from)),
            Cell::Date(self.valid_to),
            Cell::Text(self.dataset.clone()),
            Cell::Text(self.dataset_title.clone()),
            Cell::Text(self.licence.clone()),
            Cell::Text(self.licence_url.clone()),
            Cell::Text(self.credit.clone()),
        ]
    }
}

impl ExportRow for BiPopulation {
    read_by_offset!(bi::population_rows);

    const COLUMNS: &'static [(&'static str, &'static str)] = &[
        ("country_iso3", "#country+code"),
        ("country_name", "#country+name"),
        ("admin_level", "#adm+level"),
        ("area_pcode", "#adm+code"),
        ("area_name", "#adm+name"),
        ("area_matched", "#meta+matched"),
        ("source_pcode", "#adm+code+provider"),
        ("source_name", "#adm+name+provider"),
        ("boundary_edition", "#meta+boundaries"),
        ("sex", "#gender+code"),
        ("age_range", "#age+range"),
        ("reference_year", "#date+year"),
        ("population", "#population"),
        ("dataset", "#meta+dataset+id"),
        ("dataset_title", "#meta+dataset+title"),
        ("licence", "#meta+licence"),
        ("licence_url", "#meta+licence+url"),
        ("credit", "#meta+source"),
        ("resource_url", "#meta+url"),
        ("ingest_run_id", "#meta+run+id"),
        ("retrieved_at", "#date+retrieved"),
    ];

    fn cells(&self) -> Vec<Cell> {
        vec![
            Cell::Text(Some(self.country_iso3.clone())),
            Cell::Text(Some(self.country_name.clone())),
            Cell::Int(Some(i64::from(self.admin_level))),
            Cell::Text(self.area_pcode.clone()),
            Cell::Text(self.area_name.clone()),
            Cell::Bool(self.area_matched),
            Cell::Text(Some(self.source_pcode.clone())),
            Cell::Text(Some(self.source_name.clone())),
            Cell::Text(Some(self.boundary_edition.clone())),
            Cell::Text(Some(self.sex.clone())),
            Cell::Text(Some(self.age_range.clone())),
            Cell::Int(Some(i64::from(self.reference_year))),
            Cell::Int(Some(self.population)),
            Cell::Text(Some(self.dataset.clone())),
            Cell::Text(Some(self.dataset_title.clone())),
            Cell::Text(Some(self.licence.clone())),
            Cell::Text(self.licence_url.clone()),
            Cell::Text(Some(self.credit.clone())),
            Cell::Text(Some(self.resource_url.clone())),
            Cell::Int(Some(self.ingest_run_id)),
            Cell::Time(Some(self.retrieved_at)),
        ]
    }
}

impl ExportRow for BiAppeal {
    read_by_offset!(bi::appeal_rows);

    const COLUMNS: &'static [(&'static str, &'static str)] = &[
        ("country_iso3", "#country+code"),
        ("country_name", "#country+name"),
        ("appeal_code", "#activity+appeal+id+external"),
        ("fts_id", "#activity+appeal+id+fts_internal"),
        ("appeal_name", "#activity+appeal+name"),
        ("appeal_type", "#activity+appeal+type+name"),
        ("year", "#date+year"),
        ("start_date", "#date+start"),
        ("end_date", "#date+end"),
        ("requirements_usd", "#value+funding+required+usd"),
        ("funding_usd", "#value+funding+total+usd"),
        ("percent_funded", "#value+funding+pct"),
        ("plan_requirements_usd", "#value+funding+required+usd+plan"),
        ("plan_funding_usd", "#value+funding+total+usd+plan"),
        ("dataset", "#meta+dataset+id"),
        ("dataset_title", "#meta+dataset+title"),
        ("licence", "#meta+licence"),
        ("licence_url", "#meta+licence+url"),
        ("credit", "#meta+source"),
        ("resource_url", "#meta+url"),
        ("ingest_run_id", "#meta+run+id"),
        ("retrieved_at", "#date+retrieved"),
    ];

    fn cells(&self) -> Vec<Cell> {
        vec![
            Cell::Text(Some(self.country_iso3.clone())),
            Cell::Text(Some(self.country_name.clone())),
            Cell::Text(Some(self.appeal_code.clone())),
            Cell::Int(self.fts_id),
            Cell::Text(Some(self.appeal_name.clone())),
            Cell::Text(self.appeal_type.clone()),
            Cell::Int(Some(i64::from(self.year))),
            Cell::Date(self.start_date),
            Cell::Date(self.end_date),
            Cell::Int(self.requirements_usd),
            Cell::Int(self.funding_usd),
            Cell::Float(self.percent_funded),
            Cell::Int(self.plan_requirements_usd),
            Cell::Int(self.plan_funding_usd),
            Cell::Text(Some(self.dataset.clone())),
            Cell::Text(Some(self.dataset_title.clone())),
            Cell::Text(Some(self.licence.clone())),
            Cell::Text(self.licence_url.clone()),
            Cell::Text(Some(self.credit.clone())),
            Cell::Text(Some(self.resource_url.clone())),
            Cell::Int(Some(self.ingest_run_id)),
            Cell::Time(Some(self.retrieved_at)),
        ]
    }
}

impl ExportRow for BiSite {
    read_by_offset!(bi::site_rows);

    const COLUMNS: &'static [(&'static str, &'static str)] = &[
        ("country_iso3", "#country+code"),
        ("country_name", "#country+name"),
        ("site_code", "#loc+code"),
        ("name", "#loc+name"),
        ("site_type", "#loc+type"),
        ("latitude", "#geo+lat"),
        ("longitude", "#geo+lon"),
        ("area_pcode", "#adm+code"),
        ("area_name", "#adm+name"),
        ("area_matched", "#meta+matched"),
        ("source_pcode", "#adm+code+provider"),
        ("households", "#affected+idps+hh"),
        ("individuals", "#affected+idps+ind"),
        ("round_number", "#round+code"),
        ("reporting_date", "#date+reported"),
        ("dataset", "#meta+dataset+id"),
        ("dataset_title", "#meta+dataset+title"),
        ("licence", "#meta+licence"),
        ("licence_url", "#meta+licence+url"),
        ("credit", "#meta+source"),
        ("resource_url", "#meta+url"),
        ("ingest_run_id", "#meta+run+id"),
        ("retrieved_at", "#date+retrieved"),
    ];

    fn cells(&self) -> Vec<Cell> {
        vec![
            Cell::Text(Some(self.country_iso3.clone())),
            Cell::Text(Some(self.country_name.clone())),
            Cell::Text(Some(self.site_code.clone())),
            Cell::Text(Some(self.name.clone())),
            Cell::Text(self.site_type.clone()),
            Cell::Float(self.latitude),
            Cell::Float(self.longitude),
            Cell::Text(self.area_pcode.clone()),
            Cell::Text(self.area_name.clone()),
            Cell::Bool(self.area_matched),
            Cell::Text(self.source_pcode.clone()),
            Cell::Int(self.households),
            Cell::Int(self.individuals),
            Cell::Int(self.round_number.map(i64::from)),
            Cell::Date(self.reporting_date),
            Cell::Text(Some(self.dataset.clone())),
            Cell::Text(Some(self.dataset_title.clone())),
            Cell::Text(Some(self.licence.clone())),
            Cell::Text(self.licence_url.clone()),
            Cell::Text(Some(self.credit.clone())),
            Cell::Text(Some(self.resource_url.clone())),
            Cell::Int(Some(self.ingest_run_id)),
            Cell::Time(Some(self.retrieved_at)),
        ]
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Csv,
    Json,
}

/// What a request asked for, after validation.
struct ExportRequest {
    filter: ExportFilter,
    limit: i64,
    offset: i64,
    hxl: bool,
    bom: bool,
    format: Format,
}

/// The exports, and the filters each applies (besides [`PAGING`]).
const EXPORTS: [(&str, &[&str]); 5] = [
    (
        "idps",
        &[
            "country",
            "admin_level",
            "pcode",
            "from",
            "to",
            "operation",
            "round",
            "assessment_type",
            "latest_round_only",
        ],
    ),
    ("population", &["country", "admin_level", "pcode", "year", "sex", "age_range"]),
    ("appeals", &["country", "year"]),
    ("sites", &["country", "pcode", "site_type", "round"]),
    ("admin-areas", &["country", "admin_level", "pcode", "current_only"]),
];

/// Parameters every export takes.
const PAGING: [&str; 4] = ["limit", "offset", "hxl", "bom"];

fn bad_request(message: String) -> HttpResponse {
    HttpResponse::BadRequest().content_type("text/plain; charset=utf-8").body(message)
}

/// Validates a request's parameters against those export `name` applies (`filters`): any other is
/// refused, naming the ones that apply, rather than silently ignored.
fn parse_request(
    name: &str,
    filters: &[&str],
    format: Format,
    query: &HashMap<String, String>,
) -> Result<ExportRequest, String> {
    let applicable: Vec<&str> = filters.iter().chain(PAGING.iter()).copied().collect();
    let mut unknown: Vec<&String> = query.keys().filter(|k| !applicable.contains(&k.as_str())).collect();
    unknown.sort();
    if let Some(first) = unknown.first() {
        let what = if EXPORTS.iter().any(|(_, f)| f.contains(&first.as_str())) {
            "does not apply to"
        } else {
            "is unknown to"
        };
        return Err(format!("parameter {first:?} {what} the {name} export; these apply: {}", applicable.join(", ")));
    }
    let get = |name: &str| query.get(name).map(|v| v.trim()).filter(|v| !v.is_empty());
    let flag = |name: &str| -> Result<bool, String> {
        match get(name) {
            None => Ok(false),
            Some("true" | "1" | "yes") => Ok(true),
            Some("false" | "0" | "no") => Ok(false),
            Some(other) => Err(format!("{name} must be true or false, not {other:?}")),
        }
    };
    let number = |name: &str| -> Result<Option<i64>, String> {
        get(name).map(|v| v.parse::<i64>().map_err(|_| format!("{name} must be a whole number, not {v:?}"))).transpose()
    };
    let date = |name: &str| -> Result<Option<NaiveDate>, String> {
        get(name)
            .map(|v| {
                NaiveDate::parse_from_str(v, "%Y-%m-%d")
                    .map_err(|_| format!("{name} must be a date YYYY-MM-DD, not {v:?}"))
            })
            .transpose()
    };
    let list = |name: &str| -> Vec<String> {
        get(name)
            .map(|v| v.split(',').map(|c| c.trim().to_uppercase()).filter(|c| !c.is_empty()).collect())
            .unwrap_or_default()
    };
    let countries = list("country");
    if let Some(bad) = countries.iter().find(|c| c.len() != 3 || !c.chars().all(|ch| ch.is_ascii_alphabetic())) {
        return Err(format!("country {bad:?} is not an ISO3 code"));
    }
    let admin_level = number("admin_level")?.map(|l| l as i32);
    if admin_level.is_some_and(|l| !(0..=5).contains(&l)) {
        return Err("admin_level must be between 0 and 5".into());
    }
    // A page holds at least one row: a page of none would link to itself for ever.
    let limit = number("limit")?.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(format!("limit must be between 1 and {MAX_LIMIT}"));
    }
    let offset = number("offset")?.unwrap_or(0);
    if offset < 0 {
        return Err("offset must not be negative".into());
    }
    // Population rows are per sex and age group, besides their totals (`all`): by default only the
    // totals, so that a sum over one admin level is the population. `*` keeps every row.
    let breakdown = |name: &str, allowed: Option<&[&str]>| -> Result<Option<String>, String> {
        match get(name).map(str::to_lowercase) {
            None => Ok(Some("all".into())),
            Some(v) if v == "*" => Ok(None),
            Some(v) if allowed.is_none_or(|a| a.contains(&v.as_str())) => Ok(Some(v)),
            Some(v) => Err(format!("{name} must be one of {} or *, not {v:?}", allowed.unwrap_or_default().join(", "))),
        }
    };
    let pcodes = list("pcode");
    Ok(ExportRequest {
        filter: ExportFilter {
            countries,
            admin_level,
            pcodes: (!pcodes.is_empty()).then_some(pcodes),
            from: date("from")?,
            to: date("to")?,
            operation: get("operation").map(String::from),
            round: number("round")?.map(|r| r as i32),
            assessment_type: get("assessment_type").map(|a| a.to_uppercase()),
            latest_round_only: flag("latest_round_only")?,
            current_only: flag("current_only")?,
            year: number("year")?.map(|y| y as i32),
            site_type: get("site_type").map(String::from),
            sex: breakdown("sex", Some(&["all", "f", "m"]))?,
            age_range: breakdown("age_range", None)?,
        },
        limit,
        offset,
        hxl: flag("hxl")?,
        bom: flag("bom")?,
        format,
    })
}

/// What a conditional request (`If-None-Match`, else `If-Modified-Since`) says of the data's version:
/// true when the client's copy is current.
fn not_modified(http: &HttpRequest, etag: &str, last_modified: Option<chrono::NaiveDateTime>) -> bool {
    let header = |name| http.headers().get(name).and_then(|v: &header::HeaderValue| v.to_str().ok());
    if let Some(tags) = header(header::IF_NONE_MATCH) {
        return tags.split(',').any(|t| t.trim() == etag || t.trim() == "*");
    }
    match (header(header::IF_MODIFIED_SINCE).and_then(|v| httpdate::parse_http_date(v).ok()), last_modified) {
        (Some(since), Some(modified)) => {
            let since = chrono::DateTime::<chrono::Utc>::from(since).timestamp();
            modified.and_utc().timestamp() <= since
        }
        _ => false,
    }
}

/// `GET` and `HEAD /export/{name}.{csv|json}`.
pub async fn export(
    reads: web::Data<ExportReads>,
    options: web::Data<crate::server::ServerOptions>,
    path: web::Path<String>,
    query: web::Query<HashMap<String, String>>,
    http: HttpRequest,
) -> HttpResponse {
    let name = path.into_inner();
    let (dataset, format) = match name.rsplit_once('.') {
        Some((d, "csv")) => (d.to_string(), Format::Csv),
        Some((d, "json")) => (d.to_string(), Format::Json),
        _ => return bad_request(format!("{name:?}: ask for <dataset>.csv or <dataset>.json")),
    };
    let Some((_, filters)) = EXPORTS.iter().find(|(d, _)| *d == dataset) else {
        let known: Vec<&str> = EXPORTS.iter().map(|(d, _)| *d).collect();
        return bad_request(format!("unknown export {dataset:?}; known: {}", known.join(", ")));
    };
    let mut request = match parse_request(&dataset, filters, format, &query) {
        Ok(r) => r,
        Err(message) => return bad_request(message),
    };
    // Every statement of the export (pages included) reads one snapshot: an ingest committing
    // meanwhile shows up in none of its rows or in all of them.
    let snapshot = reads.0.begin();

    // Resolve area subtrees, and the data's version for conditional requests.
    let roots = request.filter.pcodes.clone();
    let prepared = snapshot.run(move |c| {
        let within = match roots {
            Some(roots) => Some(bi::pcodes_within(c, &roots)?),
            None => None,
        };
        Ok((within, bi::data_version(c)?))
    });
    // Waiting for a connection is bounded like a GraphQL request (exports queue behind each other).
    let prepared = match tokio::time::timeout(options.request_timeout, prepared).await {
        Ok(prepared) => prepared,
        Err(_) => {
            snapshot.finish().await;
            return HttpResponse::ServiceUnavailable().body("every export slot is busy; try again");
        }
    };
    let (within, version) = match prepared {
        Ok(p) => p,
        Err(e) => {
            snapshot.finish().await;
            tracing::error!(error = %e, "export: store unavailable");
            return HttpResponse::ServiceUnavailable().body("the store is unavailable; try again");
        }
    };
    request.filter.pcodes = within;
    let etag = format!(
        "W/\"{}-{:x}\"",
        version.map(|(id, _)| id).unwrap_or(0),
        fxhash(&format!("{name}?{}", http.query_string()))
    );
    let last_modified = version.map(|(_, at)| at);
    if not_modified(&http, &etag, last_modified) {
        snapshot.finish().await;
        let mut response = HttpResponse::NotModified();
        response.insert_header((header::ETAG, etag));
        if let Some(at) = last_modified {
            response.insert_header((header::LAST_MODIFIED, httpdate_of(at)));
        }
        return response.finish();
    }

    let mut response = HttpResponse::Ok();
    response.insert_header((header::ETAG, etag.clone())).insert_header((header::CACHE_CONTROL, "no-cache"));
    if let Some(at) = last_modified {
        response.insert_header((header::LAST_MODIFIED, httpdate_of(at)));
    }
    match dataset.as_str() {
        "idps" => stream_rows::<BiIdp>(response, snapshot, request, &http).await,
        "admin-areas" => stream_rows::<BiAdminArea>(response, snapshot, request, &http).await,
        "population" => stream_rows::<BiPopulation>(response, snapshot, request, &http).await,
        "appeals" => stream_rows::<BiAppeal>(response, snapshot, request, &http).await,
        _ => stream_rows::<BiSite>(response, snapshot, request, &http).await,
    }
}

/// The gate exports take their read snapshots from (apart from GraphQL's, so that a few long
/// exports cannot hold every connection).
pub struct ExportReads(pub SnapshotGate);

async fn stream_rows<R: ExportRow>(
    mut response: actix_web::HttpResponseBuilder,
    snapshot: ReadSnapshot,
    request: ExportRequest,
    http: &HttpRequest,
) -> HttpResponse {
    // Is there a page after this one? Then say where it is. The first page is read now too: an export
    // that fits in it gives its connection back before the client reads a byte.
    let (filter, probe_at) = (request.filter.clone(), request.offset + request.limit);
    let head = http.method() == actix_web::http::Method::HEAD;
    let first_take = if head { 0 } else { request.limit.min(PAGE) };
    let first = snapshot
        .run(move |c| {
            let more = R::exists_at(c, &filter, probe_at)?;
            let mut cursor = Cursor { offset: request.offset, after: None };
            let rows = if first_take > 0 { R::read(c, &filter, first_take, &mut cursor)? } else { Vec::new() };
            Ok((more, rows, cursor))
        })
        .await;
    let (first, cursor) = match first {
        Ok((more, rows, cursor)) => {
            if more {
                let next = next_link(http, request.offset + request.limit, request.limit);
                response.insert_header((header::LINK, format!("<{next}>; rel=\"next\"")));
            }
            (rows, cursor)
        }
        Err(e) => {
            snapshot.finish().await;
            tracing::error!(error = %e, "export: store unavailable");
            return HttpResponse::ServiceUnavailable().body("the store is unavailable; try again");
        }
    };
    if head || (first.len() as i64) < first_take || request.limit <= first.len() as i64 {
        snapshot.finish().await;
    }
    let content_type = match request.format {
        Format::Csv => "text/csv; charset=utf-8",
        Format::Json => "application/json",
    };
    response.content_type(content_type);
    if head {
        // The headers a GET would get, without the rows.
        return response.finish();
    }

    /// The stream's state; dropping it (client gone) ends the snapshot too.
    struct State<R> {
        snapshot: ReadSnapshot,
        filter: ExportFilter,
        cursor: Cursor,
        /// The page read before the response started.
        first: Option<Vec<R>>,
        remaining: i64,
        started: bool,
        finished: bool,
        rows_written: u64,
        rows: std::marker::PhantomData<R>,
    }
    let (format, hxl, bom) = (request.format, request.hxl, request.bom);
    let state: State<R> = State {
        snapshot,
        filter: request.filter,
        cursor,
        first: Some(first),
        remaining: request.limit,
        started: false,
        finished: false,
        rows_written: 0,
        rows: std::marker::PhantomData,
    };
    let body = stream::unfold(state, move |mut st| async move {
        if st.finished {
            return None;
        }
        let mut out = Vec::new();
        if !st.started {
            st.started = true;
            if bom {
                out.extend_from_slice(b"\xEF\xBB\xBF");
            }
            match format {
                Format::Csv => {
                    out.extend(csv_line(R::COLUMNS.iter().map(|(name, _)| name.to_string())));
                    if hxl {
                        out.extend(csv_line(R::COLUMNS.iter().map(|(_, tag)| tag.to_string())));
                    }
                }
                Format::Json => out.push(b'['),
            }
        }
        let take = st.remaining.min(PAGE);
        let rows = if let Some(rows) = st.first.take() {
            rows
        } else if take > 0 {
            let (filter, mut cursor) = (st.filter.clone(), st.cursor.clone());
            match st.snapshot.run(move |c| Ok((R::read(c, &filter, take, &mut cursor)?, cursor))).await {
                Ok((rows, cursor)) => {
                    st.cursor = cursor;
                    rows
                }
                Err(e) => {
                    st.finished = true;
                    st.snapshot.finish().await;
                    tracing::error!(error = %e, "export stream failed");
                    return Some((Err(actix_web::error::ErrorServiceUnavailable("the store became unavailable")), st));
                }
            }
        } else {
            Vec::new()
        };
        for row in &rows {
            let cells = row.cells();
            match format {
                Format::Csv => out.extend(csv_line(cells.iter().map(Cell::csv))),
                Format::Json => {
                    if st.rows_written > 0 {
                        out.push(b',');
                    }
                    out.extend(json_object(R::COLUMNS, &cells));
                }
            }
            st.rows_written += 1;
        }
        st.remaining -= rows.len() as i64;
        if (rows.len() as i64) < take || st.remaining <= 0 {
            st.finished = true;
            st.snapshot.finish().await;
            if format == Format::Json {
                out.push(b']');
            }
        }
        Some((Ok::<Bytes, actix_web::Error>(Bytes::from(out)), st))
    });
    response.streaming(body)
}

/// One row as a JSON object, keys in column order.
fn json_object(columns: &[(&str, &str)], cells: &[Cell]) -> Vec<u8> {
    let fields: Vec<String> =
        columns.iter().zip(cells).map(|((name, _), cell)| format!("{}:{}", Value::from(*name), cell.json())).collect();
    format!("{{{}}}", fields.join(",")).into_bytes()
}

fn csv_line(cells: impl Iterator<Item = String>) -> Vec<u8> {
    let mut writer = csv::WriterBuilder::new().terminator(csv::Terminator::CRLF).from_writer(Vec::new());
    let cells: Vec<String> = cells.collect();
    if writer.write_record(&cells).is_err() {
        return Vec::new();
    }
    writer.into_inner().unwrap_or_default()
}

/// The same URL with another `offset` (and the same `limit`).
fn next_link(http: &HttpRequest, offset: i64, limit: i64) -> String {
    let mut pairs: Vec<(String, String)> = web::Query::<Vec<(String, String)>>::from_query(http.query_string())
        .map(|q| q.into_inner())
        .unwrap_or_default()
        .into_iter()
        .filter(|(k, _)| k != "offset" && k != "limit")
        .collect();
    pairs.push(("limit".into(), limit.to_string()));
    pairs.push(("offset".into(), offset.to_string()));
    let query: Vec<String> = pairs.iter().map(|(k, v)| format!("{}={}", encode(k), encode(v))).collect();
    format!("{}?{}", http.path(), query.join("&"))
}

fn encode(text: &str) -> String {
    let mut out = String::new();
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b',' => out.push(byte as char),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

fn httpdate_of(at: chrono::NaiveDateTime) -> String {
    at.and_utc().format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

/// A small stable hash (FNV-1a) of the request, for the ETag.
fn fxhash(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_neutralised() {
        assert_eq!(neutralise("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(neutralise("+1"), "'+1");
        assert_eq!(neutralise("-2"), "'-2");
        assert_eq!(neutralise("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(neutralise("Mopti"), "Mopti");
    }
}
