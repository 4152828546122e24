//! Patient rights (152-FZ art. 14, 20, 21; ADR 0016): access and deletion requests with their
//! legal deadlines, the consent registry, legal holds, and the destruction acts the retention
//! job writes.
//!
//! Who may do what is the policy's: `file_data_request` and `manage_consent` on a patient (the
//! patient through clinic-app, or reception), `manage_data_requests` on the queue (the security
//! officer). Every call writes its audit event before it answers; a refusal is audited too.

use std::sync::Arc;

use policy::{Action, ConsentPurpose, PolicyEngine};
use thiserror::Error;
use uuid::Uuid;
use vault_wire::{
    Channel, ConsentEvent, ConsentsResponse, DataRequestKind, DataRequestState, DataRequestView,
    DeletionAnswer, DestructionAct, LegalHoldReason, LegalHoldView, PatientToken,
};

use crate::audit::AuditWriter;
use crate::clock::Clock;
use crate::domain::audit::{AuditTrail, Outcome};
use crate::domain::calendar::add_working_days;
use crate::domain::patients::{PatientError, Patients};
use crate::domain::principal::{Principal, RequestMeta};
use crate::domain::sealing::{SealedData, VaultError};
use crate::ids::PatientId;
use crate::store::audit::AuditRow;
use crate::store::rights::{self as rs, HoldRow, RequestRow};
use crate::store::{self, StoreError};

mod deletion;
mod export;
pub mod retention;

pub use retention::{ActCheck, RetentionReport, verify_acts};

/// 152-FZ art. 14 part 3 / art. 20 part 2: an access request is answered within 10 working days.
pub const ACCESS_WORKING_DAYS: u32 = 10;
/// ...extendable once by 5 working days with a reasoned notice.
pub const EXTENSION_WORKING_DAYS: u32 = 5;
/// Art. 21 part 5: after consent is withdrawn, what rests on it is destroyed within 30 days.
pub const DELETION_DAYS: i64 = 30;
const DAY: i64 = 86_400;

/// Who answers for a request when no security officer account exists yet: the queue shows it,
/// and the operator must create one (docs/operations.md).
pub const UNASSIGNED: &str = "unassigned";

