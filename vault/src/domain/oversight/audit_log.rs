//! Reading the audit: search, counts and a patient's access report.

use policy::{Action, Role};
use vault_wire::{
    AccessReportEntry, AccessReportQuery, AccessReportResponse, AuditCountsResponse, AuditEvent,
    AuditOrder, AuditQuery, AuditSearchResponse, DayCount, PrincipalCount,
};

use super::{Oversight, OversightError, filter_of, keys_reason, next_after, utc_date};
use crate::domain::audit::Outcome;
use crate::domain::patients::PatientError;
use crate::domain::principal::{Principal, RequestMeta};
use crate::store::oversight::{self as ov, AuditFilter, Page};

impl Oversight {
    /// `GET /v1/audit/events`: one page of events; the search itself is audited first, naming
    /// the filters used but not their values.
    pub async fn search(
        &self,
        principal: &Principal,
        meta: &RequestMeta,
        q: &AuditQuery,
    ) -> Result<AuditSearchResponse, OversightError> {
        let row = self
            .decide(
                principal,
                meta,
                Action::ReadAudit,
                "search_audit",
                None,
                &[keys_reason(&q.keys_used())],
            )
            .await?;
        self.audit.record(vec![row]).await?;
        let page = Page {
            after_seq: q.after_seq,
            limit: u64::from(q.page_size()),
            newest_first: q.order.unwrap_or_default() == AuditOrder::Newest,
        };
        let rows = ov::search_events(self.sealed.db(), &filter_of(q), page).await?;
        let seqs: Vec<i64> = rows.iter().map(|r| r.seq).collect();
        Ok(AuditSearchResponse {
            next_after_seq: next_after(&seqs, page.limit),
            events: rows
                .into_iter()
                .map(|r| AuditEvent {
                    seq: r.seq,
                    at: r.at,
                    principal: r.principal,
                    role: r.role,
                    branch: r.branch,
                    action: r.action,
                    patient_token: r.patient_token,
                    patient_tokens: r
                        .patient_tokens
                        .map(|l| l.split(' ').map(str::to_owned).collect())
                        .unwrap_or_default(),
                    purpose: r.purpose,
                    reason_code: r.reason_code,
                    decision: r.decision,
                    reasons: r.reasons,
                    request_id: r.request_id,
                    client_addr: r.client_addr,
                    entry_hash: r.entry_hash.map(hex::encode),
                })
                .collect(),
        })
    }

    /// `GET /v1/audit/counts`: matching events per UTC day and per principal; audited like a
    /// search.
    pub async fn counts(
        &self,
        principal: &Principal,
        meta: &RequestMeta,
        q: &AuditQuery,
    ) -> Result<AuditCountsResponse, OversightError> {
        if q.has_paging() {
            return Err(OversightError::PagingNotAllowed);
        }
        let row = self
            .decide(
                principal,
                meta,
                Action::ReadAudit,
                "search_audit",
                None,
                &["view:counts".to_owned(), keys_reason(&q.keys_used())],
            )
            .await?;
        self.audit.record(vec![row]).await?;
        let filter = filter_of(q);
        let db = self.sealed.db();
        let per_day: Vec<DayCount> = ov::count_per_day(db, &filter)
            .await?
            .into_iter()
            .map(|(day, count)| DayCount {
                date: utc_date(day),
                count,
            })
            .collect();
        let per_principal: Vec<PrincipalCount> = ov::count_per_principal(db, &filter)
            .await?
            .into_iter()
            .map(|(principal, role, count)| PrincipalCount {
                principal,
                role,
                count,
            })
            .collect();
        Ok(AuditCountsResponse {
            total: per_day.iter().map(|d| d.count).sum(),
            per_day,
            per_principal,
        })
    }

    /// `GET /v1/patients/{token}/access-report`: who acted on this patient's data, through any
    /// of the patient's tokens (every domain), newest first. Only events that name one of this
    /// patient's tokens are read, so nothing about other patients can appear. Staff ids are
    /// given to the security officer only; the patient's own view (the access export in
    /// `domain/rights`) shows role, branch, action, purpose and time.
    pub async fn access_report(
        &self,
        principal: &Principal,
        meta: &RequestMeta,
        token: &str,
        q: &AccessReportQuery,
    ) -> Result<AccessReportResponse, OversightError> {
        let row = self
            .decide(
                principal,
                meta,
                Action::ReadAudit,
                "access_report",
                Some(token),
                &[keys_reason(&q.keys_used())],
            )
            .await?;
        let patient = match self.patients.patient_of(principal, token).await {
            Ok(p) => p,
            Err(PatientError::UnknownToken) => {
                return Err(self
                    .refuse(
                        row,
                        Outcome::Failure,
                        "unknown_token",
                        OversightError::UnknownToken,
                    )
                    .await);
            }
            Err(e) => return Err(e.into()),
        };
        self.audit.record(vec![row]).await?;
        let db = self.sealed.db();
        let filter = AuditFilter {
            from: q.from,
            until: q.until,
            patient_tokens: Some(ov::tokens_of_patient(db, patient).await?),
            ..AuditFilter::default()
        };
        let page = Page {
            after_seq: q.after_seq,
            limit: u64::from(q.page_size()),
            newest_first: true,
        };
        let show_staff_ids =
            matches!(principal, Principal::Staff(s) if s.role == Role::SecurityOfficer);
        let rows = ov::search_events(db, &filter, page).await?;
        let seqs: Vec<i64> = rows.iter().map(|r| r.seq).collect();
        Ok(AccessReportResponse {
            next_after_seq: next_after(&seqs, page.limit),
            entries: rows
                .into_iter()
                .map(|r| {
                    let service = r.principal.strip_prefix("service:").map(str::to_owned);
                    let staff_id =
                        (show_staff_ids && service.is_none() && r.principal != "unknown")
                            .then(|| r.principal.clone());
                    AccessReportEntry {
                        seq: r.seq,
                        at: r.at,
                        role: r.role,
                        branch: r.branch,
                        service,
                        action: r.action,
                        purpose: r.purpose,
                        reason_code: r.reason_code,
                        decision: r.decision,
                        staff_id,
                    }
                })
                .collect(),
        })
    }
}
