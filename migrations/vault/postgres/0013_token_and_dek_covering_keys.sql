-- A resolve (up to 500 tokens) and an unseal probe a token's patient and the patient's DEKs by
-- their primary keys. Carried in the keys' indexes, the columns they read come from an
-- index-only scan, without a visit to the table for each token, wherever autovacuum has marked
-- the pages all-visible (ADR 0027, as ADR 0021 did for identity fields). The key columns, and
-- so the uniqueness and every ON CONFLICT target, stay the same; one index replaces the other.
--
-- A wrapped DEK is at most a few hundred bytes (a 32-byte key wrapped by AES-KW, KExp15 or a
-- token's mechanism), far under a B-tree entry's limit of about 2,700 bytes.
ALTER TABLE patient_tokens
    DROP CONSTRAINT patient_tokens_pkey,
    ADD CONSTRAINT patient_tokens_pkey PRIMARY KEY (token) INCLUDE (domain, patient_id);
ALTER TABLE patient_deks
    DROP CONSTRAINT patient_deks_pkey,
    ADD CONSTRAINT patient_deks_pkey PRIMARY KEY (patient_id, dek_version)
        INCLUDE (kek_version, wrapped_dek);
