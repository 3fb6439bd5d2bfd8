//! Prometheus text for `/metrics`.
//!
//! From the run history (so every replica reports the same): runs by source and status (dry runs
//! apart), rows by outcome, run durations, and per source its last success (0 when never), whether it
//! is stale (older than its cadence, or never succeeded) and whether it is failing (its last real run
//! failed). From this process: HTTP requests by route, method and status, and their latency.

use std::sync::Arc;
use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use ingest::status::SourceStatus;
use prometheus::{
    Encoder, GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder,
};
use store::models::IngestRun;

/// The HTTP request metrics of this process, shared by every worker. (Empty if the fixed metric
/// definitions were ever refused: then `/metrics` lacks them, and the error is logged.)
#[derive(Clone)]
pub struct HttpMetrics(Option<Arc<HttpMetricsInner>>);

struct HttpMetricsInner {
    registry: Registry,
    requests: IntCounterVec,
    durations: HistogramVec,
}

impl HttpMetricsInner {
    fn new() -> Result<HttpMetricsInner, prometheus::Error> {
        let labels = &["route", "method", "status"];
        let requests = IntCounterVec::new(
            Opts::new("crisisgraph_http_requests_total", "HTTP requests answered, by route, method and status"),
            labels,
        )?;
        let durations = HistogramVec::new(
            HistogramOpts::new(
                "crisisgraph_http_request_duration_seconds",
                "Time to the response's headers (a streamed export's body is not counted), by route, method and status",
            )
            .buckets(vec![0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0]),
            labels,
        )?;
        let registry = Registry::new();
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(durations.clone()))?;
        Ok(HttpMetricsInner { registry, requests, durations })
    }
}

impl std::fmt::Debug for HttpMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HttpMetrics")
    }
}

impl Default for HttpMetrics {
    fn default() -> Self {
        HttpMetrics::new()
    }
}

impl HttpMetrics {
    pub fn new() -> HttpMetrics {
        match HttpMetricsInner::new() {
            Ok(inner) => HttpMetrics(Some(Arc::new(inner))),
            Err(e) => {
                tracing::error!(error = %e, "the HTTP metrics could not be created");
                HttpMetrics(None)
            }
        }
    }

    fn observe(&self, route: &str, method: &str, status: u16, elapsed: Duration) {
        let Some(inner) = &self.0 else { return };
        let status = status.to_string();
        let labels = [route, method, status.as_str()];
        inner.requests.with_label_values(&labels).inc();
        inner.durations.with_label_values(&labels).observe(elapsed.as_secs_f64());
    }

    fn gather(&self) -> Vec<prometheus::proto::MetricFamily> {
        self.0.as_ref().map(|inner| inner.registry.gather()).unwrap_or_default()
    }
}

/// Middleware counting every request by the route it matched (its pattern, e.g. `/export/{name}`,
/// so that the series stay few), method and status, with its latency.
pub(crate) async fn record_http(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = std::time::Instant::now();
    let metrics =
        request.app_data::<actix_web::web::Data<crate::server::ServerOptions>>().map(|o| o.http_metrics.clone());
    let method = request.method().as_str().to_string();
    let response = next.call(request).await;
    if let Some(metrics) = metrics {
        let (route, status) = match &response {
            Ok(r) => (r.request().match_pattern(), r.status().as_u16()),
            Err(e) => (None, e.as_response_error().status_code().as_u16()),
        };
        metrics.observe(route.as_deref().unwrap_or("unmatched"), &method, status, started.elapsed());
    }
    response
}

