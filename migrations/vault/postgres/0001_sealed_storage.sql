-- Patients, their wrapped DEKs and sealed records. No column holds personal data in the clear:
-- ids are random UUIDs, wrapped DEKs need the KEK in the token, envelopes need the DEK.
CREATE TABLE patients (
    patient_id  TEXT PRIMARY KEY,
    created_at  BIGINT NOT NULL,
    shredded_at BIGINT
);

CREATE TABLE patient_deks (
    patient_id  TEXT NOT NULL REFERENCES patients (patient_id),
    dek_version BIGINT NOT NULL,
    kek_version BIGINT NOT NULL,
    wrapped_dek BYTEA NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (patient_id, dek_version)
);
CREATE INDEX patient_deks_by_kek ON patient_deks (kek_version);

CREATE TABLE sealed_records (
    record_id  TEXT NOT NULL,
    version    BIGINT NOT NULL,
    patient_id TEXT NOT NULL REFERENCES patients (patient_id),
    kind       TEXT NOT NULL,
    envelope   BYTEA NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (record_id, version)
);
CREATE INDEX sealed_records_by_patient ON sealed_records (patient_id);
