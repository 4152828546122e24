//! The security officer's reads of the audit, and the break-glass reviews and incidents they
//! write. Reviews, incidents, their evidence and milestones are append-only (migration 0005);
//! the only update here ends a grant that a review found unjustified.

use sea_query::{Expr, ExprTrait, Iden, LikeExpr, Order, Query, SelectStatement};

use super::{Database, StoreError, Transaction};
use crate::ids::PatientId;

use super::audit::{AuditCheckpoints, AuditEvents};

#[derive(Iden)]
enum PatientTokens {
    Table,
    Token,
    PatientId,
}

#[derive(Iden)]
enum BreakGlassGrants {
    Table,
    GrantId,
    StaffId,
    PatientId,
    ReasonCode,
    JustificationEnvelope,
    StartedAt,
    ExpiresAt,
    EndedAt,
}

#[derive(Iden)]
enum BreakGlassReviews {
    Table,
    ReviewId,
    GrantId,
    ReviewNo,
    ReviewerStaffId,
    Decision,
    CommentEnvelope,
    ReviewedAt,
}

#[derive(Iden)]
enum Incidents {
    Table,
    IncidentId,
    GrantId,
    ReviewId,
    StaffId,
    PatientToken,
    DetectedAt,
    NotifyBy,
    ResultsBy,
    EvidenceFrom,
    EvidenceUntil,
}

#[derive(Iden)]
enum IncidentEvidence {
    Table,
    IncidentId,
    Seq,
    EntryHash,
}

#[derive(Iden)]
enum IncidentMilestones {
    Table,
    IncidentId,
    Milestone,
    At,
    RecordedBy,
    RecordedAt,
}

/// Audit filters; every one optional, combined with AND. Holds tokens: no `Debug`.
#[derive(Clone, Default)]
pub struct AuditFilter {
    /// Inclusive.
    pub from: Option<i64>,
    /// Exclusive.
    pub until: Option<i64>,
    pub principal: Option<String>,
    /// Events naming any of these tokens; `Some(empty)` matches nothing.
    pub patient_tokens: Option<Vec<String>>,
    pub action: Option<String>,
    pub decision: Option<String>,
    pub purpose: Option<String>,
    pub branch: Option<String>,
}

/// A LIKE pattern that finds `token` anywhere in a token list, LIKE's wildcards escaped.
fn in_list(token: &str) -> LikeExpr {
    let escaped = token
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    LikeExpr::new(format!("%{escaped}%")).escape('\\')
}

impl AuditFilter {
    fn apply(&self, q: &mut SelectStatement) {
        if let Some(from) = self.from {
            q.and_where(Expr::col(AuditEvents::At).gte(from));
        }
        if let Some(until) = self.until {
            q.and_where(Expr::col(AuditEvents::At).lt(until));
        }
        if let Some(p) = &self.principal {
            q.and_where(Expr::col(AuditEvents::Principal).eq(p.as_str()));
        }
        if let Some(tokens) = &self.patient_tokens {
            if tokens.is_empty() {
                q.and_where(Expr::cust("1 = 0"));
            } else {
                // An event about one patient names it in `patient_token`; an event about many
                // lists them in `patient_tokens`. Tokens are fixed-length, so a whole token
                // found in a list is that token (`_` is escaped: it is a LIKE wildcard).
                let mut any =
                    Expr::col(AuditEvents::PatientToken).is_in(tokens.iter().map(String::as_str));
                for t in tokens {
                    any = any.or(Expr::col(AuditEvents::PatientTokens).like(in_list(t)));
                }
                q.and_where(any);
            }
        }
        if let Some(a) = &self.action {
            q.and_where(Expr::col(AuditEvents::Action).eq(a.as_str()));
        }
        if let Some(d) = &self.decision {
            q.and_where(Expr::col(AuditEvents::Decision).eq(d.as_str()));
        }
        if let Some(p) = &self.purpose {
            q.and_where(Expr::col(AuditEvents::Purpose).eq(p.as_str()));
        }
        if let Some(b) = &self.branch {
            q.and_where(Expr::col(AuditEvents::Branch).eq(b.as_str()));
        }
    }
}

