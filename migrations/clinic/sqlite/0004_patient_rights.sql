-- Patient rights (issue 6). Access and deletion requests are forwarded to the vault, which keeps
-- the deadlines, decides duplicates and answers; clinic-app keeps, next to the token, the vault's
-- request id (so the app can list a patient's requests and fetch an access export) and how the
-- request came in. Rows filed before this migration have no vault id: they were never forwarded.
ALTER TABLE data_requests ADD COLUMN vault_request_id TEXT;
ALTER TABLE data_requests ADD COLUMN channel TEXT NOT NULL DEFAULT 'patient_app';
UPDATE data_requests SET channel = 'reception' WHERE filed_by <> 'patient';

-- "One open request per kind" is the vault's rule now (it also refuses any second deletion);
-- its answer is passed through, so the local index would only contradict it.
DROP INDEX data_requests_one_open;
CREATE UNIQUE INDEX data_requests_by_vault_id ON data_requests (vault_request_id);
-- A carried-out deletion unlinks the token: a second one for the same token cannot exist.
CREATE UNIQUE INDEX data_requests_one_deletion ON data_requests (patient_token)
    WHERE kind = 'deletion' AND state = 'completed';

-- A deletion drops the patient's account by token: sessions, the waitlist, the outbox.
CREATE INDEX sessions_by_patient ON sessions (patient_token);
CREATE INDEX waitlist_by_patient ON waitlist (patient_token);
CREATE INDEX outbox_by_patient ON outbox (patient_token, kind);
