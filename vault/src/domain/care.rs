//! Care relationships reported by clinic-app, and break-glass grants.

use std::sync::Arc;
use std::time::Duration;

use policy::{Action, PolicyEngine};

use crate::audit::AuditWriter;
use crate::clock::Clock;
use crate::crypto::SealContext;
use crate::domain::audit::{AuditTrail, Outcome};
use crate::domain::patients::{PatientError, Patients};
use crate::domain::principal::{Principal, RequestMeta};
use crate::domain::sealing::{SealedData, VaultError};
use crate::ids::RecordId;
use crate::keys::dek::SubkeyPurpose;
use crate::store;

/// A reported care relationship covers at most this long (an inpatient stay); longer care is
/// reported again, so access never stays open by accident.
pub const MAX_RELATIONSHIP_SECONDS: i64 = 90 * 24 * 3600;

pub const DEFAULT_BREAK_GLASS: Duration = Duration::from_secs(60 * 60);
pub const MAX_BREAK_GLASS: Duration = Duration::from_secs(4 * 60 * 60);

/// HL7 v3 ActReason codes accepted for break-glass.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BreakGlassReason {
    /// Break the glass.
    Btg,
    /// Emergency treatment.
    Etreat,
}

impl BreakGlassReason {
    pub fn code(self) -> &'static str {
        match self {
            BreakGlassReason::Btg => "BTG",
            BreakGlassReason::Etreat => "ETREAT",
        }
    }
}

pub struct GrantInfo {
    pub grant_id: String,
    pub expires_at: i64,
}

pub struct Care {
    sealed: Arc<SealedData>,
    audit: AuditWriter,
    patients: Arc<Patients>,
    policy: Arc<PolicyEngine>,
    clock: Arc<dyn Clock>,
}

