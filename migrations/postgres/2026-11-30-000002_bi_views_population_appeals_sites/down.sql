DROP VIEW bi_sites;
DROP VIEW bi_appeals;
DROP VIEW bi_population;
