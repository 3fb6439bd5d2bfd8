DROP TABLE national_risk;
