-- The licence as GraphQL gives it: `licence` is the licence's title (it was HDX's short id, e.g.
-- `hdx-other` for IOM's own terms), and `licence_url` where its terms are published.

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
    d.licence_title AS licence,
    d.credit AS credit,
    r.url AS resource_url,
    t.run_id AS ingest_run_id,
    t.retrieved_at AS retrieved_at,
    d.licence_url AS licence_url
FROM idp_totals t
JOIN countries c ON c.iso3 = t.country_iso3
JOIN resources r ON r.id = t.resource_id
JOIN datasets d ON d.id = r.dataset_id
LEFT JOIN admin_areas a ON a.id = t.area_id
LEFT JOIN admin_areas p ON p.id = a.parent_id;

DROP VIEW bi_admin_areas;
CREATE VIEW bi_admin_areas AS
SELECT
    a.country_iso3 AS country_iso3,
    c.name AS country_name,
    a.level AS admin_level,
    a.pcode AS pcode,
    a.name AS name,
    a.parent_pcode AS parent_pcode,
    p.name AS parent_name,
    a.valid_from AS valid_from,
    a.valid_to AS valid_to,
    d.source_key AS dataset,
    d.title AS dataset_title,
    d.licence_title AS licence,
    d.credit AS credit,
    d.licence_url AS licence_url
FROM admin_areas a
JOIN countries c ON c.iso3 = a.country_iso3
LEFT JOIN admin_areas p ON p.id = a.parent_id
LEFT JOIN resources r ON r.id = a.resource_id
LEFT JOIN datasets d ON d.id = r.dataset_id;

DROP VIEW bi_population;
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
    d.licence_title AS licence,
    d.credit AS credit,
    r.url AS resource_url,
    f.run_id AS ingest_run_id,
    f.retrieved_at AS retrieved_at,
    d.licence_url AS licence_url
FROM population_figures f
JOIN countries c ON c.iso3 = f.country_iso3
JOIN resources r ON r.id = f.resource_id
JOIN datasets d ON d.id = r.dataset_id
LEFT JOIN admin_areas a ON a.id = f.area_id;

DROP VIEW bi_appeals;
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
    CASE WHEN ac.requirements_usd > 0 THEN ROUND(CAST(ac.funding_usd AS REAL) * 100 / ac.requirements_usd, 1) END AS percent_funded,
    ap.requirements_usd AS plan_requirements_usd,
    ap.funding_usd AS plan_funding_usd,
    d.source_key AS dataset,
    d.title AS dataset_title,
    d.licence_title AS licence,
    d.credit AS credit,
    r.url AS resource_url,
    ap.run_id AS ingest_run_id,
    ap.retrieved_at AS retrieved_at,
    d.licence_url AS licence_url
FROM appeal_countries ac
JOIN appeals ap ON ap.id = ac.appeal_id
JOIN countries c ON c.iso3 = ac.country_iso3
JOIN resources r ON r.id = ap.resource_id
JOIN datasets d ON d.id = r.dataset_id;

DROP VIEW bi_sites;
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
    d.licence_title AS licence,
    d.credit AS credit,
    r.url AS resource_url,
    s.run_id AS ingest_run_id,
    s.retrieved_at AS retrieved_at,
    d.licence_url AS licence_url
FROM sites s
JOIN countries c ON c.iso3 = s.country_iso3
JOIN resources r ON r.id = s.resource_id
JOIN datasets d ON d.id = r.dataset_id
LEFT JOIN admin_areas a ON a.id = s.area_id;
