-- A payload archived in pieces of a few MB, written while reading the downloaded file, so that no
-- process holds a whole answer (hundreds of MB) in memory. The payload is raw_payloads.body (empty
-- for payloads archived this way; the whole body for payloads archived before) followed by its
-- chunks in seq order.
CREATE TABLE raw_payload_chunks (
    sha256 TEXT NOT NULL REFERENCES raw_payloads(sha256),
    seq INTEGER NOT NULL,
    bytes BYTEA NOT NULL,
    PRIMARY KEY (sha256, seq)
);
-- Stored as is: compressing hundreds of MB on every first fetch costs more time than the disk it saves.
ALTER TABLE raw_payload_chunks ALTER COLUMN bytes SET STORAGE EXTERNAL;

-- Per source, country and URL: the payload the last committed (non-dry) run wrote, what it counted,
-- and a fingerprint of the country's areas at the time (the matching depends on them). A later run
-- that fetches the same bytes while the areas are unchanged would write nothing, so it skips the work.
CREATE TABLE applied_payloads (
    source TEXT NOT NULL,
    country_iso3 TEXT NOT NULL,
    url TEXT NOT NULL,
    payload_sha256 TEXT NOT NULL REFERENCES raw_payloads(sha256),
    run_id BIGINT NOT NULL REFERENCES ingest_runs(id),
    resource_id BIGINT NOT NULL REFERENCES resources(id),
    fetched_rows BIGINT NOT NULL,
    stored_rows BIGINT NOT NULL,
    rejected_rows BIGINT NOT NULL,
    area_count BIGINT NOT NULL,
    area_max_id BIGINT NOT NULL,
    area_max_updated_at TIMESTAMP,
    applied_at TIMESTAMP NOT NULL,
    PRIMARY KEY (source, country_iso3, url)
);
