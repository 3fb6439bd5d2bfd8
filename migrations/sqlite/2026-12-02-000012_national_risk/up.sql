-- National risk (INFORM Risk index): one row per country and edition year, the index (0-10), its
-- class and rank as INFORM publishes them, and its three dimensions.
CREATE TABLE national_risk (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    country_iso3 TEXT NOT NULL REFERENCES countries(iso3),
    year INTEGER NOT NULL,
    risk_score DOUBLE NOT NULL,
    risk_class TEXT NOT NULL,
    rank INTEGER NOT NULL,
    hazard_exposure DOUBLE,
    vulnerability DOUBLE,
    lack_of_coping_capacity DOUBLE,
    lack_of_reliability DOUBLE,
    resource_id BIGINT NOT NULL REFERENCES resources(id),
    run_id BIGINT NOT NULL REFERENCES ingest_runs(id),
    retrieved_at TIMESTAMP NOT NULL,
    UNIQUE (country_iso3, year)
);
