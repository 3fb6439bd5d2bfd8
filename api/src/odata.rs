//! The OData v4 feed at `/odata/`: Power BI, Excel's Power Query and Tableau read it with their
//! built-in "OData feed" source (no code), from `$metadata` and `@odata.nextLink`. Every entity of
//! [`store::BI_ENTITIES`] is an entity set, from the same declaration as its `bi_*` view and its CSV
//! export; docs/bi.md says what is served and what is not.
//!
//! - [`metadata`]: entity set names, EDM types, the service document and the CSDL XML.
//! - [`filter`]: the `$filter` language, parsed; [`translate`]: typed against an entity, into the
//!   store's SQL predicate (values bound, never spliced).
//! - [`options`]: the query options, `Prefer: odata.maxpagesize` and the `$skiptoken`.
//! - here: the routes, reading pages in one read snapshot each (the export's gate) and streaming them
//!   chunk by chunk, navigation (`/Set(key)/AdminArea`) and `$expand` from the declarations' links
//!   ([`store::bi::LINKS`]), and the JSON.

pub mod filter;
pub mod metadata;
pub mod options;
pub mod translate;

use std::fmt::Write as _;

use actix_web::http::{StatusCode, header};
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::Value;
use store::bi::predicate::{Compare, Predicate};
use store::bi::{Cell, Condition, Entity};

use crate::error::ApiError;
use crate::export::{ExportReads, json_cell};
use options::{Expand, Options, Refused, Start};

/// The protocol version every answer states.
const VERSION: &str = "4.0";

/// An OData error answer: `{"error": {"code", "message", "target"}}` with the status of the
/// [`ApiError`] (its code, as GraphQL's `extensions.code` and the export's).
fn error(error: ApiError, target: Option<&str>) -> HttpResponse {
    let mut body = serde_json::json!({ "error": { "code": error.code(), "message": error.to_string() } });
    if let Some(target) = target {
        body["error"]["target"] = Value::from(target);
    }
    HttpResponse::build(error.status())
        .insert_header(("OData-Version", VERSION))
        .content_type("application/json")
        .body(body.to_string())
}

fn refused(r: Refused) -> HttpResponse {
    error(ApiError::BadUserInput(r.message), Some(r.target))
}

/// The service root as clients reach it (`http://host/odata/`), for context URLs and next links.
fn root(http: &HttpRequest) -> String {
    let info = http.connection_info();
    format!("{}://{}/odata/", info.scheme(), info.host())
}

fn json(status: StatusCode, body: String) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header(("OData-Version", VERSION))
        .content_type("application/json;odata.metadata=minimal")
        .body(body)
}

/// `GET /odata` and `/odata/`: the service document.
pub async fn service_document(http: HttpRequest) -> HttpResponse {
    json(StatusCode::OK, metadata::service_document(&root(&http)).to_string())
}

