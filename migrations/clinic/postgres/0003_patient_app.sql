-- Patient app: indexes for the per-patient sign-in limit, the daily purge of old challenges
-- and a patient's list of data requests.
CREATE INDEX login_challenges_by_token ON login_challenges (patient_token, created_at);
CREATE INDEX login_challenges_by_created ON login_challenges (created_at);
CREATE INDEX data_requests_by_token ON data_requests (patient_token, filed_at);