/// The whole `/metrics` page: run history, source states, this process's HTTP metrics and, with read
/// replicas, where its reads went.
pub fn render(
    runs: &[IngestRun],
    sources: &[SourceStatus],
    http: &HttpMetrics,
    reads: Option<&store::ReadCounts>,
    cache: crate::answer_cache::CacheCounts,
) -> Result<String, prometheus::Error> {
    let registry = Registry::new();
    let by_status = IntCounterVec::new(
        Opts::new("crisisgraph_ingest_runs_total", "Ingest runs recorded (dry runs apart), by source and status"),
        &["source", "status"],
    )?;
    let dry_by_status = IntCounterVec::new(
        Opts::new("crisisgraph_ingest_dry_runs_total", "Dry runs recorded (they commit nothing), by source and status"),
        &["source", "status"],
    )?;
    let rows = IntCounterVec::new(
        Opts::new("crisisgraph_ingest_rows_total", "Rows handled by committed runs, by source and outcome"),
        &["source", "outcome"],
    )?;
    let durations = HistogramVec::new(
        HistogramOpts::new(
            "crisisgraph_ingest_run_duration_seconds",
            "Duration of finished ingest runs (dry runs apart)",
        )
        .buckets(vec![0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0]),
        &["source"],
    )?;
    let last_success = GaugeVec::new(
        Opts::new(
            "crisisgraph_source_last_success_timestamp_seconds",
            "When the source's last successful run finished (Unix time; 0 when it never succeeded)",
        ),
        &["source"],
    )?;
    let stale = IntGaugeVec::new(
        Opts::new(
            "crisisgraph_source_stale",
            "1 when the source never succeeded or its last success is older than its cadence",
        ),
        &["source"],
    )?;
    let failing = IntGaugeVec::new(
        Opts::new(
            "crisisgraph_source_failing",
            "1 when the source's newest finished (not dry) run failed or was interrupted",
        ),
        &["source"],
    )?;
    for metric in [&by_status, &dry_by_status, &rows] {
        registry.register(Box::new(metric.clone()))?;
    }
    registry.register(Box::new(durations.clone()))?;
    registry.register(Box::new(last_success.clone()))?;
    registry.register(Box::new(stale.clone()))?;
    registry.register(Box::new(failing.clone()))?;
    for run in runs {
        let labels = [run.source.as_str(), run.status.as_str()];
        if run.dry_run {
            dry_by_status.with_label_values(&labels).inc();
            continue;
        }
        by_status.with_label_values(&labels).inc();
        if run.status == store::runs::status::SUCCEEDED {
            for (outcome, n) in [
                ("inserted", run.inserted),
                ("updated", run.updated),
                ("unchanged", run.unchanged),
                ("rejected", run.rejected),
            ] {
                rows.with_label_values(&[run.source.as_str(), outcome]).inc_by(n.max(0) as u64);
            }
        }
        if let Some(finished) = run.finished_at {
            let seconds = (finished - run.started_at).num_milliseconds().max(0) as f64 / 1000.0;
            durations.with_label_values(&[run.source.as_str()]).observe(seconds);
        }
    }
    for source in sources {
        let name = [source.source.name()];
        let at = source.last_success.as_ref().and_then(|r| r.finished_at).map(|t| t.and_utc().timestamp() as f64);
        last_success.with_label_values(&name).set(at.unwrap_or(0.0));
        stale.with_label_values(&name).set(i64::from(source.stale));
        failing.with_label_values(&name).set(i64::from(source.failing));
    }
    if let Some(reads) = reads {
        register_reads(&registry, reads)?;
    }
    let answers = IntCounterVec::new(
        Opts::new(
            "crisisgraph_answer_cache_requests_total",
            "GraphQL requests that could be answered from the answer cache, by outcome: hit (the store had \
             not changed since the answer was read), shared (answered by an identical request that ran \
             while this one waited) or miss",
        ),
        &["outcome"],
    )?;
    registry.register(Box::new(answers.clone()))?;
    answers.with_label_values(&["hit"]).inc_by(cache.hits);
    answers.with_label_values(&["miss"]).inc_by(cache.misses);
    answers.with_label_values(&["shared"]).inc_by(cache.shared);
    let waiting = IntGauge::new(
        "crisisgraph_answer_cache_waiting",
        "GraphQL requests waiting now for an identical request that is running",
    )?;
    registry.register(Box::new(waiting.clone()))?;
    waiting.set(i64::try_from(cache.waiting).unwrap_or(i64::MAX));
    let mut families = registry.gather();
    families.extend(http.gather());
    let mut buffer = Vec::new();
    TextEncoder::new().encode(&families, &mut buffer)?;
    String::from_utf8(buffer).map_err(|e| prometheus::Error::Msg(e.to_string()))
}

/// Where read snapshots (GraphQL requests, exports) opened, why some went to the primary, whether each
/// replica answers, and the newest ingest commit heard (its WAL position).
fn register_reads(registry: &Registry, reads: &store::ReadCounts) -> Result<(), prometheus::Error> {
    let targets = IntCounterVec::new(
        Opts::new(
            "crisisgraph_read_snapshots_total",
            "Read snapshots (GraphQL requests, exports) opened, by target: replica1, replica2, ... or primary",
        ),
        &["target"],
    )?;
    let fallbacks = IntCounterVec::new(
        Opts::new(
            "crisisgraph_read_replica_fallbacks_total",
            "Reads sent to the primary although replicas are configured: lag (none replayed the newest \
             ingest within the bound) or down",
        ),
        &["reason"],
    )?;
    let up = IntGaugeVec::new(
        Opts::new("crisisgraph_read_replica_up", "1 while the read replica answers, 0 while it counts as down"),
        &["target"],
    )?;
    let newest = prometheus::IntGauge::new(
        "crisisgraph_read_newest_commit_lsn",
        "WAL position of the newest ingest commit this process heard of: replicas must replay it before reads",
    )?;
    registry.register(Box::new(targets.clone()))?;
    registry.register(Box::new(fallbacks.clone()))?;
    registry.register(Box::new(up.clone()))?;
    registry.register(Box::new(newest.clone()))?;
    for (i, (count, is_up)) in reads.replica_reads.iter().zip(&reads.replica_up).enumerate() {
        let target = format!("replica{}", i + 1);
        targets.with_label_values(&[target.as_str()]).inc_by(*count);
        up.with_label_values(&[target.as_str()]).set(i64::from(*is_up));
    }
    targets.with_label_values(&["primary"]).inc_by(reads.primary_reads);
    fallbacks.with_label_values(&["lag"]).inc_by(reads.fallbacks_lag);
    fallbacks.with_label_values(&["down"]).inc_by(reads.fallbacks_down);
    newest.set(i64::try_from(reads.newest_commit_lsn).unwrap_or(i64::MAX));
    Ok(())
}