/// `GET /odata/{path}`: `$metadata`, an entity set, its `$count`, or one entity by key.
pub async fn resource(
    reads: web::Data<ExportReads>,
    server: web::Data<crate::server::ServerOptions>,
    path: web::Path<String>,
    http: HttpRequest,
) -> HttpResponse {
    let path = path.into_inner();
    let pairs = match options::decode_query(http.query_string()) {
        Ok(p) => p,
        Err(r) => return refused(r),
    };
    if path.is_empty() {
        return service_document(http).await;
    }
    if path == "$metadata" {
        if let Some((_, format)) = pairs.iter().find(|(k, _)| k == "$format")
            && !format.contains("xml")
        {
            return error(
                ApiError::BadUserInput(format!("$metadata is served as CSDL XML only, not {format:?}")),
                Some("$format"),
            );
        }
        return HttpResponse::Ok()
            .insert_header(("OData-Version", VERSION))
            .content_type("application/xml")
            .body(metadata::csdl());
    }
    let (set, key, rest) = match split_path(&path) {
        Ok(parts) => parts,
        Err(message) => return error(ApiError::BadUserInput(message), None),
    };
    let Some(entity) = metadata::entity_of_set(set) else {
        let known: Vec<String> = store::BI_ENTITIES.iter().map(|e| metadata::set_name(e)).collect();
        return error(ApiError::NotFound(format!("no entity set {set:?}; these are: {}", known.join(", "))), None);
    };
    let read = Read { reads, timeout: server.request_timeout };
    match (key, rest) {
        (None, None) => collection(entity, &pairs, &http, read).await,
        (None, Some("$count")) => count(entity, &pairs, read).await,
        (Some(key), None) => single(entity, &key, None, &pairs, &http, read).await,
        (Some(key), Some(name)) if entity.link(name).is_some() => {
            single(entity, &key, entity.link(name), &pairs, &http, read).await
        }
        (None, Some(other)) => {
            error(ApiError::NotFound(format!("{other:?}: only $count follows an entity set here")), None)
        }
        (Some(_), Some(other)) => {
            let names: Vec<&str> = entity.links().iter().map(|l| l.name).collect();
            error(
                ApiError::NotFound(format!(
                    "{other:?} is not a navigation property of {}; these are: {}",
                    metadata::set_name(entity),
                    names.join(", ")
                )),
                None,
            )
        }
    }
}

/// Splits `Set`, `Set/$count` or `Set(key)` (a key's strings may hold `/` and `)`): the set's name, the
/// key (percent-decoded: a client may encode its `/` as `%2F`), and what follows.
fn split_path(path: &str) -> Result<(&str, Option<String>, Option<&str>), String> {
    let open = path.find(['(', '/']);
    let Some(open) = open.filter(|&i| path[i..].starts_with('(')) else {
        return Ok(match path.split_once('/') {
            Some((set, rest)) => (set, None, Some(rest)),
            None => (path, None, None),
        });
    };
    let mut quoted = false;
    for (i, c) in path[open + 1..].char_indices() {
        match c {
            '\'' => quoted = !quoted,
            ')' if !quoted => {
                let close = open + 1 + i;
                let key = percent_encoding::percent_decode_str(&path[open + 1..close]).decode_utf8_lossy().into_owned();
                let rest = &path[close + 1..];
                return match rest.strip_prefix('/') {
                    Some(rest) => Ok((&path[..open], Some(key), Some(rest))),
                    None if rest.is_empty() => Ok((&path[..open], Some(key), None)),
                    None => Err(format!("{path:?}: unexpected {rest:?} after the key")),
                };
            }
            _ => {}
        }
    }
    Err(format!("{path:?}: the key is not closed"))
}

/// Reads in one snapshot of the export's gate, bounded like a GraphQL request's wait.
struct Read {
    reads: web::Data<ExportReads>,
    timeout: std::time::Duration,
}

impl Read {
    async fn run<T, F>(&self, work: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&mut store::AnyConnection) -> Result<T, store::StoreError> + Send + 'static,
    {
        let snapshot = self.reads.0.begin();
        let result = tokio::time::timeout(self.timeout, snapshot.run(work)).await;
        snapshot.finish().await;
        match result {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(e.into()),
            Err(_) => Err(ApiError::Unavailable),
        }
    }
}

fn conditions(options: &Options) -> Vec<Condition> {
    options.filter.clone().map(Condition::Where).into_iter().collect()
}

/// How rows are written: the entity, its `$select`ed columns and the `$expand`ed links.
struct Shape {
    entity: &'static Entity,
    select: Option<Vec<usize>>,
    expand: Vec<Expand>,
}