/// A page: after `after_seq` in the order given, at most `limit` events.
#[derive(Clone, Copy, Debug)]
pub struct Page {
    pub after_seq: Option<i64>,
    pub limit: u64,
    pub newest_first: bool,
}

/// One stored audit event.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct EventRow {
    pub seq: i64,
    pub at: i64,
    pub request_id: String,
    pub principal: String,
    pub role: String,
    pub branch: Option<String>,
    pub action: String,
    pub patient_token: Option<String>,
    pub patient_tokens: Option<String>,
    pub purpose: Option<String>,
    pub reason_code: Option<String>,
    pub decision: String,
    pub reasons: String,
    pub client_addr: Option<String>,
    pub entry_hash: Option<Vec<u8>>,
}

/// Audit events matching `filter`, one page.
pub async fn search_events(
    db: &Database,
    filter: &AuditFilter,
    page: Page,
) -> Result<Vec<EventRow>, StoreError> {
    let mut q = Query::select();
    q.columns([
        AuditEvents::Seq,
        AuditEvents::At,
        AuditEvents::RequestId,
        AuditEvents::Principal,
        AuditEvents::Role,
        AuditEvents::Branch,
        AuditEvents::Action,
        AuditEvents::PatientToken,
        AuditEvents::PatientTokens,
        AuditEvents::Purpose,
        AuditEvents::ReasonCode,
        AuditEvents::Decision,
        AuditEvents::Reasons,
        AuditEvents::ClientAddr,
        AuditEvents::EntryHash,
    ])
    .from(AuditEvents::Table);
    filter.apply(&mut q);
    if let Some(after) = page.after_seq {
        q.and_where(if page.newest_first {
            Expr::col(AuditEvents::Seq).lt(after)
        } else {
            Expr::col(AuditEvents::Seq).gt(after)
        });
    }
    q.order_by(
        AuditEvents::Seq,
        if page.newest_first {
            Order::Desc
        } else {
            Order::Asc
        },
    )
    .limit(page.limit);
    db.fetch_all(&q).await
}

/// Events per UTC day (days since the epoch), oldest day first.
pub async fn count_per_day(
    db: &Database,
    filter: &AuditFilter,
) -> Result<Vec<(i64, i64)>, StoreError> {
    #[derive(sqlx::FromRow)]
    struct Row {
        day: i64,
        n: i64,
    }
    // A literal divisor, so that SELECT and GROUP BY are the same expression on PostgreSQL.
    let day = || Expr::cust("(\"at\" / 86400)");
    let mut q = Query::select();
    q.expr_as(day(), "day")
        .expr_as(Expr::col(AuditEvents::Seq).count(), "n")
        .from(AuditEvents::Table);
    filter.apply(&mut q);
    q.add_group_by([day()]).order_by_expr(day(), Order::Asc);
    Ok(db
        .fetch_all::<Row, _>(&q)
        .await?
        .into_iter()
        .map(|r| (r.day, r.n))
        .collect())
}

/// Events per principal and role, most first.
pub async fn count_per_principal(
    db: &Database,
    filter: &AuditFilter,
) -> Result<Vec<(String, String, i64)>, StoreError> {
    #[derive(sqlx::FromRow)]
    struct Row {
        principal: String,
        role: String,
        n: i64,
    }
    let mut q = Query::select();
    q.columns([AuditEvents::Principal, AuditEvents::Role])
        .expr_as(Expr::col(AuditEvents::Seq).count(), "n")
        .from(AuditEvents::Table);
    filter.apply(&mut q);
    q.group_by_columns([AuditEvents::Principal, AuditEvents::Role])
        .order_by_expr(Expr::col(AuditEvents::Seq).count(), Order::Desc)
        .order_by(AuditEvents::Principal, Order::Asc);
    Ok(db
        .fetch_all::<Row, _>(&q)
        .await?
        .into_iter()
        .map(|r| (r.principal, r.role, r.n))
        .collect())
}

