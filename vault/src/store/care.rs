//! Care relationships (reported by clinic-app) and break-glass grants.

use sea_query::{Expr, ExprTrait, Iden, Query};

use super::{Database, StoreError, Transaction};
use crate::ids::PatientId;

#[derive(Iden)]
enum CareRelationships {
    Table,
    DoctorStaffId,
    PatientId,
    ValidFrom,
    ValidUntil,
    ReportedBy,
}

#[derive(Iden)]
enum Patients {
    Table,
    PatientId,
    RestrictedAt,
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

pub async fn put_care_relationship(
    tx: &mut Transaction,
    doctor: &str,
    patient: PatientId,
    from: i64,
    until: i64,
    reported_by: &str,
) -> Result<(), StoreError> {
    tx.execute(
        &Query::insert()
            .into_table(CareRelationships::Table)
            .columns([
                CareRelationships::DoctorStaffId,
                CareRelationships::PatientId,
                CareRelationships::ValidFrom,
                CareRelationships::ValidUntil,
                CareRelationships::ReportedBy,
            ])
            .values_panic([
                doctor.into(),
                patient.to_string().into(),
                from.into(),
                until.into(),
                reported_by.into(),
            ])
            .on_conflict(
                sea_query::OnConflict::columns([
                    CareRelationships::DoctorStaffId,
                    CareRelationships::PatientId,
                    CareRelationships::ValidFrom,
                ])
                .update_columns([CareRelationships::ValidUntil, CareRelationships::ReportedBy])
                .to_owned(),
            )
            .to_owned(),
    )
    .await?;
    Ok(())
}

/// Ends every relationship of the doctor with the patient that is still open at `now`.
pub async fn end_care_relationships(
    tx: &mut Transaction,
    doctor: &str,
    patient: PatientId,
    now: i64,
) -> Result<u64, StoreError> {
    tx.execute(
        &Query::update()
            .table(CareRelationships::Table)
            .value(CareRelationships::ValidUntil, now)
            .and_where(Expr::col(CareRelationships::DoctorStaffId).eq(doctor))
            .and_where(Expr::col(CareRelationships::PatientId).eq(patient.to_string()))
            .and_where(Expr::col(CareRelationships::ValidUntil).gt(now))
            .to_owned(),
    )
    .await
}

#[derive(sqlx::FromRow)]
struct CountRow {
    n: i64,
}

/// Whether the doctor has a relationship with the patient whose window contains `now`.
pub async fn has_care_relationship(
    db: &Database,
    doctor: &str,
    patient: PatientId,
    now: i64,
) -> Result<bool, StoreError> {
    let row = db
        .fetch_optional::<CountRow, _>(
            &Query::select()
                .expr_as(Expr::col(CareRelationships::DoctorStaffId).count(), "n")
                .from(CareRelationships::Table)
                .and_where(Expr::col(CareRelationships::DoctorStaffId).eq(doctor))
                .and_where(Expr::col(CareRelationships::PatientId).eq(patient.to_string()))
                .and_where(Expr::col(CareRelationships::ValidFrom).lte(now))
                .and_where(Expr::col(CareRelationships::ValidUntil).gt(now))
                .to_owned(),
        )
        .await?;
    Ok(row.is_some_and(|r| r.n > 0))
}

pub struct NewGrant<'a> {
    pub grant_id: &'a str,
    pub staff_id: &'a str,
    pub patient: PatientId,
    pub reason_code: &'a str,
    pub justification_envelope: Vec<u8>,
    pub started_at: i64,
    pub expires_at: i64,
}

pub async fn insert_grant(tx: &mut Transaction, g: &NewGrant<'_>) -> Result<(), StoreError> {
    tx.execute(
        &Query::insert()
            .into_table(BreakGlassGrants::Table)
            .columns([
                BreakGlassGrants::GrantId,
                BreakGlassGrants::StaffId,
                BreakGlassGrants::PatientId,
                BreakGlassGrants::ReasonCode,
                BreakGlassGrants::JustificationEnvelope,
                BreakGlassGrants::StartedAt,
                BreakGlassGrants::ExpiresAt,
            ])
            .values_panic([
                g.grant_id.into(),
                g.staff_id.into(),
                g.patient.to_string().into(),
                g.reason_code.into(),
                g.justification_envelope.clone().into(),
                g.started_at.into(),
                g.expires_at.into(),
            ])
            .to_owned(),
    )
    .await?;
    Ok(())
}

/// A live break-glass grant: its id and HL7 reason code.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct LiveGrant {
    pub grant_id: String,
    pub reason_code: String,
}

/// The staff member's live grant for the patient, if any.
pub async fn live_grant(
    db: &Database,
    staff_id: &str,
    patient: PatientId,
    now: i64,
) -> Result<Option<LiveGrant>, StoreError> {
    db.fetch_optional::<LiveGrant, _>(
        &Query::select()
            .columns([BreakGlassGrants::GrantId, BreakGlassGrants::ReasonCode])
            .from(BreakGlassGrants::Table)
            .and_where(Expr::col(BreakGlassGrants::StaffId).eq(staff_id))
            .and_where(Expr::col(BreakGlassGrants::PatientId).eq(patient.to_string()))
            .and_where(Expr::col(BreakGlassGrants::StartedAt).lte(now))
            .and_where(Expr::col(BreakGlassGrants::ExpiresAt).gt(now))
            .and_where(Expr::col(BreakGlassGrants::EndedAt).is_null())
            .limit(1)
            .to_owned(),
    )
    .await
}

