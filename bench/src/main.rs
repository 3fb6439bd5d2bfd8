//! `crisisgraph-bench`: crisisgraph against the physical limit and the floor, side by side in one run
//! (this machine is shared and noisy: ratios of one run, never absolute figures across runs).
//!
//! 1. Ingest: a synthetic DTM v3 admin2 answer (real Haiti rows over synthetic rounds) served on
//!    loopback, ingested by `crisisgraph ingest dtm` into PostgreSQL and SQLite, twice (the second
//!    unchanged); the same rows loaded with PostgreSQL `COPY` into a bare table (the limit).
//! 2. Export: `/export/idps.csv` and `/export/idps.parquet` of every row, then the same rows walked
//!    through the OData feed (`/odata/Idps` by `@odata.nextLink`, 50,000-row pages), one after the other:
//!    rows/s, MB/s and the server's peak RSS during each.
//! 3. Queries: five canonical GraphQL queries (bench/src/queries.rs), each fixed and with variables
//!    drawn anew for every request, under `wrk` at 32 and 256 connections; the SQL crisisgraph runs for
//!    each, captured from the PostgreSQL log, under `pgbench` (the floor, 32 connections); PostGraphile 4's
//!    and 5's nearest equivalents under the same `wrk` loads (the peers); the same queries on crisisgraph
//!    over the SQLite store; and the goals of issue 13, computed.
//!
//! Prints a Markdown report on stdout. See docs/benchmarks.md.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

mod replica_bench;

use clap::Parser;
use crisisgraph_bench::loopback::{Answer, LoopbackServer};
use crisisgraph_bench::postgraphile::{self, PostGraphile, Version};
use crisisgraph_bench::queries::{self, AreaKind, Canonical, Draw, canonical};
use crisisgraph_bench::{BenchError, capture, synthetic};

