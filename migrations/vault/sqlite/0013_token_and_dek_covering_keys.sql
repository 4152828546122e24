-- Kept in step with migrations/vault/postgres/0013_token_and_dek_covering_keys.sql, which
-- carries the columns a resolve and an unseal read in the keys of patient_tokens and
-- patient_deks for index-only reads (ADR 0027). SQLite's embedded default is for one machine
-- and demo data; its keys stay as they are.
SELECT 1;
