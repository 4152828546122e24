//! Incidents opened by unjustified reviews: their deadlines, evidence and milestones.

use std::collections::HashMap;

use policy::Action;
use uuid::Uuid;
use vault_wire::{
    EvidenceCheckpoint, EvidenceEvent, Incident, IncidentEvidence, IncidentStatus, IncidentsQuery,
    ListIncidentsResponse,
};

use super::{Milestone, Oversight, OversightError, parse_uuid, stored_token};
use crate::domain::audit::Outcome;
use crate::domain::principal::{Principal, RequestMeta};
use crate::store::StoreError;
use crate::store::oversight::{self as ov, IncidentRow, MilestoneRow};

impl Oversight {
    /// Builds the views of these incidents: milestones, evidence, the covering checkpoint.
    async fn incident_views(
        &self,
        rows: Vec<IncidentRow>,
    ) -> Result<Vec<Incident>, OversightError> {
        let db = self.sealed.db();
        let ids: Vec<String> = rows.iter().map(|i| i.incident_id.clone()).collect();
        let mut milestones: HashMap<(String, String), i64> = HashMap::new();
        for m in ov::milestones_of(db, &ids).await? {
            milestones.insert((m.incident_id, m.milestone), m.at);
        }
        let mut evidence: HashMap<String, Vec<EvidenceEvent>> = HashMap::new();
        for (id, seq, hash) in ov::evidence_of(db, &ids).await? {
            evidence.entry(id).or_default().push(EvidenceEvent {
                seq,
                entry_hash: hash.map(hex::encode),
            });
        }
        let checkpoint = ov::latest_checkpoint(db).await?;
        let now = self.clock.unix_seconds();
        let mut out = Vec::with_capacity(rows.len());
        for i in rows {
            let notified_at = milestones
                .get(&(
                    i.incident_id.clone(),
                    Milestone::Notified.as_str().to_owned(),
                ))
                .copied();
            let results_sent_at = milestones
                .get(&(
                    i.incident_id.clone(),
                    Milestone::Results.as_str().to_owned(),
                ))
                .copied();
            let events = evidence.remove(&i.incident_id).unwrap_or_default();
            let last = events.last().map_or(0, |e| e.seq);
            out.push(Incident {
                incident_id: parse_uuid(&i.incident_id, "incident_id")?,
                grant_id: parse_uuid(&i.grant_id, "grant_id")?,
                review_id: parse_uuid(&i.review_id, "review_id")?,
                doctor_staff_id: i.staff_id,
                patient_token: stored_token(&i.patient_token)?,
                detected_at: i.detected_at,
                notify_roskomnadzor_by: i.notify_by,
                results_by: i.results_by,
                notified_at,
                results_sent_at,
                status: match (notified_at, results_sent_at) {
                    (_, Some(_)) => IncidentStatus::Closed,
                    (Some(_), None) => IncidentStatus::Notified,
                    (None, None) => IncidentStatus::Open,
                },
                overdue_24h: notified_at.is_none() && now > i.notify_by,
                overdue_72h: results_sent_at.is_none() && now > i.results_by,
                evidence: IncidentEvidence {
                    from: i.evidence_from,
                    until: i.evidence_until,
                    checkpoint: checkpoint.as_ref().filter(|c| c.seq >= last).map(|c| {
                        EvidenceCheckpoint {
                            seq: c.seq,
                            head_hash: hex::encode(&c.head_hash),
                            mac: hex::encode(&c.mac),
                            created_at: c.created_at,
                        }
                    }),
                    events,
                },
            });
        }
        Ok(out)
    }

    /// `GET /v1/incidents`: newest first, optionally in one status, with deadline flags by the
    /// vault's clock.
    pub async fn list_incidents(
        &self,
        principal: &Principal,
        meta: &RequestMeta,
        q: &IncidentsQuery,
    ) -> Result<ListIncidentsResponse, OversightError> {
        let row = self
            .decide(
                principal,
                meta,
                Action::ReadAudit,
                "list_incidents",
                None,
                &[],
            )
            .await?;
        self.audit.record(vec![row]).await?;
        let rows = ov::incidents(self.sealed.db()).await?;
        let mut incidents = self.incident_views(rows).await?;
        if let Some(status) = q.status {
            incidents.retain(|i| i.status == status);
        }
        Ok(ListIncidentsResponse { incidents })
    }

    /// Records when Roskomnadzor was notified, or when the results were sent (after the
    /// notification). Each is recorded once; `at` defaults to now.
    pub async fn record_milestone(
        &self,
        principal: &Principal,
        meta: &RequestMeta,
        incident_id: Uuid,
        milestone: Milestone,
        at: Option<i64>,
    ) -> Result<Incident, OversightError> {
        let incident_id = incident_id.to_string();
        let row = self
            .decide(
                principal,
                meta,
                Action::ReviewBreakGlass,
                "record_incident_milestone",
                None,
                &[
                    format!("incident:{incident_id}"),
                    format!("milestone:{}", milestone.as_str()),
                ],
            )
            .await?;
        let now = self.clock.unix_seconds();
        let at = at.unwrap_or(now);
        let db = self.sealed.db();
        let mut tx = db.begin().await?;
        let Some(incident) = ov::incident(&mut tx, &incident_id).await? else {
            drop(tx);
            return Err(self
                .refuse(
                    row,
                    Outcome::Failure,
                    "unknown_incident",
                    OversightError::UnknownIncident,
                )
                .await);
        };
        if at > now || at < incident.detected_at {
            return Err(OversightError::InvalidTime);
        }
        let done = ov::milestones_of_incident(&mut tx, &incident_id).await?;
        let refusal = if done.iter().any(|m| m.milestone == milestone.as_str()) {
            Some(("already_recorded", OversightError::AlreadyRecorded))
        } else if milestone == Milestone::Results
            && !done
                .iter()
                .any(|m| m.milestone == Milestone::Notified.as_str())
        {
            Some(("not_notified", OversightError::NotNotified))
        } else {
            None
        };
        if let Some((reason, err)) = refusal {
            drop(tx);
            return Err(self.refuse(row, Outcome::Failure, reason, err).await);
        }
        ov::insert_milestone(
            &mut tx,
            &MilestoneRow {
                incident_id: incident_id.clone(),
                milestone: milestone.as_str().to_owned(),
                at,
                recorded_by: principal.audit_name(),
                recorded_at: now,
            },
        )
        .await?;
        self.audit.append_in(&mut tx, &[row]).await?;
        tx.commit().await?;
        self.incident_views(vec![incident])
            .await?
            .pop()
            .ok_or_else(|| StoreError::Corrupt("incident vanished".into()).into())
    }
}
