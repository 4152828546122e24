//! The security officer's view of alerts: policy-checked and itself audited.

use std::sync::Arc;

use policy::{Action, PolicyEngine};

use crate::audit::AuditWriter;
use crate::clock::Clock;
use crate::domain::audit::{AuditTrail, Outcome};
use crate::domain::patients::PatientError;
use crate::domain::principal::{Principal, RequestMeta};
use crate::store::alerts::AlertRow;
use crate::store::{self, Database};

pub struct Alerts {
    db: Database,
    audit: AuditWriter,
    policy: Arc<PolicyEngine>,
    clock: Arc<dyn Clock>,
}

impl Alerts {
    pub fn new(
        db: Database,
        audit: AuditWriter,
        policy: Arc<PolicyEngine>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            db,
            audit,
            policy,
            clock,
        }
    }

    /// Alerts raised since `since` (unix seconds), newest first, at most `limit`.
    pub async fn list(
        &self,
        principal: &Principal,
        meta: &RequestMeta,
        since: i64,
        limit: u64,
    ) -> Result<Vec<AlertRow>, PatientError> {
        let decision = self
            .policy
            .decide(&principal.access_request().action(Action::ReadAudit));
        let trail = AuditTrail::now(principal, meta, &*self.clock);
        let outcome = if decision.allowed {
            Outcome::Permit
        } else {
            Outcome::Deny
        };
        self.audit
            .record(vec![trail.event(
                "list_alerts",
                None,
                None,
                None,
                outcome,
                &decision.reasons,
            )])
            .await?;
        if !decision.allowed {
            return Err(PatientError::Forbidden {
                reasons: decision.reasons,
            });
        }
        Ok(store::alerts::list(&self.db, since, limit.clamp(1, 500)).await?)
    }

    /// A page of the audit for a SIEM, with chain hashes (security officer only; audited).
    pub async fn export(
        &self,
        principal: &Principal,
        meta: &RequestMeta,
        after: i64,
        limit: u64,
    ) -> Result<Vec<crate::audit::export::ExportLine>, PatientError> {
        let decision = self
            .policy
            .decide(&principal.access_request().action(Action::ReadAudit));
        let trail = AuditTrail::now(principal, meta, &*self.clock);
        let outcome = if decision.allowed {
            Outcome::Permit
        } else {
            Outcome::Deny
        };
        let mut reasons = decision.reasons.clone();
        reasons.push(format!("after:{after}"));
        self.audit
            .record(vec![trail.event(
                "export_audit",
                None,
                None,
                None,
                outcome,
                &reasons,
            )])
            .await?;
        if !decision.allowed {
            return Err(PatientError::Forbidden {
                reasons: decision.reasons,
            });
        }
        crate::audit::export::page(&self.db, after, limit.clamp(1, 10_000))
            .await
            .map_err(PatientError::from)
    }
}
