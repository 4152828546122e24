-- A patient's revision: raised in the same transaction as every change to what an unseal
-- reads about the patient (care relationships, break-glass grants, record versions, DEKs,
-- the deletion mark, the shred). A replica may then answer an unseal from what it read
-- earlier, because the audit writer checks, in the statement that commits the unseal's
-- event, that the revision it read is still the patient's; if not, nothing is written and
-- the unseal reads again (ADR 0029). Triggers, not the application, raise it, so no write
-- path (a CLI command, an operator's SQL, another version of the vault) can forget to.
ALTER TABLE patients ADD COLUMN revision BIGINT NOT NULL DEFAULT 0;

CREATE FUNCTION raise_patient_revision() RETURNS trigger AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        UPDATE patients SET revision = revision + 1 WHERE patient_id = OLD.patient_id;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        UPDATE patients SET revision = revision + 1 WHERE patient_id = NEW.patient_id;
    END IF;
    RETURN NULL;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER care_relationships_revision AFTER INSERT OR UPDATE OR DELETE
    ON care_relationships FOR EACH ROW EXECUTE FUNCTION raise_patient_revision();
CREATE TRIGGER break_glass_grants_revision AFTER INSERT OR UPDATE OR DELETE
    ON break_glass_grants FOR EACH ROW EXECUTE FUNCTION raise_patient_revision();
CREATE TRIGGER sealed_records_revision AFTER INSERT OR UPDATE OR DELETE
    ON sealed_records FOR EACH ROW EXECUTE FUNCTION raise_patient_revision();
CREATE TRIGGER patient_deks_revision AFTER INSERT OR UPDATE OR DELETE
    ON patient_deks FOR EACH ROW EXECUTE FUNCTION raise_patient_revision();

-- The patient's own row: the deletion mark and the shred.
CREATE FUNCTION raise_own_revision() RETURNS trigger AS $$
BEGIN
    NEW.revision := OLD.revision + 1;
    RETURN NEW;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER patients_revision BEFORE UPDATE OF restricted_at, shredded_at
    ON patients FOR EACH ROW EXECUTE FUNCTION raise_own_revision();
