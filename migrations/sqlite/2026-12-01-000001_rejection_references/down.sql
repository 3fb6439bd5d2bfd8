DROP TABLE rejection_references;
