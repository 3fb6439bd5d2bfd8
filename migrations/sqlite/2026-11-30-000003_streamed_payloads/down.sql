DROP TABLE applied_payloads;
DROP TABLE raw_payload_chunks;
