-- A run that skipped an unchanged payload does not store the rows it rejected a second time: it
-- points at the run that stored them (issue 16: every unchanged re-run used to copy them all).
CREATE TABLE rejection_references (
    run_id BIGINT NOT NULL REFERENCES ingest_runs(id),
    source_run_id BIGINT NOT NULL REFERENCES ingest_runs(id),
    resource_id BIGINT NOT NULL REFERENCES resources(id),
    payload_sha256 TEXT NOT NULL,
    rejected BIGINT NOT NULL,
    PRIMARY KEY (run_id, source_run_id, resource_id, payload_sha256)
);
