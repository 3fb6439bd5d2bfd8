-- crisisgraph's data model for the whole product (PostgreSQL dialect; migrations/sqlite holds the same tables).
-- Timestamps are TIMESTAMP holding UTC; people counts and USD amounts are BIGINT.

-- Where every figure comes from: a published dataset (HDX dataset, DTM API) ...
CREATE TABLE datasets (
    id BIGSERIAL PRIMARY KEY,
    source_key TEXT NOT NULL UNIQUE,          -- our stable name, e.g. 'dtm-api-v3', 'hdx:global-pcodes'
    hdx_id TEXT,
    title TEXT NOT NULL,
    organisation TEXT NOT NULL,
    url TEXT NOT NULL,
    licence_id TEXT NOT NULL,
    licence_title TEXT NOT NULL,
    licence_url TEXT,
    licence_other TEXT,
    credit TEXT NOT NULL,
    methodology TEXT,
    update_frequency_days INTEGER,
    last_modified TIMESTAMP,
    created_at TIMESTAMP NOT NULL DEFAULT (now() AT TIME ZONE 'utc'),
    updated_at TIMESTAMP NOT NULL DEFAULT (now() AT TIME ZONE 'utc')
);

-- ... and one of its resources (a file or an API endpoint).
CREATE TABLE resources (
    id BIGSERIAL PRIMARY KEY,
    dataset_id BIGINT NOT NULL REFERENCES datasets(id),
    hdx_id TEXT,
    name TEXT NOT NULL,
    url TEXT NOT NULL,
    format TEXT NOT NULL,
    last_modified TIMESTAMP,
    created_at TIMESTAMP NOT NULL DEFAULT (now() AT TIME ZONE 'utc'),
    updated_at TIMESTAMP NOT NULL DEFAULT (now() AT TIME ZONE 'utc'),
    UNIQUE (dataset_id, name)
);

-- One execution of one source's ingest.
CREATE TABLE ingest_runs (
    id BIGSERIAL PRIMARY KEY,
    source TEXT NOT NULL,
    params TEXT NOT NULL,                     -- JSON object: countries, options
    trigger TEXT NOT NULL,                    -- cli | schedule | api | sample
    requested_by TEXT,
    dry_run BOOLEAN NOT NULL DEFAULT FALSE,
    status TEXT NOT NULL,                     -- running | succeeded | failed | interrupted | cancelled
    started_at TIMESTAMP NOT NULL,
    finished_at TIMESTAMP,
    heartbeat_at TIMESTAMP,
    fetched BIGINT NOT NULL DEFAULT 0,
    inserted BIGINT NOT NULL DEFAULT 0,
    updated BIGINT NOT NULL DEFAULT 0,
    unchanged BIGINT NOT NULL DEFAULT 0,
    rejected BIGINT NOT NULL DEFAULT 0,
    error TEXT
);
CREATE INDEX ingest_runs_source_started ON ingest_runs (source, started_at DESC);
CREATE INDEX ingest_runs_status ON ingest_runs (status);

-- One scheduler/CLI/API lease per source, so that two runs of a source never overlap.
CREATE TABLE source_leases (
    source TEXT PRIMARY KEY,
    run_id BIGINT REFERENCES ingest_runs(id),
    holder TEXT NOT NULL,
    acquired_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL
);

-- The exact bytes a source served, by content hash, so a run can be replayed offline.
CREATE TABLE raw_payloads (
    sha256 TEXT PRIMARY KEY,
    byte_size BIGINT NOT NULL,
    content_type TEXT,
    body BYTEA NOT NULL,
    first_fetched_at TIMESTAMP NOT NULL
);

-- Every HTTP fetch: which URL, when, by which run, and which payload it returned.
CREATE TABLE fetches (
    id BIGSERIAL PRIMARY KEY,
    run_id BIGINT REFERENCES ingest_runs(id),
    resource_id BIGINT REFERENCES resources(id),
    url TEXT NOT NULL,
    http_status INTEGER NOT NULL,
    not_modified BOOLEAN NOT NULL DEFAULT FALSE,
    payload_sha256 TEXT REFERENCES raw_payloads(sha256),
    etag TEXT,
    last_modified TEXT,
    fetched_at TIMESTAMP NOT NULL
);
CREATE INDEX fetches_url_fetched ON fetches (url, fetched_at DESC);
CREATE INDEX fetches_run ON fetches (run_id);

