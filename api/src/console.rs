//! The operator console at `/console`: a few static files (HTML, CSS, ES modules in `api/console/`)
//! built into the binary, so the console needs no CDN, no Node build and no extra service. The page
//! talks to `/graphql` like any client (fetch for queries and mutations, the `graphql-transport-ws`
//! WebSocket for live progress), so it can do nothing the API does not allow.
//!
//! Every answer carries a Content-Security-Policy without inline scripts or styles and with no other
//! origin, and an `ETag` (SHA-256 of the file) so browsers revalidate cheaply (`Cache-Control:
//! no-cache`: a new release is seen at once, an unchanged file costs a 304). Also here:
//! `/export/runs/<number>/rejected.csv`, a run's rejected rows as CSV for the console's download link.

use std::sync::LazyLock;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use sha2::{Digest, Sha256};
use store::{DbPool, with_read_conn};

use crate::error::ApiError;

/// The console's files: (name under `/console/`, content type, bytes). `index.html` is the page.
const FILES: [(&str, &str, &[u8]); 6] = [
    ("index.html", "text/html; charset=utf-8", include_bytes!("../console/index.html")),
    ("console.css", "text/css; charset=utf-8", include_bytes!("../console/console.css")),
    ("app.js", "text/javascript; charset=utf-8", include_bytes!("../console/app.js")),
    ("gql.js", "text/javascript; charset=utf-8", include_bytes!("../console/gql.js")),
    ("views.js", "text/javascript; charset=utf-8", include_bytes!("../console/views.js")),
    ("favicon.svg", "image/svg+xml", include_bytes!("../console/favicon.svg")),
];

/// The console's policy: its own files only, no inline code, no frames, and connections only back
/// to this server (`'self'` covers `ws:`/`wss:` to the same host in CSP level 3 browsers).
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The strong ETag of each file, computed once.
static ETAGS: LazyLock<Vec<String>> = LazyLock::new(|| {
    FILES
        .iter()
        .map(|(_, _, bytes)| {
            let digest = Sha256::digest(bytes);
            let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
            format!("\"{hex}\"")
        })
        .collect()
});

/// `GET /console`: the page (its hash routes pick the view).
pub async fn page(http: HttpRequest) -> HttpResponse {
    serve(&http, "index.html")
}

/// `GET /console/{file}`: one of the console's files.
pub async fn file(http: HttpRequest, name: web::Path<String>) -> HttpResponse {
    serve(&http, name.as_str())
}

fn serve(http: &HttpRequest, name: &str) -> HttpResponse {
    let Some(index) = FILES.iter().position(|(file, _, _)| *file == name) else {
        return fail(ApiError::NotFound(format!("the console has no file `{name}`")));
    };
    let (_, content_type, bytes) = FILES[index];
    let etag = &ETAGS[index];
    let unchanged = matches_etag(http, etag);
    let mut answer = if unchanged { HttpResponse::NotModified() } else { HttpResponse::Ok() };
    answer
        .insert_header((header::ETAG, etag.as_str()))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header((header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"));
    if unchanged {
        return answer.finish();
    }
    answer.content_type(content_type).body(bytes)
}

/// Whether `If-None-Match` names this ETag (or `*`).
fn matches_etag(http: &HttpRequest, etag: &str) -> bool {
    http.headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').map(str::trim).any(|tag| tag == etag || tag == "*"))
}

/// The error's plain answer: its status and `CODE: message`, as every export answers errors.
fn fail(error: ApiError) -> HttpResponse {
    actix_web::ResponseError::error_response(&error)
}

/// The most rejected rows one CSV holds (the store keeps fewer per run by default).
const MAX_REJECTED_CSV_ROWS: i64 = 1_000_000;

/// `GET /export/runs/{number}/rejected.csv`: every rejected row the store keeps for the run, in
/// source order, as `row_number,reason,raw` (cells a spreadsheet would run as formulas are
/// neutralised, as in every export). 404 for an unknown run, 400 for a number that is not one.
pub async fn rejected_csv(pool: web::Data<DbPool>, number: web::Path<String>) -> HttpResponse {
    let Ok(run_id) = number.parse::<i64>() else {
        return fail(ApiError::BadUserInput(format!("`{number}` is not a run number")));
    };
    let pool = pool.get_ref().clone();
    let read = with_read_conn(&pool, move |c| {
        let run = store::runs::find_run(c, run_id)?;
        let rows = store::runs::rejected_rows_of_run(c, run_id, MAX_REJECTED_CSV_ROWS)?;
        Ok((run, rows))
    })
    .await;
    let (run, rows) = match read {
        Ok(found) => found,
        Err(e) if e.is_not_found() => {
            return fail(ApiError::NotFound(format!("no ingest run number {run_id}")));
        }
        Err(e) => return fail(ApiError::from(e)),
    };
    let mut writer = csv::Writer::from_writer(Vec::new());
    let mut write = || -> Result<Vec<u8>, csv::Error> {
        writer.write_record(["row_number", "reason", "raw"])?;
        for row in &rows {
            writer.write_record([
                row.row_number.to_string(),
                crate::export::neutralise(&row.reason),
                crate::export::neutralise(&row.raw),
            ])?;
        }
        writer.flush()?;
        Ok(writer.get_ref().clone())
    };
    match write() {
        Ok(body) => HttpResponse::Ok()
            .content_type("text/csv; charset=utf-8")
            .insert_header((
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"run-{}-{}-rejected.csv\"", run.id, run.source),
            ))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .body(body),
        Err(e) => {
            tracing::error!(error = %e, "writing rejected rows as CSV failed");
            fail(ApiError::Internal)
        }
    }
}
