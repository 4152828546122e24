-- The vault as a service: identities, pseudonyms, blind indexes, staff and service sign-in,
-- care relationships, break-glass grants and audit events. Personal data is only ever stored
-- sealed (identity_fields, justifications) or as keyed digests (blind_indexes).

-- Vault-wide keys (blind-index root, staff-secret sealing), wrapped by the KEK like DEKs.
CREATE TABLE vault_keys (
    name        TEXT PRIMARY KEY NOT NULL,
    kek_version INTEGER NOT NULL,
    wrapped_key BLOB NOT NULL,
    created_at  INTEGER NOT NULL
);

-- Identity fields, each sealed under the patient's DEK; the AAD binds patient, field, version.
CREATE TABLE identity_fields (
    patient_id TEXT NOT NULL REFERENCES patients (patient_id),
    field      TEXT NOT NULL,
    version    INTEGER NOT NULL,
    envelope   BLOB NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (patient_id, field)
);

-- Pseudonyms: one random token per patient and consumer domain; unlinkable across domains.
CREATE TABLE patient_tokens (
    token      TEXT PRIMARY KEY NOT NULL,
    domain     TEXT NOT NULL,
    patient_id TEXT NOT NULL REFERENCES patients (patient_id),
    created_at INTEGER NOT NULL,
    UNIQUE (domain, patient_id)
);

-- Blind indexes: HMAC-SHA256 of a normalised value under a per-kind key. Equality only.
CREATE TABLE blind_indexes (
    kind       TEXT NOT NULL,
    digest     BLOB NOT NULL,
    patient_id TEXT NOT NULL REFERENCES patients (patient_id),
    PRIMARY KEY (kind, digest, patient_id)
);
CREATE INDEX blind_indexes_by_patient ON blind_indexes (patient_id);

CREATE TABLE staff (
    staff_id      TEXT PRIMARY KEY NOT NULL,
    username      TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL,
    branch        TEXT NOT NULL,
    totp_envelope BLOB,
    disabled_at   INTEGER,
    created_at    INTEGER NOT NULL
);

-- Bearer sessions; only the SHA-256 of the secret is stored.
CREATE TABLE staff_sessions (
    session_hash BLOB PRIMARY KEY NOT NULL,
    staff_id     TEXT NOT NULL REFERENCES staff (staff_id),
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    revoked_at   INTEGER
);

-- Service credentials (clinic-app, analytics, ...); only the SHA-256 of the 256-bit secret.
CREATE TABLE service_credentials (
    domain      TEXT PRIMARY KEY NOT NULL,
    secret_hash BLOB NOT NULL,
    created_at  INTEGER NOT NULL,
    revoked_at  INTEGER
);

CREATE TABLE care_relationships (
    doctor_staff_id TEXT NOT NULL,
    patient_id      TEXT NOT NULL REFERENCES patients (patient_id),
    valid_from      INTEGER NOT NULL,
    valid_until     INTEGER NOT NULL,
    reported_by     TEXT NOT NULL,
    PRIMARY KEY (doctor_staff_id, patient_id, valid_from)
);

CREATE TABLE break_glass_grants (
    grant_id               TEXT PRIMARY KEY NOT NULL,
    staff_id               TEXT NOT NULL,
    patient_id             TEXT NOT NULL REFERENCES patients (patient_id),
    reason_code            TEXT NOT NULL,
    justification_envelope BLOB NOT NULL,
    started_at             INTEGER NOT NULL,
    expires_at             INTEGER NOT NULL,
    ended_at               INTEGER
);
CREATE INDEX break_glass_by_staff ON break_glass_grants (staff_id, patient_id);

-- Every decision, permit or deny. Holds tokens and codes, never personal data.
CREATE TABLE audit_events (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    at            INTEGER NOT NULL,
    request_id    TEXT NOT NULL,
    principal     TEXT NOT NULL,
    role          TEXT NOT NULL,
    branch        TEXT,
    action        TEXT NOT NULL,
    patient_token TEXT,
    purpose       TEXT,
    reason_code   TEXT,
    decision      TEXT NOT NULL,
    reasons       TEXT NOT NULL,
    client_addr   TEXT
);

ALTER TABLE sealed_records ADD COLUMN author TEXT;
