-- Conflict events (ACLED's aggregated workbooks on HDX): political violence events, civilian
-- targeting events and demonstrations per month and admin 2 area, with their reported fatalities
-- (none for demonstrations: ACLED's demonstrations workbook gives no fatalities). One row per
-- country, source p-code, month (its first day) and event type; months without events are rows
-- with 0 events, as ACLED publishes them. ACLED's terms of use forbid redistributing its data: this
-- table is filled by a run from ACLED's own files, never from a bundled copy.
CREATE TABLE conflict_events (
    id BIGSERIAL PRIMARY KEY,
    country_iso3 TEXT NOT NULL REFERENCES countries(iso3),
    admin_level INTEGER NOT NULL,
    area_id BIGINT REFERENCES admin_areas(id),
    area_matched BOOLEAN NOT NULL,
    source_pcode TEXT NOT NULL,
    source_admin1_pcode TEXT NOT NULL,
    source_admin1_name TEXT NOT NULL,
    source_admin2_name TEXT NOT NULL,
    month DATE NOT NULL,
    event_type TEXT NOT NULL,
    events BIGINT NOT NULL,
    fatalities BIGINT,
    resource_id BIGINT NOT NULL REFERENCES resources(id),
    run_id BIGINT NOT NULL REFERENCES ingest_runs(id),
    retrieved_at TIMESTAMP NOT NULL,
    UNIQUE (country_iso3, source_pcode, month, event_type)
);
CREATE INDEX conflict_events_area ON conflict_events (area_id, month, event_type);
