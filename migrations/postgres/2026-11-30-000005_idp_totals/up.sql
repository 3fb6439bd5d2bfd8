-- IDP totals at the grain users count IDPs (per area, operation, round, reporting date, assessment
-- type and resource), summed over displacement reasons and origins. Kept up to date by the ingest's
-- write transaction (store/src/idp_totals.rs) so that reads are index lookups instead of a GROUP BY
-- over every figure. `is_latest_round`: no later round of the same operation for the same source area.
CREATE TABLE idp_totals (
    id BIGSERIAL PRIMARY KEY,
    country_iso3 TEXT NOT NULL,
    admin_level INTEGER NOT NULL,
    source_pcode TEXT NOT NULL,
    area_id BIGINT,
    area_matched BOOLEAN NOT NULL,
    operation TEXT NOT NULL,
    round_number INTEGER NOT NULL,
    reporting_date DATE NOT NULL,
    assessment_type TEXT NOT NULL,
    resource_id BIGINT NOT NULL,
    source_name TEXT NOT NULL,
    individuals BIGINT NOT NULL,
    run_id BIGINT NOT NULL,
    retrieved_at TIMESTAMP NOT NULL,
    is_latest_round BOOLEAN NOT NULL
);
-- Lists of a country and level in date order, and the export's keyset (the same order).
CREATE INDEX idp_totals_listing ON idp_totals (country_iso3, admin_level, reporting_date, operation, round_number,
    assessment_type, source_pcode, resource_id, id);
-- An area's figures in date order.
CREATE INDEX idp_totals_area ON idp_totals (area_id, reporting_date, operation, round_number, assessment_type,
    source_pcode, resource_id, id);
-- An area's latest rounds.
CREATE INDEX idp_totals_area_latest ON idp_totals (area_id) WHERE is_latest_round;
-- The refresh: one source area's rounds of one operation.
CREATE INDEX idp_totals_series ON idp_totals (country_iso3, admin_level, source_pcode, operation, round_number);

INSERT INTO idp_totals (country_iso3, admin_level, source_pcode, area_id, area_matched, operation, round_number,
    reporting_date, assessment_type, resource_id, source_name, individuals, run_id, retrieved_at, is_latest_round)
SELECT country_iso3, admin_level, source_pcode, area_id, area_matched, operation, round_number, reporting_date,
    assessment_type, resource_id, MIN(source_name), CAST(SUM(individuals) AS BIGINT), MAX(run_id), MAX(retrieved_at),
    round_number = MAX(round_number) OVER (PARTITION BY country_iso3, admin_level, source_pcode, operation)
FROM idp_figures
GROUP BY country_iso3, admin_level, source_pcode, area_id, area_matched, operation, round_number, reporting_date,
    assessment_type, resource_id;

-- bi_idps reads the totals: the same columns and rows as before, without grouping the figures.
DROP VIEW bi_idps;
CREATE VIEW bi_idps AS
SELECT
    t.country_iso3 AS country_iso3,
    c.name AS country_name,
    t.admin_level AS admin_level,
    a.pcode AS area_pcode,
    a.name AS area_name,
    t.area_matched AS area_matched,
    p.pcode AS parent_pcode,
    p.name AS parent_name,
    t.source_pcode AS source_pcode,
    t.source_name AS source_name,
    t.operation AS operation,
    t.round_number AS round_number,
    t.reporting_date AS reporting_date,
    t.assessment_type AS assessment_type,
    t.individuals AS idps,
    d.source_key AS dataset,
    d.title AS dataset_title,
    d.licence_id AS licence,
    d.credit AS credit,
    r.url AS resource_url,
    t.run_id AS ingest_run_id,
    t.retrieved_at AS retrieved_at
FROM idp_totals t
JOIN countries c ON c.iso3 = t.country_iso3
JOIN resources r ON r.id = t.resource_id
JOIN datasets d ON d.id = r.dataset_id
LEFT JOIN admin_areas a ON a.id = t.area_id
LEFT JOIN admin_areas p ON p.id = a.parent_id;