#[derive(Parser, Debug)]
#[command(about = "crisisgraph benchmarks: ingest vs COPY, export, queries vs pgbench")]
struct Args {
    /// The crisisgraph binary (a release build).
    #[arg(long, default_value = "target/release/crisisgraph")]
    crisisgraph: PathBuf,
    /// PostgreSQL server (a database `--database` is created and dropped on it; superuser, to turn
    /// statement logging on for that database while the floor's SQL is captured).
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    postgres: String,
    /// Name of the bench database (dropped first if it exists).
    #[arg(long, default_value = "cg_bench")]
    database: String,
    /// Directory of the PostGraphile install (package.json, `npm ci` run); by default bench/postgraphile
    /// of this repository, skipped with a note if nothing is installed there.
    #[arg(long)]
    postgraphile: Option<PathBuf>,
    /// Directory of the PostGraphile 5 install (package.json, server.mjs, `npm ci` run); by default
    /// bench/postgraphile5 of this repository, skipped with a note if nothing is installed there.
    #[arg(long)]
    postgraphile5: Option<PathBuf>,
    /// Skip both PostGraphile peers (4 and 5).
    #[arg(long)]
    skip_postgraphile: bool,
    /// Rows in the synthetic DTM answer.
    #[arg(long, default_value_t = 1_000_000)]
    rows: usize,
    /// Seconds of each load (every query fixed and varied, on each server, at each connection count: 10 s
    /// keeps the whole 1,000,000-row bench near 20 minutes).
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Concurrent connections of the HTTP loads, a comma-separated list (the floor and the SQLite store
    /// are loaded at 32 only).
    #[arg(long, value_delimiter = ',', default_values_t = [32, 256])]
    connections: Vec<u32>,
    /// Rows asked of `/export/idps.csv` (its OFFSET paging makes the time grow with the square of this).
    #[arg(long, default_value_t = 1_000_000)]
    export_rows: usize,
    /// Skip the SQLite ingest.
    #[arg(long)]
    skip_sqlite: bool,
    /// Skip the query benchmarks.
    #[arg(long)]
    skip_queries: bool,
    /// Only serve the synthetic answer (and the p-codes) on this port for `--duration` seconds, then
    /// exit: for scripts such as scripts/crash-1m.sh.
    #[arg(long)]
    serve_only: Option<u16>,
    /// Where temporary files go.
    #[arg(long, default_value = "/tmp/crisisgraph-bench")]
    work: PathBuf,
    /// Only measure the canonical queries with 0 to N read replicas (throwaway primary and standbys).
    #[arg(long)]
    read_replicas: Option<usize>,
}

const ADMIN2: &str = "/v3/displacement/admin2?Admin0Pcode=HTI";
const KEY: &str = "bench-key";

fn repo(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(relative)
}

fn read(relative: &str) -> Result<Vec<u8>, BenchError> {
    Ok(std::fs::read(repo(relative))?)
}

/// Wall time and peak RSS of one command, from GNU time.
struct Measured {
    seconds: f64,
    max_rss_mb: f64,
}

fn measured(command: &mut Command, work: &Path, what: &str) -> Result<Measured, BenchError> {
    let report = work.join("time.txt");
    let program = command.get_program().to_owned();
    let args: Vec<_> = command.get_args().map(|a| a.to_owned()).collect();
    let mut timed = Command::new("/usr/bin/time");
    timed.arg("-f").arg("%e %M").arg("-o").arg(&report).arg(program).args(args);
    for (key, value) in command.get_envs() {
        match value {
            Some(v) => timed.env(key, v),
            None => timed.env_remove(key),
        };
    }
    let status = timed.stdout(Stdio::null()).stderr(Stdio::inherit()).status()?;
    if !status.success() {
        return Err(BenchError::Invalid(format!("{what} failed: {status}")));
    }
    let text = std::fs::read_to_string(&report)?;
    let mut parts = text.split_whitespace();
    let seconds = parts.next().and_then(|s| s.parse::<f64>().ok());
    let rss_kb = parts.next().and_then(|s| s.parse::<f64>().ok());
    match (seconds, rss_kb) {
        (Some(seconds), Some(kb)) => Ok(Measured { seconds, max_rss_mb: kb / 1024.0 }),
        _ => Err(BenchError::Invalid(format!("cannot read GNU time's report: {text:?}"))),
    }
}

fn crisisgraph(args: &Args, database_url: &str, base: &str, cli: &[&str]) -> Command {
    let mut command = Command::new(&args.crisisgraph);
    command
        .args(cli)
        .env("DATABASE_URL", database_url)
        .env("CRISISGRAPH_DTM_URL", base)
        .env("CRISISGRAPH_HDX_URL", base)
        .env("CRISISGRAPH_FTS_URL", base)
        .env("CRISISGRAPH_DTM_KEY", KEY)
        .env("RUST_LOG", "warn")
        .env_remove("CRISISGRAPH_CONFIG")
        .env_remove("CRISISGRAPH_COUNTRIES");
    for source in ["GEOGRAPHY", "DTM", "CATALOG", "POPULATION", "FUNDING", "SITES"] {
        command.env(format!("CRISISGRAPH_SCHEDULE_{source}"), "off");
    }
    command
}

fn psql(url: &str, sql: &str) -> Result<String, BenchError> {
    let out = Command::new("psql").args([url, "-v", "ON_ERROR_STOP=1", "-Atqc", sql]).output()?;
    if !out.status.success() {
        return Err(BenchError::Invalid(format!("psql {sql:?}: {}", String::from_utf8_lossy(&out.stderr))));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// `url` pointed at database `db`, without TLS: every client of the bench then talks to PostgreSQL the
/// same way. PostGraphile's node-postgres uses no TLS unless told to, while libpq's default
/// (`sslmode=prefer`) encrypts even loopback traffic for crisisgraph, pgbench and psql (about 13 % of
/// crisisgraph's uncached requests per second on Q1, measured on 2026-12-01).
fn with_database(url: &str, db: &str) -> String {
    match url.rsplit_once('/') {
        Some((base, _)) => format!("{base}/{db}?sslmode=disable"),
        None => url.to_string(),
    }
}

/// One ingest target: first and second (unchanged) run.
struct IngestResult {
    first: Measured,
    second: Measured,
}

fn ingest_twice(args: &Args, url: &str, base: &str, work: &Path) -> Result<IngestResult, BenchError> {
    let geo = crisisgraph(args, url, base, &["ingest", "geography", "--country", "HTI"]).status()?;
    if !geo.success() {
        return Err(BenchError::Invalid("geography ingest failed".into()));
    }
    let dtm = ["ingest", "dtm", "--country", "HTI", "--levels", "2"];
    let first = measured(&mut crisisgraph(args, url, base, &dtm), work, "first DTM ingest")?;
    let second = measured(&mut crisisgraph(args, url, base, &dtm), work, "second DTM ingest")?;
    Ok(IngestResult { first, second })
}

/// The cost of the schema itself: the rows crisisgraph stored, copied out and loaded with `COPY` into an
/// empty table with `idp_figures`' columns, unique key, indexes and foreign keys. Returns the load's seconds.
fn copy_into_shaped_table(pg: &str, work: &Path) -> Result<f64, BenchError> {
    let csv_path = work.join("shaped.csv");
    psql(pg, &format!("\\copy idp_figures TO '{}' WITH (FORMAT csv)", csv_path.display()))?;
    psql(pg, "CREATE TABLE copy_shaped (LIKE idp_figures INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING INDEXES)")?;
    let foreign_keys = psql(
        pg,
        "SELECT string_agg(format('ALTER TABLE copy_shaped ADD CONSTRAINT %I %s', conname || '_shaped', \
         pg_get_constraintdef(oid)), '; ') FROM pg_constraint WHERE conrelid = 'idp_figures'::regclass AND contype = 'f'",
    )?;
    if !foreign_keys.is_empty() {
        psql(pg, &foreign_keys)?;
    }
    let started = Instant::now();
    psql(pg, &format!("\\copy copy_shaped FROM '{}' WITH (FORMAT csv)", csv_path.display()))?;
    let seconds = started.elapsed().as_secs_f64();
    psql(pg, "DROP TABLE copy_shaped")?;
    std::fs::remove_file(&csv_path)?;
    Ok(seconds)
}

/// Peak and current RSS of a running process, in MB.
fn rss_mb(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    };
    (field("VmHWM:"), field("VmRSS:"))
}

fn free_port() -> Result<u16, BenchError> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// One export over HTTP, as a client downloads it.
struct ExportRun {
    rows: u64,
    bytes: u64,
    seconds: f64,
    status: String,
    /// The server's peak RSS during this export alone.
    peak_mb: f64,
}

/// Downloads an export and counts its rows: a CSV's as it streams (lines after the header), a
/// Parquet file's from its footer (saved to `work`, then removed). The server's peak RSS is reset
/// first (`/proc/PID/clear_refs`), so the peak is this export's.
fn export_run(pid: u32, url: &str, work: &std::path::Path, parquet: bool) -> Result<ExportRun, BenchError> {
    use std::io::Read;
    let _ = std::fs::write(format!("/proc/{pid}/clear_refs"), "5");
    let (headers, file) = (work.join("export.headers"), work.join("export.parquet"));
    let started = std::time::Instant::now();
    let mut command = Command::new("curl");
    command.args(["-s", "--max-time", "900", "-D"]).arg(&headers).arg(url);
    if parquet {
        command.arg("-o").arg(&file);
    }
    let mut child = command.stdout(std::process::Stdio::piped()).spawn()?;
    let (mut bytes, mut lines) = (0u64, 0u64);
    if let Some(mut body) = child.stdout.take() {
        let mut buffer = vec![0u8; 1 << 20];
        loop {
            let n = body.read(&mut buffer)?;
            if n == 0 {
                break;
            }
            bytes += n as u64;
            lines += buffer[..n].iter().filter(|b| **b == b'\n').count() as u64;
        }
    }
    child.wait()?;
    let seconds = started.elapsed().as_secs_f64();
    let (peak_mb, _) = rss_mb(pid);
    let status = std::fs::read_to_string(&headers)
        .ok()
        .and_then(|h| h.split_whitespace().nth(1).map(String::from))
        .unwrap_or_else(|| "?".into());
    let rows = if parquet {
        use parquet::file::reader::{FileReader, SerializedFileReader};
        bytes = std::fs::metadata(&file)?.len();
        let reader = SerializedFileReader::new(std::fs::File::open(&file)?)
            .map_err(|e| BenchError::Invalid(format!("the Parquet export does not read back: {e}")))?;
        let rows = reader.metadata().file_metadata().num_rows();
        let _ = std::fs::remove_file(&file);
        u64::try_from(rows).unwrap_or(0)
    } else {
        lines.saturating_sub(1)
    };
    Ok(ExportRun { rows, bytes, seconds, status, peak_mb })
}

/// Walks an OData entity set by `@odata.nextLink` with pages of `page` rows, as Power BI does, counting
/// the rows of each page's `value`. The server's peak RSS is reset first, so the peak is this walk's.
fn odata_walk(pid: u32, url: &str, page: usize) -> Result<ExportRun, BenchError> {
    let _ = std::fs::write(format!("/proc/{pid}/clear_refs"), "5");
    let prefer = format!("Prefer: odata.maxpagesize={page}");
    let started = std::time::Instant::now();
    let (mut next, mut rows, mut bytes, mut status) = (Some(url.to_string()), 0u64, 0u64, "200".to_string());
    while let Some(link) = next.take() {
        let out = Command::new("curl")
            .args(["-s", "--max-time", "600", "-w", "\n%{http_code}", "-H", &prefer, &link])
            .output()?;
        let text = String::from_utf8_lossy(&out.stdout);
        let (body, code) = text.rsplit_once('\n').unwrap_or((&text, "?"));
        bytes += body.len() as u64;
        if code != "200" {
            status = code.to_string();
            break;
        }
        let json: serde_json::Value =
            serde_json::from_str(body).map_err(|e| BenchError::Invalid(format!("an OData page is not JSON: {e}")))?;
        rows += json["value"].as_array().map_or(0, |v| v.len() as u64);
        next = json["@odata.nextLink"].as_str().map(String::from);
    }
    let seconds = started.elapsed().as_secs_f64();
    let (peak_mb, _) = rss_mb(pid);
    Ok(ExportRun { rows, bytes, seconds, status, peak_mb })
}

fn curl(args: &[&str]) -> Result<String, BenchError> {
    let out = Command::new("curl").args(["-s", "--max-time", "600"]).args(args).output()?;
    Ok(String::from_utf8_lossy(&out.stdout).to_string())
}

/// Requests/s, p50 and p99 (ms) of one load run.
struct Load {
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
    errors: String,
}

fn millis(text: &str) -> f64 {
    let text = text.trim();
    let (number, factor) = if let Some(n) = text.strip_suffix("us") {
        (n, 0.001)
    } else if let Some(n) = text.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1000.0)
    } else {
        (text, 1.0)
    };
    number.parse::<f64>().map_or(f64::NAN, |n| n * factor)
}

