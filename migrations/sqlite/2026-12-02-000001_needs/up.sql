-- Humanitarian needs (HNO): people in need, targeted, affected and reached, per plan year, area,
-- sector and population group as the source reports them. One row per figure set the source gives;
-- sectors are never summed into each other (`ALL` is the source's own intersectoral figure).
CREATE TABLE needs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    country_iso3 TEXT NOT NULL REFERENCES countries(iso3),
    year INTEGER NOT NULL,
    admin_level INTEGER NOT NULL,
    area_id BIGINT REFERENCES admin_areas(id),
    area_matched BOOLEAN NOT NULL,
    source_pcode TEXT NOT NULL,
    sector TEXT NOT NULL,
    category TEXT NOT NULL,
    population_group TEXT NOT NULL,
    gender TEXT NOT NULL,
    age_range TEXT NOT NULL,
    disabled_marker TEXT NOT NULL,
    population BIGINT,
    in_need BIGINT,
    targeted BIGINT,
    affected BIGINT,
    reached BIGINT,
    resource_id BIGINT NOT NULL REFERENCES resources(id),
    run_id BIGINT NOT NULL REFERENCES ingest_runs(id),
    retrieved_at TIMESTAMP NOT NULL,
    UNIQUE (country_iso3, year, source_pcode, sector, category, population_group, gender, age_range, disabled_marker)
);
CREATE INDEX needs_area ON needs (area_id, year, sector);
CREATE INDEX needs_country ON needs (country_iso3, year, sector, admin_level);
