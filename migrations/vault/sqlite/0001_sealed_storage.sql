-- Patients, their wrapped DEKs and sealed records. No column holds personal data in the clear:
-- ids are random UUIDs, wrapped DEKs need the KEK in the token, envelopes need the DEK.
CREATE TABLE patients (
    patient_id  TEXT PRIMARY KEY NOT NULL,
    created_at  INTEGER NOT NULL,
    shredded_at INTEGER
);

CREATE TABLE patient_deks (
    patient_id  TEXT NOT NULL REFERENCES patients (patient_id),
    dek_version INTEGER NOT NULL,
    kek_version INTEGER NOT NULL,
    wrapped_dek BLOB NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (patient_id, dek_version)
);
CREATE INDEX patient_deks_by_kek ON patient_deks (kek_version);

CREATE TABLE sealed_records (
    record_id  TEXT NOT NULL,
    version    INTEGER NOT NULL,
    patient_id TEXT NOT NULL REFERENCES patients (patient_id),
    kind       TEXT NOT NULL,
    envelope   BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (record_id, version)
);
CREATE INDEX sealed_records_by_patient ON sealed_records (patient_id);