/// One wrk load of `connections` connections running `script` (bench/src/queries.rs's `wrk_script`):
/// requests/s, p50, p99 and the errors (non-2xx answers, socket errors, GraphQL errors in 200 answers).
fn wrk(args: &Args, url: &str, script: &str, connections: u32, work: &Path) -> Result<Load, BenchError> {
    let path = work.join("load.lua");
    std::fs::write(&path, script)?;
    let out = Command::new("wrk")
        .args(["-t2", &format!("-c{connections}"), &format!("-d{}s", args.duration), "--timeout", "60s"])
        .args(["--latency", "-s"])
        .arg(&path)
        .arg(url)
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    if !out.status.success() {
        return Err(BenchError::Invalid(format!("wrk failed: {text} {}", String::from_utf8_lossy(&out.stderr))));
    }
    let find = |prefix: &str| {
        text.lines()
            .find(|l| l.trim_start().starts_with(prefix))
            .map(|l| l.trim_start()[prefix.len()..].trim().to_string())
    };
    let rps = find("Requests/sec:").and_then(|v| v.parse::<f64>().ok()).unwrap_or(f64::NAN);
    let p50 = find("50%").map_or(f64::NAN, |v| millis(&v));
    let p99 = find("99%").map_or(f64::NAN, |v| millis(&v));
    let graphql_errors = find("GraphQL errors:").filter(|n| n != "0").map(|n| format!("GraphQL errors: {n}"));
    let errors =
        [find("Non-2xx or 3xx responses:").map(|n| format!("non-2xx: {n}")), find("Socket errors:"), graphql_errors]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join("; ");
    Ok(Load { rps, p50_ms: p50, p99_ms: p99, errors })
}

fn pgbench(args: &Args, url: &str, sql: &str, work: &Path) -> Result<Load, BenchError> {
    let script = work.join("query.sql");
    std::fs::write(&script, sql)?;
    let prefix = work.join("pgbench");
    for entry in std::fs::read_dir(work)?.flatten() {
        if entry.file_name().to_string_lossy().starts_with("pgbench.") {
            std::fs::remove_file(entry.path())?;
        }
    }
    let out = Command::new("pgbench")
        .args([
            "-n",
            "-M",
            "prepared",
            "-j2",
            &format!("-c{FLOOR_CONNECTIONS}"),
            &format!("-T{}", args.duration),
            "-l",
            "--log-prefix",
        ])
        .arg(&prefix)
        .arg("-f")
        .arg(&script)
        .arg(url)
        .current_dir(work)
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    if !out.status.success() {
        return Err(BenchError::Invalid(format!("pgbench failed: {}", String::from_utf8_lossy(&out.stderr))));
    }
    let rps = text
        .lines()
        .find(|l| l.starts_with("tps = "))
        .and_then(|l| l.split_whitespace().nth(2))
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(f64::NAN);
    let mut latencies: Vec<f64> = Vec::new();
    for entry in std::fs::read_dir(work)?.flatten() {
        if entry.file_name().to_string_lossy().starts_with("pgbench.") {
            for line in std::fs::read_to_string(entry.path())?.lines() {
                if let Some(us) = line.split_whitespace().nth(2).and_then(|v| v.parse::<f64>().ok()) {
                    latencies.push(us / 1000.0);
                }
            }
        }
    }
    latencies.sort_by(f64::total_cmp);
    let pick = |q: f64| latencies.get(((latencies.len() as f64 - 1.0) * q) as usize).copied().unwrap_or(f64::NAN);
    Ok(Load { rps, p50_ms: pick(0.5), p99_ms: pick(0.99), errors: String::new() })
}

/// Starts `crisisgraph serve --no-scheduler` (plus `extra`) on a free loopback port and waits until it is
/// ready; returns the child and its base URL.
fn serve(args: &Args, pg: &str, base: &str, extra: &[&str]) -> Result<(std::process::Child, String), BenchError> {
    serve_with(args, pg, base, extra, &[])
}

/// `crisisgraph serve --no-scheduler` with `extra` arguments and `env` settings on a free port; ready,
/// with its base URL.
fn serve_with(
    args: &Args,
    pg: &str,
    base: &str,
    extra: &[&str],
    env: &[(&str, &str)],
) -> Result<(std::process::Child, String), BenchError> {
    let port = free_port()?;
    let url = format!("http://127.0.0.1:{port}");
    let bind = format!("127.0.0.1:{port}");
    let mut cli = vec!["serve", "--no-scheduler", "--bind", &bind];
    cli.extend_from_slice(extra);
    let mut command = crisisgraph(args, pg, base, &cli);
    command.envs(env.iter().copied()).stdout(Stdio::null()).stderr(Stdio::null());
    ready(command.spawn()?, url)
}

/// Waits (up to 5 minutes) until the `crisisgraph serve` at `url` answers `/readyz` with 200; stops it
/// and fails if it exits or never does.
fn ready(mut child: std::process::Child, url: String) -> Result<(std::process::Child, String), BenchError> {
    let deadline = Instant::now() + Duration::from_secs(300);
    while !curl(&["-o", "/dev/null", "-w", "%{http_code}", &format!("{url}/readyz")])?.starts_with("200") {
        if Instant::now() > deadline || !matches!(child.try_wait(), Ok(None)) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(BenchError::Invalid("serve did not become ready".into()));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    Ok((child, url))
}

/// POSTs one GraphQL query; the answer if it is clean (data, no errors).
fn graphql(url: &str, query: &str) -> Result<serde_json::Value, String> {
    graphql_with(url, query, None)
}

/// POSTs one GraphQL query with `variables`; the answer if it is clean (data, no errors).
fn graphql_with(url: &str, query: &str, variables: Option<&serde_json::Value>) -> Result<serde_json::Value, String> {
    let body = match variables {
        Some(v) => serde_json::json!({ "query": query, "variables": v }),
        None => serde_json::json!({ "query": query }),
    };
    let body = serde_json::to_string(&body).map_err(|e| e.to_string())?;
    let probe = curl(&["-H", "content-type: application/json", "-d", &body, url]).map_err(|e| e.to_string())?;
    let answer: serde_json::Value = serde_json::from_str(&probe).unwrap_or_default();
    if !answer["errors"].is_null() || answer["data"].is_null() {
        return Err(format!("{probe:.300}"));
    }
    Ok(answer)
}

/// The PostgreSQL server log file, for reading the captured statements: `pg_current_logfile()` when the
/// logging collector runs, else the most recently written `/var/log/postgresql/*.log` (Debian's
/// `pg_ctlcluster` sends stderr there).
fn server_log(admin: &str) -> Result<PathBuf, String> {
    let current = psql(admin, "SELECT COALESCE(pg_current_logfile('stderr'), '')").map_err(|e| e.to_string())?;
    if !current.is_empty() {
        let path = PathBuf::from(&current);
        if path.is_absolute() {
            return Ok(path);
        }
        let data = psql(admin, "SHOW data_directory").map_err(|e| e.to_string())?;
        return Ok(Path::new(&data).join(path));
    }
    let newest = std::fs::read_dir("/var/log/postgresql")
        .map_err(|e| format!("no pg_current_logfile() and /var/log/postgresql: {e}"))?
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".log"))
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .max();
    newest.map(|(_, path)| path).ok_or_else(|| "no server log found".to_string())
}

