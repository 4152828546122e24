//! The security officer's side of issue 4: audit search and counts, the break-glass review
//! queue, incidents (152-FZ art. 21 part 3.1) and a patient's access report.
//!
//! Every call is a policy decision (`read_audit` or `review_break_glass`; only the security
//! officer holds them) and is itself audited, committed before anything is returned. Opening a
//! doctor's justification for the reviewer is a read of sealed patient data and gets its own
//! `read_justification` event, naming the patient's token, before it is opened.

use std::sync::Arc;

use policy::{Action, PolicyEngine};
use thiserror::Error;
use uuid::Uuid;
use vault_wire::{AuditQuery, PatientToken, ReviewState};

use crate::audit::AuditWriter;
use crate::clock::Clock;
use crate::domain::audit::{AuditTrail, Outcome};
use crate::domain::patients::{PatientError, Patients};
use crate::domain::principal::{Principal, RequestMeta};
use crate::domain::sealing::{SealedData, VaultError};
use crate::store::StoreError;
use crate::store::audit::AuditRow;
use crate::store::oversight::{AuditFilter, ReviewRow};

/// Working days a break-glass grant may wait for its review.
pub const REVIEW_WORKING_DAYS: u32 = 3;
/// 152-FZ art. 21 part 3.1: notify Roskomnadzor within 24 hours of detection...
pub const NOTIFY_SECONDS: i64 = 24 * 3600;
/// ...and send the investigation's results within 72 hours.
pub const RESULTS_SECONDS: i64 = 72 * 3600;

mod audit_log;
mod incidents;
mod reviews;

const JUSTIFICATION_FIELD: &str = "justification";
const COMMENT_FIELD: &str = "review_comment";

#[derive(Debug, Error)]
pub enum OversightError {
    #[error("the policy does not allow this")]
    Forbidden { reasons: Vec<String> },
    #[error("the reviewer held this grant")]
    OwnGrant,
    #[error("no such patient token in your domain")]
    UnknownToken,
    #[error("no such break-glass grant")]
    UnknownGrant,
    #[error("no such incident")]
    UnknownIncident,
    #[error("this grant already has a final review")]
    AlreadyReviewed,
    #[error("this step of the incident is already recorded")]
    AlreadyRecorded,
    #[error("record the Roskomnadzor notification first")]
    NotNotified,
    #[error("the time may not be in the future or before the incident was detected")]
    InvalidTime,
    #[error("the counts take filters only: no after_seq, limit or order")]
    PagingNotAllowed,
    #[error(transparent)]
    Vault(#[from] VaultError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<PatientError> for OversightError {
    fn from(e: PatientError) -> Self {
        match e {
            PatientError::Forbidden { reasons } => OversightError::Forbidden { reasons },
            PatientError::UnknownToken => OversightError::UnknownToken,
            PatientError::Vault(v) => OversightError::Vault(v),
            PatientError::Store(s) => OversightError::Store(s),
            other => OversightError::Store(StoreError::Corrupt(other.to_string())),
        }
    }
}

/// An incident step whose time is recorded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Milestone {
    /// Roskomnadzor was notified (due in 24 h).
    Notified,
    /// The investigation's results were sent (due in 72 h).
    Results,
}

impl Milestone {
    fn as_str(self) -> &'static str {
        match self {
            Milestone::Notified => "notified",
            Milestone::Results => "results",
        }
    }
}

pub use super::calendar::{add_working_days, utc_date};

fn queue_state(reviews: &[&ReviewRow]) -> ReviewState {
    let mut state = ReviewState::Pending;
    for r in reviews {
        state = match r.decision.as_str() {
            "justified" => return ReviewState::Justified,
            "unjustified" => return ReviewState::Unjustified,
            _ => ReviewState::NeedsInfo,
        };
    }
    state
}

fn parse_uuid(s: &str, column: &str) -> Result<Uuid, StoreError> {
    s.parse()
        .map_err(|_| StoreError::Corrupt(format!("{column} is not an id")))
}

fn stored_token(s: &str) -> Result<PatientToken, StoreError> {
    s.parse()
        .map_err(|_| StoreError::Corrupt("stored token does not parse".into()))
}

fn filter_of(q: &AuditQuery) -> AuditFilter {
    AuditFilter {
        from: q.from,
        until: q.until,
        principal: q.principal.clone(),
        patient_tokens: q
            .patient_token
            .as_ref()
            .map(|t| vec![t.as_str().to_owned()]),
        action: q.action.clone(),
        decision: q.decision.map(|d| d.as_str().to_owned()),
        purpose: q.purpose.map(|p| p.as_str().to_owned()),
        branch: q.branch.clone(),
    }
}

fn keys_reason(keys: &[&str]) -> String {
    format!("filters:{}", keys.join(","))
}

fn next_after(seqs: &[i64], limit: u64) -> Option<i64> {
    (u64::try_from(seqs.len()).unwrap_or(u64::MAX) >= limit)
        .then(|| seqs.last().copied())
        .flatten()
}

pub struct Oversight {
    sealed: Arc<SealedData>,
    audit: AuditWriter,
    patients: Arc<Patients>,
    policy: Arc<PolicyEngine>,
    clock: Arc<dyn Clock>,
}

impl Oversight {
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

    fn trail<'a>(&self, principal: &'a Principal, meta: &'a RequestMeta) -> AuditTrail<'a> {
        AuditTrail::now(principal, meta, &*self.clock)
    }

    /// Decides `action` on the audit log. A denial is committed as a `deny` event named
    /// `event` and returned as `Forbidden`; a permit returns its event, not yet written.
    async fn decide(
        &self,
        principal: &Principal,
        meta: &RequestMeta,
        action: Action,
        event: &str,
        token: Option<&str>,
        extra: &[String],
    ) -> Result<AuditRow, OversightError> {
        let decision = self
            .policy
            .decide(&principal.access_request().action(action));
        let row = self
            .trail(principal, meta)
            .decision(&decision, event, token, extra);
        if !decision.allowed {
            self.audit.record(vec![row]).await?;
            return Err(OversightError::Forbidden {
                reasons: decision.reasons,
            });
        }
        Ok(row)
    }

    /// Records `row` as refused (`outcome`, with `reason`) and returns `err` to the caller.
    async fn refuse(
        &self,
        mut row: AuditRow,
        outcome: Outcome,
        reason: &str,
        err: OversightError,
    ) -> OversightError {
        row.decision = outcome.as_str().to_owned();
        row.reasons = format!("{}; {reason}", row.reasons);
        match self.audit.record(vec![row]).await {
            Ok(()) => err,
            Err(e) => e.into(),
        }
    }
}
