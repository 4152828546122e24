//! Audit events of decisions. Written before any data leaves; if they cannot be committed the
//! request fails (the caller maps the store error to 503).

use crate::clock::Clock;
use crate::domain::principal::{Principal, RequestMeta};
use crate::store::audit::AuditRow;

/// Outcome recorded for an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Permit,
    Deny,
    Success,
    Failure,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Permit => "permit",
            Outcome::Deny => "deny",
            Outcome::Success => "success",
            Outcome::Failure => "failure",
        }
    }
}

/// Builds audit rows for one request.
pub struct AuditTrail<'a> {
    pub principal: &'a Principal,
    pub meta: &'a RequestMeta,
    pub at: i64,
}

impl<'a> AuditTrail<'a> {
    /// The trail of one request, its events stamped with the clock's time now.
    pub fn now(principal: &'a Principal, meta: &'a RequestMeta, clock: &dyn Clock) -> Self {
        Self {
            principal,
            meta,
            at: clock.unix_seconds(),
        }
    }
}

impl AuditTrail<'_> {
    /// The event of a policy decision: permit or deny, its reasons followed by `extra`.
    pub fn decision(
        &self,
        decision: &policy::Decision,
        action: &str,
        patient_token: Option<&str>,
        extra: &[String],
    ) -> AuditRow {
        let mut reasons = decision.reasons.clone();
        reasons.extend(extra.iter().cloned());
        let outcome = if decision.allowed {
            Outcome::Permit
        } else {
            Outcome::Deny
        };
        self.event(action, patient_token, None, None, outcome, &reasons)
    }

    #[allow(clippy::too_many_arguments)]
    pub fn event(
        &self,
        action: &str,
        patient_token: Option<&str>,
        purpose: Option<&str>,
        reason_code: Option<&str>,
        outcome: Outcome,
        reasons: &[String],
    ) -> AuditRow {
        AuditRow {
            at: self.at,
            request_id: self.meta.request_id.clone(),
            principal: self.principal.audit_name(),
            role: self.principal.audit_role().to_owned(),
            branch: self.principal.branch().map(str::to_owned),
            action: action.to_owned(),
            patient_token: patient_token.map(str::to_owned),
            patient_tokens: None,
            purpose: purpose.map(str::to_owned),
            reason_code: reason_code.map(str::to_owned),
            decision: outcome.as_str().to_owned(),
            reasons: reasons.join("; "),
            client_addr: self.meta.client_addr.clone(),
        }
    }

    /// One event for a decision that several tokens share (a resolve batch): a single token
    /// goes in `patient_token` as always; more go in the `patient_tokens` list, so a batch of
    /// 300 tokens with one decision is one chained row, not 300 (ADR 0019).
    pub fn shared_event(
        &self,
        action: &str,
        tokens: &[&str],
        purpose: Option<&str>,
        reason_code: Option<&str>,
        outcome: Outcome,
        reasons: &[String],
    ) -> AuditRow {
        let mut row = self.event(action, None, purpose, reason_code, outcome, reasons);
        match tokens {
            [] => {}
            [one] => row.patient_token = Some((*one).to_owned()),
            many => row.patient_tokens = Some(many.join(" ")),
        }
        row
    }
}
