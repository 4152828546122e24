//! The break-glass review queue and the reviews themselves.

use std::collections::HashMap;
use std::sync::Arc;

use policy::Action;
use uuid::Uuid;
use vault_wire::{
    BreakGlassReason, BreakGlassReview, GrantReads, IncidentOpened, JustificationStatus,
    ListReviewsResponse, PatientToken, ReviewDecision, ReviewEntry, ReviewRequest, ReviewResponse,
    ReviewState, ReviewsQuery,
};

use super::{
    COMMENT_FIELD, JUSTIFICATION_FIELD, NOTIFY_SECONDS, Oversight, OversightError, RESULTS_SECONDS,
    REVIEW_WORKING_DAYS, add_working_days, parse_uuid, queue_state, stored_token,
};
use crate::crypto::SealContext;
use crate::domain::audit::Outcome;
use crate::domain::principal::{ConsumerDomain, Principal, RequestMeta};
use crate::domain::sealing::VaultError;
use crate::ids::{PatientId, RecordId};
use crate::keys::PatientKeys;
use crate::keys::dek::SubkeyPurpose;
use crate::store::oversight::{self as ov, GrantRow, IncidentRow, QueueState, ReviewRow};
use crate::store::{self, StoreError};

impl Oversight {
    /// The patients' tokens in the staff domain, issuing those missing (as a search would).
    async fn staff_tokens(
        &self,
        patients: &[PatientId],
    ) -> Result<HashMap<PatientId, String>, OversightError> {
        let domain = ConsumerDomain::VaultStaff.as_str();
        let db = self.sealed.db();
        for attempt in 0..2 {
            let mut known: HashMap<PatientId, String> =
                store::patients::tokens_of(db, domain, patients)
                    .await?
                    .into_iter()
                    .map(|(t, p)| (p, t))
                    .collect();
            let missing: Vec<PatientId> = patients
                .iter()
                .filter(|p| !known.contains_key(p))
                .copied()
                .collect();
            if missing.is_empty() {
                return Ok(known);
            }
            let now = self.clock.unix_seconds();
            let mut tx = db.begin().await?;
            let mut issued = Vec::with_capacity(missing.len());
            for p in missing {
                let mut bytes = [0u8; 16];
                getrandom::fill(&mut bytes).map_err(|_| VaultError::Seal)?;
                let t = PatientToken::from_random(bytes).to_string();
                store::patients::insert_token(&mut tx, &t, domain, p, now).await?;
                issued.push((p, t));
            }
            match tx.commit().await {
                Ok(()) => {
                    known.extend(issued);
                    return Ok(known);
                }
                // Another request issued one meanwhile: read it on the next round.
                Err(StoreError::Conflict) if attempt == 0 => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(StoreError::Conflict.into())
    }

    /// The patient's keys, or `None` when the patient's data was destroyed.
    async fn keys_or_destroyed(
        &self,
        patient: PatientId,
    ) -> Result<Option<Arc<PatientKeys>>, OversightError> {
        match self.sealed.current_keys(patient).await {
            Ok(k) => Ok(Some(k)),
            Err(VaultError::PatientShredded) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    fn open_text(
        keys: &PatientKeys,
        patient: &PatientId,
        record: &RecordId,
        field: &str,
        envelope: &[u8],
    ) -> Result<String, OversightError> {
        let ctx = SealContext {
            patient,
            record,
            record_version: 1,
            field,
        };
        let bytes = keys
            .open(SubkeyPurpose::RecordSealing, &ctx, envelope)
            .map_err(VaultError::from)?;
        String::from_utf8(bytes.to_vec())
            .map_err(|_| StoreError::Corrupt("sealed text is not UTF-8".into()).into())
    }

    /// `GET /v1/break-glass/reviews`: grants with their reads, reviews and the doctor's
    /// justification, opened for the reviewer after one `read_justification` event per grant
    /// is committed.
    pub async fn list_reviews(
        &self,
        principal: &Principal,
        meta: &RequestMeta,
        q: &ReviewsQuery,
    ) -> Result<ListReviewsResponse, OversightError> {
        let state = q.state.map(|s| match s {
            ReviewState::Pending => QueueState::Pending,
            ReviewState::NeedsInfo => QueueState::NeedsInfo,
            ReviewState::Justified => QueueState::Justified,
            ReviewState::Unjustified => QueueState::Unjustified,
        });
        let extra = [format!(
            "state:{}",
            state.map_or("any", |s| match s {
                QueueState::Pending => "pending",
                QueueState::NeedsInfo => "needs_info",
                QueueState::Justified => "justified",
                QueueState::Unjustified => "unjustified",
            })
        )];
        let row = self
            .decide(
                principal,
                meta,
                Action::ReviewBreakGlass,
                "list_break_glass_reviews",
                None,
                &extra,
            )
            .await?;
        let db = self.sealed.db();
        let limit = u64::from(q.page_size());
        let grants = ov::grants(db, state, limit).await?;
        let patients: Vec<PatientId> = grants
            .iter()
            .map(GrantRow::patient)
            .collect::<Result<_, _>>()?;
        let tokens = self.staff_tokens(&patients).await?;
        let trail = self.trail(principal, meta);
        let mut rows = vec![row];
        for (g, p) in grants.iter().zip(&patients) {
            rows.push(trail.event(
                "read_justification",
                tokens.get(p).map(String::as_str),
                None,
                Some(g.reason_code.as_str()),
                Outcome::Permit,
                &[format!("grant:{}", g.grant_id)],
            ));
        }
        self.audit.record(rows).await?;

        let ids: Vec<String> = grants.iter().map(|g| g.grant_id.clone()).collect();
        let mut reviews: HashMap<String, Vec<ReviewRow>> = HashMap::new();
        for r in ov::reviews_of(db, &ids).await? {
            reviews.entry(r.grant_id.clone()).or_default().push(r);
        }
        let incidents: HashMap<String, String> = ov::incidents_of_grants(db, &ids)
            .await?
            .into_iter()
            .collect();
        let now = self.clock.unix_seconds();
        let mut out = Vec::with_capacity(grants.len());
        for (g, patient) in grants.iter().zip(&patients) {
            let token = tokens
                .get(patient)
                .ok_or_else(|| StoreError::Corrupt("token not issued".into()))?;
            let keys = self.keys_or_destroyed(*patient).await?;
            let grant_record: RecordId = store::parse_id(&g.grant_id, "grant_id")?;
            let (justification, justification_status) = match &keys {
                None => (None, JustificationStatus::Destroyed),
                Some(k) => match Self::open_text(
                    k,
                    patient,
                    &grant_record,
                    JUSTIFICATION_FIELD,
                    &g.justification_envelope,
                ) {
                    Ok(text) => (Some(text), JustificationStatus::Shown),
                    // One altered row must not hide the rest of the queue; the reviewer sees it.
                    Err(OversightError::Vault(VaultError::Open(_))) => {
                        tracing::error!(target: "security", grant_id = %g.grant_id,
                            "a break-glass justification did not open: altered or moved");
                        (None, JustificationStatus::Unreadable)
                    }
                    Err(e) => return Err(e),
                },
            };
            let own = reviews.remove(&g.grant_id).unwrap_or_default();
            let state = queue_state(&own.iter().collect::<Vec<_>>());
            let mut entries = Vec::with_capacity(own.len());
            for r in &own {
                let review_record: RecordId = store::parse_id(&r.review_id, "review_id")?;
                entries.push(ReviewEntry {
                    review_id: parse_uuid(&r.review_id, "review_id")?,
                    decision: r
                        .decision
                        .parse()
                        .map_err(|_| StoreError::Corrupt("review decision".into()))?,
                    reviewer_staff_id: r.reviewer_staff_id.clone(),
                    comment: match &keys {
                        Some(k) => match Self::open_text(
                            k,
                            patient,
                            &review_record,
                            COMMENT_FIELD,
                            &r.comment_envelope,
                        ) {
                            Ok(text) => Some(text),
                            Err(OversightError::Vault(VaultError::Open(_))) => None,
                            Err(e) => return Err(e),
                        },
                        None => None,
                    },
                    reviewed_at: r.reviewed_at,
                });
            }
            let seqs = ov::grant_reads(db, g).await?;
            let deadline = add_working_days(g.started_at, REVIEW_WORKING_DAYS);
            let is_final = matches!(state, ReviewState::Justified | ReviewState::Unjustified);
            out.push(BreakGlassReview {
                grant_id: parse_uuid(&g.grant_id, "grant_id")?,
                doctor_staff_id: g.staff_id.clone(),
                patient_token: stored_token(token)?,
                reason_code: match g.reason_code.as_str() {
                    "ETREAT" => BreakGlassReason::Etreat,
                    _ => BreakGlassReason::Btg,
                },
                started_at: g.started_at,
                expires_at: g.expires_at,
                ended_at: g.ended_at,
                review_deadline: deadline,
                overdue: !is_final && now > deadline,
                state,
                reads: GrantReads {
                    count: u64::try_from(seqs.len()).unwrap_or(u64::MAX),
                    seqs,
                },
                justification,
                justification_status,
                reviews: entries,
                incident_id: incidents
                    .get(&g.grant_id)
                    .map(|i| parse_uuid(i, "incident_id"))
                    .transpose()?,
            });
        }
        Ok(ListReviewsResponse { reviews: out })
    }

    /// `POST /v1/break-glass/reviews/{grant_id}`: a review by someone other than the grant's
    /// holder. `needs_info` may be followed by a final decision; `justified` and `unjustified`
    /// are final. `unjustified` ends the grant if it is still live and opens an incident whose
    /// evidence is the holder's audit events about the patient during the grant.
    pub async fn review(
        &self,
        principal: &Principal,
        meta: &RequestMeta,
        grant_id: Uuid,
        req: &ReviewRequest,
    ) -> Result<ReviewResponse, OversightError> {
        let grant_id = grant_id.to_string();
        let extra = [
            format!("grant:{grant_id}"),
            format!("decision:{}", req.decision.as_str()),
        ];
        let row = self
            .decide(
                principal,
                meta,
                Action::ReviewBreakGlass,
                "review_break_glass",
                None,
                &extra,
            )
            .await?;
        let Principal::Staff(reviewer) = principal else {
            return Err(self
                .refuse(
                    row,
                    Outcome::Deny,
                    "only staff review",
                    OversightError::Forbidden {
                        reasons: vec!["only staff review".into()],
                    },
                )
                .await);
        };
        let db = self.sealed.db();
        let Some(grant) = ov::grant_outside(db, &grant_id).await? else {
            return Err(self
                .refuse(
                    row,
                    Outcome::Failure,
                    "unknown_grant",
                    OversightError::UnknownGrant,
                )
                .await);
        };
        let patient = grant.patient()?;
        let token = self
            .staff_tokens(&[patient])
            .await?
            .remove(&patient)
            .ok_or_else(|| StoreError::Corrupt("token not issued".into()))?;
        let mut row = row;
        row.patient_token = Some(token.clone());
        row.reason_code = Some(grant.reason_code.clone());
        // Review by someone other than the user (reference (c) 5): the policy already keeps
        // doctors out; this holds whatever a future policy permits.
        if grant.staff_id == reviewer.staff_id {
            return Err(self
                .refuse(
                    row,
                    Outcome::Deny,
                    "reviewer-held-the-grant",
                    OversightError::OwnGrant,
                )
                .await);
        }

        let keys = self.sealed.current_keys(patient).await?;
        let review_id = RecordId::random();
        let ctx = SealContext {
            patient: &patient,
            record: &review_id,
            record_version: 1,
            field: COMMENT_FIELD,
        };
        let comment_envelope = keys
            .seal(
                self.sealed.suite(),
                SubkeyPurpose::RecordSealing,
                &ctx,
                req.comment.as_str().as_bytes(),
            )
            .map_err(|_| VaultError::Seal)?;
        let now = self.clock.unix_seconds();
        let review_id = review_id.to_string();

        let mut tx = db.begin().await?;
        let earlier = ov::reviews_of_grant(&mut tx, &grant_id).await?;
        if earlier.iter().any(|r| r.decision != "needs_info") {
            drop(tx);
            return Err(self
                .refuse(
                    row,
                    Outcome::Failure,
                    "already_reviewed",
                    OversightError::AlreadyReviewed,
                )
                .await);
        }
        ov::insert_review(
            &mut tx,
            &ReviewRow {
                review_id: review_id.clone(),
                grant_id: grant_id.clone(),
                review_no: i64::try_from(earlier.len()).unwrap_or(i64::MAX - 1) + 1,
                reviewer_staff_id: reviewer.staff_id.clone(),
                decision: req.decision.as_str().to_owned(),
                comment_envelope,
                reviewed_at: now,
            },
        )
        .await?;
        let mut incident = None;
        if req.decision == ReviewDecision::Unjustified {
            let revoked = ov::revoke_grant(&mut tx, &grant_id, now).await?;
            let until = if revoked { now } else { grant.closed_at() };
            let evidence = ov::grant_evidence(&mut tx, &grant, &token, until).await?;
            let i = IncidentRow {
                incident_id: Uuid::new_v4().to_string(),
                grant_id: grant_id.clone(),
                review_id: review_id.clone(),
                staff_id: grant.staff_id.clone(),
                patient_token: token.clone(),
                detected_at: now,
                notify_by: now + NOTIFY_SECONDS,
                results_by: now + RESULTS_SECONDS,
                evidence_from: grant.started_at,
                evidence_until: until,
            };
            ov::insert_incident(&mut tx, &i, &evidence).await?;
            row.reasons = format!(
                "{}; review:{review_id}; incident:{}; evidence_events:{}{}",
                row.reasons,
                i.incident_id,
                evidence.len(),
                if revoked { "; grant_revoked" } else { "" }
            );
            incident = Some(i);
        } else {
            row.reasons = format!("{}; review:{review_id}", row.reasons);
        }
        self.audit.append_in(&mut tx, &[row]).await?;
        tx.commit().await?;

        if let Some(i) = &incident {
            tracing::warn!(target: "security", incident_id = %i.incident_id, grant_id = %grant_id,
                "break-glass access reviewed as unjustified: incident opened, notify Roskomnadzor within 24 h");
        }
        Ok(ReviewResponse {
            review_id: parse_uuid(&review_id, "review_id")?,
            grant_id: parse_uuid(&grant_id, "grant_id")?,
            decision: req.decision,
            state: match req.decision {
                ReviewDecision::Justified => ReviewState::Justified,
                ReviewDecision::NeedsInfo => ReviewState::NeedsInfo,
                ReviewDecision::Unjustified => ReviewState::Unjustified,
            },
            reviewed_at: now,
            incident: incident
                .map(|i| {
                    Ok::<_, StoreError>(IncidentOpened {
                        incident_id: parse_uuid(&i.incident_id, "incident_id")?,
                        detected_at: i.detected_at,
                        notify_roskomnadzor_by: i.notify_by,
                        results_by: i.results_by,
                    })
                })
                .transpose()?,
        })
    }
}
