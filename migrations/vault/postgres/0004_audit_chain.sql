-- Tamper-evident audit: each event carries the hash that chains it to the one before, and
-- checkpoints sign the chain head with a key that stays in the token. Events and checkpoints
-- are append-only twice over: a trigger refuses UPDATE, DELETE and TRUNCATE for every role,
-- and the runtime role the vault should log in with (vault_runtime) has no such grants.
ALTER TABLE audit_events ADD COLUMN entry_hash BYTEA;

CREATE TABLE audit_checkpoints (
    seq        BIGINT PRIMARY KEY,
    head_hash  BYTEA NOT NULL,
    mac        BYTEA NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE FUNCTION audit_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit tables are append-only' USING ERRCODE = 'insufficient_privilege';
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_checkpoints_append_only BEFORE UPDATE OR DELETE ON audit_checkpoints
    FOR EACH ROW EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_checkpoints_no_truncate BEFORE TRUNCATE ON audit_checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();

-- The runtime role: everything the service does, and on the audit only SELECT and INSERT.
-- Operators grant it to the login role the vault uses (docs/operations.md).
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'vault_runtime') THEN
        CREATE ROLE vault_runtime NOLOGIN;
    END IF;
END
$$;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO vault_runtime;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO vault_runtime;
REVOKE UPDATE, DELETE, TRUNCATE ON audit_events, audit_checkpoints FROM vault_runtime;
