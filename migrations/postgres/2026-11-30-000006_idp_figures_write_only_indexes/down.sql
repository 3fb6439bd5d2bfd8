CREATE INDEX idp_figures_area ON idp_figures (area_id, operation, round_number);
CREATE INDEX idp_figures_country_level ON idp_figures (country_iso3, admin_level, reporting_date);
