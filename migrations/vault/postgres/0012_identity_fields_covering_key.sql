-- A resolve reads identity fields by their primary key (patient_id, field) and needs only
-- version and envelope: carried in the key's index, they are read by an index-only scan,
-- without a visit to the table for each field, wherever autovacuum has marked the pages
-- all-visible, as it has for every patient registered before today (ADR 0021). One index
-- replaces the other: the key's columns and so its uniqueness and ON CONFLICT target stay
-- the same.
--
-- A btree entry holds at most about 2,700 bytes. The largest identity field the API accepts is
-- an address of 300 characters (at most 1,200 bytes of UTF-8) or ten phone numbers; sealed,
-- each stays under 1,300 bytes.
ALTER TABLE identity_fields
    DROP CONSTRAINT identity_fields_pkey,
    ADD CONSTRAINT identity_fields_pkey PRIMARY KEY (patient_id, field) INCLUDE (version, envelope);
