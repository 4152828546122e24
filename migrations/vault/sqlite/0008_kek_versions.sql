-- KEK versions as the database knows them, for scheduled retirement (`vault keys retire`).
-- rewrapped_at: when the last live wrapping under this version was replaced by a newer one (a
-- completed rewrap); from then on only backups older than that moment can hold wrappings under
-- it, so the version may be destroyed once keys.backup_retention_days have passed since.
-- retired_at: when the version was found destroyed in the key store (or destroyed by the vault).
-- Times are Unix seconds.
CREATE TABLE kek_versions (
    version      INTEGER PRIMARY KEY NOT NULL,
    created_at   INTEGER NOT NULL,
    rewrapped_at INTEGER,
    retired_at   INTEGER
);
