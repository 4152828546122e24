-- Patient rights (152-FZ art. 14, 20, 21; ADR 0016): the consent registry, access and deletion
-- requests with their deadlines, what the law keeps after a deletion and until when, legal
-- holds that stop destruction, and destruction acts (Roskomnadzor order 179).
-- Nothing here holds personal data: patients are internal ids, texts are the clinic's own.

-- Consents are a history, never overwritten: the newest row per (patient, purpose) is in force.
CREATE TABLE consents (
    seq         BIGSERIAL PRIMARY KEY,
    patient_id  TEXT NOT NULL REFERENCES patients (patient_id),
    purpose     TEXT NOT NULL,
    granted     BOOLEAN NOT NULL,
    channel     TEXT NOT NULL,
    at          BIGINT NOT NULL,
    recorded_by TEXT NOT NULL
);
CREATE INDEX consents_by_patient ON consents (patient_id, purpose, seq);

CREATE TABLE data_requests (
    request_id          TEXT PRIMARY KEY NOT NULL,
    patient_id          TEXT NOT NULL REFERENCES patients (patient_id),
    kind                TEXT NOT NULL,
    channel             TEXT NOT NULL,
    state               TEXT NOT NULL,
    filed_by            TEXT NOT NULL,
    filed_at            BIGINT NOT NULL,
    due_at              BIGINT NOT NULL,
    responsible_officer TEXT NOT NULL,
    extension_reason    TEXT,
    answered_at         BIGINT,
    answer              TEXT,
    overdue_alerted_at  BIGINT
);
-- One pending request per patient and kind, and one deletion ever: a duplicate is refused.
CREATE UNIQUE INDEX data_requests_no_duplicate ON data_requests (patient_id, kind)
    WHERE state IN ('open', 'extended') OR kind = 'deletion';
CREATE INDEX data_requests_by_state ON data_requests (state, due_at);

-- After a deletion request the patient's processing is restricted to what the law keeps.
ALTER TABLE patients ADD COLUMN restricted_at BIGINT;

CREATE TABLE retentions (
    patient_id TEXT NOT NULL REFERENCES patients (patient_id),
    data       TEXT NOT NULL,
    basis      TEXT NOT NULL,
    until      BIGINT NOT NULL,
    request_id TEXT NOT NULL REFERENCES data_requests (request_id),
    PRIMARY KEY (patient_id, data)
);
CREATE INDEX retentions_by_until ON retentions (until);

-- Tokens of a consumer domain the patient left (the clinic-app account, analytics): they no
-- longer resolve, but the audit events that name them still belong to the patient's access
-- report until the patient is shredded.
CREATE TABLE unlinked_tokens (
    token       TEXT PRIMARY KEY NOT NULL,
    domain      TEXT NOT NULL,
    patient_id  TEXT NOT NULL REFERENCES patients (patient_id),
    unlinked_at BIGINT NOT NULL
);
CREATE INDEX unlinked_tokens_by_patient ON unlinked_tokens (patient_id);

CREATE TABLE legal_holds (
    hold_id     TEXT PRIMARY KEY NOT NULL,
    patient_id  TEXT NOT NULL REFERENCES patients (patient_id),
    request_id  TEXT NOT NULL REFERENCES data_requests (request_id),
    reason      TEXT NOT NULL,
    reference   TEXT NOT NULL,
    placed_by   TEXT NOT NULL,
    placed_at   BIGINT NOT NULL,
    released_at BIGINT
);
CREATE INDEX legal_holds_by_patient ON legal_holds (patient_id);

-- The act is the signed canonical JSON document; `patient_id` is unique so a second run of the
-- retention job (or a second replica) cannot write a second act.
CREATE TABLE destruction_acts (
    act_id       TEXT PRIMARY KEY NOT NULL,
    patient_id   TEXT NOT NULL UNIQUE,
    request_id   TEXT NOT NULL REFERENCES data_requests (request_id),
    document     TEXT NOT NULL,
    mac          BYTEA NOT NULL,
    destroyed_at BIGINT NOT NULL,
    kept_until   BIGINT NOT NULL
);

-- A signed act is never edited; it is removed only when its 3 years are over (by an operator
-- with the owner role, not by the vault's runtime role).
REVOKE UPDATE, DELETE, TRUNCATE ON destruction_acts FROM vault_runtime;
GRANT SELECT, INSERT, UPDATE, DELETE ON consents, data_requests, retentions, unlinked_tokens, legal_holds TO vault_runtime;
GRANT SELECT, INSERT ON destruction_acts TO vault_runtime;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO vault_runtime;
