//! `/graphql` over HTTP, as the GraphQL-over-HTTP specification says (and as its audit suite,
//! graphql-http's `auditServer`, checks):
//!
//! - the answer's media type is the one the client accepts: `application/graphql-response+json` when
//!   it asks for it, `application/json` otherwise (also without `Accept`), 406 when it accepts neither;
//! - a request that fails before execution (unparsable, invalid, over a limit) has no `data` entry and
//!   gets 400 under `application/graphql-response+json` (200 under `application/json`, which older
//!   clients expect); a body that is not a GraphQL request (no `query`, `variables` not a map...) gets
//!   400 under both, and a POST that is not JSON 415;
//! - GET runs queries only: a mutation by GET is 405 and nothing runs; only GET query answers are
//!   cacheable, and every answer varies on `Accept` and `Authorization`;
//! - the body is read within `body_timeout` (408 after) and `max_body_bytes` (413 beyond);
//! - errors are shaped for clients: a code on each, no `locations` at line 0, messages on one line, at
//!   most [`MAX_ERRORS`] distinct ones (4,000 duplicate directives are one error, not 4,000).

use std::collections::HashSet;
use std::time::Duration;

use actix_web::http::{Method, StatusCode, header};
use actix_web::web::{self, Bytes};
use actix_web::{HttpRequest, HttpResponse};
use async_graphql::parser::types::{DocumentOperations, ExecutableDocument, OperationType};
use async_graphql::{ErrorExtensionValues, ServerError, ServerResult};
use futures_util::StreamExt;
use serde_json::{Map, Value, json};

use crate::CrisisSchema;
use crate::limits::ComplexityBudget;
use crate::operations::PresentedToken;
use crate::server::ServerOptions;

/// The most operations one batched request may carry.
pub const MAX_BATCH: usize = 10;
/// The most distinct errors one answer lists; the rest are counted in a last error.
pub const MAX_ERRORS: usize = 20;

const GRAPHQL_RESPONSE_JSON: &str = "application/graphql-response+json";

/// Why a mutation by GET is refused (405).
const MUTATION_BY_GET: &str = "mutations must be sent by POST";

/// Marks a request that came by GET or HEAD: it may run queries only.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ByGet;

/// Refuses a request marked [`ByGet`] whose document runs a mutation, once the document is known: a
/// persisted query's hash sent by GET may stand for a mutation registered earlier by POST. Run by the
/// schema's one extension (api/src/hooks.rs) after parsing.
pub(crate) fn refuse_mutation_by_get(
    by_get: bool,
    document: &ExecutableDocument,
    operation: Option<&str>,
) -> ServerResult<()> {
    if by_get && selects_mutation(document, operation) {
        let mut error = ServerError::new(MUTATION_BY_GET, None);
        let mut extensions = ErrorExtensionValues::default();
        extensions.set("code", "BAD_USER_INPUT");
        error.extensions = Some(extensions);
        return Err(error);
    }
    Ok(())
}

/// The media type of an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MediaType {
    /// `application/graphql-response+json`: status codes say whether the request was valid.
    GraphqlResponse,
    /// `application/json`: 200 for every GraphQL answer, as clients older than the specification expect.
    Json,
}

impl MediaType {
    fn content_type(self) -> &'static str {
        match self {
            MediaType::GraphqlResponse => "application/graphql-response+json; charset=utf-8",
            MediaType::Json => "application/json; charset=utf-8",
        }
    }
}

/// The media type to answer with, from `Accept` (quality values respected; at equal quality the
/// GraphQL media type wins). `None` when the client accepts neither.
fn negotiate(accept: Option<&str>) -> Option<MediaType> {
    let Some(accept) = accept.map(str::trim).filter(|a| !a.is_empty()) else { return Some(MediaType::Json) };
    let mut best: Option<(f32, MediaType)> = None;
    for range in accept.split(',') {
        let mut parts = range.split(';').map(str::trim);
        let media = parts.next().unwrap_or_default().to_ascii_lowercase();
        let quality =
            parts.filter_map(|p| p.strip_prefix("q=").and_then(|q| q.trim().parse::<f32>().ok())).next().unwrap_or(1.0);
        let candidate = match media.as_str() {
            GRAPHQL_RESPONSE_JSON => MediaType::GraphqlResponse,
            "application/json" | "application/*" | "*/*" => MediaType::Json,
            _ => continue,
        };
        if quality <= 0.0 {
            continue;
        }
        let better = match best {
            None => true,
            Some((q, current)) => {
                quality > q || (quality == q && candidate == MediaType::GraphqlResponse && current != candidate)
            }
        };
        if better {
            best = Some((quality, candidate));
        }
    }
    best.map(|(_, media)| media)
}

