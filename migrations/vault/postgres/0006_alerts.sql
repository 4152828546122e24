-- Alerts raised by rules over the audit stream, the scanner's position in that stream, and
-- which staff members are also patients (for the colleague's-record rule).
CREATE TABLE alerts (
    alert_id   TEXT PRIMARY KEY NOT NULL,
    raised_at  BIGINT NOT NULL,
    rule       TEXT NOT NULL,
    principal  TEXT NOT NULL,
    seq_first  BIGINT NOT NULL,
    seq_last   BIGINT NOT NULL,
    details    TEXT NOT NULL
);
CREATE INDEX alerts_by_rule_principal ON alerts (rule, principal, raised_at);

CREATE TABLE alert_cursor (
    id       BIGINT PRIMARY KEY NOT NULL,
    last_seq BIGINT NOT NULL
);
INSERT INTO alert_cursor (id, last_seq) VALUES (1, 0);

CREATE TABLE staff_patients (
    staff_id   TEXT PRIMARY KEY NOT NULL REFERENCES staff (staff_id),
    patient_id TEXT NOT NULL REFERENCES patients (patient_id)
);

GRANT SELECT, INSERT, UPDATE, DELETE ON alerts, alert_cursor, staff_patients TO vault_runtime;
