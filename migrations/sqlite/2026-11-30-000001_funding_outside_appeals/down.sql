ALTER TABLE appeal_clusters DROP COLUMN run_id;
ALTER TABLE appeal_clusters DROP COLUMN resource_id;
DROP INDEX sites_country_code;
DROP INDEX appeals_year;
DROP TABLE funding_outside_appeals;