/// One row as a JSON object of the selected properties, and of each expanded link's row (`null` when
/// the row names none).
fn object(
    entity: &Entity,
    select: Option<&[usize]>,
    cells: &[Cell],
    expanded: &[(&Expand, Option<&Vec<Cell>>)],
    out: &mut String,
) {
    out.push('{');
    let mut first = true;
    for (i, (column, cell)) in entity.columns.iter().zip(cells).enumerate() {
        if select.is_some_and(|s| !s.contains(&i)) {
            continue;
        }
        if !first {
            out.push(',');
        }
        first = false;
        out.push_str(&Value::from(column.name).to_string());
        out.push(':');
        match cell {
            // Every digit of the instant: a key holding it must find its row again.
            Cell::Time(Some(t)) => out.push_str(&format!("\"{}Z\"", t.format("%Y-%m-%dT%H:%M:%S%.f"))),
            _ => out.push_str(&json_cell(cell).to_string()),
        }
    }
    for (expand, row) in expanded {
        if !first {
            out.push(',');
        }
        first = false;
        out.push_str(&Value::from(expand.link.name).to_string());
        out.push(':');
        match row {
            Some(row) => object(expand.target, expand.select.as_deref(), row, &[], out),
            None => out.push_str("null"),
        }
    }
    out.push('}');
}

/// The rows as JSON objects, each after a comma but the first of the page; the expanded links' rows
/// read in one statement per link for all of them.
fn write_rows(
    c: &mut store::AnyConnection,
    shape: &Shape,
    rows: &[Vec<Cell>],
    page_started: bool,
    out: &mut String,
) -> Result<(), store::StoreError> {
    let followed: Vec<Vec<Option<Vec<Cell>>>> =
        shape.expand.iter().map(|e| shape.entity.follow(c, e.link, rows)).collect::<Result<_, _>>()?;
    for (i, row) in rows.iter().enumerate() {
        if i > 0 || page_started {
            out.push(',');
        }
        let expanded: Vec<(&Expand, Option<&Vec<Cell>>)> =
            shape.expand.iter().zip(&followed).map(|(e, f)| (e, f.get(i).and_then(Option::as_ref))).collect();
        object(shape.entity, shape.select.as_deref(), row, &expanded, out);
    }
    Ok(())
}

/// The context URL: the entity set, with the selected properties and expanded links when a request
/// narrows or widens the rows (`Idps(area_pcode,idps,AdminArea(name))`).
fn context(root: &str, entity: &Entity, select: Option<&[usize]>, expand: &[Expand], suffix: &str) -> String {
    let name = metadata::set_name(entity);
    let mut items: Vec<String> = match select {
        Some(positions) => positions.iter().map(|&i| entity.columns[i].name.to_string()).collect(),
        None if expand.is_empty() => return format!("{root}$metadata#{name}{suffix}"),
        None => vec!["*".into()],
    };
    for e in expand {
        let inner: Vec<&str> =
            e.select.as_deref().map(|s| s.iter().map(|&i| e.target.columns[i].name).collect()).unwrap_or_default();
        items.push(format!("{}({})", e.link.name, inner.join(",")));
    }
    format!("{root}$metadata#{name}({}){suffix}", items.join(","))
}

/// Rows read and written at a time while a page streams: a page of 50,000 rows never sits in memory whole.
const CHUNK: i64 = 5_000;

/// Where the reading of one page stands.
struct Reading {
    start: Start,
    /// Rows of the page still to read.
    left: i64,
    /// Whether a row follows the page (known once the page is read).
    more: bool,
    done: bool,
}

