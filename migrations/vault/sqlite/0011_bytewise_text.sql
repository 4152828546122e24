-- Kept in step with migrations/vault/postgres/0011_bytewise_text.sql, which makes every text
-- column compare bytewise and stores audit token lists uncompressed (ADR 0020). SQLite's default
-- collation, BINARY, already compares bytewise, and SQLite does not compress: nothing to change.
SELECT 1;