impl Care {
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
        }
    }

    async fn decide(
        &self,
        principal: &Principal,
        meta: &RequestMeta,
        token: &str,
        action: Action,
        reason_code: Option<&str>,
    ) -> Result<(crate::store::audit::AuditRow, policy::Decision), PatientError> {
        let request = principal
            .access_request()
            .action(action)
            .patient(token, principal.token_domain())
            .retention_only(self.patients.retention_only(principal, token).await?);
        let decision = self.policy.decide(&request);
        let trail = AuditTrail::now(principal, meta, &*self.clock);
        let outcome = if decision.allowed {
            Outcome::Permit
        } else {
            Outcome::Deny
        };
        let row = trail.event(
            action.as_str(),
            Some(token),
            None,
            reason_code,
            outcome,
            &decision.reasons,
        );
        if !decision.allowed {
            self.audit.record(vec![row]).await?;
            return Err(PatientError::Forbidden {
                reasons: decision.reasons,
            });
        }
        Ok((row, decision))
    }

    /// clinic-app reports that `doctor` treats the patient in `[from, until)`.
    pub async fn put_relationship(
        &self,
        principal: &Principal,
        meta: &RequestMeta,
        doctor: &str,
        token: &str,
        from: i64,
        until: i64,
    ) -> Result<(), PatientError> {
        let (mut row, _) = self
            .decide(principal, meta, token, Action::ReportCareRelationship, None)
            .await?;
        // Only a doctor can be in a care relationship: a typo must not open records to anyone.
        let is_doctor = store::staff::staff_by_id(self.sealed.db(), doctor)
            .await?
            .is_some_and(|s| s.role == policy::Role::Doctor.as_str() && s.disabled_at.is_none());
        if !is_doctor {
            return Err(PatientError::UnknownDoctor);
        }
        if until - from > MAX_RELATIONSHIP_SECONDS {
            return Err(PatientError::WindowTooLong);
        }
        row.reasons = format!("{}; doctor:{doctor}; window:{from}-{until}", row.reasons);
        let patient = self.patients.patient_of(principal, token).await?;
        let mut tx = self.sealed.db().begin().await?;
        store::care::put_care_relationship(
            &mut tx,
            doctor,
            patient,
            from,
            until,
            &principal.audit_name(),
        )
        .await?;
        self.audit.append_in(&mut tx, &[row]).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Ends the doctor's open relationships with the patient now (a cancelled appointment).
    pub async fn end_relationship(
        &self,
        principal: &Principal,
        meta: &RequestMeta,
        doctor: &str,
        token: &str,
    ) -> Result<u64, PatientError> {
        let (mut row, _) = self
            .decide(principal, meta, token, Action::ReportCareRelationship, None)
            .await?;
        row.reasons = format!("{}; doctor:{doctor}; ended", row.reasons);
        let patient = self.patients.patient_of(principal, token).await?;
        let mut tx = self.sealed.db().begin().await?;
        let ended = store::care::end_care_relationships(
            &mut tx,
            doctor,
            patient,
            self.clock.unix_seconds(),
        )
        .await?;
        self.audit.append_in(&mut tx, &[row]).await?;
        tx.commit().await?;
        Ok(ended)
    }

    /// A doctor opens one patient's records without a care relationship: coded reason, sealed
    /// free-text justification, read-only and time-boxed. The security officer is alerted.
    pub async fn start_break_glass(
        &self,
        principal: &Principal,
        meta: &RequestMeta,
        token: &str,
        reason: BreakGlassReason,
        justification: &str,
        duration: Duration,
    ) -> Result<GrantInfo, PatientError> {
        let (mut row, _) = self
            .decide(
                principal,
                meta,
                token,
                Action::StartBreakGlass,
                Some(reason.code()),
            )
            .await?;
        let Principal::Staff(staff) = principal else {
            return Err(PatientError::Forbidden {
                reasons: vec!["only staff break the glass".into()],
            });
        };

        let patient = self.patients.patient_of(principal, token).await?;
        let keys = self.sealed.current_keys(patient).await?;
        let grant = RecordId::random();
        let ctx = SealContext {
            patient: &patient,
            record: &grant,
            record_version: 1,
            field: "justification",
        };
        let justification_envelope = keys
            .seal(
                self.sealed.suite(),
                SubkeyPurpose::RecordSealing,
                &ctx,
                justification.as_bytes(),
            )
            .map_err(|_| VaultError::Seal)?;
        let now = self.clock.unix_seconds();
        let expires_at =
            now + i64::try_from(duration.min(MAX_BREAK_GLASS).as_secs()).unwrap_or(3600);
        let grant_id = grant.to_string();
        row.reasons = format!(
            "{}; grant:{grant_id}; obligation:notify_security_officer",
            row.reasons
        );
        let mut tx = self.sealed.db().begin().await?;
        store::care::insert_grant(
            &mut tx,
            &store::care::NewGrant {
                grant_id: &grant_id,
                staff_id: &staff.staff_id,
                patient,
                reason_code: reason.code(),
                justification_envelope,
                started_at: now,
                expires_at,
            },
        )
        .await?;
        self.audit.append_in(&mut tx, &[row]).await?;
        tx.commit().await?;
        tracing::warn!(target: "security", grant_id = %grant_id, reason = reason.code(), "break-glass grant started");
        Ok(GrantInfo {
            grant_id,
            expires_at,
        })
    }

    /// Ends the caller's own grant early.
    pub async fn end_break_glass(
        &self,
        principal: &Principal,
        meta: &RequestMeta,
        grant_id: &str,
    ) -> Result<bool, PatientError> {
        let now = self.clock.unix_seconds();
        let Principal::Staff(staff) = principal else {
            let trail = AuditTrail {
                principal,
                meta,
                at: now,
            };
            let reasons = vec!["only staff hold grants".to_owned()];
            self.audit
                .record(vec![trail.event(
                    "end_break_glass",
                    None,
                    None,
                    None,
                    Outcome::Deny,
                    &reasons,
                )])
                .await?;
            return Err(PatientError::Forbidden { reasons });
        };
        let trail = AuditTrail {
            principal,
            meta,
            at: now,
        };
        let mut tx = self.sealed.db().begin().await?;
        let ended = store::care::end_grant(&mut tx, grant_id, &staff.staff_id, now).await?;
        let outcome = if ended {
            Outcome::Success
        } else {
            Outcome::Failure
        };
        let row = trail.event(
            "end_break_glass",
            None,
            None,
            Some("BTG"),
            outcome,
            &[format!("grant:{grant_id}")],
        );
        self.audit.append_in(&mut tx, &[row]).await?;
        tx.commit().await?;
        Ok(ended)
    }
}