/// The size of the server log: from the file system, else (the bench may not be allowed to read the
/// server's files) from the server itself with `pg_stat_file`, which needs a superuser.
fn log_size(admin: &str, path: &Path) -> Result<u64, String> {
    match std::fs::metadata(path) {
        Ok(meta) => Ok(meta.len()),
        Err(local) => psql(admin, &format!("SELECT size FROM pg_stat_file({})", literal(path)))
            .map_err(|e| format!("{}: {local}; {e}", path.display()))?
            .parse()
            .map_err(|e| format!("size of {}: {e}", path.display())),
    }
}

/// The new part of the server log from byte `from`: from the file system, else with `pg_read_file`.
fn log_since(admin: &str, path: &Path, from: u64) -> Result<String, String> {
    use std::io::{Read, Seek, SeekFrom};
    let local = std::fs::File::open(path).and_then(|mut file| {
        file.seek(SeekFrom::Start(from))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    });
    match local {
        Ok(text) => Ok(text),
        Err(local) => psql(admin, &format!("SELECT pg_read_file({}, {from}, 67108864)", literal(path)))
            .map_err(|e| format!("{}: {local}; {e}", path.display())),
    }
}

/// A path as an SQL string literal.
fn literal(path: &Path) -> String {
    format!("'{}'", path.display().to_string().replace('\'', "''"))
}