/// Every token of the patient, in every domain, unlinked ones included.
pub async fn tokens_of_patient(
    db: &Database,
    patient: PatientId,
) -> Result<Vec<String>, StoreError> {
    #[derive(sqlx::FromRow)]
    struct Row {
        token: String,
    }
    let mut tokens: Vec<String> = db
        .fetch_all::<Row, _>(
            &Query::select()
                .column(PatientTokens::Token)
                .from(PatientTokens::Table)
                .and_where(Expr::col(PatientTokens::PatientId).eq(patient.to_string()))
                .to_owned(),
        )
        .await?
        .into_iter()
        .map(|r| r.token)
        .collect();
    // Tokens of domains the patient left still name their past accesses.
    tokens.extend(super::rights::unlinked_tokens_of(db, patient).await?);
    Ok(tokens)
}

/// A break-glass grant as the review queue sees it.
#[derive(Clone, sqlx::FromRow)]
pub struct GrantRow {
    pub grant_id: String,
    pub staff_id: String,
    pub patient_id: String,
    pub reason_code: String,
    pub justification_envelope: Vec<u8>,
    pub started_at: i64,
    pub expires_at: i64,
    pub ended_at: Option<i64>,
}

impl GrantRow {
    pub fn patient(&self) -> Result<PatientId, StoreError> {
        super::parse_id(&self.patient_id, "patient_id")
    }

    /// When the grant stopped (or stops) giving access: ended early, or expired.
    pub fn closed_at(&self) -> i64 {
        self.ended_at
            .map_or(self.expires_at, |e| std::cmp::min(e, self.expires_at))
    }
}

fn grant_columns() -> SelectStatement {
    Query::select()
        .columns([
            (BreakGlassGrants::Table, BreakGlassGrants::GrantId),
            (BreakGlassGrants::Table, BreakGlassGrants::StaffId),
            (BreakGlassGrants::Table, BreakGlassGrants::PatientId),
            (BreakGlassGrants::Table, BreakGlassGrants::ReasonCode),
            (
                BreakGlassGrants::Table,
                BreakGlassGrants::JustificationEnvelope,
            ),
            (BreakGlassGrants::Table, BreakGlassGrants::StartedAt),
            (BreakGlassGrants::Table, BreakGlassGrants::ExpiresAt),
            (BreakGlassGrants::Table, BreakGlassGrants::EndedAt),
        ])
        .from(BreakGlassGrants::Table)
        .to_owned()
}

/// Reviews of the grant in the outer query, optionally only those with `decisions`.
fn reviews_of_outer(decisions: &[&str]) -> SelectStatement {
    let mut q = Query::select();
    q.expr(Expr::cust("1"))
        .from(BreakGlassReviews::Table)
        .and_where(
            Expr::col((BreakGlassReviews::Table, BreakGlassReviews::GrantId))
                .equals((BreakGlassGrants::Table, BreakGlassGrants::GrantId)),
        );
    if !decisions.is_empty() {
        q.and_where(
            Expr::col((BreakGlassReviews::Table, BreakGlassReviews::Decision))
                .is_in(decisions.iter().copied()),
        );
    }
    q
}

/// Review states as the queue filters them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueueState {
    Pending,
    NeedsInfo,
    Justified,
    Unjustified,
}

/// Grants in a review state (all without one), oldest first.
pub async fn grants(
    db: &Database,
    state: Option<QueueState>,
    limit: u64,
) -> Result<Vec<GrantRow>, StoreError> {
    let mut q = grant_columns();
    match state {
        None => {}
        Some(QueueState::Pending) => {
            q.and_where(Expr::exists(reviews_of_outer(&[])).not());
        }
        Some(QueueState::NeedsInfo) => {
            q.and_where(Expr::exists(reviews_of_outer(&["needs_info"])))
                .and_where(Expr::exists(reviews_of_outer(&["justified", "unjustified"])).not());
        }
        Some(QueueState::Justified) => {
            q.and_where(Expr::exists(reviews_of_outer(&["justified"])));
        }
        Some(QueueState::Unjustified) => {
            q.and_where(Expr::exists(reviews_of_outer(&["unjustified"])));
        }
    }
    q.order_by(
        (BreakGlassGrants::Table, BreakGlassGrants::StartedAt),
        Order::Asc,
    )
    .order_by(
        (BreakGlassGrants::Table, BreakGlassGrants::GrantId),
        Order::Asc,
    )
    .limit(limit);
    db.fetch_all(&q).await
}

