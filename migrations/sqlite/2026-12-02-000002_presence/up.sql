-- Operational presence (3W): which organisation works where, in which sector (issue 11, point 5).

-- Organisations, canonicalised with HAPI's published mapping: one row per canonical acronym and name,
-- compared without case, accents or punctuation (`match_key`), so "Medair" and "MEDAIR" are one.
CREATE TABLE organisations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    match_key TEXT NOT NULL UNIQUE,
    acronym TEXT NOT NULL,
    name TEXT NOT NULL,
    org_type_code TEXT,
    org_type TEXT
);

-- One row per area, organisation and sector a 3W file reports (its rows are activities; many
-- activities of one organisation in one area and sector are one presence, `source_rows` counts them).
CREATE TABLE operational_presence (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    country_iso3 TEXT NOT NULL REFERENCES countries(iso3),
    admin_level INTEGER NOT NULL,
    source_pcode TEXT NOT NULL,
    area_id BIGINT REFERENCES admin_areas(id),
    area_matched BOOLEAN NOT NULL,
    organisation_id BIGINT NOT NULL REFERENCES organisations(id),
    sector_code TEXT NOT NULL,
    source_sector TEXT NOT NULL,
    source_rows INTEGER NOT NULL,
    resource_id BIGINT NOT NULL REFERENCES resources(id),
    run_id BIGINT NOT NULL REFERENCES ingest_runs(id),
    retrieved_at TIMESTAMP NOT NULL,
    UNIQUE (country_iso3, source_pcode, organisation_id, sector_code)
);
CREATE INDEX operational_presence_area ON operational_presence (area_id);
CREATE INDEX operational_presence_organisation ON operational_presence (organisation_id);
