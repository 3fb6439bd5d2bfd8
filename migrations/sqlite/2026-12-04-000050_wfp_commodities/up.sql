-- WFP's commodity list: every commodity WFP prices anywhere, with its id and category, as the global
-- food prices dataset publishes it (a price names its commodity by this name).
CREATE TABLE wfp_commodities (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    publisher TEXT NOT NULL,
    wfp_id BIGINT NOT NULL,
    name TEXT NOT NULL,
    category TEXT NOT NULL,
    resource_id BIGINT NOT NULL REFERENCES resources(id),
    run_id BIGINT NOT NULL REFERENCES ingest_runs(id),
    retrieved_at TIMESTAMP NOT NULL,
    UNIQUE (publisher, wfp_id)
);
CREATE INDEX wfp_commodities_name ON wfp_commodities (name);
