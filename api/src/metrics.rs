//! Prometheus text for `/metrics`: runs by source and status, rows by outcome, run durations and
//! the last success per source.

use prometheus::{Encoder, GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry, TextEncoder};
use store::models::IngestRun;

pub fn render(runs: &[IngestRun]) -> Result<String, prometheus::Error> {
    let registry = Registry::new();
    let by_status = IntCounterVec::new(
        Opts::new("crisisgraph_ingest_runs_total", "Ingest runs recorded, by source and status"),
        &["source", "status"],
    )?;
    let rows = IntCounterVec::new(
        Opts::new("crisisgraph_ingest_rows_total", "Rows handled by committed runs, by source and outcome"),
        &["source", "outcome"],
    )?;
    let durations = HistogramVec::new(
        HistogramOpts::new("crisisgraph_ingest_run_duration_seconds", "Duration of finished ingest runs")
            .buckets(vec![0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0]),
        &["source"],
    )?;
    let last_success = GaugeVec::new(
        Opts::new(
            "crisisgraph_source_last_success_timestamp_seconds",
            "When the source's last successful run finished",
        ),
        &["source"],
    )?;
    registry.register(Box::new(by_status.clone()))?;
    registry.register(Box::new(rows.clone()))?;
    registry.register(Box::new(durations.clone()))?;
    registry.register(Box::new(last_success.clone()))?;
    for run in runs {
        by_status.with_label_values(&[run.source.as_str(), run.status.as_str()]).inc();
        if !run.dry_run && run.status == store::runs::status::SUCCEEDED {
            for (outcome, n) in [
                ("inserted", run.inserted),
                ("updated", run.updated),
                ("unchanged", run.unchanged),
                ("rejected", run.rejected),
            ] {
                rows.with_label_values(&[run.source.as_str(), outcome]).inc_by(n.max(0) as u64);
            }
            if let Some(finished) = run.finished_at {
                let at = finished.and_utc().timestamp() as f64;
                let gauge = last_success.with_label_values(&[run.source.as_str()]);
                if at > gauge.get() {
                    gauge.set(at);
                }
            }
        }
        if let Some(finished) = run.finished_at {
            let seconds = (finished - run.started_at).num_milliseconds().max(0) as f64 / 1000.0;
            durations.with_label_values(&[run.source.as_str()]).observe(seconds);
        }
    }
    let mut buffer = Vec::new();
    TextEncoder::new().encode(&registry.gather(), &mut buffer)?;
    String::from_utf8(buffer).map_err(|e| prometheus::Error::Msg(e.to_string()))
}
