-- Live runs (issue 15): a run's phase and progress as it goes, written (throttled) by the process that
-- runs it so that every replica and the console see it; what each country of a run changed (for
-- `dataChanged` events and webhooks); and the webhook outbox.
ALTER TABLE ingest_runs ADD COLUMN phase TEXT NOT NULL DEFAULT 'queued';   -- queued | fetching | parsing | writing | finished
ALTER TABLE ingest_runs ADD COLUMN steps_done BIGINT NOT NULL DEFAULT 0;
ALTER TABLE ingest_runs ADD COLUMN steps_total BIGINT;
ALTER TABLE ingest_runs ADD COLUMN rows_so_far BIGINT NOT NULL DEFAULT 0;
ALTER TABLE ingest_runs ADD COLUMN progress_at TIMESTAMP;                  -- last phase/progress write (UTC)
UPDATE ingest_runs SET phase = 'finished', progress_at = finished_at WHERE status <> 'running';
CREATE INDEX ingest_runs_progress_at ON ingest_runs (progress_at);

-- What one country (or unit) of a run committed: written when the run ends.
CREATE TABLE run_changes (
    run_id BIGINT NOT NULL REFERENCES ingest_runs(id),
    country TEXT NOT NULL,
    inserted BIGINT NOT NULL,
    updated BIGINT NOT NULL,
    unchanged BIGINT NOT NULL,
    rejected BIGINT NOT NULL,
    PRIMARY KEY (run_id, country)
);

-- The webhook outbox: one row per receiver URL and event, sent in order per URL by a background
-- worker, with bounded retries.
CREATE TABLE webhook_deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    url TEXT NOT NULL,
    run_id BIGINT REFERENCES ingest_runs(id),
    event TEXT NOT NULL,
    body TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',                                -- pending | delivered | failed
    attempt INTEGER NOT NULL DEFAULT 0,
    http_status INTEGER,
    error TEXT,
    created_at TIMESTAMP NOT NULL,
    next_attempt_at TIMESTAMP NOT NULL,
    delivered_at TIMESTAMP
);
CREATE INDEX webhook_deliveries_pending ON webhook_deliveries (status, url, id);
CREATE INDEX webhook_deliveries_run ON webhook_deliveries (run_id);
