-- Alerts raised by rules over the audit stream, the scanner's position in that stream, and
-- which staff members are also patients (for the colleague's-record rule).
CREATE TABLE alerts (
    alert_id   TEXT PRIMARY KEY NOT NULL,
    raised_at  INTEGER NOT NULL,
    rule       TEXT NOT NULL,
    principal  TEXT NOT NULL,
    seq_first  INTEGER NOT NULL,
    seq_last   INTEGER NOT NULL,
    details    TEXT NOT NULL
);
CREATE INDEX alerts_by_rule_principal ON alerts (rule, principal, raised_at);

CREATE TABLE alert_cursor (
    id       INTEGER PRIMARY KEY NOT NULL,
    last_seq INTEGER NOT NULL
);
INSERT INTO alert_cursor (id, last_seq) VALUES (1, 0);

CREATE TABLE staff_patients (
    staff_id   TEXT PRIMARY KEY NOT NULL REFERENCES staff (staff_id),
    patient_id TEXT NOT NULL REFERENCES patients (patient_id)
);