/// The statements crisisgraph runs for one request of each query (in order), captured from the server log
/// with `log_min_duration_statement = 0` set on the bench database for a second, short-lived server (new
/// sessions only, so the load runs are not logged); an error text per query where capture failed.
/// The setting is reset before returning, whatever happened.
fn capture_floor(args: &Args, pg: &str, base: &str, work: &Path, queries: &[&str]) -> Vec<Result<Vec<String>, String>> {
    let alter = |value: &str| psql(&args.postgres, &format!("ALTER DATABASE {} {value}", args.database));
    let failed =
        |why: String| -> Vec<Result<Vec<String>, String>> { queries.iter().map(|_| Err(why.clone())).collect() };
    let log = match server_log(&args.postgres) {
        Ok(log) => log,
        Err(why) => return failed(why),
    };
    if let Err(e) = alter("SET log_min_duration_statement = 0") {
        return failed(e.to_string());
    }
    let captured = match serve(args, pg, base, &[]) {
        Ok((mut server, url)) => {
            let pids_sql = format!(
                "SELECT pid FROM pg_stat_activity WHERE datname = '{}' AND backend_type = 'client backend' \
                 AND application_name NOT IN ('psql', 'pgbench')",
                args.database
            );
            let result: Vec<Result<Vec<String>, String>> = queries
                .iter()
                .map(|query| {
                    let from = log_size(&args.postgres, &log)?;
                    graphql(&format!("{url}/graphql"), query)?;
                    std::thread::sleep(Duration::from_millis(500));
                    let text = log_since(&args.postgres, &log, from)?;
                    let pids: Vec<u32> = psql(&args.postgres, &pids_sql)
                        .map_err(|e| e.to_string())?
                        .lines()
                        .filter_map(|l| l.trim().parse().ok())
                        .collect();
                    let statements = capture::statements(&text, &pids);
                    if statements.is_empty() {
                        return Err(format!("no statements of the server's sessions in {}", log.display()));
                    }
                    Ok(statements)
                })
                .collect();
            let _ = Command::new("kill").args(["-TERM", &server.id().to_string()]).status();
            let _ = server.wait();
            result
        }
        Err(e) => failed(e.to_string()),
    };
    if let Err(e) = alter("RESET log_min_duration_statement") {
        eprintln!("crisisgraph-bench: could not turn statement logging off again: {e}");
    }
    // A captured script must run as it is (parameters became untyped literals).
    captured
        .into_iter()
        .enumerate()
        .map(|(i, statements)| {
            let statements = statements?;
            let file = work.join(format!("floor-check-{}.sql", i + 1));
            std::fs::write(&file, capture::pgbench_script(&statements)).map_err(|e| e.to_string())?;
            let out = Command::new("psql")
                .args([pg, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-o", "/dev/null", "-f"])
                .arg(&file)
                .output()
                .map_err(|e| e.to_string())?;
            if !out.status.success() {
                return Err(format!("the captured SQL does not run: {}", String::from_utf8_lossy(&out.stderr).trim()));
            }
            Ok(statements)
        })
        .collect()
}

/// The PostGraphile install of `version` to use: `--postgraphile`/`--postgraphile5`, else
/// bench/postgraphile or bench/postgraphile5 of this repository.
fn peer_dir(args: &Args, version: Version) -> PathBuf {
    match version {
        Version::V4 => args.postgraphile.clone().unwrap_or_else(|| repo("bench/postgraphile")),
        Version::V5 => args.postgraphile5.clone().unwrap_or_else(|| repo("bench/postgraphile5")),
    }
}

/// Starts PostGraphile `version` on the peer's views (created by the caller), ready to answer; why
/// not, otherwise.
fn start_peer(args: &Args, pg: &str, work: &Path, version: Version) -> Result<PostGraphile, String> {
    if args.skip_postgraphile {
        return Err("skipped (--skip-postgraphile)".into());
    }
    let dir = peer_dir(args, version);
    if postgraphile::installed(&dir, version).is_none() {
        return Err(format!("nothing installed in {} (run `npm ci` there)", dir.display()));
    }
    let port = free_port().map_err(|e| e.to_string())?;
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    let log = work.join(format!("postgraphile{}.log", if version == Version::V4 { "" } else { "5" }));
    let mut peer = PostGraphile::start(&dir, version, pg, port, workers, &log).map_err(|e| e.to_string())?;
    let deadline = Instant::now() + Duration::from_secs(120);
    while graphql(&peer.url, "{ __typename }").is_err() {
        if Instant::now() > deadline || !peer.running() {
            let tail = std::fs::read_to_string(&log).unwrap_or_default();
            return Err(format!("{} did not become ready: {:.500}", version.label(), tail));
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    Ok(peer)
}

fn run(args: &Args) -> Result<(), BenchError> {
    std::fs::create_dir_all(&args.work)?;
    let work = args.work.as_path();
    let mut report = String::new();
    let mut say = |line: String| {
        println!("{line}");
        let _ = std::io::stdout().flush();
        report.push_str(&line);
        report.push('\n');
    };
    let started = Instant::now();
    let template = read("sample/dtm/v3/displacement-admin2-admin0pcode-hti.json")?;
    let body = synthetic::synthetic_response(&template, args.rows)?;
    let megabytes = body.len() as f64 / 1e6;
    eprintln!("built {} rows ({megabytes:.0} MB) in {:?}", args.rows, started.elapsed());
    let server = LoopbackServer::start()?;
    server.script(
        "/dataset/cb963915-d7d1-4ffa-90dc-31277e24406f/resource/f65bc260-4d8b-416f-ac07-f2433b4d5142/download/global_pcodes_adm_1_2.csv",
        vec![],
        Answer::Full(Arc::new(read("sample/cod/global_pcodes_adm_1_2.AFG-HTI-MLI-SSD-TCD-subset.csv")?)),
    );
    server.script(ADMIN2, vec![], Answer::Full(Arc::new(body)));
    let base = server.uri();
    if let Some(replicas) = args.read_replicas {
        return replica_bench::run(args, replicas, &base, &mut say);
    }
    if let Some(port) = args.serve_only {
        // Forward a fixed port to the loopback server's, so that scripts know where to point.
        let listener = std::net::TcpListener::bind(("127.0.0.1", port))?;
        let target = base.trim_start_matches("http://").to_string();
        eprintln!("serving {} rows on http://127.0.0.1:{port} for {} s", args.rows, args.duration);
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let target = target.clone();
                std::thread::spawn(move || {
                    if let Ok(upstream) = std::net::TcpStream::connect(&target) {
                        let (mut a, mut b) = (client, upstream);
                        if let (Ok(mut a2), Ok(mut b2)) = (a.try_clone(), b.try_clone()) {
                            std::thread::spawn(move || {
                                let _ = std::io::copy(&mut a2, &mut b2);
                            });
                            let _ = std::io::copy(&mut b, &mut a);
                            let _ = a.shutdown(std::net::Shutdown::Both);
                        }
                    }
                });
            }
        });
        std::thread::sleep(Duration::from_secs(args.duration));
        return Ok(());
    }

    // PostgreSQL: a fresh database.
    let drop_database = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", args.database);
    psql(&args.postgres, &drop_database)?;
    psql(&args.postgres, &format!("CREATE DATABASE {}", args.database))?;
    let pg = with_database(&args.postgres, &args.database);

    say(format!("## Ingest: {} DTM admin2 rows ({megabytes:.0} MB of JSON) on loopback\n", args.rows));
    say("| target | time (s) | rows/s | vs COPY | peak RSS (MB) | unchanged re-ingest (s) | re-ingest / first |".into());
    say("|---|---|---|---|---|---|---|".into());

    // The limit: COPY of the same rows into a bare table.
    let csv_path = work.join("copy.csv");
    std::fs::write(&csv_path, synthetic::copy_csv(&template, args.rows)?)?;
    psql(&pg, synthetic::COPY_TABLE)?;
    let copy_started = Instant::now();
    psql(&pg, &format!("\\copy copy_limit FROM '{}' WITH (FORMAT csv)", csv_path.display()))?;
    let copy_seconds = copy_started.elapsed().as_secs_f64();
    let copied: usize = psql(&pg, "SELECT COUNT(*) FROM copy_limit")?.parse().unwrap_or(0);
    psql(&pg, "DROP TABLE copy_limit")?;
    std::fs::remove_file(&csv_path)?;
    let copy_rate = copied as f64 / copy_seconds;
    say(format!(
        "| PostgreSQL `COPY` into a bare table (the limit) | {copy_seconds:.1} | {copy_rate:.0} | 1.00 | | | |"
    ));

    let pg_result = ingest_twice(args, &pg, &base, work)?;
    let stored: usize = psql(&pg, "SELECT COUNT(*) FROM idp_figures WHERE country_iso3 = 'HTI' AND admin_level = 2")?
        .parse()
        .unwrap_or(0);
    let row = |name: &str, r: &IngestResult| {
        let rate = args.rows as f64 / r.first.seconds;
        format!(
            "| {name} | {:.1} | {rate:.0} | {:.2} | {:.0} | {:.1} | {:.1} % |",
            r.first.seconds,
            rate / copy_rate,
            r.first.max_rss_mb.max(r.second.max_rss_mb),
            r.second.seconds,
            100.0 * r.second.seconds / r.first.seconds
        )
    };
    say(row("crisisgraph ingest → PostgreSQL", &pg_result));
    let shaped_seconds = copy_into_shaped_table(&pg, work)?;
    let shaped_rate = stored as f64 / shaped_seconds;
    say(format!(
        "| PostgreSQL `COPY` of the stored rows into a table shaped like `idp_figures` (its key, indexes and \
         foreign keys) | {shaped_seconds:.1} | {shaped_rate:.0} | {:.2} | | | |",
        shaped_rate / copy_rate
    ));
    if !args.skip_sqlite {
        let file = work.join("bench.db");
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", file.display()));
        }
        let sqlite = ingest_twice(args, &file.to_string_lossy(), &base, work)?;
        say(row("crisisgraph ingest → SQLite", &sqlite));
    }
    say(format!("\nPostgreSQL holds {stored} Haiti admin2 figures after the runs.\n"));

    // Serve the PostgreSQL store (with the bundled sample for Mali) for the export and the queries.
    let (mut serve, url) = serve(args, &pg, &base, &["--sample"])?;
    let (_, idle_rss) = rss_mb(serve.id());
    let query = format!("country=HTI&admin_level=2&limit={}", args.export_rows);
    say(format!(
        "## Export: `/export/idps.{{csv,parquet}}?{query}` and the OData walk of the same rows, one after the other\n"
    ));
    say("| format | rows | bytes | time (s) | rows/s | MB/s | server RSS before (MB) | server peak RSS during it (MB) | HTTP |".into());
    say("|---|---|---|---|---|---|---|---|---|".into());
    for format in ["csv", "parquet"] {
        let (_, before) = rss_mb(serve.id());
        let run = export_run(serve.id(), &format!("{url}/export/idps.{format}?{query}"), work, format == "parquet")?;
        say(format!(
            "| {format} | {} | {} | {:.1} | {:.0} | {:.1} | {before:.0} | {:.0} | {} |",
            run.rows,
            run.bytes,
            run.seconds,
            run.rows as f64 / run.seconds,
            run.bytes as f64 / 1e6 / run.seconds,
            run.peak_mb,
            run.status
        ));
    }
    // The same rows through the OData feed, page by page as a BI tool reads them.
    let (_, before) = rss_mb(serve.id());
    let filter = "country_iso3%20eq%20%27HTI%27%20and%20admin_level%20eq%202";
    let walk = odata_walk(serve.id(), &format!("{url}/odata/Idps?$filter={filter}&$top={}", args.export_rows), 50_000)?;
    say(format!(
        "| OData walk (`/odata/Idps`, 50,000-row pages by `@odata.nextLink`) | {} | {} | {:.1} | {:.0} | {:.1} | {before:.0} | {:.0} | {} |",
        walk.rows,
        walk.bytes,
        walk.seconds,
        walk.rows as f64 / walk.seconds,
        walk.bytes as f64 / 1e6 / walk.seconds,
        walk.peak_mb,
        walk.status
    ));
    say(format!("\nServer RSS when idle before the exports: {idle_rss:.0} MB.\n"));

    if !args.skip_queries {
        let sqlite = (!args.skip_sqlite).then(|| work.join("bench.db"));
        run_queries(args, &pg, &base, &url, serve.id(), sqlite.as_deref(), work, &mut say)?;
    }
    let _ = Command::new("kill").args(["-TERM", &serve.id().to_string()]).status();
    let _ = serve.wait();
    psql(&args.postgres, &drop_database)?;
    say(format!("Total benchmark time: {:.0} s.", started.elapsed().as_secs_f64()));
    std::fs::write(work.join("report.md"), report)?;
    Ok(())
}

/// crisisgraph's peak RSS (MB) over its query loads: on PostgreSQL, without the answer cache, on SQLite.
struct PeakRss {
    postgres: f64,
    uncached: Option<f64>,
    sqlite: Option<f64>,
}

/// What a load was run against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Crisisgraph,
    /// crisisgraph on PostgreSQL with its answer cache off: every request runs its query.
    Uncached,
    Sqlite,
    Peer(Version),
    Floor,
}

