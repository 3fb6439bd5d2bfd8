//! BI export: `GET /export/<entity>.{csv,json,parquet}` for every entity of [`store::BI_ENTITIES`] (idps,
//! population, appeals, sites, admin-areas, ...), whose declaration gives the columns (the same as its
//! `bi_*` SQL view), the filters it takes and its order. Flat rows, ISO dates, instants in UTC with
//! `Z`, the licence's title and URL, streamed page by page, `limit`/`offset` with a `Link: rel="next"`
//! header, an optional HXL tag row and UTF-8 BOM, cells neutralised against formula injection, and
//! `ETag`/`Last-Modified` from the data's last change (`If-None-Match`, `If-Modified-Since` and `HEAD`
//! honoured). Each export refuses any parameter its entity does not take. Errors carry the status and
//! code of [`ApiError`], as GraphQL's do. The Parquet format ([`parquet`]) has typed columns and is
//! streamed row group by row group; [`write_export`] writes any format to a file (the CLI's
//! `crisisgraph export`) with the same parameters and rows.

pub mod parquet;

use std::collections::HashMap;

use actix_web::http::header;
use actix_web::web::{self, Bytes};
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use futures_util::stream;
use serde_json::Value;
use store::bi::{self, Cell, Condition, Cursor, Entity};
use store::{ReadSnapshot, SnapshotGate};

use crate::error::ApiError;

/// Rows read from the store per page of the stream (about 2.5 MB of rows in memory). An entity paged
/// by key continues each page after the last key sent (an index range scan), so small pages cost no
/// re-reading.
const PAGE: i64 = 5_000;
/// Rows a request gets when it does not ask for a `limit`.
pub const DEFAULT_LIMIT: i64 = 100_000;
/// The most rows one request may ask for.
pub const MAX_LIMIT: i64 = 1_000_000;

fn csv_cell(cell: &Cell) -> String {
    match cell {
        Cell::Text(Some(t)) => neutralise(t),
        Cell::Int(Some(n)) => n.to_string(),
        Cell::Float(Some(x)) => x.to_string(),
        Cell::Bool(Some(b)) => b.to_string(),
        Cell::Date(Some(d)) => d.format("%Y-%m-%d").to_string(),
        Cell::Time(Some(t)) => crate::scalars::utc_rfc3339(*t),
        _ => String::new(),
    }
}

/// A cell as JSON: ISO dates, instants in UTC with `Z` (the JSON export's and the OData feed's).
pub(crate) fn json_cell(cell: &Cell) -> Value {
    match cell {
        Cell::Text(Some(t)) => Value::from(t.as_str()),
        Cell::Int(Some(n)) => Value::from(*n),
        Cell::Float(Some(x)) => Value::from(*x),
        Cell::Bool(Some(b)) => Value::from(*b),
        Cell::Date(Some(d)) => Value::from(d.format("%Y-%m-%d").to_string()),
        Cell::Time(Some(t)) => Value::from(crate::scalars::utc_rfc3339(*t)),
        _ => Value::Null,
    }
}

/// A text cell a spreadsheet would run as a formula gets a leading apostrophe.
pub(crate) fn neutralise(text: &str) -> String {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{text}") } else { text.to_string() }
}

/// An export's file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Json,
    Parquet,
}

impl Format {
    /// The format of a file extension (`csv`, `json`, `parquet`).
    pub fn from_extension(extension: &str) -> Option<Format> {
        match extension {
            "csv" => Some(Format::Csv),
            "json" => Some(Format::Json),
            "parquet" => Some(Format::Parquet),
            _ => None,
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            Format::Csv => "text/csv; charset=utf-8",
            Format::Json => "application/json",
            Format::Parquet => parquet::CONTENT_TYPE,
        }
    }
}

/// What a request asked for, after validation.
struct ExportRequest {
    conditions: Vec<Condition>,
    limit: i64,
    offset: i64,
    hxl: bool,
    bom: bool,
    format: Format,
}

/// Parameters every export takes.
const PAGING: [&str; 4] = ["limit", "offset", "hxl", "bom"];

/// An error as the export answers it: the status and code GraphQL's `extensions.code` would carry,
/// as JSON (GraphQL's shape) for a JSON export, else as text.
fn fail(error: ApiError, format: Option<Format>) -> HttpResponse {
    if format == Some(Format::Json) {
        let body =
            serde_json::json!({ "errors": [{ "message": error.to_string(), "extensions": { "code": error.code() } }] });
        HttpResponse::build(error.status()).content_type("application/json").body(body.to_string())
    } else {
        error.error_response()
    }
}