pub async fn grant(tx: &mut Transaction, grant_id: &str) -> Result<Option<GrantRow>, StoreError> {
    tx.fetch_optional(
        &grant_columns()
            .and_where(Expr::col((BreakGlassGrants::Table, BreakGlassGrants::GrantId)).eq(grant_id))
            .to_owned(),
    )
    .await
}

pub async fn grant_outside(db: &Database, grant_id: &str) -> Result<Option<GrantRow>, StoreError> {
    db.fetch_optional(
        &grant_columns()
            .and_where(Expr::col((BreakGlassGrants::Table, BreakGlassGrants::GrantId)).eq(grant_id))
            .to_owned(),
    )
    .await
}

/// Ends a grant that is still live at `now` (an unjustified review revokes it).
pub async fn revoke_grant(
    tx: &mut Transaction,
    grant_id: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let n = tx
        .execute(
            &Query::update()
                .table(BreakGlassGrants::Table)
                .value(BreakGlassGrants::EndedAt, now)
                .and_where(Expr::col(BreakGlassGrants::GrantId).eq(grant_id))
                .and_where(Expr::col(BreakGlassGrants::EndedAt).is_null())
                .and_where(Expr::col(BreakGlassGrants::ExpiresAt).gt(now))
                .to_owned(),
        )
        .await?;
    Ok(n == 1)
}

/// The audit actions that read a patient's data.
const READ_ACTIONS: [&str; 4] = ["list_records", "read_record", "read_attachment", "resolve"];

/// Sequence numbers of the permitted reads the holder did under the grant, oldest first. The
/// reads carry `grant:<id>` in their reasons (see `domain::records`).
pub async fn grant_reads(db: &Database, g: &GrantRow) -> Result<Vec<i64>, StoreError> {
    #[derive(sqlx::FromRow)]
    struct Row {
        seq: i64,
    }
    Ok(db
        .fetch_all::<Row, _>(
            &Query::select()
                .column(AuditEvents::Seq)
                .from(AuditEvents::Table)
                .and_where(Expr::col(AuditEvents::Principal).eq(g.staff_id.as_str()))
                .and_where(Expr::col(AuditEvents::At).gte(g.started_at))
                .and_where(Expr::col(AuditEvents::At).lte(g.expires_at))
                .and_where(Expr::col(AuditEvents::Action).is_in(READ_ACTIONS))
                .and_where(Expr::col(AuditEvents::Decision).eq("permit"))
                .and_where(Expr::col(AuditEvents::Reasons).like(format!("%grant:{}%", g.grant_id)))
                .order_by(AuditEvents::Seq, Order::Asc)
                .to_owned(),
        )
        .await?
        .into_iter()
        .map(|r| r.seq)
        .collect())
}

