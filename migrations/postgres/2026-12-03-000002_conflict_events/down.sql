DROP TABLE conflict_events;