/// A request refused before any GraphQL work: its status and message.
struct Refusal {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl Refusal {
    fn bad_request(message: impl Into<String>) -> Refusal {
        Refusal { status: StatusCode::BAD_REQUEST, code: "BAD_USER_INPUT", message: message.into() }
    }

    fn respond(self, media: MediaType) -> HttpResponse {
        let body = json!({ "errors": [{ "message": self.message, "extensions": { "code": self.code } }] });
        let mut response = HttpResponse::build(self.status);
        response.content_type(media.content_type()).insert_header((header::CACHE_CONTROL, "no-store"));
        if self.status == StatusCode::METHOD_NOT_ALLOWED {
            response.insert_header((header::ALLOW, "POST"));
        }
        response.body(body.to_string())
    }
}

/// `POST`, `GET` and `HEAD /graphql`.
pub(crate) async fn graphql(
    schema: web::Data<CrisisSchema>,
    options: web::Data<ServerOptions>,
    pool: web::Data<store::DbPool>,
    http: HttpRequest,
    payload: web::Payload,
) -> HttpResponse {
    let Some(media) = negotiate(http.headers().get(header::ACCEPT).and_then(|v| v.to_str().ok())) else {
        return Refusal {
            status: StatusCode::NOT_ACCEPTABLE,
            code: "BAD_USER_INPUT",
            message: format!("accept {GRAPHQL_RESPONSE_JSON} or application/json"),
        }
        .respond(MediaType::Json);
    };
    let by_get = http.method() == Method::GET || http.method() == Method::HEAD;
    let batch =
        if by_get { request_of_query_string(http.query_string()) } else { read_post(&http, payload, &options).await };
    let batch = match batch {
        Ok(batch) => batch,
        Err(refusal) => return refusal.respond(media),
    };
    let authorization = http.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    let cache = &options.answer_cache;
    let cache_key = match &batch {
        async_graphql::BatchRequest::Single(request) if authorization.is_none() && cache.serves(&pool) => {
            cache_key(request, media)
        }
        _ => None,
    };
    // The single flight this request leads, if any: identical requests arriving meanwhile wait until
    // it is dropped, after the answer is kept (or when this request ends without one).
    let flight = match &cache_key {
        Some(key) => match cache.answer(&pool, key, options.request_timeout).await {
            crate::answer_cache::Lookup::Hit(stored) => {
                return answered(&http, StatusCode::OK, media, by_get.then_some(options.get_cache_seconds), &stored);
            }
            crate::answer_cache::Lookup::Miss(leading) => leading,
        },
        None => None,
    };
    let token = PresentedToken::from_header(authorization);
    let single = matches!(batch, async_graphql::BatchRequest::Single(_));
    let snapshot_name = crate::answer_cache::SnapshotName::default();
    let mut batch = batch.data(token).data(ComplexityBudget::default());
    if cache_key.is_some() {
        batch = batch.data(snapshot_name.clone());
    }
    if by_get {
        batch = batch.data(ByGet);
    }
    let execution = schema.execute_batch(batch);
    let answers: Vec<Answer> = match tokio::time::timeout(options.request_timeout, execution).await {
        Ok(async_graphql::BatchResponse::Single(r)) => vec![Answer::of(r)],
        Ok(async_graphql::BatchResponse::Batch(rs)) => rs.into_iter().map(Answer::of).collect(),
        Err(_) => vec![Answer::timed_out(options.request_timeout)],
    };
    if by_get && answers.iter().any(|a| a.refused_because(MUTATION_BY_GET)) {
        return Refusal {
            status: StatusCode::METHOD_NOT_ALLOWED,
            code: "BAD_USER_INPUT",
            message: MUTATION_BY_GET.into(),
        }
        .respond(media);
    }
    let status = match media {
        MediaType::Json => StatusCode::OK,
        MediaType::GraphqlResponse if answers.iter().any(|a| a.outcome == Outcome::TimedOut) => {
            StatusCode::GATEWAY_TIMEOUT
        }
        MediaType::GraphqlResponse if answers.iter().all(|a| a.outcome == Outcome::Refused) => StatusCode::BAD_REQUEST,
        MediaType::GraphqlResponse => StatusCode::OK,
    };
    let clean = answers.iter().all(|a| a.outcome == Outcome::Executed && a.clean);
    let cacheable = by_get && single && clean;
    let body = if single {
        answers.into_iter().next().map(|a| a.body.into_bytes()).unwrap_or_else(|| b"null".to_vec())
    } else {
        let mut joined = b"[".to_vec();
        for (i, answer) in answers.into_iter().enumerate() {
            if i > 0 {
                joined.push(b',');
            }
            joined.extend(answer.body.into_bytes());
        }
        joined.push(b']');
        joined
    };
    let body = Bytes::from(body);
    let max_age = cacheable.then_some(options.get_cache_seconds);
    match (cache_key, snapshot_name.take()) {
        (Some(key), Some(snapshot)) if clean => {
            let stored = cache.keep(&pool, key, snapshot, body);
            drop(flight);
            answered(&http, status, media, max_age, &stored)
        }
        _ if cacheable => {
            let stored = crate::answer_cache::Stored::unkept(body);
            answered(&http, status, media, max_age, &stored)
        }
        _ => not_cacheable(status, media, body),
    }
}

/// An answer no cache may keep.
fn not_cacheable(status: StatusCode, media: MediaType, body: Bytes) -> HttpResponse {
    let mut response = HttpResponse::build(status);
    response
        .content_type(media.content_type())
        .insert_header((header::VARY, "Accept, Authorization"))
        .insert_header((header::CACHE_CONTROL, "no-store"));
    response.body(body)
}

/// What the answer cache is keyed by for this request; `None` when it must not be cached (a
/// persisted query, which has no text to key by, or one carrying extensions).
fn cache_key(request: &async_graphql::Request, media: MediaType) -> Option<crate::answer_cache::AnswerKey> {
    if request.query.is_empty() || !request.extensions.is_empty() {
        return None;
    }
    Some(crate::answer_cache::AnswerKey {
        query: request.query.clone(),
        operation: request.operation_name.clone(),
        variables: serde_json::to_string(&request.variables).ok()?,
        media: media.content_type(),
    })
}

/// A successful answer with its entity tag; with `max_age` (a GET query), public caching for that
/// long, and 304 without the body when the client's `If-None-Match` already names it.
fn answered(
    http: &HttpRequest,
    status: StatusCode,
    media: MediaType,
    max_age: Option<u32>,
    stored: &crate::answer_cache::Stored,
) -> HttpResponse {
    let Some(max_age) = max_age else { return not_cacheable(status, media, stored.body.clone()) };
    let fresh = http
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|tags| crate::answer_cache::matches(tags, &stored.etag));
    let mut response = HttpResponse::build(if fresh { StatusCode::NOT_MODIFIED } else { status });
    response
        .insert_header((header::VARY, "Accept, Authorization"))
        .insert_header((header::CACHE_CONTROL, format!("public, max-age={max_age}")))
        .insert_header((header::ETAG, stored.etag.clone()));
    if fresh {
        return response.finish();
    }
    response.content_type(media.content_type()).body(stored.body.clone())
}