/// The holder's audit events about the patient from the grant's start event until `until`,
/// and any event naming the grant: what an incident keeps as evidence. Events of the same
/// second before the start (the search that found the patient) are not part of it.
pub async fn grant_evidence(
    tx: &mut Transaction,
    g: &GrantRow,
    token: &str,
    until: i64,
) -> Result<Vec<(i64, Option<Vec<u8>>)>, StoreError> {
    #[derive(sqlx::FromRow)]
    struct Row {
        seq: i64,
        entry_hash: Option<Vec<u8>>,
    }
    #[derive(sqlx::FromRow)]
    struct First {
        first: Option<i64>,
    }
    let naming_grant = || Expr::col(AuditEvents::Reasons).like(format!("%grant:{}%", g.grant_id));
    let first = tx
        .fetch_optional::<First, _>(
            &Query::select()
                .expr_as(Expr::col(AuditEvents::Seq).min(), "first")
                .from(AuditEvents::Table)
                .and_where(Expr::col(AuditEvents::Principal).eq(g.staff_id.as_str()))
                .and_where(Expr::col(AuditEvents::At).gte(g.started_at))
                .and_where(Expr::col(AuditEvents::Action).eq("start_break_glass"))
                .and_where(naming_grant())
                .to_owned(),
        )
        .await?
        .and_then(|f| f.first)
        .unwrap_or(0);
    Ok(tx
        .fetch_all::<Row, _>(
            &Query::select()
                .columns([AuditEvents::Seq, AuditEvents::EntryHash])
                .from(AuditEvents::Table)
                .and_where(Expr::col(AuditEvents::Principal).eq(g.staff_id.as_str()))
                .and_where(Expr::col(AuditEvents::Seq).gte(first))
                .and_where(Expr::col(AuditEvents::At).gte(g.started_at))
                .and_where(Expr::col(AuditEvents::At).lte(until))
                .and_where(
                    Expr::col(AuditEvents::PatientToken)
                        .eq(token)
                        .or(naming_grant()),
                )
                .order_by(AuditEvents::Seq, Order::Asc)
                .to_owned(),
        )
        .await?
        .into_iter()
        .map(|r| (r.seq, r.entry_hash))
        .collect())
}

#[derive(Clone, sqlx::FromRow)]
pub struct ReviewRow {
    pub review_id: String,
    pub grant_id: String,
    pub review_no: i64,
    pub reviewer_staff_id: String,
    pub decision: String,
    pub comment_envelope: Vec<u8>,
    pub reviewed_at: i64,
}

fn review_columns() -> SelectStatement {
    Query::select()
        .columns([
            BreakGlassReviews::ReviewId,
            BreakGlassReviews::GrantId,
            BreakGlassReviews::ReviewNo,
            BreakGlassReviews::ReviewerStaffId,
            BreakGlassReviews::Decision,
            BreakGlassReviews::CommentEnvelope,
            BreakGlassReviews::ReviewedAt,
        ])
        .from(BreakGlassReviews::Table)
        .order_by(BreakGlassReviews::GrantId, Order::Asc)
        .order_by(BreakGlassReviews::ReviewNo, Order::Asc)
        .to_owned()
}

/// Reviews of these grants, in order per grant.
pub async fn reviews_of(db: &Database, grant_ids: &[String]) -> Result<Vec<ReviewRow>, StoreError> {
    if grant_ids.is_empty() {
        return Ok(Vec::new());
    }
    db.fetch_all(
        &review_columns()
            .and_where(
                Expr::col(BreakGlassReviews::GrantId).is_in(grant_ids.iter().map(String::as_str)),
            )
            .to_owned(),
    )
    .await
}

pub async fn reviews_of_grant(
    tx: &mut Transaction,
    grant_id: &str,
) -> Result<Vec<ReviewRow>, StoreError> {
    tx.fetch_all(
        &review_columns()
            .and_where(Expr::col(BreakGlassReviews::GrantId).eq(grant_id))
            .to_owned(),
    )
    .await
}

/// Adds a review. A second review with the same number, or a second final one, is
/// [`StoreError::Conflict`].
pub async fn insert_review(tx: &mut Transaction, r: &ReviewRow) -> Result<(), StoreError> {
    tx.execute(
        &Query::insert()
            .into_table(BreakGlassReviews::Table)
            .columns([
                BreakGlassReviews::ReviewId,
                BreakGlassReviews::GrantId,
                BreakGlassReviews::ReviewNo,
                BreakGlassReviews::ReviewerStaffId,
                BreakGlassReviews::Decision,
                BreakGlassReviews::CommentEnvelope,
                BreakGlassReviews::ReviewedAt,
            ])
            .values_panic([
                r.review_id.clone().into(),
                r.grant_id.clone().into(),
                r.review_no.into(),
                r.reviewer_staff_id.clone().into(),
                r.decision.clone().into(),
                r.comment_envelope.clone().into(),
                r.reviewed_at.into(),
            ])
            .to_owned(),
    )
    .await?;
    Ok(())
}

