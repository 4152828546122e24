-- A patient's revision: raised in the same transaction as every change to what an unseal
-- reads about the patient (care relationships, break-glass grants, record versions, DEKs,
-- the deletion mark, the shred). A replica may then answer an unseal from what it read
-- earlier, because the audit writer checks, in the transaction that commits the unseal's
-- event, that the revision it read is still the patient's; if not, nothing is written and
-- the unseal reads again (ADR 0029). Triggers, not the application, raise it, so no write
-- path (a CLI command, an operator's SQL, another version of the vault) can forget to.
ALTER TABLE patients ADD COLUMN revision INTEGER NOT NULL DEFAULT 0;

-- SQLite has no trigger functions: each table gets its own three, alike.

CREATE TRIGGER care_relationships_revision_insert AFTER INSERT ON care_relationships BEGIN
    UPDATE patients SET revision = revision + 1 WHERE patient_id = NEW.patient_id;
END;
CREATE TRIGGER care_relationships_revision_update AFTER UPDATE ON care_relationships BEGIN
    UPDATE patients SET revision = revision + 1 WHERE patient_id IN (OLD.patient_id, NEW.patient_id);
END;
CREATE TRIGGER care_relationships_revision_delete AFTER DELETE ON care_relationships BEGIN
    UPDATE patients SET revision = revision + 1 WHERE patient_id = OLD.patient_id;
END;

CREATE TRIGGER break_glass_grants_revision_insert AFTER INSERT ON break_glass_grants BEGIN
    UPDATE patients SET revision = revision + 1 WHERE patient_id = NEW.patient_id;
END;
CREATE TRIGGER break_glass_grants_revision_update AFTER UPDATE ON break_glass_grants BEGIN
    UPDATE patients SET revision = revision + 1 WHERE patient_id IN (OLD.patient_id, NEW.patient_id);
END;
CREATE TRIGGER break_glass_grants_revision_delete AFTER DELETE ON break_glass_grants BEGIN
    UPDATE patients SET revision = revision + 1 WHERE patient_id = OLD.patient_id;
END;

CREATE TRIGGER sealed_records_revision_insert AFTER INSERT ON sealed_records BEGIN
    UPDATE patients SET revision = revision + 1 WHERE patient_id = NEW.patient_id;
END;
CREATE TRIGGER sealed_records_revision_update AFTER UPDATE ON sealed_records BEGIN
    UPDATE patients SET revision = revision + 1 WHERE patient_id IN (OLD.patient_id, NEW.patient_id);
END;
CREATE TRIGGER sealed_records_revision_delete AFTER DELETE ON sealed_records BEGIN
    UPDATE patients SET revision = revision + 1 WHERE patient_id = OLD.patient_id;
END;

CREATE TRIGGER patient_deks_revision_insert AFTER INSERT ON patient_deks BEGIN
    UPDATE patients SET revision = revision + 1 WHERE patient_id = NEW.patient_id;
END;
CREATE TRIGGER patient_deks_revision_update AFTER UPDATE ON patient_deks BEGIN
    UPDATE patients SET revision = revision + 1 WHERE patient_id IN (OLD.patient_id, NEW.patient_id);
END;
CREATE TRIGGER patient_deks_revision_delete AFTER DELETE ON patient_deks BEGIN
    UPDATE patients SET revision = revision + 1 WHERE patient_id = OLD.patient_id;
END;

-- The patient's own row: the deletion mark and the shred.
CREATE TRIGGER patients_revision AFTER UPDATE OF restricted_at, shredded_at ON patients BEGIN
    UPDATE patients SET revision = revision + 1 WHERE patient_id = NEW.patient_id;
END;
