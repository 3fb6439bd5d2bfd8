-- Operations: cooperative cancellation of runs, and one claim per scheduled firing so that several
-- replicas with the same schedule run each job once.
ALTER TABLE ingest_runs ADD COLUMN cancel_requested BOOLEAN NOT NULL DEFAULT FALSE;

CREATE TABLE schedule_claims (
    source TEXT NOT NULL,
    slot TIMESTAMP NOT NULL,          -- the firing time the claim is for (UTC, whole second)
    holder TEXT NOT NULL,
    claimed_at TIMESTAMP NOT NULL,
    PRIMARY KEY (source, slot)
);
