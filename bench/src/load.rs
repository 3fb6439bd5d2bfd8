//! The load test of docs/reliability.md: many clients of mixed queries against `crisisgraph serve`
//! while its scheduler re-ingests the DTM figures every few seconds, every response checked.
//!
//! The loopback DTM server answers each run with the next of two versions, alternately; every figure
//! of version `k` is `10 × published + k`, so a response's figures tell which version they come from.
//! Before the load, each query's answer is recorded for both versions (runs started by hand, no
//! scheduler); under load every response must be HTTP 200 without GraphQL errors, and its figures must
//! be exactly those of version 1 or exactly those of version 2: anything else mixes rows from before
//! and after a run.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::BenchError;
use crate::loopback::{Answer, LoopbackServer};

/// What to run the load against, and how hard.
#[derive(Debug, Clone)]
pub struct LoadSettings {
    /// The crisisgraph binary (a release build).
    pub crisisgraph: PathBuf,
    /// `postgres://...` (a database `cg_load` is created on that server and dropped) or a SQLite file path.
    pub database: String,
    pub clients: usize,
    pub duration: Duration,
    /// The scheduler's cron for dtm (six fields, seconds first).
    pub cron: String,
    /// Where the bundled payloads are (the repository root).
    pub repo: PathBuf,
}

/// One kind of request of the mix.
#[derive(Debug, Clone)]
pub struct Probe {
    pub name: &'static str,
    /// A GraphQL query, or an `/export/...` path.
    pub target: &'static str,
}

impl Probe {
    fn is_export(&self) -> bool {
        self.target.starts_with("/export/")
    }
}

/// The mix: a Mali-style admin1 list with latest IDPs (and the national figures, from another
/// statement), one area's series (figures and the aggregated series, two loaders), a page of
/// figures, and a CSV export.
pub fn probes() -> Vec<Probe> {
    vec![
        Probe {
            name: "admin1 list, latest IDPs",
            target: r#"{ country(iso3: "HTI") { national: idps(adminLevel: 0, first: 100) { nodes { round individuals } } adminAreas(level: 1) { pcode name population { total } idps(latestRoundOnly: true) { nodes { round reportingDate individuals } } } } }"#,
        },
        Probe {
            name: "one area's series",
            target: r#"{ adminArea(pcode: "HT0111") { idps(first: 100) { nodes { operation round reportingDate individuals } } idpSeries { round individuals } } }"#,
        },
        Probe {
            name: "a page of figures",
            target: r#"{ country(iso3: "HTI") { idps(adminLevel: 2, first: 1000) { nodes { sourcePcode round individuals } } } }"#,
        },
        Probe { name: "export", target: "/export/idps.csv?country=HTI" },
    ]
}

/// A DTM v3 answer whose every figure (`numPresentIdpInd`) is `10 × published + version`.
pub fn versioned_response(template: &[u8], version: i64) -> Result<Vec<u8>, BenchError> {
    let mut envelope: Value = serde_json::from_slice(template)?;
    let rows = envelope
        .get_mut("result")
        .and_then(Value::as_array_mut)
        .ok_or_else(|| BenchError::Invalid("the template has no `result` array".into()))?;
    for row in rows {
        if let Some(n) = row.get("numPresentIdpInd").and_then(Value::as_i64) {
            row["numPresentIdpInd"] = Value::from(n * 10 + version);
        }
    }
    Ok(serde_json::to_vec(&envelope)?)
}