/// A GET request's query string as a GraphQL request (`query`, `operationName`, `variables` and
/// `extensions` as URL-encoded JSON). A mutation in it is refused with 405 by [`refuse_mutation_by_get`]
/// before it runs: GET must not change anything.
fn request_of_query_string(query_string: &str) -> Result<async_graphql::BatchRequest, Refusal> {
    let pairs = web::Query::<Vec<(String, String)>>::from_query(query_string)
        .map_err(|e| Refusal::bad_request(format!("invalid query string: {e}")))?
        .into_inner();
    let mut object = Map::new();
    for (name, value) in pairs {
        let value = match name.as_str() {
            "variables" | "extensions" => serde_json::from_str(&value)
                .map_err(|e| Refusal::bad_request(format!("`{name}` must be URL-encoded JSON: {e}")))?,
            _ => Value::String(value),
        };
        object.insert(name, value);
    }
    Ok(async_graphql::BatchRequest::Single(request_of(object)?))
}

/// Whether the operation a document runs (the one named, or else any) is a mutation (with several
/// operations and no name, the request fails validation anyway).
pub(crate) fn selects_mutation(document: &ExecutableDocument, name: Option<&str>) -> bool {
    match &document.operations {
        DocumentOperations::Single(op) => op.node.ty == OperationType::Mutation,
        DocumentOperations::Multiple(ops) => match name {
            Some(name) => ops.iter().any(|(n, op)| n.as_str() == name && op.node.ty == OperationType::Mutation),
            None => ops.values().any(|op| op.node.ty == OperationType::Mutation),
        },
    }
}

