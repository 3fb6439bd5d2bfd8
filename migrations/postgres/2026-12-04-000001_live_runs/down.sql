DROP TABLE webhook_deliveries;
DROP TABLE run_changes;
DROP INDEX ingest_runs_progress_at;
ALTER TABLE ingest_runs DROP COLUMN progress_at;
ALTER TABLE ingest_runs DROP COLUMN rows_so_far;
ALTER TABLE ingest_runs DROP COLUMN steps_total;
ALTER TABLE ingest_runs DROP COLUMN steps_done;
ALTER TABLE ingest_runs DROP COLUMN phase;
