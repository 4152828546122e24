//! Medical records under policy: a doctor writes with a live care relationship, reads with one
//! or under break-glass; every decision is audited before anything is decrypted or written.

use std::sync::Arc;

use policy::{Action, Obligation, PolicyEngine, Purpose};
use zeroize::Zeroizing;

use crate::audit::AuditWriter;
use crate::audit::writer::Written;
use crate::clock::Clock;
use crate::domain::audit::{AuditTrail, Outcome};
use crate::domain::patients::{Facts, PatientError, Patients};
use crate::domain::principal::{Principal, RequestMeta};
use crate::domain::sealing::{RecordRef, SealedData, VaultError};
use crate::domain::unseal_cache::{UnsealCache, UnsealKey};
use crate::ids::RecordId;
use crate::store::audit::RevisionCheck;
use crate::store::records::{StoredRecord, UnsealRead};
use crate::store::{self, StoreError};

pub struct Records {
    sealed: Arc<SealedData>,
    pub(crate) audit: AuditWriter,
    patients: Arc<Patients>,
    policy: Arc<PolicyEngine>,
    clock: Arc<dyn Clock>,
    pub(crate) unseal_cache: UnsealCache,
}

/// An unseal's end: the record opened, or its decision rested on facts that changed before
/// its event could commit (nothing was written).
enum Unsealed {
    Opened(RecordInfo, Zeroizing<Vec<u8>>),
    Stale,
}

/// Metadata of one record version; no content.
#[derive(Debug, Clone)]
pub struct RecordInfo {
    pub record: RecordId,
    pub version: u32,
    pub kind: String,
    pub created_at: i64,
    pub author: Option<String>,
}

impl From<&StoredRecord> for RecordInfo {
    fn from(r: &StoredRecord) -> Self {
        RecordInfo {
            record: r.record,
            version: r.version,
            kind: r.kind.clone(),
            created_at: r.created_at,
            author: r.author.clone(),
        }
    }
}