/// The loads of the query bench, by (query, varied, connections, target).
#[derive(Default)]
struct Loads(Vec<((usize, bool, u32, Target), Load)>);

impl Loads {
    fn get(&self, query: usize, varied: bool, connections: u32, target: Target) -> Option<&Load> {
        self.0.iter().find(|(key, _)| *key == (query, varied, connections, target)).map(|(_, load)| load)
    }
}

/// The connections the floor (pgbench) and the SQLite store are loaded with: PostgreSQL's
/// `max_connections` is 100, so pgbench cannot open 256 sessions.
const FLOOR_CONNECTIONS: u32 = 32;

/// The real values a varied query's `$area` is drawn from.
fn areas(pg: &str, kind: AreaKind) -> Result<Vec<String>, BenchError> {
    let sql = match kind {
        AreaKind::Country => {
            "SELECT DISTINCT country_iso3 FROM admin_areas WHERE level = 1 AND valid_to IS NULL ORDER BY 1"
        }
        AreaKind::HaitiAdmin2 => {
            "SELECT pcode FROM admin_areas WHERE country_iso3 = 'HTI' AND level = 2 AND valid_to IS NULL ORDER BY 1"
        }
    };
    let list: Vec<String> = psql(pg, sql)?.lines().map(|l| l.trim().to_string()).filter(|l| !l.is_empty()).collect();
    if list.is_empty() {
        return Err(BenchError::Invalid(format!("no areas to draw from for {kind:?}")));
    }
    Ok(list)
}

/// A few variable sets of each varied query, drawn from the same lists as the load (the same for every
/// server), to check the answers before timing.
fn samples(queries: &[Canonical], lists: &[Vec<String>]) -> Vec<Vec<serde_json::Value>> {
    let mut draw = Draw::new(20_261_201);
    queries
        .iter()
        .zip(lists)
        .map(|(query, list)| {
            (0..3)
                .map(|_| {
                    let area = &list[draw.between(0, list.len().saturating_sub(1) as u32) as usize];
                    let first = draw.between(query.varied.first.0, query.varied.first.1);
                    serde_json::json!({ "area": area, "first": first })
                })
                .collect()
        })
        .collect()
}

/// The figure checks of one server's answers against crisisgraph's (PostgreSQL): the fixed query and the
/// sampled variables of the varied one. Notes what agreed or differed.
#[allow(clippy::too_many_arguments)]
fn check_answers(
    who: &str,
    url: &str,
    query: &Canonical,
    fixed_text: &str,
    varied_text: &str,
    ours: &serde_json::Value,
    ours_varied: &[serde_json::Value],
    variables: &[serde_json::Value],
    checks: &[(&str, &str)],
    notes: &mut Vec<String>,
) -> bool {
    let answer = match graphql_with(url, fixed_text, None) {
        Ok(answer) => answer,
        Err(e) => {
            notes.push(format!("- {} on {who}: the answer was not clean, not loaded: {e}", query.name));
            return false;
        }
    };
    match queries::compare(ours, &answer, checks) {
        Ok(same) => notes.push(format!("- {} on {who}: same figures ({same}).", query.name)),
        Err(differ) => notes.push(format!("- {} on {who}: **the answers differ**: {differ}.", query.name)),
    }
    let mut agreed = 0;
    for (vars, ours) in variables.iter().zip(ours_varied) {
        match graphql_with(url, varied_text, Some(vars)) {
            Ok(theirs) => match queries::compare(ours, &theirs, checks) {
                Ok(_) => agreed += 1,
                Err(differ) => notes.push(format!("  - varied {vars} on {who}: **differ**: {differ}.")),
            },
            Err(e) => notes.push(format!("  - varied {vars} on {who}: not clean: {e}")),
        }
    }
    notes.push(format!("  - varied: {agreed} of {} sampled variable sets agree.", variables.len()));
    true
}

