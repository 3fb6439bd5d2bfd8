-- Reads of IDP figures go to idp_totals now (per area, per country and level); idp_figures is read only
-- by the ingest (its unique key, and run_id for the totals refresh). These two indexes served the old
-- read-time grouping and cost the ingest an index update per row. Areas are never deleted, so the
-- area_id foreign key needs no index on this side.
DROP INDEX idp_figures_area;
DROP INDEX idp_figures_country_level;
