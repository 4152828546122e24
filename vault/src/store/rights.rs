//! Patient rights: consents, data requests, retentions, legal holds, unlinked tokens and
//! destruction acts (ADR 0016). Also the one statement list that destroys a patient's data.

use std::collections::{HashMap, HashSet};

use sea_query::{Expr, ExprTrait, Iden, Order, Query};

use super::{Database, StoreError, Transaction, parse_id};
use crate::ids::PatientId;

#[derive(Iden)]
enum Consents {
    Table,
    Seq,
    PatientId,
    Purpose,
    Granted,
    Channel,
    At,
    RecordedBy,
}

#[derive(Iden)]
enum DataRequests {
    Table,
    RequestId,
    PatientId,
    Kind,
    Channel,
    State,
    FiledBy,
    FiledAt,
    DueAt,
    ResponsibleOfficer,
    ExtensionReason,
    AnsweredAt,
    Answer,
    OverdueAlertedAt,
    RecipientKey,
}

#[derive(Iden)]
enum Patients {
    Table,
    PatientId,
    RestrictedAt,
    ShreddedAt,
}

#[derive(Iden)]
enum Retentions {
    Table,
    PatientId,
    Data,
    Basis,
    Until,
    RequestId,
}

#[derive(Iden)]
enum PatientTokens {
    Table,
    Token,
    Domain,
    PatientId,
}

#[derive(Iden)]
enum UnlinkedTokens {
    Table,
    Token,
    Domain,
    PatientId,
    UnlinkedAt,
}

#[derive(Iden)]
enum LegalHolds {
    Table,
    HoldId,
    PatientId,
    RequestId,
    Reason,
    Reference,
    PlacedBy,
    PlacedAt,
    ReleasedAt,
}

#[derive(Iden)]
enum DestructionActs {
    Table,
    ActId,
    PatientId,
    RequestId,
    Document,
    Mac,
    DestroyedAt,
    KeptUntil,
}

#[derive(Iden)]
enum Incidents {
    Table,
    IncidentId,
    GrantId,
}

#[derive(Iden)]
enum IncidentMilestones {
    Table,
    IncidentId,
    Milestone,
}

#[derive(Iden)]
enum BreakGlassGrants {
    Table,
    GrantId,
    PatientId,
}

#[derive(Iden)]
#[allow(clippy::enum_variant_names)] // the table's column is called staff_id
enum Staff {
    Table,
    StaffId,
    Role,
    DisabledAt,
}

// ---------------------------------------------------------------------------------------------
// Consents
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct ConsentRow {
    pub seq: i64,
    pub patient_id: String,
    pub purpose: String,
    pub granted: bool,
    pub channel: String,
    pub at: i64,
    pub recorded_by: String,
}

pub async fn insert_consent(
    tx: &mut Transaction,
    patient: PatientId,
    purpose: &str,
    granted: bool,
    channel: &str,
    at: i64,
    recorded_by: &str,
) -> Result<(), StoreError> {
    tx.execute(
        &Query::insert()
            .into_table(Consents::Table)
            .columns([
                Consents::PatientId,
                Consents::Purpose,
                Consents::Granted,
                Consents::Channel,
                Consents::At,
                Consents::RecordedBy,
            ])
            .values_panic([
                patient.to_string().into(),
                purpose.into(),
                granted.into(),
                channel.into(),
                at.into(),
                recorded_by.into(),
            ])
            .to_owned(),
    )
    .await?;
    Ok(())
}

/// A patient's consent history, newest first.
pub async fn consent_history(
    db: &Database,
    patient: PatientId,
) -> Result<Vec<ConsentRow>, StoreError> {
    db.fetch_all(
        &Query::select()
            .columns([
                Consents::Seq,
                Consents::PatientId,
                Consents::Purpose,
                Consents::Granted,
                Consents::Channel,
                Consents::At,
                Consents::RecordedBy,
            ])
            .from(Consents::Table)
            .and_where(Expr::col(Consents::PatientId).eq(patient.to_string()))
            .order_by(Consents::Seq, Order::Desc)
            .to_owned(),
    )
    .await
}