#[derive(Clone, sqlx::FromRow)]
pub struct IncidentRow {
    pub incident_id: String,
    pub grant_id: String,
    pub review_id: String,
    pub staff_id: String,
    pub patient_token: String,
    pub detected_at: i64,
    pub notify_by: i64,
    pub results_by: i64,
    pub evidence_from: i64,
    pub evidence_until: i64,
}

pub async fn insert_incident(
    tx: &mut Transaction,
    i: &IncidentRow,
    evidence: &[(i64, Option<Vec<u8>>)],
) -> Result<(), StoreError> {
    tx.execute(
        &Query::insert()
            .into_table(Incidents::Table)
            .columns([
                Incidents::IncidentId,
                Incidents::GrantId,
                Incidents::ReviewId,
                Incidents::StaffId,
                Incidents::PatientToken,
                Incidents::DetectedAt,
                Incidents::NotifyBy,
                Incidents::ResultsBy,
                Incidents::EvidenceFrom,
                Incidents::EvidenceUntil,
            ])
            .values_panic([
                i.incident_id.clone().into(),
                i.grant_id.clone().into(),
                i.review_id.clone().into(),
                i.staff_id.clone().into(),
                i.patient_token.clone().into(),
                i.detected_at.into(),
                i.notify_by.into(),
                i.results_by.into(),
                i.evidence_from.into(),
                i.evidence_until.into(),
            ])
            .to_owned(),
    )
    .await?;
    // Bounded batches keep each statement under the backends' bind-parameter limits.
    for chunk in evidence.chunks(500) {
        let mut q = Query::insert();
        q.into_table(IncidentEvidence::Table).columns([
            IncidentEvidence::IncidentId,
            IncidentEvidence::Seq,
            IncidentEvidence::EntryHash,
        ]);
        for (seq, hash) in chunk {
            q.values_panic([
                i.incident_id.clone().into(),
                (*seq).into(),
                hash.clone().into(),
            ]);
        }
        tx.execute(&q).await?;
    }
    Ok(())
}

fn incident_columns() -> SelectStatement {
    Query::select()
        .columns([
            Incidents::IncidentId,
            Incidents::GrantId,
            Incidents::ReviewId,
            Incidents::StaffId,
            Incidents::PatientToken,
            Incidents::DetectedAt,
            Incidents::NotifyBy,
            Incidents::ResultsBy,
            Incidents::EvidenceFrom,
            Incidents::EvidenceUntil,
        ])
        .from(Incidents::Table)
        .to_owned()
}

/// Every incident, newest first.
pub async fn incidents(db: &Database) -> Result<Vec<IncidentRow>, StoreError> {
    db.fetch_all(
        &incident_columns()
            .order_by(Incidents::DetectedAt, Order::Desc)
            .order_by(Incidents::IncidentId, Order::Asc)
            .to_owned(),
    )
    .await
}

pub async fn incident(
    tx: &mut Transaction,
    incident_id: &str,
) -> Result<Option<IncidentRow>, StoreError> {
    tx.fetch_optional(
        &incident_columns()
            .and_where(Expr::col(Incidents::IncidentId).eq(incident_id))
            .to_owned(),
    )
    .await
}

/// Incident ids of these grants.
pub async fn incidents_of_grants(
    db: &Database,
    grant_ids: &[String],
) -> Result<Vec<(String, String)>, StoreError> {
    #[derive(sqlx::FromRow)]
    struct Row {
        grant_id: String,
        incident_id: String,
    }
    if grant_ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(db
        .fetch_all::<Row, _>(
            &Query::select()
                .columns([Incidents::GrantId, Incidents::IncidentId])
                .from(Incidents::Table)
                .and_where(
                    Expr::col(Incidents::GrantId).is_in(grant_ids.iter().map(String::as_str)),
                )
                .to_owned(),
        )
        .await?
        .into_iter()
        .map(|r| (r.grant_id, r.incident_id))
        .collect())
}