/// Ends a grant early; only its own holder may. Returns whether a live grant was ended.
pub async fn end_grant(
    tx: &mut Transaction,
    grant_id: &str,
    staff_id: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let n = tx
        .execute(
            &Query::update()
                .table(BreakGlassGrants::Table)
                .value(BreakGlassGrants::EndedAt, now)
                .and_where(Expr::col(BreakGlassGrants::GrantId).eq(grant_id))
                .and_where(Expr::col(BreakGlassGrants::StaffId).eq(staff_id))
                .and_where(Expr::col(BreakGlassGrants::EndedAt).is_null())
                .and_where(Expr::col(BreakGlassGrants::ExpiresAt).gt(now))
                .to_owned(),
        )
        .await?;
    Ok(n == 1)
}

/// Patients with whom the doctor has a relationship live at `now`.
pub async fn patients_in_care(
    db: &Database,
    doctor: &str,
    now: i64,
) -> Result<Vec<PatientId>, StoreError> {
    #[derive(sqlx::FromRow)]
    struct Row {
        patient_id: String,
    }
    db.fetch_all::<Row, _>(
        &Query::select()
            .distinct()
            .column(CareRelationships::PatientId)
            .from(CareRelationships::Table)
            .and_where(Expr::col(CareRelationships::DoctorStaffId).eq(doctor))
            .and_where(Expr::col(CareRelationships::ValidFrom).lte(now))
            .and_where(Expr::col(CareRelationships::ValidUntil).gt(now))
            .to_owned(),
    )
    .await?
    .into_iter()
    .map(|r| super::parse_id(&r.patient_id, "patient_id"))
    .collect()
}

/// The live facts of a staff member about a patient, in one round trip.
#[derive(Default, Clone)]
pub struct StaffFacts {
    /// A care relationship holds now.
    pub care: bool,
    /// The live break-glass grant, if any.
    pub grant: Option<LiveGrant>,
    /// The patient asked for deletion: only what the law keeps is left (ADR 0016).
    pub restricted: bool,
}

/// The columns of [`StaffFacts`] as a statement reads them.
#[derive(sqlx::FromRow)]
pub(super) struct StaffFactsRow {
    care: bool,
    restricted_at: Option<i64>,
    grant_id: Option<String>,
    reason_code: Option<String>,
}

impl From<StaffFactsRow> for StaffFacts {
    fn from(r: StaffFactsRow) -> Self {
        StaffFacts {
            care: r.care,
            grant: r
                .grant_id
                .zip(r.reason_code)
                .map(|(grant_id, reason_code)| LiveGrant {
                    grant_id,
                    reason_code,
                }),
            restricted: r.restricted_at.is_some(),
        }
    }
}

/// `SELECT` the columns of [`StaffFactsRow`] `FROM patients WHERE patient_id = patient`: one
/// row, or none for an unknown patient. The unseal's statement (`store::records::for_unseal`)
/// reads the same facts in the same way beside the record, written by hand (ADR 0028): a
/// change to one is a change to the other.
pub(super) fn staff_facts_select(
    staff_id: &str,
    patient: PatientId,
    now: i64,
) -> sea_query::SelectStatement {
    let care = Query::select()
        .expr(Expr::val(1))
        .from(CareRelationships::Table)
        .and_where(Expr::col(CareRelationships::DoctorStaffId).eq(staff_id))
        .and_where(Expr::col(CareRelationships::PatientId).eq(patient.to_string()))
        .and_where(Expr::col(CareRelationships::ValidFrom).lte(now))
        .and_where(Expr::col(CareRelationships::ValidUntil).gt(now))
        .to_owned();
    // At most one row: a second live grant, should there ever be one, must not multiply
    // the statement's rows.
    let grant = Query::select()
        .column(BreakGlassGrants::GrantId)
        .column(BreakGlassGrants::ReasonCode)
        .from(BreakGlassGrants::Table)
        .and_where(Expr::col(BreakGlassGrants::StaffId).eq(staff_id))
        .and_where(Expr::col(BreakGlassGrants::PatientId).eq(patient.to_string()))
        .and_where(Expr::col(BreakGlassGrants::StartedAt).lte(now))
        .and_where(Expr::col(BreakGlassGrants::ExpiresAt).gt(now))
        .and_where(Expr::col(BreakGlassGrants::EndedAt).is_null())
        .order_by(BreakGlassGrants::GrantId, sea_query::Order::Asc)
        .limit(1)
        .to_owned();
    Query::select()
        .expr_as(Expr::exists(care), "care")
        .column((Patients::Table, Patients::RestrictedAt))
        .column((Subquery::LiveGrant, BreakGlassGrants::GrantId))
        .column((Subquery::LiveGrant, BreakGlassGrants::ReasonCode))
        .from(Patients::Table)
        .join_subquery(
            sea_query::JoinType::LeftJoin,
            grant,
            Subquery::LiveGrant,
            Expr::cust("TRUE"),
        )
        .and_where(Expr::col((Patients::Table, Patients::PatientId)).eq(patient.to_string()))
        .to_owned()
}

/// The alias of the live grant's subquery in [`staff_facts_select`].
#[derive(Iden)]
enum Subquery {
    LiveGrant,
}

/// [`StaffFacts`] in one round trip; none of them for an unknown patient.
pub async fn staff_facts(
    db: &Database,
    staff_id: &str,
    patient: PatientId,
    now: i64,
) -> Result<StaffFacts, StoreError> {
    let row: Option<StaffFactsRow> = db
        .fetch_optional(&staff_facts_select(staff_id, patient, now))
        .await?;
    Ok(row.map(StaffFacts::from).unwrap_or_default())
}