-- A source row that could not be stored, with the reason and the row as served.
CREATE TABLE rejected_rows (
    id BIGSERIAL PRIMARY KEY,
    run_id BIGINT NOT NULL REFERENCES ingest_runs(id),
    resource_id BIGINT REFERENCES resources(id),
    payload_sha256 TEXT,
    row_number BIGINT NOT NULL,
    reason TEXT NOT NULL,
    raw TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL DEFAULT (now() AT TIME ZONE 'utc')
);
CREATE INDEX rejected_rows_run ON rejected_rows (run_id, row_number);

CREATE TABLE countries (
    iso3 TEXT PRIMARY KEY,
    iso2 TEXT,
    name TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL DEFAULT (now() AT TIME ZONE 'utc'),
    updated_at TIMESTAMP NOT NULL DEFAULT (now() AT TIME ZONE 'utc')
);

-- Admin areas of every level (0 = the country itself), versioned by validity dates:
-- a p-code is unique only together with the date its boundary edition became valid.
CREATE TABLE admin_areas (
    id BIGSERIAL PRIMARY KEY,
    country_iso3 TEXT NOT NULL REFERENCES countries(iso3),
    pcode TEXT NOT NULL,
    name TEXT NOT NULL,
    level INTEGER NOT NULL CHECK (level BETWEEN 0 AND 5),
    parent_pcode TEXT,
    parent_id BIGINT REFERENCES admin_areas(id),
    valid_from DATE NOT NULL,
    valid_to DATE,
    resource_id BIGINT REFERENCES resources(id),
    run_id BIGINT REFERENCES ingest_runs(id),
    created_at TIMESTAMP NOT NULL DEFAULT (now() AT TIME ZONE 'utc'),
    updated_at TIMESTAMP NOT NULL DEFAULT (now() AT TIME ZONE 'utc'),
    UNIQUE (pcode, valid_from)
);
CREATE INDEX admin_areas_country_level ON admin_areas (country_iso3, level);
CREATE INDEX admin_areas_parent ON admin_areas (parent_id);
CREATE INDEX admin_areas_pcode ON admin_areas (pcode);

-- The crosswalk: other codes and names that denote an area (a source's own code such as DTM's TD07,
-- a code from an older boundary edition such as Mali's ML0704, an alternative name).
CREATE TABLE area_aliases (
    id BIGSERIAL PRIMARY KEY,
    area_id BIGINT NOT NULL REFERENCES admin_areas(id),
    code TEXT,
    name TEXT,
    kind TEXT NOT NULL,                       -- source_code | old_code | alt_name
    relation TEXT NOT NULL DEFAULT 'same',    -- same | part_of | contains
    source TEXT NOT NULL,
    valid_from DATE,
    valid_to DATE,
    note TEXT
);
CREATE INDEX area_aliases_code ON area_aliases (code);
CREATE INDEX area_aliases_area ON area_aliases (area_id);

-- IDP figures at the source's grain (DTM v3: one row per area, operation, round, date, assessment type,
-- displacement reason and origin). A total for an area is a sum over reason and origin.
CREATE TABLE idp_figures (
    id BIGSERIAL PRIMARY KEY,
    country_iso3 TEXT NOT NULL REFERENCES countries(iso3),
    admin_level INTEGER NOT NULL,
    area_id BIGINT REFERENCES admin_areas(id),   -- the matched area, or its nearest matched parent
    area_matched BOOLEAN NOT NULL,
    source_pcode TEXT NOT NULL,
    source_name TEXT NOT NULL,
    operation TEXT NOT NULL,
    round_number INTEGER NOT NULL,
    reporting_date DATE NOT NULL,
    assessment_type TEXT NOT NULL,
    displacement_reason TEXT NOT NULL,
    origin_pcode TEXT NOT NULL,
    origin_name TEXT NOT NULL,
    individuals BIGINT NOT NULL,
    males BIGINT,
    females BIGINT,
    resource_id BIGINT NOT NULL REFERENCES resources(id),
    run_id BIGINT NOT NULL REFERENCES ingest_runs(id),
    retrieved_at TIMESTAMP NOT NULL,
    UNIQUE (country_iso3, admin_level, source_pcode, operation, round_number, reporting_date,
            assessment_type, displacement_reason, origin_pcode, origin_name)
);
CREATE INDEX idp_figures_area ON idp_figures (area_id, operation, round_number);
CREATE INDEX idp_figures_country_level ON idp_figures (country_iso3, admin_level, reporting_date);
CREATE INDEX idp_figures_run ON idp_figures (run_id);