/// Evidence of these incidents: (incident id, seq, hash), by incident and seq.
pub async fn evidence_of(
    db: &Database,
    incident_ids: &[String],
) -> Result<Vec<(String, i64, Option<Vec<u8>>)>, StoreError> {
    #[derive(sqlx::FromRow)]
    struct Row {
        incident_id: String,
        seq: i64,
        entry_hash: Option<Vec<u8>>,
    }
    if incident_ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(db
        .fetch_all::<Row, _>(
            &Query::select()
                .columns([
                    IncidentEvidence::IncidentId,
                    IncidentEvidence::Seq,
                    IncidentEvidence::EntryHash,
                ])
                .from(IncidentEvidence::Table)
                .and_where(
                    Expr::col(IncidentEvidence::IncidentId)
                        .is_in(incident_ids.iter().map(String::as_str)),
                )
                .order_by(IncidentEvidence::IncidentId, Order::Asc)
                .order_by(IncidentEvidence::Seq, Order::Asc)
                .to_owned(),
        )
        .await?
        .into_iter()
        .map(|r| (r.incident_id, r.seq, r.entry_hash))
        .collect())
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct MilestoneRow {
    pub incident_id: String,
    pub milestone: String,
    pub at: i64,
    pub recorded_by: String,
    pub recorded_at: i64,
}

fn milestone_columns() -> SelectStatement {
    Query::select()
        .columns([
            IncidentMilestones::IncidentId,
            IncidentMilestones::Milestone,
            IncidentMilestones::At,
            IncidentMilestones::RecordedBy,
            IncidentMilestones::RecordedAt,
        ])
        .from(IncidentMilestones::Table)
        .to_owned()
}

pub async fn milestones_of(
    db: &Database,
    incident_ids: &[String],
) -> Result<Vec<MilestoneRow>, StoreError> {
    if incident_ids.is_empty() {
        return Ok(Vec::new());
    }
    db.fetch_all(
        &milestone_columns()
            .and_where(
                Expr::col(IncidentMilestones::IncidentId)
                    .is_in(incident_ids.iter().map(String::as_str)),
            )
            .to_owned(),
    )
    .await
}

pub async fn milestones_of_incident(
    tx: &mut Transaction,
    incident_id: &str,
) -> Result<Vec<MilestoneRow>, StoreError> {
    tx.fetch_all(
        &milestone_columns()
            .and_where(Expr::col(IncidentMilestones::IncidentId).eq(incident_id))
            .to_owned(),
    )
    .await
}

/// Records a milestone; a second one of the same kind is [`StoreError::Conflict`].
pub async fn insert_milestone(tx: &mut Transaction, m: &MilestoneRow) -> Result<(), StoreError> {
    tx.execute(
        &Query::insert()
            .into_table(IncidentMilestones::Table)
            .columns([
                IncidentMilestones::IncidentId,
                IncidentMilestones::Milestone,
                IncidentMilestones::At,
                IncidentMilestones::RecordedBy,
                IncidentMilestones::RecordedAt,
            ])
            .values_panic([
                m.incident_id.clone().into(),
                m.milestone.clone().into(),
                m.at.into(),
                m.recorded_by.clone().into(),
                m.recorded_at.into(),
            ])
            .to_owned(),
    )
    .await?;
    Ok(())
}

/// A signed chain head.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct CheckpointRow {
    pub seq: i64,
    pub head_hash: Vec<u8>,
    pub mac: Vec<u8>,
    pub created_at: i64,
}

/// The newest checkpoint, if any.
pub async fn latest_checkpoint(db: &Database) -> Result<Option<CheckpointRow>, StoreError> {
    db.fetch_optional(
        &Query::select()
            .columns([
                AuditCheckpoints::Seq,
                AuditCheckpoints::HeadHash,
                AuditCheckpoints::Mac,
                AuditCheckpoints::CreatedAt,
            ])
            .from(AuditCheckpoints::Table)
            .order_by(AuditCheckpoints::Seq, Order::Desc)
            .limit(1)
            .to_owned(),
    )
    .await
}