impl Reading {
    /// The next chunk of the page's rows, in the entity's order from its cursor or in the client's by offset.
    fn chunk(
        &mut self,
        c: &mut store::AnyConnection,
        entity: &Entity,
        conditions: &[Condition],
        order_by: &[(&str, bool)],
    ) -> Result<Vec<Vec<Cell>>, store::StoreError> {
        let n = self.left.min(CHUNK);
        if n <= 0 {
            self.done = true;
            return Ok(Vec::new());
        }
        let last = n == self.left;
        let rows = match &mut self.start {
            Start::Cursor(cursor) => {
                let rows = entity.rows(c, conditions, n, cursor)?;
                // Is there a row after the page? (One more row from the same cursor: cheap by key.)
                if last && rows.len() as i64 == n {
                    self.more = !entity.rows(c, conditions, 1, &mut cursor.clone())?.is_empty();
                }
                rows
            }
            Start::Offset(offset) => {
                let mut rows = entity.rows_ordered(c, conditions, order_by, n + i64::from(last), *offset)?;
                if rows.len() as i64 > n {
                    self.more = true;
                    rows.truncate(n as usize);
                }
                *offset += rows.len() as i64;
                rows
            }
        };
        self.left -= rows.len() as i64;
        self.done = last || (rows.len() as i64) < n;
        Ok(rows)
    }
}