/// Every `individuals` number in a GraphQL `data` tree, sorted: what a response says, whatever its order.
pub fn graphql_figures(data: &Value) -> Vec<i64> {
    fn walk(value: &Value, out: &mut Vec<i64>) {
        match value {
            Value::Object(map) => {
                for (key, v) in map {
                    match (key.as_str(), v.as_i64()) {
                        ("individuals", Some(n)) => out.push(n),
                        _ => walk(v, out),
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(data, &mut out);
    out.sort_unstable();
    out
}

/// The numbers of one column of a CSV export, sorted.
pub fn csv_figures(text: &str, column: &str) -> Result<Vec<i64>, BenchError> {
    let invalid = |e: csv::Error| BenchError::Invalid(format!("the export is not CSV: {e}"));
    let mut reader = csv::Reader::from_reader(text.trim_start_matches('\u{feff}').as_bytes());
    let index = reader
        .headers()
        .map_err(invalid)?
        .iter()
        .position(|c| c == column)
        .ok_or_else(|| BenchError::Invalid(format!("the export has no column {column}")))?;
    let mut out = Vec::new();
    for record in reader.records() {
        let record = record.map_err(invalid)?;
        let cell = record.get(index).unwrap_or("");
        out.push(cell.parse::<i64>().map_err(|_| BenchError::Invalid(format!("not a number: {cell:?}")))?);
    }
    out.sort_unstable();
    Ok(out)
}

/// What one response was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// All figures of version 1 or all of version 2.
    Consistent(u8),
    /// Not HTTP 200, a transport error, or GraphQL errors.
    Failed,
    /// Figures matching neither version.
    Mixed,
}

/// The answers recorded for both versions, per probe.
pub struct Expected {
    versions: Vec<[Vec<i64>; 2]>,
}

impl Expected {
    fn verdict(&self, probe: usize, figures: &[i64]) -> Verdict {
        match self.versions.get(probe) {
            Some([v1, _]) if v1 == figures => Verdict::Consistent(1),
            Some([_, v2]) if v2 == figures => Verdict::Consistent(2),
            _ => Verdict::Mixed,
        }
    }
}

/// Sends one probe and returns its figures, or why it failed.
async fn ask(client: &reqwest::Client, base: &str, probe: &Probe) -> Result<Vec<i64>, String> {
    let response = if probe.is_export() {
        client.get(format!("{base}{}", probe.target)).send().await
    } else {
        client.post(format!("{base}/graphql")).json(&serde_json::json!({ "query": probe.target })).send().await
    }
    .map_err(|e| format!("transport: {e}"))?;
    let status = response.status();
    let body = response.text().await.map_err(|e| format!("body: {e}"))?;
    if status != reqwest::StatusCode::OK {
        return Err(format!("HTTP {status}: {}", body.chars().take(200).collect::<String>()));
    }
    if probe.is_export() {
        return csv_figures(&body, "idps").map_err(|e| e.to_string());
    }
    let value: Value = serde_json::from_str(&body).map_err(|e| format!("not JSON: {e}"))?;
    if value.get("errors").is_some_and(|e| !e.is_null()) {
        return Err(format!("GraphQL errors: {}", value["errors"]));
    }
    Ok(graphql_figures(&value["data"]))
}

/// The outcome of the load.
#[derive(Debug, Default)]
pub struct LoadReport {
    pub backend: String,
    pub clients: usize,
    pub seconds: f64,
    pub requests: u64,
    pub failures: u64,
    pub mixed: u64,
    /// Responses of version 1 and of version 2.
    pub per_version: [u64; 2],
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// Scheduled dtm runs that finished during the load, by final status.
    pub runs_succeeded: u64,
    pub runs_other: u64,
    /// The server's peak RSS (VmHWM).
    pub server_peak_rss_mb: f64,
    /// A few failure messages, for the log.
    pub samples: Vec<String>,
}

impl LoadReport {
    /// Zero failed requests, no mixed response, and the data did change under the load.
    pub fn passed(&self) -> bool {
        self.failures == 0 && self.mixed == 0 && self.runs_succeeded > 0 && self.per_version.iter().all(|n| *n > 0)
    }

    /// The Markdown result table.
    pub fn table(&self) -> String {
        format!(
            "| backend | clients | seconds | requests | failed | mixed | v1 / v2 answers | req/s | p50 (ms) | p99 (ms) | runs completed (other) | server peak RSS (MB) |\n\
             |---|---|---|---|---|---|---|---|---|---|---|---|\n\
             | {} | {} | {:.0} | {} | {} | {} | {} / {} | {:.0} | {:.1} | {:.1} | {} ({}) | {:.0} |",
            self.backend,
            self.clients,
            self.seconds,
            self.requests,
            self.failures,
            self.mixed,
            self.per_version[0],
            self.per_version[1],
            self.requests as f64 / self.seconds,
            self.p50_ms,
            self.p99_ms,
            self.runs_succeeded,
            self.runs_other,
            self.server_peak_rss_mb
        )
    }
}

const KEY: &str = "load-key";
const PCODES_TARGET: &str = "/dataset/cb963915-d7d1-4ffa-90dc-31277e24406f/resource/f65bc260-4d8b-416f-ac07-f2433b4d5142/download/global_pcodes_adm_1_2.csv";
const LEVEL_FILES: [(u8, &str); 3] = [
    (0, "sample/dtm/v3/displacement-admin0-admin0pcode-hti.json"),
    (1, "sample/dtm/v3/displacement-admin1-admin0pcode-hti.json"),
    (2, "sample/dtm/v3/displacement-admin2-admin0pcode-hti.json"),
];
/// Answers scripted per DTM target: more alternations than any run can use up.
const SCRIPTED_RUNS: usize = 2_000;

/// A `crisisgraph` command on `database` with every source pointed at `base` and no schedules.
fn crisisgraph(settings: &LoadSettings, database: &str, base: &str, args: &[&str]) -> Command {
    let mut command = Command::new(&settings.crisisgraph);
    command
        .args(args)
        .env("DATABASE_URL", database)
        .env("CRISISGRAPH_DTM_URL", base)
        .env("CRISISGRAPH_HDX_URL", base)
        .env("CRISISGRAPH_FTS_URL", base)
        .env("CRISISGRAPH_DTM_KEY", KEY)
        .env("CRISISGRAPH_COUNTRIES", "HTI")
        .env("RUST_LOG", "warn")
        .env_remove("CRISISGRAPH_CONFIG");
    for source in ["GEOGRAPHY", "DTM", "CATALOG", "POPULATION", "FUNDING", "SITES"] {
        command.env(format!("CRISISGRAPH_SCHEDULE_{source}"), "off");
    }
    command
}

fn run_cli(command: &mut Command, what: &str) -> Result<(), BenchError> {
    let status = command.stdout(Stdio::null()).status()?;
    if status.success() { Ok(()) } else { Err(BenchError::Invalid(format!("{what} failed: {status}"))) }
}

/// A started `crisisgraph serve`, stopped (SIGTERM, then kill) when dropped.
struct Server {
    child: Child,
    base: String,
}

impl Server {
    async fn start(mut command: Command, client: &reqwest::Client) -> Result<Server, BenchError> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let child = command.args(["--bind", &format!("127.0.0.1:{port}")]).stdout(Stdio::null()).spawn()?;
        let server = Server { child, base: format!("http://127.0.0.1:{port}") };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let ready = client.get(format!("{}/readyz", server.base)).send().await;
            if ready.is_ok_and(|r| r.status().is_success()) {
                return Ok(server);
            }
            if Instant::now() > deadline {
                return Err(BenchError::Invalid("serve did not become ready in 60 s".into()));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Peak resident memory so far, from /proc.
    fn peak_rss_mb(&self) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .map_or(f64::NAN, |kb| kb / 1024.0)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        for _ in 0..100 {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn psql(url: &str, sql: &str) -> Result<(), BenchError> {
    let out = Command::new("psql").args([url, "-v", "ON_ERROR_STOP=1", "-Atqc", sql]).output()?;
    if out.status.success() {
        Ok(())
    } else {
        Err(BenchError::Invalid(format!("psql {sql:?}: {}", String::from_utf8_lossy(&out.stderr))))
    }
}

/// Prepares a fresh store: a new PostgreSQL database `cg_load`, or a new SQLite file.
fn fresh_store(database: &str) -> Result<(String, String), BenchError> {
    if database.starts_with("postgres://") || database.starts_with("postgresql://") {
        psql(database, "DROP DATABASE IF EXISTS cg_load WITH (FORCE)")?;
        psql(database, "CREATE DATABASE cg_load")?;
        let url = match database.rsplit_once('/') {
            Some((base, _)) => format!("{base}/cg_load"),
            None => database.to_string(),
        };
        Ok((url, "PostgreSQL".into()))
    } else {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{database}{suffix}"));
        }
        Ok((database.to_string(), "SQLite".into()))
    }
}

/// Runs the whole load test and reports; the caller decides what a failure means.
pub async fn run(settings: &LoadSettings) -> Result<LoadReport, BenchError> {
    let read = |relative: &str| std::fs::read(settings.repo.join(relative));
    let loopback = LoopbackServer::start()?;
    loopback.script(
        PCODES_TARGET,
        vec![],
        Answer::Full(Arc::new(read("sample/cod/global_pcodes_adm_1_2.AFG-HTI-MLI-SSD-TCD-subset.csv")?)),
    );
    for (level, file) in LEVEL_FILES {
        let template = read(file)?;
        let one = Arc::new(versioned_response(&template, 1)?);
        let two = Arc::new(versioned_response(&template, 2)?);
        let alternating =
            (0..SCRIPTED_RUNS).map(|i| Answer::Full(if i % 2 == 0 { one.clone() } else { two.clone() })).collect();
        loopback.script(
            &format!("/v3/displacement/admin{level}?Admin0Pcode=HTI"),
            alternating,
            Answer::Full(one.clone()),
        );
    }
    let base = loopback.uri();
    let (database, backend) = fresh_store(&settings.database)?;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(settings.clients)
        .build()
        .map_err(|e| BenchError::Invalid(format!("HTTP client: {e}")))?;
    let probes = probes();

    // Record every probe's answer for version 1, then for version 2, with no scheduler running.
    run_cli(&mut crisisgraph(settings, &database, &base, &["migrate"]), "migrate")?;
    run_cli(&mut crisisgraph(settings, &database, &base, &["ingest", "geography"]), "ingest geography")?;
    let quiet = Server::start(crisisgraph(settings, &database, &base, &["serve", "--no-scheduler"]), &client).await?;
    let mut recorded: Vec<Vec<Vec<i64>>> = Vec::new();
    for version in 1..=2 {
        run_cli(&mut crisisgraph(settings, &database, &base, &["ingest", "dtm"]), "ingest dtm")?;
        let mut answers = Vec::new();
        for probe in &probes {
            let figures = ask(&client, &quiet.base, probe)
                .await
                .map_err(|e| BenchError::Invalid(format!("{} (version {version}): {e}", probe.name)))?;
            if figures.is_empty() {
                return Err(BenchError::Invalid(format!("{}: version {version} shows no figures", probe.name)));
            }
            answers.push(figures);
        }
        recorded.push(answers);
    }
    drop(quiet);
    if let Some(same) = probes.iter().zip(recorded[0].iter().zip(&recorded[1])).find(|(_, (one, two))| one == two) {
        return Err(BenchError::Invalid(format!("{}: both versions give the same answer", same.0.name)));
    }
    let expected =
        Expected { versions: (0..probes.len()).map(|i| [recorded[0][i].clone(), recorded[1][i].clone()]).collect() };

    // The load, with the scheduler re-ingesting dtm on its cron.
    let mut serve = crisisgraph(settings, &database, &base, &["serve"]);
    serve.env("CRISISGRAPH_SCHEDULE_DTM", &settings.cron);
    let server = Server::start(serve, &client).await?;
    let started_at = chrono::Utc::now().naive_utc();
    let started = Instant::now();
    let deadline = started + settings.duration;
    let expected = Arc::new(expected);
    let probes = Arc::new(probes);
    let mut tasks = Vec::new();
    for index in 0..settings.clients {
        let (client, base, expected, probes) = (client.clone(), server.base.clone(), expected.clone(), probes.clone());
        tasks.push(tokio::spawn(async move {
            let mut outcomes: Vec<(Verdict, u32)> = Vec::new();
            let mut samples = Vec::new();
            let mut turn = index;
            while Instant::now() < deadline {
                let which = turn % probes.len();
                turn += 1;
                let sent = Instant::now();
                let verdict = match ask(&client, &base, &probes[which]).await {
                    Ok(figures) => expected.verdict(which, &figures),
                    Err(message) => {
                        if samples.len() < 3 {
                            samples.push(format!("{}: {message}", probes[which].name));
                        }
                        Verdict::Failed
                    }
                };
                if verdict == Verdict::Mixed && samples.len() < 3 {
                    samples.push(format!("{}: mixed answer", probes[which].name));
                }
                outcomes.push((verdict, sent.elapsed().as_micros().min(u128::from(u32::MAX)) as u32));
            }
            (outcomes, samples)
        }));
    }
    let mut report = LoadReport { backend, clients: settings.clients, ..LoadReport::default() };
    let mut latencies = Vec::new();
    for task in tasks {
        let (outcomes, samples) = task.await.map_err(|e| BenchError::Invalid(format!("a client failed: {e}")))?;
        report.samples.extend(samples);
        for (verdict, micros) in outcomes {
            report.requests += 1;
            latencies.push(micros);
            match verdict {
                Verdict::Consistent(v) => report.per_version[usize::from(v - 1)] += 1,
                Verdict::Failed => report.failures += 1,
                Verdict::Mixed => report.mixed += 1,
            }
        }
    }
    report.seconds = started.elapsed().as_secs_f64();
    latencies.sort_unstable();
    let pick = |q: f64| {
        latencies.get(((latencies.len() as f64 - 1.0) * q) as usize).map_or(f64::NAN, |us| f64::from(*us) / 1000.0)
    };
    (report.p50_ms, report.p99_ms) = (pick(0.5), pick(0.99));
    report.server_peak_rss_mb = server.peak_rss_mb();

    // Scheduled runs that finished during the load.
    let runs = client
        .post(format!("{}/graphql", server.base))
        .json(&serde_json::json!({
            "query": r#"{ ingestRuns(source: "dtm", first: 100) { nodes { status trigger startedAt finishedAt } } }"#
        }))
        .send()
        .await
        .map_err(|e| BenchError::Invalid(format!("listing runs: {e}")))?
        .json::<Value>()
        .await
        .map_err(|e| BenchError::Invalid(format!("listing runs: {e}")))?;
    let nodes = runs["data"]["ingestRuns"]["nodes"].as_array().cloned().unwrap_or_default();
    // The API gives instants in UTC to the second (`DateTime`): compare to the second.
    let started_second = started_at.and_utc().timestamp();
    let after_start = |run: &Value| {
        run["finishedAt"]
            .as_str()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .is_some_and(|t| t.timestamp() >= started_second)
    };
    for run in nodes.iter().filter(|r| r["trigger"] == "schedule" && after_start(r)) {
        if run["status"] == "succeeded" {
            report.runs_succeeded += 1;
        } else {
            report.runs_other += 1;
        }
    }
    drop(server);
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_told_apart_by_their_figures() {
        let template = br#"{"result":[{"admin1Pcode":"HT01","numPresentIdpInd":1234},{"numPresentIdpInd":0}]}"#;
        let two: Value = serde_json::from_slice(&versioned_response(template, 2).expect("builds")).expect("JSON");
        assert_eq!(two["result"][0]["numPresentIdpInd"], 12342);
        assert_eq!(two["result"][1]["numPresentIdpInd"], 2);
        let data = serde_json::json!({"a": [{"individuals": 12342}, {"b": {"individuals": 2}}]});
        assert_eq!(graphql_figures(&data), vec![2, 12342]);
        let expected = Expected { versions: vec![[vec![1, 12341], vec![2, 12342]]] };
        assert_eq!(expected.verdict(0, &[2, 12342]), Verdict::Consistent(2));
        assert_eq!(expected.verdict(0, &[1, 12342]), Verdict::Mixed);
    }

    #[test]
    fn export_figures_are_read_by_column() {
        let csv = "\u{feff}country_iso3,idps,name\r\nHTI,11,\"a, b\"\r\nHTI,21,c\r\n";
        assert_eq!(csv_figures(csv, "idps").expect("parses"), vec![11, 21]);
    }
}