-- Population by area, sex and age group for a reference year, against the boundary edition it was published for.
CREATE TABLE population_figures (
    id BIGSERIAL PRIMARY KEY,
    country_iso3 TEXT NOT NULL REFERENCES countries(iso3),
    admin_level INTEGER NOT NULL,
    area_id BIGINT REFERENCES admin_areas(id),
    area_matched BOOLEAN NOT NULL,
    source_pcode TEXT NOT NULL,
    source_name TEXT NOT NULL,
    boundary_edition TEXT NOT NULL,
    sex TEXT NOT NULL,                        -- all | f | m
    age_range TEXT NOT NULL,                  -- all, or e.g. 0-4
    reference_year INTEGER NOT NULL,
    population BIGINT NOT NULL,
    resource_id BIGINT NOT NULL REFERENCES resources(id),
    run_id BIGINT NOT NULL REFERENCES ingest_runs(id),
    retrieved_at TIMESTAMP NOT NULL,
    UNIQUE (country_iso3, source_pcode, boundary_edition, sex, age_range, reference_year)
);
CREATE INDEX population_figures_area ON population_figures (area_id, reference_year);

-- Displacement sites and locations (DTM site lists).
CREATE TABLE sites (
    id BIGSERIAL PRIMARY KEY,
    country_iso3 TEXT NOT NULL REFERENCES countries(iso3),
    site_code TEXT NOT NULL,
    name TEXT NOT NULL,
    site_type TEXT,
    latitude DOUBLE PRECISION,
    longitude DOUBLE PRECISION,
    area_id BIGINT REFERENCES admin_areas(id),
    area_matched BOOLEAN NOT NULL,
    source_pcode TEXT,
    households BIGINT,
    individuals BIGINT,
    round_number INTEGER,
    reporting_date DATE,
    resource_id BIGINT NOT NULL REFERENCES resources(id),
    run_id BIGINT NOT NULL REFERENCES ingest_runs(id),
    retrieved_at TIMESTAMP NOT NULL,
    UNIQUE (country_iso3, site_code, round_number)
);
CREATE INDEX sites_area ON sites (area_id);
CREATE INDEX sites_country ON sites (country_iso3, site_type);

-- Funding appeals (FTS plans), their per-country split and per-cluster figures.
CREATE TABLE appeals (
    id BIGSERIAL PRIMARY KEY,
    code TEXT NOT NULL,
    fts_id BIGINT,
    name TEXT NOT NULL,
    appeal_type TEXT,
    year INTEGER NOT NULL,
    start_date DATE,
    end_date DATE,
    requirements_usd BIGINT,
    funding_usd BIGINT,
    resource_id BIGINT NOT NULL REFERENCES resources(id),
    run_id BIGINT NOT NULL REFERENCES ingest_runs(id),
    retrieved_at TIMESTAMP NOT NULL,
    UNIQUE (code, year)
);
CREATE TABLE appeal_countries (
    id BIGSERIAL PRIMARY KEY,
    appeal_id BIGINT NOT NULL REFERENCES appeals(id),
    country_iso3 TEXT NOT NULL REFERENCES countries(iso3),
    requirements_usd BIGINT,
    funding_usd BIGINT,
    UNIQUE (appeal_id, country_iso3)
);
CREATE INDEX appeal_countries_country ON appeal_countries (country_iso3);
CREATE TABLE appeal_clusters (
    id BIGSERIAL PRIMARY KEY,
    appeal_id BIGINT NOT NULL REFERENCES appeals(id),
    cluster TEXT NOT NULL,
    requirements_usd BIGINT,
    funding_usd BIGINT,
    UNIQUE (appeal_id, cluster)
);
