-- Tamper-evident audit: each event carries the hash that chains it to the one before, and
-- checkpoints sign the chain head with a key that stays in the token. Events and checkpoints
-- are append-only: these triggers refuse UPDATE and DELETE for every connection.
ALTER TABLE audit_events ADD COLUMN entry_hash BLOB;

CREATE TABLE audit_checkpoints (
    seq        INTEGER PRIMARY KEY NOT NULL,
    head_hash  BLOB NOT NULL,
    mac        BLOB NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TRIGGER audit_events_append_only_update BEFORE UPDATE ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END;
CREATE TRIGGER audit_events_append_only_delete BEFORE DELETE ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END;
CREATE TRIGGER audit_checkpoints_append_only_update BEFORE UPDATE ON audit_checkpoints
BEGIN SELECT RAISE(ABORT, 'audit checkpoints are append-only'); END;
CREATE TRIGGER audit_checkpoints_append_only_delete BEFORE DELETE ON audit_checkpoints
BEGIN SELECT RAISE(ABORT, 'audit checkpoints are append-only'); END;