/// A POST body: JSON (415 otherwise), read within the time and size bounds, holding one request or a
/// batch of at most [`MAX_BATCH`].
async fn read_post(
    http: &HttpRequest,
    payload: web::Payload,
    options: &ServerOptions,
) -> Result<async_graphql::BatchRequest, Refusal> {
    let content_type = http.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let essence = content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    if essence != "application/json" {
        return Err(Refusal {
            status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
            code: "BAD_USER_INPUT",
            message: format!("send the request as application/json, not {:?}", content_type),
        });
    }
    let body = read_body(http, payload, options.max_body_bytes, options.body_timeout).await?;
    let json: Value = serde_json::from_slice(&body).map_err(|e| {
        Refusal::bad_request(format!("the body must be a GraphQL request in JSON ({{\"query\": ...}}): {e}"))
    })?;
    match json {
        Value::Object(object) => Ok(async_graphql::BatchRequest::Single(request_of(object)?)),
        Value::Array(items) => {
            if items.is_empty() {
                return Err(Refusal::bad_request("the batch is empty"));
            }
            if items.len() > MAX_BATCH {
                return Err(Refusal {
                    status: StatusCode::BAD_REQUEST,
                    code: "LIMIT_EXCEEDED",
                    message: format!("a batch may hold at most {MAX_BATCH} operations"),
                });
            }
            let requests = items
                .into_iter()
                .map(|item| match item {
                    Value::Object(object) => request_of(object),
                    _ => Err(Refusal::bad_request("each request of a batch must be a JSON object")),
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok(async_graphql::BatchRequest::Batch(requests))
        }
        _ => Err(Refusal::bad_request("the body must be a JSON object with a `query` (or an array of them)")),
    }
}

/// The body, within `limit` bytes (413) and `timeout` for the whole of it (408: a client trickling
/// its body must not hold a connection open).
async fn read_body(
    http: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
    timeout: Duration,
) -> Result<Bytes, Refusal> {
    let too_large = || Refusal {
        status: StatusCode::PAYLOAD_TOO_LARGE,
        code: "LIMIT_EXCEEDED",
        message: format!("the body may hold at most {limit} bytes"),
    };
    let declared = http.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    let read = async {
        let mut body = web::BytesMut::new();
        while let Some(chunk) = payload.next().await {
            let chunk = chunk.map_err(|e| Refusal::bad_request(format!("the body could not be read: {e}")))?;
            if body.len() + chunk.len() > limit {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body.freeze())
    };
    match tokio::time::timeout(timeout, read).await {
        Ok(result) => result,
        Err(_) => Err(Refusal {
            status: StatusCode::REQUEST_TIMEOUT,
            code: "LIMIT_EXCEEDED",
            message: format!("the body did not arrive within {} s", timeout.as_secs_f32()),
        }),
    }
}

/// One GraphQL request from its JSON object: `query` a string (or absent with a persisted query's
/// hash), `operationName` a string or null, `variables` and `extensions` maps or null.
fn request_of(mut object: Map<String, Value>) -> Result<async_graphql::Request, Refusal> {
    for (name, expected) in [("variables", "a map"), ("extensions", "a map")] {
        match object.get(name) {
            None | Some(Value::Null) => {
                object.remove(name);
            }
            Some(Value::Object(_)) => {}
            Some(_) => return Err(Refusal::bad_request(format!("`{name}` must be {expected} or null"))),
        }
    }
    match object.get("operationName") {
        None | Some(Value::Null) | Some(Value::String(_)) => {}
        Some(_) => return Err(Refusal::bad_request("`operationName` must be a string or null")),
    }
    let persisted = object.get("extensions").and_then(|e| e.get("persistedQuery")).is_some();
    match object.get("query") {
        Some(Value::String(query)) if !query.trim().is_empty() || persisted => {}
        None if persisted => {}
        Some(Value::String(_)) | None => {
            return Err(Refusal::bad_request("the request has no `query`: send {\"query\": \"{ ... }\"}"));
        }
        Some(_) => return Err(Refusal::bad_request("`query` must be a string")),
    }
    serde_json::from_value::<async_graphql::Request>(Value::Object(object))
        .map_err(|e| Refusal::bad_request(format!("not a GraphQL request: {e}")))
}

/// How a request went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// Execution ran (its answer has `data`, maybe with field errors).
    Executed,
    /// It failed before execution: parse, validation, limits.
    Refused,
    /// It ran longer than the request timeout.
    TimedOut,
}

/// One request's answer, shaped for the client.
struct Answer {
    body: AnswerBody,
    outcome: Outcome,
    /// Without any error.
    clean: bool,
}

/// An answer's JSON: with errors, reshaped for clients ([`tidy`]); without, written straight from the
/// response, its fields in the order the query asked for them (and with no intermediate tree).
enum AnswerBody {
    Shaped(Value),
    Written(Vec<u8>),
}

impl AnswerBody {
    fn into_bytes(self) -> Vec<u8> {
        match self {
            AnswerBody::Shaped(value) => value.to_string().into_bytes(),
            AnswerBody::Written(bytes) => bytes,
        }
    }
}

/// The answer when a response cannot be serialised (a bug: logged).
fn internal_error(e: serde_json::Error) -> Value {
    tracing::error!(error = %e, "could not serialise a GraphQL response");
    json!({ "errors": [{ "message": "internal error; the server log has the details", "extensions": { "code": "INTERNAL" } }] })
}

impl Answer {
    fn of(response: async_graphql::Response) -> Answer {
        let response = with_codes(response);
        let refused = response.data == async_graphql::Value::Null
            && !response.errors.is_empty()
            && response.errors.iter().all(|e| e.path.is_empty());
        let clean = response.errors.is_empty();
        if clean {
            let body = match serde_json::to_vec(&response) {
                Ok(bytes) => AnswerBody::Written(bytes),
                Err(e) => AnswerBody::Shaped(internal_error(e)),
            };
            return Answer { body, outcome: Outcome::Executed, clean };
        }
        let mut body = serde_json::to_value(&response).unwrap_or_else(internal_error);
        if let Some(object) = body.as_object_mut() {
            if refused {
                object.remove("data");
            }
            if let Some(Value::Array(errors)) = object.remove("errors") {
                object.insert("errors".into(), Value::Array(tidy(errors)));
            }
        }
        Answer {
            body: AnswerBody::Shaped(body),
            outcome: if refused { Outcome::Refused } else { Outcome::Executed },
            clean,
        }
    }

    /// Whether execution never started because of `message`.
    fn refused_because(&self, message: &str) -> bool {
        self.outcome == Outcome::Refused
            && matches!(&self.body, AnswerBody::Shaped(body)
                if body["errors"].as_array().is_some_and(|e| e.iter().any(|e| e["message"] == message)))
    }

    fn timed_out(limit: Duration) -> Answer {
        let message = format!(
            "the query ran longer than {} s; ask for less (smaller pages, fewer nested lists)",
            limit.as_secs()
        );
        Answer {
            body: AnswerBody::Shaped(
                json!({ "errors": [{ "message": message, "extensions": { "code": "LIMIT_EXCEEDED" } }] }),
            ),
            outcome: Outcome::TimedOut,
            clean: false,
        }
    }
}

/// Errors as clients should get them: messages on one line, no location at line 0, one error per
/// distinct message (with at most a few locations), at most [`MAX_ERRORS`] and a count of the rest.
fn tidy(errors: Vec<Value>) -> Vec<Value> {
    let total = errors.len();
    let mut seen = HashSet::new();
    let mut out: Vec<Value> = Vec::new();
    for mut error in errors {
        let message = one_line(error["message"].as_str().unwrap_or_default());
        if !seen.insert(message.clone()) {
            continue;
        }
        if out.len() == MAX_ERRORS {
            break;
        }
        if let Some(object) = error.as_object_mut() {
            object.insert("message".into(), Value::String(message));
            let locations: Vec<Value> = object
                .remove("locations")
                .and_then(|l| l.as_array().cloned())
                .unwrap_or_default()
                .into_iter()
                .filter(|l| l["line"].as_u64().is_some_and(|line| line > 0))
                .take(5)
                .collect();
            if !locations.is_empty() {
                object.insert("locations".into(), Value::Array(locations));
            }
        }
        out.push(error);
    }
    let shown = out.len();
    if shown < total {
        let code = out.first().and_then(|e| e["extensions"]["code"].as_str()).unwrap_or("BAD_USER_INPUT").to_string();
        out.push(json!({
            "message": format!("{} more errors not listed ({total} in all)", total - shown),
            "extensions": { "code": code },
        }));
    }
    out
}

/// A message on one line: the parser's multi-line report (with its source excerpt and caret) becomes
/// its position and what it expected.
fn one_line(message: &str) -> String {
    if !message.contains('\n') {
        return message.to_string();
    }
    let position = message.lines().find_map(|l| l.trim().strip_prefix("-->")).map(str::trim);
    let expected = message.lines().find_map(|l| l.trim().strip_prefix("= ")).map(str::trim);
    match (position, expected) {
        (Some(position), Some(expected)) => format!("syntax error at {position}: {expected}"),
        _ => message.split_whitespace().collect::<Vec<_>>().join(" "),
    }
}

/// Gives every error a stable `extensions.code`: errors before execution (syntax, validation,
/// limits) are the client's; anything else without a code is internal and its details stay in the log.
fn with_codes(mut response: async_graphql::Response) -> async_graphql::Response {
    for error in &mut response.errors {
        let has_code = error.extensions.as_ref().is_some_and(|e| e.get("code").is_some());
        if has_code {
            continue;
        }
        let message = error.message.to_lowercase();
        let code =
            if ["too deep", "too complex", "too many", "cannot be greater than"].iter().any(|m| message.contains(m)) {
                "LIMIT_EXCEEDED"
            } else if error.path.is_empty() {
                "BAD_USER_INPUT"
            } else {
                tracing::error!(error = %error.message, path = ?error.path, "internal error while resolving");
                error.message = "internal error; the server log has the details".into();
                "INTERNAL"
            };
        error.extensions.get_or_insert_with(Default::default).set("code", code);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_headers_choose_the_media_type() {
        assert_eq!(negotiate(None), Some(MediaType::Json));
        assert_eq!(negotiate(Some("application/graphql-response+json")), Some(MediaType::GraphqlResponse));
        assert_eq!(
            negotiate(Some("application/graphql-response+json, application/json;q=0.9")),
            Some(MediaType::GraphqlResponse)
        );
        assert_eq!(
            negotiate(Some("application/json, application/graphql-response+json")),
            Some(MediaType::GraphqlResponse)
        );
        assert_eq!(negotiate(Some("application/graphql-response+json;q=0.5, application/json")), Some(MediaType::Json));
        assert_eq!(negotiate(Some("*/*")), Some(MediaType::Json));
        assert_eq!(negotiate(Some("text/html")), None);
    }

    #[test]
    fn errors_are_deduplicated_capped_and_on_one_line() {
        let many: Vec<Value> = (0..4000)
            .map(|i| json!({ "message": if i % 2 == 0 { "same".to_string() } else { format!("e{i}") }, "locations": [{ "line": 0, "column": 0 }] }))
            .collect();
        let tidied = tidy(many);
        assert_eq!(tidied.len(), MAX_ERRORS + 1);
        assert!(tidied.iter().all(|e| e.get("locations").is_none()));
        assert!(tidied[MAX_ERRORS]["message"].as_str().is_some_and(|m| m.contains("4000 in all")));
        let parse = " --> 1:2\n  |\n1 | {\n  |  ^---\n  |\n  = expected selection";
        assert_eq!(one_line(parse), "syntax error at 1:2: expected selection");
    }
}