#[derive(Debug, Error)]
pub enum RightsError {
    #[error("the policy does not allow this")]
    Forbidden { reasons: Vec<String> },
    #[error("no such patient token in your domain")]
    UnknownToken,
    #[error("no such data request")]
    UnknownRequest,
    #[error("no such legal hold")]
    UnknownHold,
    #[error("no such destruction act")]
    UnknownAct,
    #[error(
        "the patient already has a pending request of this kind, or a deletion request: see listDataRequests"
    )]
    Duplicate,
    #[error("this request is no longer pending")]
    NotPending,
    #[error("only an access request can be {0}")]
    WrongKind(&'static str),
    #[error("an access request is extended once only")]
    AlreadyExtended,
    #[error("this legal hold is released already")]
    HoldReleased,
    #[error("the access request is not answered yet: the security officer answers it first")]
    NotAnswered,
    #[error("recipient_key: {0}")]
    RecipientKey(&'static str),
    #[error(
        "channel {0} is not for this caller: staff signed in to the vault file as reception or paper"
    )]
    WrongChannel(&'static str),
    #[error(transparent)]
    Vault(#[from] VaultError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<PatientError> for RightsError {
    fn from(e: PatientError) -> Self {
        match e {
            PatientError::Forbidden { reasons } => RightsError::Forbidden { reasons },
            PatientError::UnknownToken => RightsError::UnknownToken,
            PatientError::Vault(v) => RightsError::Vault(v),
            PatientError::Store(s) => RightsError::Store(s),
            other => RightsError::Store(StoreError::Corrupt(other.to_string())),
        }
    }
}

/// The operator named in destruction acts unless `vault retention run --operator` says
/// otherwise (order 179 wants its name and address: set it).
pub const DEFAULT_OPERATOR: &str =
    "Medikamente clinic (set the operator's legal name and address with --operator)";
/// The information system named in destruction acts.
pub const SYSTEM_NAME: &str = "Medikamente vault (patient identities and medical records)";

/// Identifies the operator and the system in destruction acts (order 179).
#[derive(Clone, Debug)]
pub struct ActIssuer {
    pub operator: String,
    pub system: String,
}

pub struct Rights {
    sealed: Arc<SealedData>,
    audit: AuditWriter,
    patients: Arc<Patients>,
    policy: Arc<PolicyEngine>,
    clock: Arc<dyn Clock>,
}

impl Rights {
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

    /// Decides `action` (on the patient behind `token`, or on the queue), returning the permit's
    /// audit row, not yet written. A denial is committed and returned.
    async fn decide(
        &self,
        principal: &Principal,
        meta: &RequestMeta,
        action: Action,
        event: &str,
        token: Option<&str>,
        extra: &[String],
    ) -> Result<AuditRow, RightsError> {
        let mut request = principal.access_request().action(action);
        if let Some(t) = token {
            request = request
                .patient(t, principal.token_domain())
                .retention_only(self.patients.retention_only(principal, t).await?);
        }
        let decision = self.policy.decide(&request);
        let row = self
            .trail(principal, meta)
            .decision(&decision, event, token, extra);
        if !decision.allowed {
            self.audit.record(vec![row]).await?;
            return Err(RightsError::Forbidden {
                reasons: decision.reasons,
            });
        }
        Ok(row)
    }

    /// Records a permitted call as failed (`reason`) and returns `err`.
    async fn refuse(&self, mut row: AuditRow, reason: &str, err: RightsError) -> RightsError {
        row.decision = Outcome::Failure.as_str().to_owned();
        row.reasons = format!("{}; {reason}", row.reasons);
        match self.audit.record(vec![row]).await {
            Ok(()) => err,
            Err(e) => e.into(),
        }
    }

    /// The patient behind `token`, or the refusal audited as `unknown_token`.
    async fn patient(
        &self,
        principal: &Principal,
        token: &str,
        row: &AuditRow,
    ) -> Result<PatientId, RightsError> {
        match self.patients.patient_of(principal, token).await {
            Ok(p) => Ok(p),
            Err(PatientError::UnknownToken) => Err(self
                .refuse(row.clone(), "unknown_token", RightsError::UnknownToken)
                .await),
            Err(e) => Err(e.into()),
        }
    }

    /// The patient behind `token` for something that came in through `channel`; a channel the
    /// caller may not use, or an unknown token, is refused and audited.
    async fn patient_from(
        &self,
        principal: &Principal,
        token: &str,
        channel: Channel,
        row: &AuditRow,
    ) -> Result<PatientId, RightsError> {
        if !channel_fits(principal, channel) {
            return Err(self
                .refuse(
                    row.clone(),
                    "wrong_channel",
                    RightsError::WrongChannel(channel.as_str()),
                )
                .await);
        }
        self.patient(principal, token, row).await
    }

    // -----------------------------------------------------------------------------------------
    // Requests
    // -----------------------------------------------------------------------------------------

    /// Files an access or deletion request. A deletion is carried out at once for what rests
    /// on consent (ADR 0016); what the law keeps is put under retention, and the answer says
    /// which is which.
    pub async fn file_request(
        &self,
        principal: &Principal,
        meta: &RequestMeta,
        token: &PatientToken,
        kind: DataRequestKind,
        channel: Channel,
        recipient_key: Option<&str>,
    ) -> Result<DataRequestView, RightsError> {
        let extra = [format!(
            "kind:{}; channel:{}",
            kind.as_str(),
            channel.as_str()
        )];
        let mut row = self
            .decide(
                principal,
                meta,
                Action::FileDataRequest,
                "file_data_request",
                Some(token.as_str()),
                &extra,
            )
            .await?;
        let patient = self
            .patient_from(principal, token.as_str(), channel, &row)
            .await?;
        if let Some(key) = recipient_key {
            let problem = match kind {
                DataRequestKind::Deletion => Some("a deletion request takes no recipient key"),
                DataRequestKind::Access => export::check_recipient_key(key).err(),
            };
            if let Some(problem) = problem {
                return Err(self
                    .refuse(
                        row,
                        "invalid_recipient_key",
                        RightsError::RecipientKey(problem),
                    )
                    .await);
            }
        }
        let db = self.sealed.db();
        let now = self.clock.unix_seconds();
        let officer = rs::responsible_officer(db)
            .await?
            .unwrap_or_else(|| UNASSIGNED.to_owned());
        let request_id = Uuid::new_v4();
        let due_at = match kind {
            DataRequestKind::Access => add_working_days(now, ACCESS_WORKING_DAYS),
            DataRequestKind::Deletion => now + DELETION_DAYS * DAY,
        };
        let mut stored = RequestRow {
            request_id: request_id.to_string(),
            patient_id: patient.to_string(),
            kind: kind.as_str().to_owned(),
            channel: channel.as_str().to_owned(),
            state: DataRequestState::Open.as_str().to_owned(),
            filed_by: principal.audit_name(),
            filed_at: now,
            due_at,
            responsible_officer: officer,
            extension_reason: None,
            answered_at: None,
            answer: None,
            overdue_alerted_at: None,
            recipient_key: recipient_key.map(str::to_ascii_lowercase),
        };
        row.reasons = format!("{}; request:{request_id}", row.reasons);
        let mut tx = self.sealed.db().begin().await?;
        // Two deletions of one patient at once must not both run.
        tx.lock_keys(&[format!("rights:{patient}")]).await?;
        // The request first: a duplicate is refused before anything is deleted.
        match rs::insert_request(&mut tx, &stored).await {
            Ok(()) => {}
            Err(StoreError::Conflict) => {
                drop(tx);
                return Err(self
                    .refuse(row, "duplicate_request", RightsError::Duplicate)
                    .await);
            }
            Err(e) => return Err(e.into()),
        }
        if kind == DataRequestKind::Deletion {
            let done = deletion::carry_out(&mut tx, patient, &request_id, channel, now).await?;
            row.reasons = format!("{}; {}", row.reasons, done.audit_summary());
            let answer = serde_json::to_string(&done.answer)
                .map_err(|e| StoreError::Corrupt(format!("deletion answer: {e}")))?;
            rs::finish_request(
                &mut tx,
                &stored.request_id,
                DataRequestState::Completed.as_str(),
                now,
                Some(&answer),
            )
            .await?;
            stored.state = DataRequestState::Completed.as_str().to_owned();
            stored.answered_at = Some(now);
            stored.answer = Some(answer);
        }
        self.audit.append_in(&mut tx, &[row]).await?;
        tx.commit().await?;
        if kind == DataRequestKind::Deletion {
            // The unlinked tokens must not resolve from this process's cache either.
            self.patients.forget_tokens();
        }
        self.view(&stored, Some(token.clone())).await
    }

    /// Requests of one patient (the patient's side names the token) or, for the security
    /// officer, the whole queue.
    pub async fn list_requests(
        &self,
        principal: &Principal,
        meta: &RequestMeta,
        patient: Option<&PatientToken>,
        pending_only: bool,
    ) -> Result<Vec<DataRequestView>, RightsError> {
        let rows = match patient {
            Some(token) => {
                let row = self
                    .decide(
                        principal,
                        meta,
                        Action::FileDataRequest,
                        "list_data_requests",
                        Some(token.as_str()),
                        &[],
                    )
                    .await?;
                let p = self.patient(principal, token.as_str(), &row).await?;
                self.audit.record(vec![row]).await?;
                rs::requests(self.sealed.db(), Some(p), pending_only).await?
            }
            None => {
                let row = self
                    .decide(
                        principal,
                        meta,
                        Action::ManageDataRequests,
                        "list_data_requests",
                        None,
                        &[],
                    )
                    .await?;
                self.audit.record(vec![row]).await?;
                rs::requests(self.sealed.db(), None, pending_only).await?
            }
        };
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            out.push(self.view(r, patient.cloned()).await?);
        }
        Ok(out)
    }

    /// One request. The security officer sees any; the patient's side sees its own only, and
    /// someone else's request id answers as unknown.
    pub async fn get_request(
        &self,
        principal: &Principal,
        meta: &RequestMeta,
        request_id: Uuid,
    ) -> Result<DataRequestView, RightsError> {
        let (stored, token) = self
            .authorise_on_request(
                principal,
                meta,
                request_id,
                "get_data_request",
                Action::FileDataRequest,
            )
            .await?;
        self.view(&stored, token).await
    }

    /// Loads a request and decides: the officer's `manage_data_requests`, or `patient_action`
    /// on the caller's own token for the request's patient. The event is committed.
    async fn authorise_on_request(
        &self,
        principal: &Principal,
        meta: &RequestMeta,
        request_id: Uuid,
        event: &str,
        patient_action: Action,
    ) -> Result<(RequestRow, Option<PatientToken>), RightsError> {
        let extra = [format!("request:{request_id}")];
        let stored = rs::request(self.sealed.db(), &request_id.to_string()).await?;
        let officer =
            matches!(principal, Principal::Staff(s) if s.role == policy::Role::SecurityOfficer);
        if officer {
            let row = self
                .decide(
                    principal,
                    meta,
                    Action::ManageDataRequests,
                    event,
                    None,
                    &extra,
                )
                .await?;
            let Some(stored) = stored else {
                return Err(self
                    .refuse(row, "unknown_request", RightsError::UnknownRequest)
                    .await);
            };
            self.audit.record(vec![row]).await?;
            return Ok((stored, None));
        }
        // The patient's side: its token for the request's patient, if it has one.
        let token = match &stored {
            Some(s) => {
                let p: PatientId = store::parse_id(&s.patient_id, "patient_id")?;
                store::patients::tokens_of(
                    self.sealed.db(),
                    principal.token_domain().as_str(),
                    &[p],
                )
                .await?
                .into_iter()
                .next()
                .map(|(t, _)| t)
            }
            None => None,
        };
        let Some(token) = token else {
            // Unknown, or another patient's: the same answer, audited.
            let row = self.trail(principal, meta).event(
                event,
                None,
                None,
                None,
                Outcome::Failure,
                &[extra[0].clone(), "unknown_request".into()],
            );
            self.audit.record(vec![row]).await?;
            return Err(RightsError::UnknownRequest);
        };
        let row = self
            .decide(principal, meta, patient_action, event, Some(&token), &extra)
            .await?;
        self.audit.record(vec![row]).await?;
        let parsed = token
            .parse::<PatientToken>()
            .map_err(|_| StoreError::Corrupt("stored token does not parse".into()))?;
        Ok((stored.ok_or(RightsError::UnknownRequest)?, Some(parsed)))
    }

    /// The security officer's decision on an access request, and the request; an unknown id
    /// or another kind is refused, audited.
    async fn officer_access_request(
        &self,
        principal: &Principal,
        meta: &RequestMeta,
        request_id: Uuid,
        event: &str,
        verb: &'static str,
    ) -> Result<(AuditRow, RequestRow), RightsError> {
        let row = self
            .decide(
                principal,
                meta,
                Action::ManageDataRequests,
                event,
                None,
                &[format!("request:{request_id}")],
            )
            .await?;
        let Some(stored) = rs::request(self.sealed.db(), &request_id.to_string()).await? else {
            return Err(self
                .refuse(row, "unknown_request", RightsError::UnknownRequest)
                .await);
        };
        if stored.kind != DataRequestKind::Access.as_str() {
            return Err(self
                .refuse(row, "wrong_kind", RightsError::WrongKind(verb))
                .await);
        }
        Ok((row, stored))
    }

    /// The security officer extends an access request once, by 5 working days, with a reason.
    pub async fn extend_request(
        &self,
        principal: &Principal,
        meta: &RequestMeta,
        request_id: Uuid,
        reason: &str,
    ) -> Result<DataRequestView, RightsError> {
        let (row, stored) = self
            .officer_access_request(
                principal,
                meta,
                request_id,
                "extend_data_request",
                "extended",
            )
            .await?;
        let db = self.sealed.db();
        if stored.state == DataRequestState::Extended.as_str() {
            return Err(self
                .refuse(row, "already_extended", RightsError::AlreadyExtended)
                .await);
        }
        let due = add_working_days(stored.due_at, EXTENSION_WORKING_DAYS);
        let mut tx = db.begin().await?;
        let changed = rs::extend_request(&mut tx, &stored.request_id, due, reason).await?;
        self.settle(tx, changed, row, &stored.request_id).await
    }

    /// The security officer answers an access request: the patient's side may then fetch the
    /// export (`export`).
    pub async fn answer_request(
        &self,
        principal: &Principal,
        meta: &RequestMeta,
        request_id: Uuid,
    ) -> Result<DataRequestView, RightsError> {
        let (row, stored) = self
            .officer_access_request(
                principal,
                meta,
                request_id,
                "answer_data_request",
                "answered",
            )
            .await?;
        let db = self.sealed.db();
        let now = self.clock.unix_seconds();
        let mut tx = db.begin().await?;
        let changed = rs::finish_request(
            &mut tx,
            &stored.request_id,
            DataRequestState::Answered.as_str(),
            now,
            None,
        )
        .await?;
        self.settle(tx, changed, row, &stored.request_id).await
    }

    /// Ends an officer's change of a pending request: commits it with its audit event and
    /// answers with the request as it now stands, or, when the request was no longer pending
    /// (someone else acted first), rolls back and refuses, audited.
    async fn settle(
        &self,
        mut tx: crate::store::Transaction,
        changed: bool,
        row: AuditRow,
        request_id: &str,
    ) -> Result<DataRequestView, RightsError> {
        if !changed {
            drop(tx);
            return Err(self
                .refuse(row, "not_pending", RightsError::NotPending)
                .await);
        }
        self.audit.append_in(&mut tx, &[row]).await?;
        tx.commit().await?;
        let updated = rs::request(self.sealed.db(), request_id)
            .await?
            .ok_or(RightsError::UnknownRequest)?;
        self.view(&updated, None).await
    }

    async fn view(
        &self,
        r: &RequestRow,
        token: Option<PatientToken>,
    ) -> Result<DataRequestView, RightsError> {
        let db = self.sealed.db();
        let kind = DataRequestKind::parse(&r.kind)
            .ok_or_else(|| StoreError::Corrupt("data request kind".into()))?;
        let state = DataRequestState::parse(&r.state)
            .ok_or_else(|| StoreError::Corrupt("data request state".into()))?;
        let channel = Channel::parse(&r.channel)
            .ok_or_else(|| StoreError::Corrupt("data request channel".into()))?;
        let deletion: Option<DeletionAnswer> = match &r.answer {
            Some(json) => Some(
                serde_json::from_str(json)
                    .map_err(|_| StoreError::Corrupt("deletion answer".into()))?,
            ),
            None => None,
        };
        let patient: PatientId = store::parse_id(&r.patient_id, "patient_id")?;
        let legal_holds = rs::holds_of(db, patient)
            .await?
            .iter()
            .map(hold_view)
            .collect::<Result<Vec<_>, _>>()?;
        let act = rs::acts(db, None, Some(&r.request_id)).await?;
        Ok(DataRequestView {
            request_id: store::parse_id(&r.request_id, "request_id")?,
            patient: token,
            kind,
            channel,
            state,
            filed_at: r.filed_at,
            filed_by: r.filed_by.clone(),
            due_at: r.due_at,
            overdue: state.is_pending() && r.due_at < self.clock.unix_seconds(),
            responsible_officer: r.responsible_officer.clone(),
            extension_reason: r.extension_reason.clone(),
            answered_at: r.answered_at,
            deletion,
            legal_holds,
            destruction_act_id: act
                .first()
                .map(|a| store::parse_id(&a.act_id, "act_id"))
                .transpose()?,
        })
    }

    // -----------------------------------------------------------------------------------------
    // Consents
    // -----------------------------------------------------------------------------------------

    /// Gives or withdraws a consent. Withdrawing analytics also unlinks the analytics domain's
    /// token: that domain rests on consent alone.
    pub async fn set_consent(
        &self,
        principal: &Principal,
        meta: &RequestMeta,
        token: &PatientToken,
        purpose: ConsentPurpose,
        granted: bool,
        channel: Channel,
    ) -> Result<ConsentsResponse, RightsError> {
        let extra = [format!(
            "consent:{}={granted}; channel:{}",
            purpose.as_str(),
            channel.as_str()
        )];
        let row = self
            .decide(
                principal,
                meta,
                Action::ManageConsent,
                "set_consent",
                Some(token.as_str()),
                &extra,
            )
            .await?;
        let patient = self
            .patient_from(principal, token.as_str(), channel, &row)
            .await?;
        let now = self.clock.unix_seconds();
        let mut tx = self.sealed.db().begin().await?;
        rs::insert_consent(
            &mut tx,
            patient,
            purpose.as_str(),
            granted,
            channel.as_str(),
            now,
            &principal.audit_name(),
        )
        .await?;
        let unlinked = if !granted && purpose == ConsentPurpose::Analytics {
            rs::unlink_tokens(
                &mut tx,
                patient,
                &[policy::ConsumerDomain::Analytics.as_str()],
                now,
            )
            .await?
        } else {
            0
        };
        self.audit.append_in(&mut tx, &[row]).await?;
        tx.commit().await?;
        if unlinked > 0 {
            self.patients.forget_tokens();
        }
        self.consents_of(patient).await
    }

    pub async fn list_consents(
        &self,
        principal: &Principal,
        meta: &RequestMeta,
        token: &PatientToken,
    ) -> Result<ConsentsResponse, RightsError> {
        let row = self
            .decide(
                principal,
                meta,
                Action::ManageConsent,
                "list_consents",
                Some(token.as_str()),
                &[],
            )
            .await?;
        let patient = self.patient(principal, token.as_str(), &row).await?;
        self.audit.record(vec![row]).await?;
        self.consents_of(patient).await
    }

    async fn consents_of(&self, patient: PatientId) -> Result<ConsentsResponse, RightsError> {
        consents_response(&rs::consent_history(self.sealed.db(), patient).await?)
    }

    // -----------------------------------------------------------------------------------------
    // Legal holds and acts (the security officer)
    // -----------------------------------------------------------------------------------------

    /// Stops destruction of the request's patient until released (a court request, an
    /// incident).
    pub async fn place_hold(
        &self,
        principal: &Principal,
        meta: &RequestMeta,
        request_id: Uuid,
        reason: LegalHoldReason,
        reference: &str,
    ) -> Result<LegalHoldView, RightsError> {
        let row = self
            .decide(
                principal,
                meta,
                Action::ManageDataRequests,
                "place_legal_hold",
                None,
                &[format!("request:{request_id}; hold:{}", reason.as_str())],
            )
            .await?;
        let db = self.sealed.db();
        let Some(stored) = rs::request(db, &request_id.to_string()).await? else {
            return Err(self
                .refuse(row, "unknown_request", RightsError::UnknownRequest)
                .await);
        };
        let hold = HoldRow {
            hold_id: Uuid::new_v4().to_string(),
            patient_id: stored.patient_id.clone(),
            request_id: stored.request_id.clone(),
            reason: reason.as_str().to_owned(),
            reference: reference.to_owned(),
            placed_by: principal.audit_name(),
            placed_at: self.clock.unix_seconds(),
            released_at: None,
        };
        let mut tx = db.begin().await?;
        rs::insert_hold(&mut tx, &hold).await?;
        self.audit.append_in(&mut tx, &[row]).await?;
        tx.commit().await?;
        hold_view(&hold)
    }

    pub async fn release_hold(
        &self,
        principal: &Principal,
        meta: &RequestMeta,
        hold_id: Uuid,
    ) -> Result<LegalHoldView, RightsError> {
        let row = self
            .decide(
                principal,
                meta,
                Action::ManageDataRequests,
                "release_legal_hold",
                None,
                &[format!("hold:{hold_id}")],
            )
            .await?;
        let db = self.sealed.db();
        if rs::hold(db, &hold_id.to_string()).await?.is_none() {
            return Err(self
                .refuse(row, "unknown_hold", RightsError::UnknownHold)
                .await);
        }
        let mut tx = db.begin().await?;
        if !rs::release_hold(&mut tx, &hold_id.to_string(), self.clock.unix_seconds()).await? {
            drop(tx);
            return Err(self
                .refuse(row, "hold_released", RightsError::HoldReleased)
                .await);
        }
        self.audit.append_in(&mut tx, &[row]).await?;
        tx.commit().await?;
        let hold = rs::hold(db, &hold_id.to_string())
            .await?
            .ok_or(RightsError::UnknownHold)?;
        hold_view(&hold)
    }

    /// Destruction acts, newest first, or one act.
    pub async fn acts(
        &self,
        principal: &Principal,
        meta: &RequestMeta,
        act_id: Option<Uuid>,
    ) -> Result<Vec<DestructionAct>, RightsError> {
        let extra: Vec<String> = act_id.iter().map(|a| format!("act:{a}")).collect();
        let row = self
            .decide(
                principal,
                meta,
                Action::ManageDataRequests,
                if act_id.is_some() {
                    "get_destruction_act"
                } else {
                    "list_destruction_acts"
                },
                None,
                &extra,
            )
            .await?;
        let db = self.sealed.db();
        let id = act_id.map(|a| a.to_string());
        let rows = rs::acts(db, id.as_deref(), None).await?;
        if act_id.is_some() && rows.is_empty() {
            return Err(self
                .refuse(row, "unknown_act", RightsError::UnknownAct)
                .await);
        }
        self.audit.record(vec![row]).await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let mut act = retention::act_view(r)?;
            act.audit_seq =
                rs::audit_event_seq(db, &retention::log_extract(r)?, retention::DESTROY_ACTION)
                    .await?;
            out.push(act);
        }
        Ok(out)
    }
}

