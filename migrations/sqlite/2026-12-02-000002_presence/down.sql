DROP TABLE operational_presence;
DROP TABLE organisations;
