-- Attachments (scans, PDFs) of a record: sealed in chunks under the patient's attachment key.
-- The AAD of each chunk binds patient, attachment, chunk index and whether it is the last one,
-- so chunks cannot be reordered, moved, dropped from the end or mixed between attachments.
CREATE TABLE attachments (
    attachment_id TEXT PRIMARY KEY NOT NULL,
    record_id     TEXT NOT NULL,
    patient_id    TEXT NOT NULL REFERENCES patients (patient_id),
    content_type  TEXT NOT NULL,
    size_bytes    BIGINT NOT NULL,
    chunk_count   BIGINT NOT NULL,
    author        TEXT,
    created_at    BIGINT NOT NULL
);
CREATE INDEX attachments_by_record ON attachments (record_id);

CREATE TABLE attachment_chunks (
    attachment_id TEXT NOT NULL REFERENCES attachments (attachment_id),
    idx           BIGINT NOT NULL,
    envelope      BYTEA NOT NULL,
    PRIMARY KEY (attachment_id, idx)
);