/// Validates a request's parameters against those `entity` takes: any other is refused, naming the
/// ones that apply, rather than silently ignored.
fn parse_request(entity: &Entity, format: Format, query: &HashMap<String, String>) -> Result<ExportRequest, String> {
    let applicable: Vec<&str> = entity.filters.iter().map(|f| f.param).chain(PAGING.iter().copied()).collect();
    let mut unknown: Vec<&String> = query.keys().filter(|k| !applicable.contains(&k.as_str())).collect();
    unknown.sort();
    if let Some(first) = unknown.first() {
        let what = if store::BI_ENTITIES.iter().any(|e| e.filter(first).is_some()) {
            "does not apply to"
        } else {
            "is unknown to"
        };
        return Err(format!(
            "parameter {first:?} {what} the {} export; these apply: {}",
            entity.export,
            applicable.join(", ")
        ));
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
    let mut conditions = Vec::new();
    for filter in entity.filters {
        conditions.extend(filter.condition(get(filter.param))?);
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
    let (hxl, bom) = (flag("hxl")?, flag("bom")?);
    if format == Format::Parquet && (hxl || bom) {
        return Err("hxl and bom apply to the CSV and JSON exports, not to Parquet (its columns are typed and \
                    described in the file's metadata)"
            .into());
    }
    Ok(ExportRequest { conditions, limit, offset, hxl, bom, format })
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

/// `GET` and `HEAD /export/{name}.{csv|json|parquet}`, for every entity of [`store::BI_ENTITIES`].
pub async fn export(
    reads: web::Data<ExportReads>,
    options: web::Data<crate::server::ServerOptions>,
    path: web::Path<String>,
    query: web::Query<HashMap<String, String>>,
    http: HttpRequest,
) -> HttpResponse {
    let name = path.into_inner();
    let (dataset, format) = match name.rsplit_once('.').and_then(|(d, e)| Some((d, Format::from_extension(e)?))) {
        Some((d, format)) => (d.to_string(), format),
        None => {
            let message = format!("{name:?}: ask for <dataset>.csv, <dataset>.json or <dataset>.parquet");
            return fail(ApiError::BadUserInput(message), None);
        }
    };
    let Some(entity) = bi::entity(&dataset) else {
        let known: Vec<&str> = store::BI_ENTITIES.iter().map(|e| e.export).collect();
        let message = format!("unknown export {dataset:?}; known: {}", known.join(", "));
        return fail(ApiError::BadUserInput(message), Some(format));
    };
    let mut request = match parse_request(entity, format, &query) {
        Ok(r) => r,
        Err(message) => return fail(ApiError::BadUserInput(message), Some(format)),
    };
    // Every statement of the export (pages included) reads one snapshot: an ingest committing
    // meanwhile shows up in none of its rows or in all of them.
    let snapshot = reads.0.begin();

    // Resolve area subtrees, and the data's version for conditional requests.
    let conditions = std::mem::take(&mut request.conditions);
    let prepared = snapshot.run(move |c| {
        let mut conditions = conditions;
        bi::resolve(c, &mut conditions)?;
        Ok((conditions, bi::data_version(c)?))
    });
    // Waiting for a connection is bounded like a GraphQL request (exports queue behind each other).
    let prepared = match tokio::time::timeout(options.request_timeout, prepared).await {
        Ok(prepared) => prepared,
        Err(_) => {
            snapshot.finish().await;
            return fail(ApiError::Unavailable, Some(format));
        }
    };
    let (conditions, version) = match prepared {
        Ok(p) => p,
        Err(e) => {
            snapshot.finish().await;
            return fail(e.into(), Some(format));
        }
    };
    request.conditions = conditions;
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
    stream_rows(entity, response, snapshot, request, &http).await
}

/// The gate exports take their read snapshots from (apart from GraphQL's, so that a few long
/// exports cannot hold every connection).
pub struct ExportReads(pub SnapshotGate);

async fn stream_rows(
    entity: &'static Entity,
    mut response: actix_web::HttpResponseBuilder,
    snapshot: ReadSnapshot,
    request: ExportRequest,
    http: &HttpRequest,
) -> HttpResponse {
    // Is there a page after this one? Then say where it is. The first page is read now too: an export
    // that fits in it gives its connection back before the client reads a byte.
    let (conditions, probe_at) = (request.conditions.clone(), request.offset + request.limit);
    let head = http.method() == actix_web::http::Method::HEAD;
    let first_take = if head { 0 } else { request.limit.min(PAGE) };
    let first = snapshot
        .run(move |c| {
            let more = entity.row_exists_at(c, &conditions, probe_at)?;
            let mut cursor = Cursor { offset: request.offset, after: None };
            let rows = if first_take > 0 { entity.rows(c, &conditions, first_take, &mut cursor)? } else { Vec::new() };
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
            return fail(e.into(), Some(request.format));
        }
    };
    if head || (first.len() as i64) < first_take || request.limit <= first.len() as i64 {
        snapshot.finish().await;
    }
    response.content_type(request.format.content_type());
    if head {
        // The headers a GET would get, without the rows.
        return response.finish();
    }

    /// The stream's state; dropping it (client gone) ends the snapshot too.
    struct State {
        snapshot: ReadSnapshot,
        conditions: Vec<Condition>,
        cursor: Cursor,
        /// The page read before the response started.
        first: Option<Vec<Vec<Cell>>>,
        remaining: i64,
        started: bool,
        finished: bool,
        rows_written: u64,
        /// The Parquet file being written (Parquet only).
        parquet: Option<parquet::ParquetEncoder>,
    }
    impl State {
        /// Ends the stream on a value the Parquet writer refused (logged; the client sees the body cut).
        async fn fail_encoding(&mut self, error: parquet::EncodeError) -> actix_web::Error {
            self.finished = true;
            self.parquet = None;
            self.snapshot.finish().await;
            tracing::error!(error = %error, "parquet export failed");
            actix_web::error::ErrorInternalServerError("the export could not be encoded")
        }
    }
    let (format, hxl, bom) = (request.format, request.hxl, request.bom);
    let state = State {
        snapshot,
        conditions: request.conditions,
        cursor,
        first: Some(first),
        remaining: request.limit,
        started: false,
        finished: false,
        rows_written: 0,
        parquet: None,
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
                    out.extend(csv_line(entity.columns.iter().map(|c| c.name.to_string())));
                    if hxl {
                        out.extend(csv_line(entity.columns.iter().map(|c| c.hxl.to_string())));
                    }
                }
                Format::Json => out.push(b'['),
                Format::Parquet => match parquet::ParquetEncoder::new(entity) {
                    Ok(encoder) => st.parquet = Some(encoder),
                    Err(e) => return Some((Err(st.fail_encoding(e).await), st)),
                },
            }
        }
        let take = st.remaining.min(PAGE);
        let rows = if let Some(rows) = st.first.take() {
            rows
        } else if take > 0 {
            let (conditions, mut cursor) = (st.conditions.clone(), st.cursor.clone());
            match st.snapshot.run(move |c| Ok((entity.rows(c, &conditions, take, &mut cursor)?, cursor))).await {
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
        if let Some(encoder) = st.parquet.as_mut() {
            match encoder.write(&rows) {
                Ok(bytes) => out.extend(bytes),
                Err(e) => return Some((Err(st.fail_encoding(e).await), st)),
            }
            st.rows_written += rows.len() as u64;
        } else {
            write_text_rows(entity, format, &rows, &mut st.rows_written, &mut out);
        }
        st.remaining -= rows.len() as i64;
        if (rows.len() as i64) < take || st.remaining <= 0 {
            st.finished = true;
            st.snapshot.finish().await;
            if format == Format::Json {
                out.push(b']');
            }
            if let Some(encoder) = st.parquet.take() {
                match encoder.finish() {
                    Ok(bytes) => out.extend(bytes),
                    Err(e) => return Some((Err(st.fail_encoding(e).await), st)),
                }
            }
        }
        Some((Ok::<Bytes, actix_web::Error>(Bytes::from(out)), st))
    });
    response.streaming(body)
}

/// Writes the export `name` in `format` to `out`, with the parameters (`params`) and rows the HTTP
/// export of the same URL would give, except that without a `limit` every row is written: the CLI's
/// `crisisgraph export`. Gives the number of rows written.
pub async fn write_export<W: std::io::Write>(
    pool: &store::DbPool,
    name: &str,
    format: Format,
    params: &HashMap<String, String>,
    out: &mut W,
) -> Result<u64, ApiError> {
    let Some(entity) = bi::entity(name) else {
        let known: Vec<&str> = store::BI_ENTITIES.iter().map(|e| e.export).collect();
        return Err(ApiError::BadUserInput(format!("unknown export {name:?}; known: {}", known.join(", "))));
    };
    let mut request = parse_request(entity, format, params).map_err(ApiError::BadUserInput)?;
    if !params.contains_key("limit") {
        request.limit = i64::MAX;
    }
    let snapshot = SnapshotGate::new(pool.clone(), 1).begin();
    let written = write_rows(entity, &snapshot, request, out).await;
    snapshot.finish().await;
    written
}

async fn write_rows<W: std::io::Write>(
    entity: &'static Entity,
    snapshot: &ReadSnapshot,
    request: ExportRequest,
    out: &mut W,
) -> Result<u64, ApiError> {
    let write = |out: &mut W, bytes: &[u8]| {
        out.write_all(bytes).map_err(|e| {
            tracing::error!(error = %e, "writing the export failed");
            ApiError::Internal
        })
    };
    let encoding = |e: parquet::EncodeError| {
        tracing::error!(error = %e, "parquet export failed");
        ApiError::Internal
    };
    let conditions = request.conditions;
    let conditions = snapshot
        .run(move |c| {
            let mut conditions = conditions;
            bi::resolve(c, &mut conditions)?;
            Ok(conditions)
        })
        .await?;
    let mut head = Vec::new();
    if request.bom {
        head.extend_from_slice(b"\xEF\xBB\xBF");
    }
    let mut encoder = None;
    match request.format {
        Format::Csv => {
            head.extend(csv_line(entity.columns.iter().map(|c| c.name.to_string())));
            if request.hxl {
                head.extend(csv_line(entity.columns.iter().map(|c| c.hxl.to_string())));
            }
        }
        Format::Json => head.push(b'['),
        Format::Parquet => encoder = Some(parquet::ParquetEncoder::new(entity).map_err(encoding)?),
    }
    write(out, &head)?;
    let mut cursor = Cursor { offset: request.offset, after: None };
    let (mut remaining, mut rows_written) = (request.limit, 0u64);
    while remaining > 0 {
        let take = remaining.min(PAGE);
        let page_conditions = conditions.clone();
        let (rows, next) = snapshot
            .run(move |c| {
                let rows = entity.rows(c, &page_conditions, take, &mut cursor)?;
                Ok((rows, cursor))
            })
            .await?;
        cursor = next;
        let mut bytes = Vec::new();
        match encoder.as_mut() {
            Some(encoder) => {
                bytes = encoder.write(&rows).map_err(encoding)?;
                rows_written += rows.len() as u64;
            }
            None => write_text_rows(entity, request.format, &rows, &mut rows_written, &mut bytes),
        }
        write(out, &bytes)?;
        remaining -= rows.len() as i64;
        if (rows.len() as i64) < take {
            break;
        }
    }
    match encoder {
        Some(encoder) => write(out, &encoder.finish().map_err(encoding)?)?,
        None if request.format == Format::Json => write(out, b"]")?,
        None => {}
    }
    out.flush().map_err(|e| {
        tracing::error!(error = %e, "writing the export failed");
        ApiError::Internal
    })?;
    Ok(rows_written)
}

/// Rows as CSV lines or JSON objects (after the first row written, each object is preceded by a comma).
fn write_text_rows(entity: &Entity, format: Format, rows: &[Vec<Cell>], rows_written: &mut u64, out: &mut Vec<u8>) {
    for cells in rows {
        match format {
            Format::Csv => out.extend(csv_line(cells.iter().map(csv_cell))),
            Format::Json => {
                if *rows_written > 0 {
                    out.push(b',');
                }
                out.extend(json_object(entity, cells));
            }
            Format::Parquet => {}
        }
        *rows_written += 1;
    }
}

/// One row as a JSON object, keys in column order.
fn json_object(entity: &Entity, cells: &[Cell]) -> Vec<u8> {
    let fields: Vec<String> = entity
        .columns
        .iter()
        .zip(cells)
        .map(|(column, cell)| format!("{}:{}", Value::from(column.name), json_cell(cell)))
        .collect();
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
