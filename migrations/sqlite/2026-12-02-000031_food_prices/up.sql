-- WFP markets: the places prices are collected, from WFP's global market list, with their coordinates
-- (checked against the country) and the admin area their admin 1 and 2 names match.
CREATE TABLE markets (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    country_iso3 TEXT NOT NULL REFERENCES countries(iso3),
    market_code BIGINT NOT NULL,
    name TEXT NOT NULL,
    admin1_name TEXT NOT NULL,
    admin2_name TEXT NOT NULL,
    latitude DOUBLE,
    longitude DOUBLE,
    area_id BIGINT REFERENCES admin_areas(id),
    area_matched BOOLEAN NOT NULL,
    resource_id BIGINT NOT NULL REFERENCES resources(id),
    run_id BIGINT NOT NULL REFERENCES ingest_runs(id),
    retrieved_at TIMESTAMP NOT NULL,
    UNIQUE (country_iso3, market_code)
);
CREATE INDEX markets_area ON markets (area_id);
-- WFP food prices: one price of one commodity, unit, price type and flag in one market on one date,
-- in the local currency and in US dollars, as WFP's per-country price file gives it.
CREATE TABLE food_prices (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    country_iso3 TEXT NOT NULL REFERENCES countries(iso3),
    market_id BIGINT NOT NULL REFERENCES markets(id),
    market_name TEXT NOT NULL,
    date DATE NOT NULL,
    category TEXT NOT NULL,
    commodity TEXT NOT NULL,
    unit TEXT NOT NULL,
    price_flag TEXT NOT NULL,
    price_type TEXT NOT NULL,
    currency TEXT NOT NULL,
    price DOUBLE NOT NULL,
    usd_price DOUBLE,
    resource_id BIGINT NOT NULL REFERENCES resources(id),
    run_id BIGINT NOT NULL REFERENCES ingest_runs(id),
    retrieved_at TIMESTAMP NOT NULL,
    UNIQUE (country_iso3, market_name, date, commodity, unit, price_flag, price_type, currency)
);
CREATE INDEX food_prices_market ON food_prices (market_id, commodity, date);
