DROP TABLE refugees;
