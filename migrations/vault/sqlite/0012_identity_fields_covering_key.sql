-- Kept in step with migrations/vault/postgres/0012_identity_fields_covering_key.sql, which
-- carries version and envelope in the primary key's index for index-only reads (ADR 0021).
-- SQLite's embedded default is for one machine and demo data; its key stays as it is.
SELECT 1;
