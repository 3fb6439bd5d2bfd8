//! The OData v4 feed at `/odata/`: Power BI, Excel's Power Query and Tableau read it with their
//! built-in "OData feed" source (no code), from `$metadata` and `@odata.nextLink`. Every entity of
//! [`store::BI_ENTITIES`] is an entity set, from the same declaration as its `bi_*` view and its CSV
//! export; docs/bi.md says what is served and what is not.
//!
//! - [`metadata`]: entity set names, EDM types, the service document and the CSDL XML.
//! - [`filter`]: the `$filter` language, parsed; [`translate`]: typed against an entity, into the
//!   store's SQL predicate (values bound, never spliced).
//! - [`options`]: the query options, `Prefer: odata.maxpagesize` and the `$skiptoken`.
//! - here: the routes, reading pages in one read snapshot each (the export's gate), and the JSON.

pub mod filter;
pub mod metadata;
pub mod options;
pub mod translate;

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::Value;
use store::bi::predicate::{Compare, Predicate};
use store::bi::{Cell, Condition, Entity};

use crate::error::ApiError;
use crate::export::{ExportReads, json_cell};
use options::{Options, Refused, Start};

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
        (Some(key), None) => single(entity, &key, &pairs, &http, read).await,
        (_, Some(other)) => error(
            ApiError::NotFound(format!(
                "{other:?}: only $count follows an entity set here (navigation properties are not served)"
            )),
            None,
        ),
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

/// One row as a JSON object of the selected properties.
fn object(entity: &Entity, select: Option<&[usize]>, cells: &[Cell], out: &mut String) {
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
    out.push('}');
}

fn context(root: &str, entity: &Entity, select: Option<&[usize]>, suffix: &str) -> String {
    let name = metadata::set_name(entity);
    match select {
        Some(positions) => {
            let names: Vec<&str> = positions.iter().map(|&i| entity.columns[i].name).collect();
            format!("{root}$metadata#{name}({}){suffix}", names.join(","))
        }
        None => format!("{root}$metadata#{name}{suffix}"),
    }
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
    let conditions = conditions(&options);
    let (start, order_by, want_count) = (options.start.clone(), options.order_by.clone(), options.count);
    let result = read
        .run(move |c| {
            let total = if want_count { Some(entity.count(c, &conditions)?) } else { None };
            if take == 0 {
                return Ok((total, Vec::new(), None));
            }
            let (rows, next) = match start {
                Start::Cursor(mut cursor) => {
                    let rows = entity.rows(c, &conditions, take, &mut cursor)?;
                    // Is there a row after this page? (One more row from the same cursor: cheap by key.)
                    let more =
                        rows.len() as i64 == take && !entity.rows(c, &conditions, 1, &mut cursor.clone())?.is_empty();
                    (rows, more.then_some(Start::Cursor(cursor)))
                }
                Start::Offset(offset) => {
                    let mut rows = entity.rows_ordered(c, &conditions, &order_by, take + 1, offset)?;
                    let more = rows.len() as i64 > take;
                    rows.truncate(take as usize);
                    (rows, more.then_some(Start::Offset(offset + take)))
                }
            };
            Ok((total, rows, next))
        })
        .await;
    let (total, rows, next) = match result {
        Ok(r) => r,
        Err(e) => return error(e, None),
    };
    let root = root(http);
    let select = options.select.as_deref();
    let mut body = String::with_capacity(rows.len() * 600 + 200);
    body.push_str("{\"@odata.context\":");
    body.push_str(&Value::from(context(&root, entity, select, "")).to_string());
    if let Some(total) = total {
        body.push_str(&format!(",\"@odata.count\":{total}"));
    }
    body.push_str(",\"value\":[");
    for (i, row) in rows.iter().enumerate() {
        if i > 0 {
            body.push(',');
        }
        object(entity, select, row, &mut body);
    }
    body.push(']');
    // A next link while $top (if any) is not reached: the same options, the rest of $top, the token.
    let remaining = options.top.map(|top| top - rows.len() as i64);
    if let Some(next) = next
        && remaining.is_none_or(|r| r > 0)
    {
        let mut query: Vec<String> =
            options.carried.iter().map(|(k, v)| format!("{k}={}", options::encode(v))).collect();
        if let Some(remaining) = remaining {
            query.push(format!("$top={remaining}"));
        }
        query.push(format!("$skiptoken={}", options::encode_token(entity, &next)));
        let link = format!("{root}{}?{}", metadata::set_name(entity), query.join("&"));
        body.push_str(",\"@odata.nextLink\":");
        body.push_str(&Value::from(link).to_string());
    }
    body.push('}');
    let mut response = json(StatusCode::OK, body);
    if let Some(applied) = preferred
        && let Ok(value) = header::HeaderValue::from_str(&format!("odata.maxpagesize={applied}"))
    {
        response.headers_mut().insert(header::HeaderName::from_static("preference-applied"), value);
    }
    response
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

/// `GET /odata/<Set>(<key>)`: one entity, by every property of its key (or the value of a one-property key).
async fn single(
    entity: &'static Entity,
    key: &str,
    pairs: &[(String, String)],
    http: &HttpRequest,
    read: Read,
) -> HttpResponse {
    if let Some((name, _)) = pairs.iter().find(|(k, _)| k.starts_with('$') && k != "$select" && k != "$format") {
        return error(
            ApiError::BadUserInput(format!("{name} does not apply to a single entity; $select does")),
            Some("query"),
        );
    }
    let options = match options::parse(entity, pairs) {
        Ok(o) => o,
        Err(r) => return refused(r),
    };
    let predicate = match key_predicate(entity, key) {
        Ok(p) => p,
        Err(message) => return error(ApiError::BadUserInput(message), Some("key")),
    };
    let conditions = vec![Condition::Where(predicate)];
    let rows = match read.run(move |c| entity.rows_ordered(c, &conditions, &[], 2, 0)).await {
        Ok(rows) => rows,
        Err(e) => return error(e, None),
    };
    match rows.as_slice() {
        [row] => {
            let select = options.select.as_deref();
            let mut object_text = String::new();
            object(entity, select, row, &mut object_text);
            let context = Value::from(context(&root(http), entity, select, "/$entity")).to_string();
            let body = match object_text.strip_prefix('{') {
                Some("}") => format!("{{\"@odata.context\":{context}}}"),
                Some(rest) => format!("{{\"@odata.context\":{context},{rest}"),
                None => object_text,
            };
            json(StatusCode::OK, body)
        }
        [] => error(ApiError::NotFound(format!("no {} entity has the key ({key})", metadata::set_name(entity))), None),
        _ => {
            tracing::error!(entity = entity.export, key, "two rows share an OData key");
            error(ApiError::Internal, None)
        }
    }
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