/// Staff in their own vault session act at the desk or from paper; only a service (clinic-app,
/// for the patient app or for its own reception staff, who sign in there) may say `patient_app`.
fn channel_fits(principal: &Principal, channel: Channel) -> bool {
    matches!(principal, Principal::Service { .. }) || channel != Channel::PatientApp
}

fn hold_view(h: &HoldRow) -> Result<LegalHoldView, RightsError> {
    Ok(LegalHoldView {
        hold_id: store::parse_id(&h.hold_id, "hold_id")?,
        reason: LegalHoldReason::parse(&h.reason)
            .ok_or_else(|| StoreError::Corrupt("legal hold reason".into()))?,
        reference: h.reference.clone(),
        placed_by: h.placed_by.clone(),
        placed_at: h.placed_at,
        released_at: h.released_at,
    })
}

fn consents_response(history: &[rs::ConsentRow]) -> Result<ConsentsResponse, RightsError> {
    let mut events = Vec::with_capacity(history.len());
    for r in history {
        events.push(ConsentEvent {
            purpose: r
                .purpose
                .parse()
                .map_err(|_| StoreError::Corrupt("consent purpose".into()))?,
            granted: r.granted,
            channel: Channel::parse(&r.channel)
                .ok_or_else(|| StoreError::Corrupt("consent channel".into()))?,
            at: r.at,
            recorded_by: r.recorded_by.clone(),
        });
    }
    // History is newest first: the first event per purpose is the one in force.
    let mut in_force = Vec::new();
    let mut seen = Vec::new();
    for e in &events {
        if !seen.contains(&e.purpose) {
            seen.push(e.purpose);
            if e.granted {
                in_force.push(e.purpose);
            }
        }
    }
    in_force.sort_by_key(|p| p.as_str());
    Ok(ConsentsResponse {
        in_force,
        history: events,
    })
}
