-- Funding FTS records for a country and year outside any appeal (the "Not specified" rows of the FTS
-- requirements-and-funding files). Kept apart from `appeals`: it is money, not a plan.
CREATE TABLE funding_outside_appeals (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    country_iso3 TEXT NOT NULL REFERENCES countries(iso3),
    year INTEGER NOT NULL,
    funding_usd BIGINT NOT NULL,
    resource_id BIGINT NOT NULL REFERENCES resources(id),
    run_id BIGINT NOT NULL REFERENCES ingest_runs(id),
    retrieved_at TIMESTAMP NOT NULL,
    UNIQUE (country_iso3, year)
);
CREATE INDEX appeals_year ON appeals (year);
CREATE INDEX sites_country_code ON sites (country_iso3, site_code);
-- Cluster figures come from the FTS API, not from the appeal's file: they link to their own resource and run.
ALTER TABLE appeal_clusters ADD COLUMN resource_id BIGINT REFERENCES resources(id);
ALTER TABLE appeal_clusters ADD COLUMN run_id BIGINT REFERENCES ingest_runs(id);