/// What every chunk of a page's stream needs.
struct Job {
    shape: Shape,
    conditions: Vec<Condition>,
    order_by: Vec<(&'static str, bool)>,
}

async fn collection(
    entity: &'static Entity,
    pairs: &[(String, String)],
    http: &HttpRequest,
    read: Read,
) -> HttpResponse {
    let options = match options::parse(entity, pairs) {
        Ok(o) => o,
        Err(r) => return refused(r),
    };
    let prefer = http.headers().get("Prefer").and_then(|v| v.to_str().ok());
    let preferred = options::max_page_size(prefer);
    let page = preferred.unwrap_or(options::DEFAULT_PAGE);
    let take = options.top.map_or(page, |top| top.min(page));
    let root = root(http);
    let job = std::sync::Arc::new(Job {
        shape: Shape { entity, select: options.select.clone(), expand: options.expand.clone() },
        conditions: conditions(&options),
        order_by: options.order_by.clone(),
    });
    let mut head = String::from("{\"@odata.context\":");
    head.push_str(&Value::from(context(&root, entity, options.select.as_deref(), &options.expand, "")).to_string());
    let want_count = options.count;
    let reading = Reading { start: options.start.clone(), left: take, more: false, done: false };

    // The count and the first chunk are read before the answer starts (an error is then an OData
    // error); the rest streams chunk by chunk in the same read snapshot, as the CSV export does.
    let snapshot = read.reads.0.begin();
    let first_job = job.clone();
    let first = snapshot.run(move |c| {
        let mut reading = reading;
        let mut out = head;
        if want_count {
            let _ = write!(out, ",\"@odata.count\":{}", entity.count(c, &first_job.conditions)?);
        }
        out.push_str(",\"value\":[");
        let rows = reading.chunk(c, entity, &first_job.conditions, &first_job.order_by)?;
        write_rows(c, &first_job.shape, &rows, false, &mut out)?;
        Ok((out, reading, rows.len() as i64))
    });
    let (first, reading, sent) = match tokio::time::timeout(read.timeout, first).await {
        Ok(Ok(first)) => first,
        Ok(Err(e)) => {
            snapshot.finish().await;
            return error(e.into(), None);
        }
        Err(_) => {
            snapshot.finish().await;
            return error(ApiError::Unavailable, None);
        }
    };
    // After the rows: a next link while $top (if any) is not reached: the same options, the rest of
    // $top, the token.
    let tail = move |reading: &Reading, sent: i64| -> String {
        let mut out = String::from("]");
        let remaining = options.top.map(|top| top - sent);
        if reading.more && remaining.is_none_or(|r| r > 0) {
            let mut query: Vec<String> =
                options.carried.iter().map(|(k, v)| format!("{k}={}", options::encode(v))).collect();
            if let Some(remaining) = remaining {
                query.push(format!("$top={remaining}"));
            }
            query.push(format!("$skiptoken={}", options::encode_token(entity, &reading.start)));
            let link = format!("{root}{}?{}", metadata::set_name(entity), query.join("&"));
            out.push_str(",\"@odata.nextLink\":");
            out.push_str(&Value::from(link).to_string());
        }
        out.push('}');
        out
    };
    let mut response = HttpResponse::Ok();
    response.insert_header(("OData-Version", VERSION)).content_type("application/json;odata.metadata=minimal");
    if let Some(applied) = preferred
        && let Ok(value) = header::HeaderValue::from_str(&format!("odata.maxpagesize={applied}"))
    {
        response.insert_header((header::HeaderName::from_static("preference-applied"), value));
    }
    if reading.done {
        snapshot.finish().await;
        let mut body = first;
        body.push_str(&tail(&reading, sent));
        return response.body(body);
    }

    /// The stream's state; dropping it (client gone) ends the snapshot too.
    struct State<T> {
        snapshot: store::ReadSnapshot,
        job: std::sync::Arc<Job>,
        reading: Option<Reading>,
        first: Option<String>,
        sent: i64,
        tail: T,
        finished: bool,
    }
    let state = State { snapshot, job, reading: Some(reading), first: Some(first), sent, tail, finished: false };
    let body = futures_util::stream::unfold(state, move |mut st| async move {
        if st.finished {
            return None;
        }
        if let Some(first) = st.first.take() {
            return Some((Ok::<Bytes, actix_web::Error>(Bytes::from(first)), st));
        }
        let (job, reading) = (st.job.clone(), st.reading.take()?);
        let chunk = st
            .snapshot
            .run(move |c| {
                let mut reading = reading;
                let rows = reading.chunk(c, job.shape.entity, &job.conditions, &job.order_by)?;
                let mut out = String::with_capacity(rows.len() * 700);
                write_rows(c, &job.shape, &rows, true, &mut out)?;
                Ok((out, reading, rows.len() as i64))
            })
            .await;
        match chunk {
            Ok((mut out, reading, n)) => {
                st.sent += n;
                if reading.done {
                    st.finished = true;
                    st.snapshot.finish().await;
                    out.push_str(&(st.tail)(&reading, st.sent));
                }
                st.reading = Some(reading);
                Some((Ok(Bytes::from(out)), st))
            }
            Err(e) => {
                st.finished = true;
                st.snapshot.finish().await;
                tracing::error!(error = %e, "OData page stream failed");
                Some((Err(actix_web::error::ErrorServiceUnavailable("the store became unavailable")), st))
            }
        }
    });
    response.streaming(body)
}

/// `GET /odata/<Set>/$count`: the number of rows matching `$filter`, as plain text.
async fn count(entity: &'static Entity, pairs: &[(String, String)], read: Read) -> HttpResponse {
    if let Some((name, _)) = pairs.iter().find(|(k, _)| k.starts_with('$') && k != "$filter") {
        return error(ApiError::BadUserInput(format!("{name} does not apply to $count; $filter does")), Some("query"));
    }
    let options = match options::parse(entity, pairs) {
        Ok(o) => o,
        Err(r) => return refused(r),
    };
    let conditions = conditions(&options);
    match read.run(move |c| entity.count(c, &conditions)).await {
        Ok(n) => {
            HttpResponse::Ok().insert_header(("OData-Version", VERSION)).content_type("text/plain").body(n.to_string())
        }
        Err(e) => error(e, None),
    }
}

/// `GET /odata/<Set>(<key>)`: one entity, by every property of its key (or the value of a one-property
/// key), with `$select` and `$expand`; or, through a navigation property (`/odata/Idps(...)/AdminArea`),
/// the entity it leads to (204 when the row names none).
async fn single(
    entity: &'static Entity,
    key: &str,
    navigation: Option<&'static store::bi::Link>,
    pairs: &[(String, String)],
    http: &HttpRequest,
    read: Read,
) -> HttpResponse {
    if let Some((name, _)) =
        pairs.iter().find(|(k, _)| k.starts_with('$') && !matches!(k.as_str(), "$select" | "$expand" | "$format"))
    {
        return error(
            ApiError::BadUserInput(format!("{name} does not apply to a single entity; $select and $expand do")),
            Some("query"),
        );
    }
    let shown = match navigation.map(|l| l.target()) {
        None => entity,
        Some(Some(target)) => target,
        Some(None) => return error(ApiError::Internal, None),
    };
    let options = match options::parse(shown, pairs) {
        Ok(o) => o,
        Err(r) => return refused(r),
    };
    let predicate = match key_predicate(entity, key) {
        Ok(p) => p,
        Err(message) => return error(ApiError::BadUserInput(message), Some("key")),
    };
    let conditions = vec![Condition::Where(predicate)];
    let context = Value::from(context(&root(http), shown, options.select.as_deref(), &options.expand, "/$entity"));
    let shape = Shape { entity: shown, select: options.select, expand: options.expand };
    let found = read
        .run(move |c| {
            let rows = entity.rows_ordered(c, &conditions, &[], 2, 0)?;
            let rows = match (navigation, rows.len()) {
                (Some(link), 1) => entity.follow(c, link, &rows)?.into_iter().flatten().collect(),
                _ => rows,
            };
            let mut text = String::new();
            if let [_] = rows.as_slice() {
                write_rows(c, &shape, &rows, false, &mut text)?;
            }
            Ok((rows.len(), text))
        })
        .await;
    match found {
        Ok((1, object_text)) => {
            let body = match object_text.strip_prefix('{') {
                Some("}") => format!("{{\"@odata.context\":{context}}}"),
                Some(rest) => format!("{{\"@odata.context\":{context},{rest}"),
                None => object_text,
            };
            json(StatusCode::OK, body)
        }
        Ok((0, _)) if navigation.is_some() => {
            // The row exists but names no entity through this navigation property (or does not exist).
            let exists = key_predicate(entity, key).map(|p| vec![Condition::Where(p)]);
            match exists {
                Ok(conditions) => match read.run(move |c| entity.count(c, &conditions)).await {
                    Ok(1) => HttpResponse::NoContent().insert_header(("OData-Version", VERSION)).finish(),
                    Ok(_) => not_found(entity, key),
                    Err(e) => error(e, None),
                },
                Err(message) => error(ApiError::BadUserInput(message), Some("key")),
            }
        }
        Ok((0, _)) => not_found(entity, key),
        Ok(_) => {
            tracing::error!(entity = entity.export, key, "two rows share an OData key");
            error(ApiError::Internal, None)
        }
        Err(e) => error(e, None),
    }
}

fn not_found(entity: &Entity, key: &str) -> HttpResponse {
    error(ApiError::NotFound(format!("no {} entity has the key ({key})", metadata::set_name(entity))), None)
}

/// The condition selecting the entity with this key: every key property, each once.
fn key_predicate(entity: &'static Entity, key: &str) -> Result<Predicate, String> {
    let columns = entity.key_columns();
    let names: Vec<&str> = columns.iter().map(|c| c.name).collect();
    let parts = filter::parse_key(key)?;
    let expected = || format!("the key of {} is ({})", metadata::set_name(entity), names.join(","));
    if parts.len() != columns.len() {
        return Err(expected());
    }
    let mut conditions = Vec::new();
    for (i, (name, literal)) in parts.iter().enumerate() {
        let column = match name {
            Some(name) => columns.iter().find(|c| c.name == name).ok_or_else(expected)?,
            None if columns.len() == 1 => &columns[0],
            None => return Err(expected()),
        };
        if parts[..i].iter().any(|(other, _)| other.as_deref() == Some(column.name)) {
            return Err(expected());
        }
        let value = translate::typed(column, literal)?
            .ok_or_else(|| format!("the key property {} is never null", column.name))?;
        conditions.push(Predicate::Compare(column.name, Compare::Eq, value));
    }
    Ok(Predicate::And(conditions))
}