/// The query bench: every canonical query, fixed and varied, on crisisgraph (PostgreSQL), both peers
/// and (at [`FLOOR_CONNECTIONS`]) crisisgraph on the SQLite store, the captured floor under pgbench, then
/// the tables and the goals. `serve_pid` is the PostgreSQL server's, for its peak RSS under the loads.
#[allow(clippy::too_many_arguments)]
fn run_queries(
    args: &Args,
    pg: &str,
    base: &str,
    url: &str,
    serve_pid: u32,
    sqlite: Option<&Path>,
    work: &Path,
    say: &mut dyn FnMut(String),
) -> Result<(), BenchError> {
    let queries = canonical();
    let graphql_url = format!("{url}/graphql");
    let lists: Vec<Vec<String>> = queries.iter().map(|q| areas(pg, q.varied.areas)).collect::<Result<_, _>>()?;
    let variables = samples(&queries, &lists);
    let mut answers = Vec::new();
    let mut varied_answers = Vec::new();
    for (query, vars) in queries.iter().zip(&variables) {
        let invalid = |e: String| BenchError::Invalid(format!("{}: {e}", query.name));
        answers.push(graphql_with(&graphql_url, query.crisisgraph, None).map_err(invalid)?);
        varied_answers.push(
            vars.iter()
                .map(|v| graphql_with(&graphql_url, &query.varied.crisisgraph, Some(v)))
                .collect::<Result<Vec<_>, _>>()
                .map_err(invalid)?,
        );
    }
    let texts: Vec<&str> = queries.iter().map(|q| q.crisisgraph).collect();
    let captured = capture_floor(args, pg, base, work, &texts);
    let mut loads = Loads::default();
    let mut notes = Vec::new();
    let load_all = |loads: &mut Loads,
                    notes: &mut Vec<String>,
                    target: Target,
                    url: &str,
                    peer: Option<u8>,
                    connections: &[u32]|
     -> Result<(), BenchError> {
        for (i, query) in queries.iter().enumerate() {
            for varied in [false, true] {
                let text = match (peer, varied) {
                    (Some(v), false) => query.peer_query(v).to_string(),
                    (Some(_), true) => query.varied.peer.clone(),
                    (None, false) => query.crisisgraph.to_string(),
                    (None, true) => query.varied.crisisgraph.clone(),
                };
                let draw = varied.then(|| (lists[i].as_slice(), query.varied.first));
                for &c in connections {
                    let quiet = start_quiet(notes, &format!("{} {target:?} varied={varied} c={c}", query.name));
                    eprintln!(
                        "load: {} {target:?} varied={varied} c={c} (after {:.1} s of waiting for quiet)",
                        query.name,
                        quiet.as_secs_f64()
                    );
                    let load = wrk(args, url, &queries::wrk_script(&text, draw), c, work)?;
                    loads.0.push(((i, varied, c, target), load));
                }
            }
        }
        Ok(())
    };

    // crisisgraph on PostgreSQL, its peak RSS over these loads alone.
    let _ = std::fs::write(format!("/proc/{serve_pid}/clear_refs"), "5");
    load_all(&mut loads, &mut notes, Target::Crisisgraph, &graphql_url, None, &args.connections)?;
    let (peak_rss, _) = rss_mb(serve_pid);

    // The same server with its answer cache off: the query path itself (the other one stays idle).
    let mut uncached_rss = None;
    match serve_with(args, pg, base, &[], &[("CRISISGRAPH_ANSWER_CACHE_MB", "0")]) {
        Ok((mut server, url)) => {
            let _ = std::fs::write(format!("/proc/{}/clear_refs", server.id()), "5");
            load_all(&mut loads, &mut notes, Target::Uncached, &format!("{url}/graphql"), None, &args.connections)?;
            uncached_rss = Some(rss_mb(server.id()).0);
            let _ = Command::new("kill").args(["-TERM", &server.id().to_string()]).status();
            let _ = server.wait();
        }
        Err(e) => notes.push(format!("- crisisgraph without its answer cache was not run: {e}")),
    }

    // The floor: the captured SQL of each fixed query under pgbench.
    let mut floor_sources = Vec::new();
    for (i, (query, floor_sql)) in queries.iter().zip(&captured).enumerate() {
        let (script, source) = match floor_sql {
            Ok(statements) => {
                (capture::pgbench_script(statements), format!("captured, {} statements", statements.len()))
            }
            Err(why) => {
                notes.push(format!(
                    "- {}: the floor is the hand-written SQL of bench/src/queries.rs: capture failed ({why}).",
                    query.name
                ));
                (query.hand_sql.to_string(), "hand-written".to_string())
            }
        };
        std::fs::write(work.join(format!("floor-{}.sql", i + 1)), &script)?;
        start_quiet(&mut notes, &format!("{} floor", query.name));
        loads.0.push(((i, false, FLOOR_CONNECTIONS, Target::Floor), pgbench(args, pg, &script, work)?));
        floor_sources.push(source);
    }

    // crisisgraph on the SQLite store the bench ingested (with the bundled sample, as on PostgreSQL).
    let mut sqlite_rss = None;
    if let Some(file) = sqlite {
        match serve(args, &file.to_string_lossy(), base, &["--sample"]) {
            Ok((mut server, sqlite_url)) => {
                let sqlite_graphql = format!("{sqlite_url}/graphql");
                for (i, query) in queries.iter().enumerate() {
                    let same: Vec<(&str, &str)> = query.checks.iter().map(|(k, _)| (*k, *k)).collect();
                    check_answers(
                        "SQLite",
                        &sqlite_graphql,
                        query,
                        query.crisisgraph,
                        &query.varied.crisisgraph,
                        &answers[i],
                        &varied_answers[i],
                        &variables[i],
                        &same,
                        &mut notes,
                    );
                }
                let _ = std::fs::write(format!("/proc/{}/clear_refs", server.id()), "5");
                load_all(&mut loads, &mut notes, Target::Sqlite, &sqlite_graphql, None, &[FLOOR_CONNECTIONS])?;
                sqlite_rss = Some(rss_mb(server.id()).0);
                let _ = Command::new("kill").args(["-TERM", &server.id().to_string()]).status();
                let _ = server.wait();
            }
            Err(e) => notes.push(format!("- crisisgraph on SQLite was not run: {e}")),
        }
    }

    // The peers, one after the other (both at once would hold 40 more of PostgreSQL's 100 connections).
    let mut peers_run = Vec::new();
    if let Err(e) = psql(pg, postgraphile::VIEWS) {
        notes.push(format!("- the peers' views could not be created: {e}"));
    } else {
        for version in [Version::V4, Version::V5] {
            let peer = match start_peer(args, pg, work, version) {
                Ok(peer) => peer,
                Err(why) => {
                    say(format!("{} (a peer) was not run: {why}.\n", version.label()));
                    continue;
                }
            };
            let number = if version == Version::V4 { 4 } else { 5 };
            for (i, query) in queries.iter().enumerate() {
                check_answers(
                    version.label(),
                    &peer.url,
                    query,
                    query.peer_query(number),
                    &query.varied.peer,
                    &answers[i],
                    &varied_answers[i],
                    &variables[i],
                    query.checks,
                    &mut notes,
                );
            }
            load_all(&mut loads, &mut notes, Target::Peer(version), &peer.url, Some(number), &args.connections)?;
            peer.stop();
            let installed = postgraphile::installed_version(&peer_dir(args, version)).unwrap_or_else(|| "?".into());
            peers_run.push(format!("{} ({installed})", version.label()));
        }
    }
    let rss = PeakRss { postgres: peak_rss, uncached: uncached_rss, sqlite: sqlite_rss };
    report_queries(args, &queries, &loads, &floor_sources, rss, say);
    say(format!(
        "Peers run: {}; each with postgraphile-plugin-connection-filter over the views of schema `{}`, one \
         worker per core, one after the other.\n",
        if peers_run.is_empty() { "none".to_string() } else { peers_run.join(", ") },
        postgraphile::SCHEMA
    ));
    say("Answers checked before timing (sums of the figures; PostGraphile sends 64-bit integers as strings):\n".into());
    for note in notes {
        say(note);
    }
    say(format!("\nQ4, as crisisgraph is sent it:\n\n```graphql\n{}\n```\n", queries::Q4));
    say(format!("The pgbench scripts (`pgbench -M prepared`) are in {}/floor-N.sql.\n", work.display()));
    for (i, (query, floor_sql)) in queries.iter().zip(&captured).enumerate() {
        if let Ok(statements) = floor_sql {
            say(format!(
                "Floor SQL {} ({}), as captured:\n\n```sql\n{}```\n",
                i + 1,
                query.name,
                capture::pgbench_script(statements)
            ));
        }
    }
    Ok(())
}

/// The longest a load waits for the machine to fall quiet (bench/src/quiet.rs) before it starts anyway.
const QUIET_BOUND: Duration = Duration::from_secs(60);

/// Waits for the machine to fall quiet before the load named `load`, noting it in the report when quiet
/// did not come within [`QUIET_BOUND`]; returns how long it waited.
fn start_quiet(notes: &mut Vec<String>, load: &str) -> Duration {
    let quiet = crisisgraph_bench::quiet::until_quiet(QUIET_BOUND);
    if !quiet.reached {
        notes.push(format!(
            "- {load}: started with the machine still busy (over {:.0} % of the CPUs) after {:.0} s of waiting.",
            crisisgraph_bench::quiet::BUSY_BELOW * 100.0,
            quiet.waited.as_secs_f64()
        ));
    }
    quiet.waited
}

fn ratio(a: Option<&Load>, b: Option<&Load>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b.rps > 0.0 => Some(a.rps / b.rps),
        _ => None,
    }
}

fn cell(load: Option<&Load>) -> String {
    load.map_or_else(|| "| | ".to_string(), |l| format!("{:.0} | {:.1} | {:.1}", l.rps, l.p50_ms, l.p99_ms))
}

fn ratio_cell(value: Option<f64>) -> String {
    value.map_or_else(String::new, |v| format!("{v:.2}"))
}

/// "0.51 missed" or "2.10 met" for each value, "not run" without any.
fn verdict(values: &[Option<f64>], met: impl Fn(f64) -> bool) -> String {
    let known: Vec<f64> = values.iter().flatten().copied().collect();
    if known.is_empty() {
        return "not run".into();
    }
    let text = known.iter().map(|v| format!("{v:.2}")).collect::<Vec<_>>().join(" / ");
    if known.iter().all(|v| met(*v)) { format!("{text} met") } else { format!("{text} **missed**") }
}

