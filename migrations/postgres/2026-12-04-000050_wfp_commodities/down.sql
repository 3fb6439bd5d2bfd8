DROP TABLE wfp_commodities;
