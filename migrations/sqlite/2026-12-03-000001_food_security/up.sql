-- Food security: people by phase of acute food insecurity (Cadre Harmonisé / IPC), per analysis,
-- projection (current, projected, second projected), reference period and area as the source reports
-- them. One row per area and analysis; phases 1 to 5 and phase 3+ are the source's figures, never
-- summed here. `source_pcode` is the source's code (CH's old Mali codes kept as given; empty for IPC
-- areas, which are named only), `source_area_name` its name; `superseded` is CH's `usethisperiod = N`.
CREATE TABLE food_security (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    country_iso3 TEXT NOT NULL REFERENCES countries(iso3),
    admin_level INTEGER NOT NULL,
    area_id BIGINT REFERENCES admin_areas(id),
    area_matched BOOLEAN NOT NULL,
    source_pcode TEXT NOT NULL,
    source_area_name TEXT NOT NULL,
    analysis TEXT NOT NULL,
    projection TEXT NOT NULL,
    reference_period_start DATE NOT NULL,
    reference_period_end DATE NOT NULL,
    superseded BOOLEAN NOT NULL,
    population BIGINT,
    phase1 BIGINT,
    phase2 BIGINT,
    phase3 BIGINT,
    phase4 BIGINT,
    phase5 BIGINT,
    phase3_plus BIGINT,
    phase_class INTEGER,
    resource_id BIGINT NOT NULL REFERENCES resources(id),
    run_id BIGINT NOT NULL REFERENCES ingest_runs(id),
    retrieved_at TIMESTAMP NOT NULL,
    UNIQUE (country_iso3, analysis, projection, reference_period_start, source_pcode, source_area_name)
);
CREATE INDEX food_security_area ON food_security (area_id, reference_period_start);
CREATE INDEX food_security_country ON food_security (country_iso3, reference_period_start, projection, admin_level);
