-- Back to bi_idps grouping the figures at read time, and no table of totals.
DROP VIEW bi_idps;
CREATE VIEW bi_idps AS
SELECT
    f.country_iso3 AS country_iso3,
    c.name AS country_name,
    f.admin_level AS admin_level,
    a.pcode AS area_pcode,
    a.name AS area_name,
    f.area_matched AS area_matched,
    p.pcode AS parent_pcode,
    p.name AS parent_name,
    f.source_pcode AS source_pcode,
    MIN(f.source_name) AS source_name,
    f.operation AS operation,
    f.round_number AS round_number,
    f.reporting_date AS reporting_date,
    f.assessment_type AS assessment_type,
    CAST(SUM(f.individuals) AS BIGINT) AS idps,
    d.source_key AS dataset,
    d.title AS dataset_title,
    d.licence_id AS licence,
    d.credit AS credit,
    r.url AS resource_url,
    MAX(f.run_id) AS ingest_run_id,
    MAX(f.retrieved_at) AS retrieved_at
FROM idp_figures f
JOIN countries c ON c.iso3 = f.country_iso3
JOIN resources r ON r.id = f.resource_id
JOIN datasets d ON d.id = r.dataset_id
LEFT JOIN admin_areas a ON a.id = f.area_id
LEFT JOIN admin_areas p ON p.id = a.parent_id
GROUP BY f.country_iso3, c.name, f.admin_level, a.pcode, a.name, f.area_matched, p.pcode, p.name, f.source_pcode,
         f.operation, f.round_number, f.reporting_date, f.assessment_type, d.source_key, d.title, d.licence_id,
         d.credit, r.url;
DROP TABLE idp_totals;
