-- The security officer's side of break-glass (issue 4): reviews of grants, and the incidents an
-- unjustified review opens (152-FZ art. 21 part 3.1). All four tables are evidence, so rows are
-- only ever inserted: a review history is kept row by row, and triggers refuse UPDATE and DELETE.

-- One row per review of a grant. `review_no` counts a grant's reviews from 1, so two officers
-- reviewing the same grant at once collide on the key instead of both winning. A grant has at
-- most one final review (justified or unjustified); needs_info may come before it.
CREATE TABLE break_glass_reviews (
    review_id         TEXT PRIMARY KEY NOT NULL,
    grant_id          TEXT NOT NULL REFERENCES break_glass_grants (grant_id),
    review_no         INTEGER NOT NULL,
    reviewer_staff_id TEXT NOT NULL,
    decision          TEXT NOT NULL CHECK (decision IN ('justified', 'needs_info', 'unjustified')),
    -- The reviewer's comment, sealed under the patient's DEK (record id = review id, version 1,
    -- field "review_comment"), like the doctor's justification.
    comment_envelope  BLOB NOT NULL,
    reviewed_at       INTEGER NOT NULL,
    UNIQUE (grant_id, review_no)
);
CREATE UNIQUE INDEX break_glass_reviews_one_final ON break_glass_reviews (grant_id)
    WHERE decision <> 'needs_info';

-- An incident: opened by an unjustified review. Deadlines are fixed at detection.
CREATE TABLE incidents (
    incident_id     TEXT PRIMARY KEY NOT NULL,
    grant_id        TEXT NOT NULL UNIQUE REFERENCES break_glass_grants (grant_id),
    review_id       TEXT NOT NULL REFERENCES break_glass_reviews (review_id),
    staff_id        TEXT NOT NULL,
    -- The patient's vault-staff token, as the audit events name the patient.
    patient_token   TEXT NOT NULL,
    detected_at     INTEGER NOT NULL,
    notify_by       INTEGER NOT NULL,
    results_by      INTEGER NOT NULL,
    -- The window the evidence was taken from: grant start to its end, expiry or revocation.
    evidence_from   INTEGER NOT NULL,
    evidence_until  INTEGER NOT NULL
);

-- The audit events of the grant, with their hashes as they stood at detection.
CREATE TABLE incident_evidence (
    incident_id TEXT NOT NULL REFERENCES incidents (incident_id),
    seq         INTEGER NOT NULL,
    entry_hash  BLOB,
    PRIMARY KEY (incident_id, seq)
);

-- When Roskomnadzor was notified (24 h) and when the results were sent (72 h); each once.
CREATE TABLE incident_milestones (
    incident_id TEXT NOT NULL REFERENCES incidents (incident_id),
    milestone   TEXT NOT NULL CHECK (milestone IN ('notified', 'results')),
    at          INTEGER NOT NULL,
    recorded_by TEXT NOT NULL,
    recorded_at INTEGER NOT NULL,
    PRIMARY KEY (incident_id, milestone)
);

-- Audit queries by principal and time (grant reads, evidence, search) and by patient token
-- (access reports).
CREATE INDEX audit_events_by_principal ON audit_events (principal, at);
CREATE INDEX audit_events_by_token ON audit_events (patient_token, at);

CREATE TRIGGER break_glass_reviews_append_only_update BEFORE UPDATE ON break_glass_reviews
BEGIN SELECT RAISE(ABORT, 'break-glass reviews are append-only'); END;
CREATE TRIGGER break_glass_reviews_append_only_delete BEFORE DELETE ON break_glass_reviews
BEGIN SELECT RAISE(ABORT, 'break-glass reviews are append-only'); END;
CREATE TRIGGER incidents_append_only_update BEFORE UPDATE ON incidents
BEGIN SELECT RAISE(ABORT, 'incidents are append-only'); END;
CREATE TRIGGER incidents_append_only_delete BEFORE DELETE ON incidents
BEGIN SELECT RAISE(ABORT, 'incidents are append-only'); END;
CREATE TRIGGER incident_evidence_append_only_update BEFORE UPDATE ON incident_evidence
BEGIN SELECT RAISE(ABORT, 'incident evidence is append-only'); END;
CREATE TRIGGER incident_evidence_append_only_delete BEFORE DELETE ON incident_evidence
BEGIN SELECT RAISE(ABORT, 'incident evidence is append-only'); END;
CREATE TRIGGER incident_milestones_append_only_update BEFORE UPDATE ON incident_milestones
BEGIN SELECT RAISE(ABORT, 'incident milestones are append-only'); END;
CREATE TRIGGER incident_milestones_append_only_delete BEFORE DELETE ON incident_milestones
BEGIN SELECT RAISE(ABORT, 'incident milestones are append-only'); END;