impl Records {
    pub fn new(
        sealed: Arc<SealedData>,
        audit: AuditWriter,
        patients: Arc<Patients>,
        policy: Arc<PolicyEngine>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            sealed,
            audit,
            patients,
            policy,
            clock,
            unseal_cache: UnsealCache::default(),
        }
    }

    /// Decides `action` on the patient behind `token`, writes the audit row, and returns the
    /// decision's obligations. A denial is committed and returned as `Forbidden`.
    async fn authorise(
        &self,
        principal: &Principal,
        meta: &RequestMeta,
        token: &str,
        action: Action,
        extra_audit: bool,
    ) -> Result<
        (
            crate::ids::PatientId,
            policy::Decision,
            Option<crate::store::audit::AuditRow>,
        ),
        PatientError,
    > {
        let patient = self.patients.patient_of(principal, token).await?;
        let facts = self.patients.facts(principal, patient).await?;
        let (decision, row) = self.judge(principal, meta, token, action, &facts);
        if !decision.allowed || !extra_audit {
            self.audit.record(vec![row]).await?;
            if !decision.allowed {
                return Err(PatientError::Forbidden {
                    reasons: decision.reasons,
                });
            }
            return Ok((patient, decision, None));
        }
        Ok((patient, decision, Some(row)))
    }

    /// The decision on `action` given the facts, and its audit row (not yet recorded).
    fn judge(
        &self,
        principal: &Principal,
        meta: &RequestMeta,
        token: &str,
        action: Action,
        facts: &Facts,
    ) -> (policy::Decision, crate::store::audit::AuditRow) {
        let request = principal
            .access_request()
            .action(action)
            .patient(token, principal.token_domain())
            .purpose(Purpose::Treatment)
            .care_relationship(facts.care)
            .break_glass(facts.break_glass)
            .retention_only(facts.retention_only);
        let decision = self.policy.decide(&request);
        let trail = AuditTrail::now(principal, meta, &*self.clock);
        // An access the grant allows carries its reason code and id in the audit row.
        let grant = facts.under_break_glass();
        let reason_code = grant.map(|g| g.reason_code.as_str());
        let mut reasons = decision.reasons.clone();
        if let Some(g) = grant {
            reasons.push(format!("grant:{}", g.grant_id));
        }
        reasons.extend(
            decision
                .obligations
                .iter()
                .map(|o| format!("obligation:{}", o.as_str())),
        );
        let row = trail.event(
            action.as_str(),
            Some(token),
            Some(Purpose::Treatment.as_str()),
            reason_code,
            if decision.allowed {
                Outcome::Permit
            } else {
                Outcome::Deny
            },
            &reasons,
        );
        if decision
            .obligations
            .contains(&Obligation::NotifySecurityOfficer)
        {
            tracing::warn!(target: "security", action = action.as_str(), "break-glass access to a patient's records");
        }
        (decision, row)
    }

    /// Decides and returns the audit row of a permitted access, not yet recorded: the caller
    /// commits it with the write that follows, or beside the reads of [`Self::get`]. A denial is
    /// recorded here and refused.
    pub(crate) async fn authorise_with_audit(
        &self,
        principal: &Principal,
        meta: &RequestMeta,
        token: &str,
        action: Action,
    ) -> Result<(crate::ids::PatientId, crate::store::audit::AuditRow), PatientError> {
        let (patient, _, row) = self.authorise(principal, meta, token, action, true).await?;
        let row = row
            .ok_or_else(|| PatientError::Store(StoreError::Corrupt("audit row missing".into())))?;
        Ok((patient, row))
    }

    /// Decides and commits the audit row before anything is read.
    pub(crate) async fn authorise_read(
        &self,
        principal: &Principal,
        meta: &RequestMeta,
        token: &str,
        action: Action,
    ) -> Result<crate::ids::PatientId, PatientError> {
        Ok(self
            .authorise(principal, meta, token, action, false)
            .await?
            .0)
    }

    /// The record, if it exists and belongs to the patient.
    pub(crate) async fn record_of(
        &self,
        patient: crate::ids::PatientId,
        record: RecordId,
    ) -> Result<RecordId, PatientError> {
        Ok(self.row_of(patient, record, None).await?.record)
    }

    pub(crate) async fn keys_of(
        &self,
        patient: crate::ids::PatientId,
    ) -> Result<Arc<crate::keys::PatientKeys>, PatientError> {
        Ok(self.sealed.current_keys(patient).await?)
    }

    pub(crate) fn suite(&self) -> crate::crypto::Suite {
        self.sealed.suite()
    }

    pub(crate) fn db(&self) -> &crate::store::Database {
        self.sealed.db()
    }

    pub(crate) fn now(&self) -> i64 {
        self.clock.unix_seconds()
    }

    pub(crate) fn author(principal: &Principal) -> Result<&str, PatientError> {
        match principal {
            Principal::Staff(s) => Ok(&s.staff_id),
            Principal::Service { .. } => Err(PatientError::Forbidden {
                reasons: vec!["services write no records".into()],
            }),
        }
    }

    /// Creates a record (version 1); the audit row commits with it.
    pub async fn create(
        &self,
        principal: &Principal,
        meta: &RequestMeta,
        token: &str,
        kind: &str,
        body: &[u8],
    ) -> Result<RecordRef, PatientError> {
        let (patient, _, row) = self
            .authorise(principal, meta, token, Action::CreateRecord, true)
            .await?;
        let author = Self::author(principal)?;
        let audit: Vec<_> = row.into_iter().collect();
        Ok(self
            .sealed
            .seal_record_as(patient, kind, body, author, (&self.audit, &audit))
            .await?)
    }

    /// Every version of the patient's records, metadata only.
    pub async fn list(
        &self,
        principal: &Principal,
        meta: &RequestMeta,
        token: &str,
    ) -> Result<Vec<RecordInfo>, PatientError> {
        let (patient, _, _) = self
            .authorise(principal, meta, token, Action::ListRecords, false)
            .await?;
        let rows = store::records::for_patient(self.sealed.db(), patient).await?;
        Ok(rows.iter().map(RecordInfo::from).collect())
    }

    async fn row_of(
        &self,
        patient: crate::ids::PatientId,
        record: RecordId,
        version: Option<u32>,
    ) -> Result<StoredRecord, PatientError> {
        match store::records::get(self.sealed.db(), record, version).await? {
            // A record of another patient is answered like a missing one.
            Some(row) if row.patient == patient => Ok(row),
            _ => Err(PatientError::Vault(VaultError::UnknownRecord)),
        }
    }

    /// Opens one version (latest by default). The staff member's facts, the record and the
    /// patient's key state come from one statement (ADR 0026); the decision is made on the
    /// facts and its audit event committed before anything is opened or answered, not even
    /// "no such record". If the event cannot be written the request fails (503) and what was
    /// read is dropped unopened.
    pub async fn get(
        &self,
        principal: &Principal,
        meta: &RequestMeta,
        token: &str,
        record: RecordId,
        version: Option<u32>,
    ) -> Result<(RecordInfo, Zeroizing<Vec<u8>>), PatientError> {
        let patient = self.patients.patient_of(principal, token).await?;
        let staff_id = match principal {
            Principal::Staff(s) => Some(s.staff_id.as_str()),
            Principal::Service { .. } => None,
        };
        // A staff member's unseal may decide on what an earlier one read, if the patient's
        // revision is unchanged when its event commits (ADR 0029); if it changed, nothing was
        // written and the unseal reads again.
        let key = staff_id.map(|s| UnsealKey::new(s, patient, record, version));
        let now = self.clock.unix_seconds();
        let mut remembered = key.as_ref().and_then(|k| self.unseal_cache.get(k, now));
        loop {
            let (read, check) = match remembered.take() {
                Some(read) => {
                    let check = RevisionCheck {
                        patient_id: patient.to_string(),
                        revision: read.revision,
                    };
                    (Some(read), Some(check))
                }
                // A service reads with no facts (as `Patients::facts`); its unseal is denied.
                None => {
                    let read = store::records::for_unseal(
                        self.sealed.db(),
                        staff_id.unwrap_or_default(),
                        patient,
                        record,
                        version,
                        now,
                    )
                    .await?
                    .map(Arc::new);
                    if let (Some(key), Some(read)) = (&key, &read) {
                        self.unseal_cache.insert(key.clone(), read.clone());
                    }
                    (read, None)
                }
            };
            // Only a checked event can be stale, so this goes round at most twice.
            match self
                .unseal(principal, meta, token, read.as_deref(), check)
                .await?
            {
                Unsealed::Opened(info, body) => return Ok((info, body)),
                Unsealed::Stale => {
                    if let Some(key) = &key {
                        self.unseal_cache.forget(key);
                    }
                }
            }
        }
    }

    /// Decides on what was read, commits the event (only if `check` still holds, when the read
    /// came from memory), then opens the record.
    async fn unseal(
        &self,
        principal: &Principal,
        meta: &RequestMeta,
        token: &str,
        read: Option<&UnsealRead>,
        check: Option<RevisionCheck>,
    ) -> Result<Unsealed, PatientError> {
        let facts = match (principal, read) {
            (Principal::Staff(_), Some(r)) => Facts::of_staff(r.facts.clone()),
            _ => Facts::default(),
        };
        let (decision, event) = self.judge(principal, meta, token, Action::ReadRecord, &facts);
        match check {
            Some(check) => {
                if self.audit.record_checked(vec![event], check).await? == Written::Stale {
                    return Ok(Unsealed::Stale);
                }
            }
            None => self.audit.record(vec![event]).await?,
        }
        if !decision.allowed {
            return Err(PatientError::Forbidden {
                reasons: decision.reasons,
            });
        }
        let unknown = || PatientError::Vault(VaultError::UnknownRecord);
        let read = read.ok_or_else(unknown)?;
        let row = read.record.as_ref().ok_or_else(unknown)?;
        let keys = self
            .sealed
            .keys_for_read(row, read.shredded, read.deks.clone())
            .await?;
        let body = SealedData::open_stored_with(&keys, row)?;
        Ok(Unsealed::Opened(RecordInfo::from(row), body))
    }

    /// A correction: the next version; earlier versions stay readable.
    pub async fn correct(
        &self,
        principal: &Principal,
        meta: &RequestMeta,
        token: &str,
        record: RecordId,
        kind: &str,
        body: &[u8],
    ) -> Result<RecordRef, PatientError> {
        let (patient, _, row) = self
            .authorise(principal, meta, token, Action::CreateRecord, true)
            .await?;
        let author = Self::author(principal)?;
        let latest = self.row_of(patient, record, None).await?;
        if latest.kind != kind {
            return Err(PatientError::KindMismatch);
        }
        let audit: Vec<_> = row.into_iter().collect();
        match self
            .sealed
            .correct_record_as(&latest, body, author, (&self.audit, &audit))
            .await
        {
            Err(VaultError::Store(StoreError::Conflict)) => Err(PatientError::Conflict),
            other => Ok(other?),
        }
    }
}
