-- BI views for population, appeals and sites: the same columns as /export/{population,appeals,sites}.csv.

-- Population by area, sex and age group for a reference year, against the boundary edition it was
-- published for; area_* is the current area the figure covers exactly, or (area_matched = false) the
-- nearest enclosing one.
CREATE VIEW bi_population AS
SELECT
    f.country_iso3 AS country_iso3,
    c.name AS country_name,
    f.admin_level AS admin_level,
    a.pcode AS area_pcode,
    a.name AS area_name,
    f.area_matched AS area_matched,
    f.source_pcode AS source_pcode,
    f.source_name AS source_name,
    f.boundary_edition AS boundary_edition,
    f.sex AS sex,
    f.age_range AS age_range,
    f.reference_year AS reference_year,
    f.population AS population,
    d.source_key AS dataset,
    d.title AS dataset_title,
    d.licence_id AS licence,
    d.credit AS credit,
    r.url AS resource_url,
    f.run_id AS ingest_run_id,
    f.retrieved_at AS retrieved_at
FROM population_figures f
JOIN countries c ON c.iso3 = f.country_iso3
JOIN resources r ON r.id = f.resource_id
JOIN datasets d ON d.id = r.dataset_id
LEFT JOIN admin_areas a ON a.id = f.area_id;

-- One row per appeal and country: the country's share, next to the whole plan's figures.
CREATE VIEW bi_appeals AS
SELECT
    ac.country_iso3 AS country_iso3,
    c.name AS country_name,
    ap.code AS appeal_code,
    ap.fts_id AS fts_id,
    ap.name AS appeal_name,
    ap.appeal_type AS appeal_type,
    ap.year AS year,
    ap.start_date AS start_date,
    ap.end_date AS end_date,
    ac.requirements_usd AS requirements_usd,
    ac.funding_usd AS funding_usd,
    CASE WHEN ac.requirements_usd > 0 THEN CAST(ROUND(CAST(ac.funding_usd AS NUMERIC) * 100 / ac.requirements_usd, 1) AS DOUBLE PRECISION) END AS percent_funded,
    ap.requirements_usd AS plan_requirements_usd,
    ap.funding_usd AS plan_funding_usd,
    d.source_key AS dataset,
    d.title AS dataset_title,
    d.licence_id AS licence,
    d.credit AS credit,
    r.url AS resource_url,
    ap.run_id AS ingest_run_id,
    ap.retrieved_at AS retrieved_at
FROM appeal_countries ac
JOIN appeals ap ON ap.id = ac.appeal_id
JOIN countries c ON c.iso3 = ac.country_iso3
JOIN resources r ON r.id = ap.resource_id
JOIN datasets d ON d.id = r.dataset_id;

-- Displacement sites and locations.
CREATE VIEW bi_sites AS
SELECT
    s.country_iso3 AS country_iso3,
    c.name AS country_name,
    s.site_code AS site_code,
    s.name AS name,
    s.site_type AS site_type,
    s.latitude AS latitude,
    s.longitude AS longitude,
    a.pcode AS area_pcode,
    a.name AS area_name,
    s.area_matched AS area_matched,
    s.source_pcode AS source_pcode,
    s.households AS households,
    s.individuals AS individuals,
    s.round_number AS round_number,
    s.reporting_date AS reporting_date,
    d.source_key AS dataset,
    d.title AS dataset_title,
    d.licence_id AS licence,
    d.credit AS credit,
    r.url AS resource_url,
    s.run_id AS ingest_run_id,
    s.retrieved_at AS retrieved_at
FROM sites s
JOIN countries c ON c.iso3 = s.country_iso3
JOIN resources r ON r.id = s.resource_id
JOIN datasets d ON d.id = r.dataset_id
LEFT JOIN admin_areas a ON a.id = s.area_id;
