-- The security officer's side of break-glass (issue 4): reviews of grants, and the incidents an
-- unjustified review opens (152-FZ art. 21 part 3.1). All four tables are evidence, so rows are
-- only ever inserted: a review history is kept row by row, triggers refuse UPDATE, DELETE and
-- TRUNCATE for every role, and vault_runtime gets SELECT and INSERT only.

-- One row per review of a grant. `review_no` counts a grant's reviews from 1, so two officers
-- reviewing the same grant at once collide on the key instead of both winning. A grant has at
-- most one final review (justified or unjustified); needs_info may come before it.
CREATE TABLE break_glass_reviews (
    review_id         TEXT PRIMARY KEY NOT NULL,
    grant_id          TEXT NOT NULL REFERENCES break_glass_grants (grant_id),
    review_no         BIGINT NOT NULL,
    reviewer_staff_id TEXT NOT NULL,
    decision          TEXT NOT NULL CHECK (decision IN ('justified', 'needs_info', 'unjustified')),
    -- The reviewer's comment, sealed under the patient's DEK (record id = review id, version 1,
    -- field "review_comment"), like the doctor's justification.
    comment_envelope  BYTEA NOT NULL,
    reviewed_at       BIGINT NOT NULL,
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
    detected_at     BIGINT NOT NULL,
    notify_by       BIGINT NOT NULL,
    results_by      BIGINT NOT NULL,
    -- The window the evidence was taken from: grant start to its end, expiry or revocation.
    evidence_from   BIGINT NOT NULL,
    evidence_until  BIGINT NOT NULL
);

-- The audit events of the grant, with their hashes as they stood at detection.
CREATE TABLE incident_evidence (
    incident_id TEXT NOT NULL REFERENCES incidents (incident_id),
    seq         BIGINT NOT NULL,
    entry_hash  BYTEA,
    PRIMARY KEY (incident_id, seq)
);

-- When Roskomnadzor was notified (24 h) and when the results were sent (72 h); each once.
CREATE TABLE incident_milestones (
    incident_id TEXT NOT NULL REFERENCES incidents (incident_id),
    milestone   TEXT NOT NULL CHECK (milestone IN ('notified', 'results')),
    at          BIGINT NOT NULL,
    recorded_by TEXT NOT NULL,
    recorded_at BIGINT NOT NULL,
    PRIMARY KEY (incident_id, milestone)
);

-- Audit queries by principal and time (grant reads, evidence, search) and by patient token
-- (access reports).
CREATE INDEX audit_events_by_principal ON audit_events (principal, at);
CREATE INDEX audit_events_by_token ON audit_events (patient_token, at);

CREATE FUNCTION oversight_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'reviews and incidents are append-only' USING ERRCODE = 'insufficient_privilege';
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER break_glass_reviews_append_only BEFORE UPDATE OR DELETE ON break_glass_reviews
    FOR EACH ROW EXECUTE FUNCTION oversight_append_only();
CREATE TRIGGER break_glass_reviews_no_truncate BEFORE TRUNCATE ON break_glass_reviews
    FOR EACH STATEMENT EXECUTE FUNCTION oversight_append_only();
CREATE TRIGGER incidents_append_only BEFORE UPDATE OR DELETE ON incidents
    FOR EACH ROW EXECUTE FUNCTION oversight_append_only();
CREATE TRIGGER incidents_no_truncate BEFORE TRUNCATE ON incidents
    FOR EACH STATEMENT EXECUTE FUNCTION oversight_append_only();
CREATE TRIGGER incident_evidence_append_only BEFORE UPDATE OR DELETE ON incident_evidence
    FOR EACH ROW EXECUTE FUNCTION oversight_append_only();
CREATE TRIGGER incident_evidence_no_truncate BEFORE TRUNCATE ON incident_evidence
    FOR EACH STATEMENT EXECUTE FUNCTION oversight_append_only();
CREATE TRIGGER incident_milestones_append_only BEFORE UPDATE OR DELETE ON incident_milestones
    FOR EACH ROW EXECUTE FUNCTION oversight_append_only();
CREATE TRIGGER incident_milestones_no_truncate BEFORE TRUNCATE ON incident_milestones
    FOR EACH STATEMENT EXECUTE FUNCTION oversight_append_only();

GRANT SELECT, INSERT ON break_glass_reviews, incidents, incident_evidence, incident_milestones
    TO vault_runtime;
