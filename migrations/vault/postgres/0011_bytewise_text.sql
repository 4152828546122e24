-- Every text column of the vault compares bytewise (COLLATE "C"), whatever locale the database
-- was created with (ADR 0020). The vault keeps no human-language text in clear: its text
-- columns are ids, tokens, codes, field names and machine-written reasons, so a locale's
-- ordering means nothing for them, and under a libc locale (C.UTF-8, ru_RU.UTF-8) PostgreSQL 15
-- compares every index key through strcoll, which was 5.7 % of the machine in the day-view
-- profile. Only the indexes are rebuilt: "C" keeps TEXT, so no table is rewritten and the
-- append-only triggers of the audit tables do not fire.
-- A column added by a later migration declares COLLATE "C" itself.
DO $$
DECLARE
    c record;
BEGIN
    FOR c IN
        SELECT table_name, column_name FROM information_schema.columns
        WHERE table_schema = current_schema() AND data_type = 'text'
          AND table_name NOT LIKE '\_sqlx%' AND collation_name IS NULL
        ORDER BY table_name, column_name
    LOOP
        EXECUTE format('ALTER TABLE %I ALTER COLUMN %I TYPE TEXT COLLATE "C"',
                       c.table_name, c.column_name);
    END LOOP;
END $$;

-- A resolve's token list (ADR 0019) is random text that PostgreSQL's pglz cannot shrink, but it
-- tried on every long list before storing it out of line: 1.4 % of the machine in the day-view
-- profile. Out of line without compression.
ALTER TABLE audit_events ALTER COLUMN patient_tokens SET STORAGE EXTERNAL;
