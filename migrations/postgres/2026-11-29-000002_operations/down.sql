DROP TABLE schedule_claims;
ALTER TABLE ingest_runs DROP COLUMN cancel_requested;