/// The consents in force for many patients in one query: the newest row per purpose decides.
pub async fn consents_in_force(
    db: &Database,
    patients: &[PatientId],
) -> Result<HashMap<PatientId, HashSet<String>>, StoreError> {
    if patients.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<ConsentRow> = db
        .fetch_all(
            &Query::select()
                .columns([
                    Consents::Seq,
                    Consents::PatientId,
                    Consents::Purpose,
                    Consents::Granted,
                    Consents::Channel,
                    Consents::At,
                    Consents::RecordedBy,
                ])
                .from(Consents::Table)
                .and_where(
                    Expr::col(Consents::PatientId).is_in(patients.iter().map(|p| p.to_string())),
                )
                .order_by(Consents::Seq, Order::Asc)
                .to_owned(),
        )
        .await?;
    let mut latest: HashMap<(String, String), bool> = HashMap::new();
    for r in rows {
        latest.insert((r.patient_id, r.purpose), r.granted);
    }
    let mut out: HashMap<PatientId, HashSet<String>> = HashMap::new();
    for ((patient, purpose), granted) in latest {
        let id: PatientId = parse_id(&patient, "patient_id")?;
        let held = out.entry(id).or_default();
        if granted {
            held.insert(purpose);
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Data requests
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct RequestRow {
    pub request_id: String,
    pub patient_id: String,
    pub kind: String,
    pub channel: String,
    pub state: String,
    pub filed_by: String,
    pub filed_at: i64,
    pub due_at: i64,
    pub responsible_officer: String,
    pub extension_reason: Option<String>,
    pub answered_at: Option<i64>,
    /// The deletion answer as JSON (no personal data: categories, laws and dates).
    pub answer: Option<String>,
    pub overdue_alerted_at: Option<i64>,
    /// Hex X25519 public key the access export seals record contents to.
    pub recipient_key: Option<String>,
}

fn request_columns() -> [DataRequests; 14] {
    [
        DataRequests::RequestId,
        DataRequests::PatientId,
        DataRequests::Kind,
        DataRequests::Channel,
        DataRequests::State,
        DataRequests::FiledBy,
        DataRequests::FiledAt,
        DataRequests::DueAt,
        DataRequests::ResponsibleOfficer,
        DataRequests::ExtensionReason,
        DataRequests::AnsweredAt,
        DataRequests::Answer,
        DataRequests::OverdueAlertedAt,
        DataRequests::RecipientKey,
    ]
}

/// Inserts a request; [`StoreError::Conflict`] when the patient already has a pending request
/// of that kind, or any deletion request.
pub async fn insert_request(tx: &mut Transaction, r: &RequestRow) -> Result<(), StoreError> {
    tx.execute(
        &Query::insert()
            .into_table(DataRequests::Table)
            .columns(request_columns())
            .values_panic([
                r.request_id.clone().into(),
                r.patient_id.clone().into(),
                r.kind.clone().into(),
                r.channel.clone().into(),
                r.state.clone().into(),
                r.filed_by.clone().into(),
                r.filed_at.into(),
                r.due_at.into(),
                r.responsible_officer.clone().into(),
                r.extension_reason.clone().into(),
                r.answered_at.into(),
                r.answer.clone().into(),
                r.overdue_alerted_at.into(),
                r.recipient_key.clone().into(),
            ])
            .to_owned(),
    )
    .await?;
    Ok(())
}

pub async fn request(db: &Database, request_id: &str) -> Result<Option<RequestRow>, StoreError> {
    db.fetch_optional(
        &Query::select()
            .columns(request_columns())
            .from(DataRequests::Table)
            .and_where(Expr::col(DataRequests::RequestId).eq(request_id))
            .to_owned(),
    )
    .await
}

/// Requests of one patient, or of everyone; pending ones only if asked. Oldest deadline first.
pub async fn requests(
    db: &Database,
    patient: Option<PatientId>,
    pending_only: bool,
) -> Result<Vec<RequestRow>, StoreError> {
    let mut q = Query::select();
    q.columns(request_columns())
        .from(DataRequests::Table)
        .order_by(DataRequests::DueAt, Order::Asc)
        .order_by(DataRequests::RequestId, Order::Asc);
    if let Some(p) = patient {
        q.and_where(Expr::col(DataRequests::PatientId).eq(p.to_string()));
    }
    if pending_only {
        q.and_where(Expr::col(DataRequests::State).is_in(["open", "extended"]));
    }
    db.fetch_all(&q.to_owned()).await
}

/// Moves a pending request to its final state. Returns false when it was no longer pending
/// (someone else answered first).
pub async fn finish_request(
    tx: &mut Transaction,
    request_id: &str,
    state: &str,
    answered_at: i64,
    answer: Option<&str>,
) -> Result<bool, StoreError> {
    let n = tx
        .execute(
            &Query::update()
                .table(DataRequests::Table)
                .value(DataRequests::State, state)
                .value(DataRequests::AnsweredAt, answered_at)
                .value(DataRequests::Answer, answer.map(str::to_owned))
                .and_where(Expr::col(DataRequests::RequestId).eq(request_id))
                .and_where(Expr::col(DataRequests::State).is_in(["open", "extended"]))
                .to_owned(),
        )
        .await?;
    Ok(n == 1)
}

/// Extends an open request once. Returns false when it was not open.
pub async fn extend_request(
    tx: &mut Transaction,
    request_id: &str,
    due_at: i64,
    reason: &str,
) -> Result<bool, StoreError> {
    let n = tx
        .execute(
            &Query::update()
                .table(DataRequests::Table)
                .value(DataRequests::State, "extended")
                .value(DataRequests::DueAt, due_at)
                .value(DataRequests::ExtensionReason, reason)
                .and_where(Expr::col(DataRequests::RequestId).eq(request_id))
                .and_where(Expr::col(DataRequests::State).eq("open"))
                .to_owned(),
        )
        .await?;
    Ok(n == 1)
}

/// Pending requests past their deadline that have not raised their alert yet.
pub async fn overdue_unalerted(db: &Database, now: i64) -> Result<Vec<RequestRow>, StoreError> {
    db.fetch_all(
        &Query::select()
            .columns(request_columns())
            .from(DataRequests::Table)
            .and_where(Expr::col(DataRequests::State).is_in(["open", "extended"]))
            .and_where(Expr::col(DataRequests::DueAt).lt(now))
            .and_where(Expr::col(DataRequests::OverdueAlertedAt).is_null())
            .to_owned(),
    )
    .await
}

/// Claims the overdue alert of a request; false when another run claimed it first.
pub async fn claim_overdue_alert(
    tx: &mut Transaction,
    request_id: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let n = tx
        .execute(
            &Query::update()
                .table(DataRequests::Table)
                .value(DataRequests::OverdueAlertedAt, now)
                .and_where(Expr::col(DataRequests::RequestId).eq(request_id))
                .and_where(Expr::col(DataRequests::OverdueAlertedAt).is_null())
                .to_owned(),
        )
        .await?;
    Ok(n == 1)
}

/// The staff id of the security officer who answers for requests: the first active one.
pub async fn responsible_officer(db: &Database) -> Result<Option<String>, StoreError> {
    #[derive(sqlx::FromRow)]
    struct Row {
        staff_id: String,
    }
    Ok(db
        .fetch_optional::<Row, _>(
            &Query::select()
                .column(Staff::StaffId)
                .from(Staff::Table)
                .and_where(Expr::col(Staff::Role).eq("security_officer"))
                .and_where(Expr::col(Staff::DisabledAt).is_null())
                .order_by(Staff::StaffId, Order::Asc)
                .limit(1)
                .to_owned(),
        )
        .await?
        .map(|r| r.staff_id))
}

// ---------------------------------------------------------------------------------------------
// Restriction, retention and unlinking
// ---------------------------------------------------------------------------------------------

/// Restricts the patient's processing to what the law keeps. Returns false if already done.
pub async fn restrict_patient(
    tx: &mut Transaction,
    patient: PatientId,
    now: i64,
) -> Result<bool, StoreError> {
    let n = tx
        .execute(
            &Query::update()
                .table(Patients::Table)
                .value(Patients::RestrictedAt, now)
                .and_where(Expr::col(Patients::PatientId).eq(patient.to_string()))
                .and_where(Expr::col(Patients::RestrictedAt).is_null())
                .to_owned(),
        )
        .await?;
    Ok(n == 1)
}

/// Which of these patients are restricted to legal retention.
pub async fn restricted_among(
    db: &Database,
    patients: &[PatientId],
) -> Result<HashSet<PatientId>, StoreError> {
    #[derive(sqlx::FromRow)]
    struct Row {
        patient_id: String,
    }
    if patients.is_empty() {
        return Ok(HashSet::new());
    }
    db.fetch_all::<Row, _>(
        &Query::select()
            .column(Patients::PatientId)
            .from(Patients::Table)
            .and_where(Expr::col(Patients::PatientId).is_in(patients.iter().map(|p| p.to_string())))
            .and_where(Expr::col(Patients::RestrictedAt).is_not_null())
            .to_owned(),
    )
    .await?
    .into_iter()
    .map(|r| parse_id(&r.patient_id, "patient_id"))
    .collect()
}

#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct RetentionRow {
    pub patient_id: String,
    pub data: String,
    pub basis: String,
    pub until: i64,
    pub request_id: String,
}

pub async fn insert_retention(tx: &mut Transaction, r: &RetentionRow) -> Result<(), StoreError> {
    tx.execute(
        &Query::insert()
            .into_table(Retentions::Table)
            .columns([
                Retentions::PatientId,
                Retentions::Data,
                Retentions::Basis,
                Retentions::Until,
                Retentions::RequestId,
            ])
            .values_panic([
                r.patient_id.clone().into(),
                r.data.clone().into(),
                r.basis.clone().into(),
                r.until.into(),
                r.request_id.clone().into(),
            ])
            .to_owned(),
    )
    .await?;
    Ok(())
}

pub async fn retentions_of(
    db: &Database,
    patient: PatientId,
) -> Result<Vec<RetentionRow>, StoreError> {
    db.fetch_all(
        &Query::select()
            .columns([
                Retentions::PatientId,
                Retentions::Data,
                Retentions::Basis,
                Retentions::Until,
                Retentions::RequestId,
            ])
            .from(Retentions::Table)
            .and_where(Expr::col(Retentions::PatientId).eq(patient.to_string()))
            .order_by(Retentions::Data, Order::Asc)
            .to_owned(),
    )
    .await
}

/// Restricted, not yet shredded patients: the retention job's candidates, oldest first.
pub async fn restricted_unshredded(db: &Database) -> Result<Vec<PatientId>, StoreError> {
    #[derive(sqlx::FromRow)]
    struct Row {
        patient_id: String,
    }
    db.fetch_all::<Row, _>(
        &Query::select()
            .column(Patients::PatientId)
            .from(Patients::Table)
            .and_where(Expr::col(Patients::RestrictedAt).is_not_null())
            .and_where(Expr::col(Patients::ShreddedAt).is_null())
            .order_by(Patients::RestrictedAt, Order::Asc)
            .to_owned(),
    )
    .await?
    .into_iter()
    .map(|r| parse_id(&r.patient_id, "patient_id"))
    .collect()
}

/// Whether the patient is shredded already (read inside the job's transaction, after its lock).
pub async fn is_shredded(tx: &mut Transaction, patient: PatientId) -> Result<bool, StoreError> {
    #[derive(sqlx::FromRow)]
    struct Row {
        shredded_at: Option<i64>,
    }
    let row = tx
        .fetch_optional::<Row, _>(
            &Query::select()
                .column(Patients::ShreddedAt)
                .from(Patients::Table)
                .and_where(Expr::col(Patients::PatientId).eq(patient.to_string()))
                .to_owned(),
        )
        .await?;
    Ok(row.is_none_or(|r| r.shredded_at.is_some()))
}

/// Moves the patient's tokens of these domains to `unlinked_tokens`: they stop resolving, and
/// the audit events naming them still count towards the patient's access report. Returns how
/// many were unlinked.
pub async fn unlink_tokens(
    tx: &mut Transaction,
    patient: PatientId,
    domains: &[&str],
    now: i64,
) -> Result<u64, StoreError> {
    if domains.is_empty() {
        return Ok(0);
    }
    let select = Query::select()
        .column(PatientTokens::Token)
        .column(PatientTokens::Domain)
        .column(PatientTokens::PatientId)
        .expr(Expr::val(now))
        .from(PatientTokens::Table)
        .and_where(Expr::col(PatientTokens::PatientId).eq(patient.to_string()))
        .and_where(Expr::col(PatientTokens::Domain).is_in(domains.iter().copied()))
        .to_owned();
    tx.execute(
        &Query::insert()
            .into_table(UnlinkedTokens::Table)
            .columns([
                UnlinkedTokens::Token,
                UnlinkedTokens::Domain,
                UnlinkedTokens::PatientId,
                UnlinkedTokens::UnlinkedAt,
            ])
            .select_from(select)
            .map_err(|e| StoreError::Corrupt(format!("unlink statement: {e}")))?
            .to_owned(),
    )
    .await?;
    tx.execute(
        &Query::delete()
            .from_table(PatientTokens::Table)
            .and_where(Expr::col(PatientTokens::PatientId).eq(patient.to_string()))
            .and_where(Expr::col(PatientTokens::Domain).is_in(domains.iter().copied()))
            .to_owned(),
    )
    .await
}

/// Unlinked tokens of a patient (for the access report).
pub async fn unlinked_tokens_of(
    db: &Database,
    patient: PatientId,
) -> Result<Vec<String>, StoreError> {
    #[derive(sqlx::FromRow)]
    struct Row {
        token: String,
    }
    Ok(db
        .fetch_all::<Row, _>(
            &Query::select()
                .column(UnlinkedTokens::Token)
                .from(UnlinkedTokens::Table)
                .and_where(Expr::col(UnlinkedTokens::PatientId).eq(patient.to_string()))
                .to_owned(),
        )
        .await?
        .into_iter()
        .map(|r| r.token)
        .collect())
}

// ---------------------------------------------------------------------------------------------
// Legal holds
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct HoldRow {
    pub hold_id: String,
    pub patient_id: String,
    pub request_id: String,
    pub reason: String,
    pub reference: String,
    pub placed_by: String,
    pub placed_at: i64,
    pub released_at: Option<i64>,
}

fn hold_columns() -> [LegalHolds; 8] {
    [
        LegalHolds::HoldId,
        LegalHolds::PatientId,
        LegalHolds::RequestId,
        LegalHolds::Reason,
        LegalHolds::Reference,
        LegalHolds::PlacedBy,
        LegalHolds::PlacedAt,
        LegalHolds::ReleasedAt,
    ]
}

pub async fn insert_hold(tx: &mut Transaction, h: &HoldRow) -> Result<(), StoreError> {
    tx.execute(
        &Query::insert()
            .into_table(LegalHolds::Table)
            .columns(hold_columns())
            .values_panic([
                h.hold_id.clone().into(),
                h.patient_id.clone().into(),
                h.request_id.clone().into(),
                h.reason.clone().into(),
                h.reference.clone().into(),
                h.placed_by.clone().into(),
                h.placed_at.into(),
                h.released_at.into(),
            ])
            .to_owned(),
    )
    .await?;
    Ok(())
}

/// Every hold of a patient, released ones included, oldest first.
pub async fn holds_of(db: &Database, patient: PatientId) -> Result<Vec<HoldRow>, StoreError> {
    db.fetch_all(
        &Query::select()
            .columns(hold_columns())
            .from(LegalHolds::Table)
            .and_where(Expr::col(LegalHolds::PatientId).eq(patient.to_string()))
            .order_by(LegalHolds::PlacedAt, Order::Asc)
            .to_owned(),
    )
    .await
}

pub async fn hold(db: &Database, hold_id: &str) -> Result<Option<HoldRow>, StoreError> {
    db.fetch_optional(
        &Query::select()
            .columns(hold_columns())
            .from(LegalHolds::Table)
            .and_where(Expr::col(LegalHolds::HoldId).eq(hold_id))
            .to_owned(),
    )
    .await
}

/// Releases a hold; false when it was released already.
pub async fn release_hold(
    tx: &mut Transaction,
    hold_id: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let n = tx
        .execute(
            &Query::update()
                .table(LegalHolds::Table)
                .value(LegalHolds::ReleasedAt, now)
                .and_where(Expr::col(LegalHolds::HoldId).eq(hold_id))
                .and_where(Expr::col(LegalHolds::ReleasedAt).is_null())
                .to_owned(),
        )
        .await?;
    Ok(n == 1)
}

/// Holds in force on a patient, read in the job's transaction: placed holds not released, and
/// incidents about the patient's break-glass grants that have no results yet.
pub async fn holds_in_force(tx: &mut Transaction, patient: PatientId) -> Result<u64, StoreError> {
    #[derive(sqlx::FromRow)]
    struct Row {
        n: i64,
    }
    let placed = tx
        .fetch_optional::<Row, _>(
            &Query::select()
                .expr_as(Expr::col(LegalHolds::HoldId).count(), "n")
                .from(LegalHolds::Table)
                .and_where(Expr::col(LegalHolds::PatientId).eq(patient.to_string()))
                .and_where(Expr::col(LegalHolds::ReleasedAt).is_null())
                .to_owned(),
        )
        .await?
        .map_or(0, |r| r.n);
    let results = Query::select()
        .column(IncidentMilestones::IncidentId)
        .from(IncidentMilestones::Table)
        .and_where(
            Expr::col((IncidentMilestones::Table, IncidentMilestones::IncidentId))
                .equals((Incidents::Table, Incidents::IncidentId)),
        )
        .and_where(Expr::col(IncidentMilestones::Milestone).eq("results"))
        .to_owned();
    let incidents = tx
        .fetch_optional::<Row, _>(
            &Query::select()
                .expr_as(
                    Expr::col((Incidents::Table, Incidents::IncidentId)).count(),
                    "n",
                )
                .from(Incidents::Table)
                .inner_join(
                    BreakGlassGrants::Table,
                    Expr::col((BreakGlassGrants::Table, BreakGlassGrants::GrantId))
                        .equals((Incidents::Table, Incidents::GrantId)),
                )
                .and_where(
                    Expr::col((BreakGlassGrants::Table, BreakGlassGrants::PatientId))
                        .eq(patient.to_string()),
                )
                .and_where(Expr::exists(results).not())
                .to_owned(),
        )
        .await?
        .map_or(0, |r| r.n);
    Ok(u64::try_from(placed + incidents).unwrap_or(0))
}

// ---------------------------------------------------------------------------------------------
// Destruction
// ---------------------------------------------------------------------------------------------

/// Rows deleted per table by [`destroy_patient_data`], for the act and the audit event.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Destroyed {
    pub tables: Vec<(&'static str, u64)>,
}

/// Deletes everything the vault holds on a patient except the patient row itself (marked
/// shredded by `keys::shred_patient` in the same transaction), the audit chain, and the
/// requests, retentions and acts that prove the deletion. Break-glass grants stay for their
/// reviews; their sealed justification is noise once the DEK is gone.
pub async fn destroy_patient_data(
    tx: &mut Transaction,
    patient: PatientId,
) -> Result<Destroyed, StoreError> {
    let id = patient.to_string();
    let mut out = Destroyed::default();
    // Chunks first: they reference attachments.
    let attachments = Query::select()
        .column(sea_query::Alias::new("attachment_id"))
        .from(sea_query::Alias::new("attachments"))
        .and_where(Expr::col(sea_query::Alias::new("patient_id")).eq(id.clone()))
        .to_owned();
    let n = tx
        .execute(
            &Query::delete()
                .from_table(sea_query::Alias::new("attachment_chunks"))
                .and_where(
                    Expr::col(sea_query::Alias::new("attachment_id")).in_subquery(attachments),
                )
                .to_owned(),
        )
        .await?;
    out.tables.push(("attachment_chunks", n));
    for table in [
        "attachments",
        "sealed_records",
        "identity_fields",
        "blind_indexes",
        "care_relationships",
        "consents",
        "staff_patients",
        "patient_tokens",
        "unlinked_tokens",
    ] {
        let n = tx
            .execute(
                &Query::delete()
                    .from_table(sea_query::Alias::new(table))
                    .and_where(Expr::col(sea_query::Alias::new("patient_id")).eq(id.clone()))
                    .to_owned(),
            )
            .await?;
        out.tables.push((table, n));
    }
    Ok(out)
}

#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct ActRow {
    pub act_id: String,
    pub patient_id: String,
    pub request_id: String,
    pub document: String,
    pub mac: Vec<u8>,
    pub destroyed_at: i64,
    pub kept_until: i64,
}

fn act_columns() -> [DestructionActs; 7] {
    [
        DestructionActs::ActId,
        DestructionActs::PatientId,
        DestructionActs::RequestId,
        DestructionActs::Document,
        DestructionActs::Mac,
        DestructionActs::DestroyedAt,
        DestructionActs::KeptUntil,
    ]
}

pub async fn insert_act(tx: &mut Transaction, a: &ActRow) -> Result<(), StoreError> {
    tx.execute(
        &Query::insert()
            .into_table(DestructionActs::Table)
            .columns(act_columns())
            .values_panic([
                a.act_id.clone().into(),
                a.patient_id.clone().into(),
                a.request_id.clone().into(),
                a.document.clone().into(),
                a.mac.clone().into(),
                a.destroyed_at.into(),
                a.kept_until.into(),
            ])
            .to_owned(),
    )
    .await?;
    Ok(())
}

/// Acts, newest first; one act or those of one request if asked.
pub async fn acts(
    db: &Database,
    act_id: Option<&str>,
    request_id: Option<&str>,
) -> Result<Vec<ActRow>, StoreError> {
    let mut q = Query::select();
    q.columns(act_columns())
        .from(DestructionActs::Table)
        .order_by(DestructionActs::DestroyedAt, Order::Desc);
    if let Some(id) = act_id {
        q.and_where(Expr::col(DestructionActs::ActId).eq(id));
    }
    if let Some(id) = request_id {
        q.and_where(Expr::col(DestructionActs::RequestId).eq(id));
    }
    db.fetch_all(&q.to_owned()).await
}

/// The sequence number of the audit event with this request id and action (an act's log
/// extract), if the chain holds it.
pub async fn audit_event_seq(
    db: &Database,
    request_id: &str,
    action: &str,
) -> Result<Option<i64>, StoreError> {
    use super::audit::AuditEvents;
    #[derive(sqlx::FromRow)]
    struct Row {
        seq: i64,
    }
    Ok(db
        .fetch_optional::<Row, _>(
            &Query::select()
                .column(AuditEvents::Seq)
                .from(AuditEvents::Table)
                .and_where(Expr::col(AuditEvents::RequestId).eq(request_id))
                .and_where(Expr::col(AuditEvents::Action).eq(action))
                .limit(1)
                .to_owned(),
        )
        .await?
        .map(|r| r.seq))
}
