-- Refugees, asylum-seekers, returnees and other populations of concern to UNHCR, by country of
-- asylum and of origin, as UNHCR publishes them for HDX: end-year totals, demographics (sex and age),
-- solutions (returns, resettlement, naturalisation) and the monthly situations file. `country_iso3`
-- is the country whose run writes the row: the country of asylum, except for returns, which are
-- the country of origin's (people returned there from `asylum_iso3`). Origin and asylum are codes as
-- UNHCR gives them (`UKN` unknown, `STA` stateless): not every one is a country.
CREATE TABLE refugees (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    country_iso3 TEXT NOT NULL REFERENCES countries(iso3),
    publication TEXT NOT NULL,
    year INTEGER NOT NULL,
    reference_date DATE NOT NULL,
    asylum_iso3 TEXT NOT NULL,
    origin_iso3 TEXT NOT NULL,
    population_type TEXT NOT NULL,
    location TEXT NOT NULL,
    gender TEXT NOT NULL,
    age_range TEXT NOT NULL,
    population BIGINT NOT NULL,
    resource_id BIGINT NOT NULL REFERENCES resources(id),
    run_id BIGINT NOT NULL REFERENCES ingest_runs(id),
    retrieved_at TIMESTAMP NOT NULL,
    UNIQUE (country_iso3, publication, reference_date, asylum_iso3, origin_iso3, population_type, location, gender, age_range)
);
CREATE INDEX refugees_asylum ON refugees (asylum_iso3, year, population_type);
CREATE INDEX refugees_origin ON refugees (origin_iso3, year, population_type);
