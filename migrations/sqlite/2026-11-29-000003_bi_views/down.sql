DROP VIEW bi_admin_areas;
DROP VIEW bi_idps;