/// The Markdown tables of the query bench and the goals of issue 13, computed from the loads.
fn report_queries(
    args: &Args,
    queries: &[Canonical],
    loads: &Loads,
    floor_sources: &[String],
    rss: PeakRss,
    say: &mut dyn FnMut(String),
) {
    let PeakRss { postgres: peak_rss, uncached: uncached_rss, sqlite: sqlite_rss } = rss;
    let v4 = Target::Peer(Version::V4);
    let v5 = Target::Peer(Version::V5);
    say(format!(
        "## Queries: {} s per load; crisisgraph and PostGraphile 4 and 5 under wrk at {:?} connections, the floor \
         (pgbench) at {FLOOR_CONNECTIONS} only (PostgreSQL's max_connections is 100)\n",
        args.duration, args.connections
    ));
    say("| query | variables | conns | crisisgraph req/s | p50 (ms) | p99 (ms) | no cache req/s | p50 | p99 | PG4 req/s | p50 | p99 | PG5 req/s | p50 | p99 | floor tx/s | p50 | p99 | cg / PG4 | **cg / PG5** | **no cache / PG5** | **cg / floor** | errors |".into());
    say("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|".into());
    for (i, query) in queries.iter().enumerate() {
        for varied in [false, true] {
            for &c in &args.connections {
                let ours = loads.get(i, varied, c, Target::Crisisgraph);
                let floor = if varied { None } else { loads.get(i, false, c, Target::Floor) };
                let uncached = loads.get(i, varied, c, Target::Uncached);
                let errors: Vec<String> =
                    [(Target::Crisisgraph, "cg"), (Target::Uncached, "no cache"), (v4, "PG4"), (v5, "PG5")]
                        .into_iter()
                        .filter_map(|(t, who)| {
                            loads
                                .get(i, varied, c, t)
                                .filter(|l| !l.errors.is_empty())
                                .map(|l| format!("{who}: {}", l.errors))
                        })
                        .collect();
                say(format!(
                    "| {} | {} | {c} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                    query.name,
                    if varied { "varied" } else { "fixed" },
                    cell(ours),
                    cell(uncached),
                    cell(loads.get(i, varied, c, v4)),
                    cell(loads.get(i, varied, c, v5)),
                    cell(floor),
                    ratio_cell(ratio(ours, loads.get(i, varied, c, v4))),
                    ratio_cell(ratio(ours, loads.get(i, varied, c, v5))),
                    ratio_cell(ratio(uncached, loads.get(i, varied, c, v5))),
                    ratio_cell(ratio(ours, floor)),
                    if errors.is_empty() { "none".into() } else { errors.join("; ") }
                ));
            }
        }
    }
    say(format!("\nFloor SQL per query: {}.", floor_sources.join("; ")));
    say(format!("crisisgraph (PostgreSQL) server peak RSS over its query loads: {peak_rss:.0} MB.\n"));
    if let Some(rss) = uncached_rss {
        say(format!("Without its answer cache (`CRISISGRAPH_ANSWER_CACHE_MB=0`): {rss:.0} MB.\n"));
    }

    say(format!("### crisisgraph on the SQLite store, {FLOOR_CONNECTIONS} connections (no peer)\n"));
    say("| query | variables | SQLite req/s | p50 (ms) | p99 (ms) | PostgreSQL req/s | SQLite / PostgreSQL | errors |"
        .into());
    say("|---|---|---|---|---|---|---|---|".into());
    for (i, query) in queries.iter().enumerate() {
        for varied in [false, true] {
            let lite = loads.get(i, varied, FLOOR_CONNECTIONS, Target::Sqlite);
            let pg = loads.get(i, varied, FLOOR_CONNECTIONS, Target::Crisisgraph);
            say(format!(
                "| {} | {} | {} | {} | {} | {} |",
                query.name,
                if varied { "varied" } else { "fixed" },
                cell(lite),
                pg.map_or_else(String::new, |l| format!("{:.0}", l.rps)),
                ratio_cell(ratio(lite, pg)),
                lite.map_or_else(String::new, |l| if l.errors.is_empty() { "none".into() } else { l.errors.clone() })
            ));
        }
    }
    if let Some(rss) = sqlite_rss {
        say(format!("\ncrisisgraph (SQLite) server peak RSS over its query loads: {rss:.0} MB."));
    }

    say("\n### Goals (issue 13), computed from this run\n".into());
    let conns = args.connections.iter().map(|c| c.to_string()).collect::<Vec<_>>().join(" / ");
    say(format!(
        "| query | cg / PG5 fixed ≥ 2 ({conns} conns) | cg / PG5 varied ≥ 1.5 ({conns}) | the same without the answer cache (fixed; varied) | p99 cg ≤ PG5 (fixed, varied; {conns}) | cg / floor ≥ 0.8 ({FLOOR_CONNECTIONS}) | SQLite / PostgreSQL (fixed, varied) | no errors |"
    ));
    say("|---|---|---|---|---|---|---|---|".into());
    for (i, query) in queries.iter().enumerate() {
        let per_target = |varied: bool, target: Target| -> Vec<Option<f64>> {
            args.connections
                .iter()
                .map(|&c| ratio(loads.get(i, varied, c, target), loads.get(i, varied, c, v5)))
                .collect()
        };
        let per = |varied: bool| per_target(varied, Target::Crisisgraph);
        let uncached = format!(
            "{}; {}",
            verdict(&per_target(false, Target::Uncached), |v| v >= 2.0),
            verdict(&per_target(true, Target::Uncached), |v| v >= 1.5)
        );
        let p99: Vec<Option<f64>> = [false, true]
            .iter()
            .flat_map(|&varied| args.connections.iter().map(move |&c| (varied, c)))
            .map(|(varied, c)| match (loads.get(i, varied, c, Target::Crisisgraph), loads.get(i, varied, c, v5)) {
                (Some(a), Some(b)) if b.p99_ms > 0.0 => Some(a.p99_ms / b.p99_ms),
                _ => None,
            })
            .collect();
        let floor = ratio(
            loads.get(i, false, FLOOR_CONNECTIONS, Target::Crisisgraph),
            loads.get(i, false, FLOOR_CONNECTIONS, Target::Floor),
        );
        let sqlite: Vec<String> = [false, true]
            .iter()
            .map(|&varied| {
                ratio_cell(ratio(
                    loads.get(i, varied, FLOOR_CONNECTIONS, Target::Sqlite),
                    loads.get(i, varied, FLOOR_CONNECTIONS, Target::Crisisgraph),
                ))
            })
            .collect();
        let errors = loads
            .0
            .iter()
            .filter(|((q, _, _, t), load)| *q == i && *t != Target::Floor && !load.errors.is_empty())
            .count();
        say(format!(
            "| {} | {} | {} | {} | {} (ratio of p99s) | {} | {} (reported) | {} |",
            query.name,
            verdict(&per(false), |v| v >= 2.0),
            verdict(&per(true), |v| v >= 1.5),
            uncached,
            verdict(&p99, |v| v <= 1.0),
            verdict(&[floor], |v| v >= 0.8),
            sqlite.join(", "),
            if errors == 0 { "met".to_string() } else { format!("**missed** ({errors} loads with errors)") }
        ));
    }
    say(format!(
        "\nServer RSS under the query loads < 150 MB: PostgreSQL {peak_rss:.0} MB{}: {}.\n",
        sqlite_rss.map_or_else(String::new, |r| format!(", SQLite {r:.0} MB")),
        if peak_rss < 150.0 && sqlite_rss.is_none_or(|r| r < 150.0) { "met" } else { "**missed**" }
    ));
}

fn main() {
    let args = Args::parse();
    if let Err(e) = run(&args) {
        eprintln!("crisisgraph-bench: {e}");
        std::process::exit(1);
    }
}
