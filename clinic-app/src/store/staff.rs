//! Staff accounts and the bearer sessions of staff and patients.

use sea_query::{Expr, ExprTrait, Iden, Query};

use super::{Database, StoreError, Transaction};

// The column is `staff_id`, so the variant is `StaffId` whatever clippy thinks of the name.
#[allow(clippy::enum_variant_names)]
#[derive(Iden)]
enum Staff {
    Table,
    StaffId,
    Username,
    DisplayName,
    Role,
    BranchId,
    Specialty,
    VaultStaffId,
    PasswordHash,
    DisabledAt,
    CreatedAt,
}

#[derive(Iden)]
enum Sessions {
    Table,
    SessionHash,
    StaffId,
    PatientToken,
    CreatedAt,
    ExpiresAt,
    RevokedAt,
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct StaffRow {
    pub staff_id: String,
    pub username: String,
    pub display_name: String,
    pub role: String,
    pub branch_id: Option<String>,
    pub specialty: Option<String>,
    pub vault_staff_id: Option<String>,
    pub password_hash: Option<String>,
    pub disabled_at: Option<i64>,
}

pub struct NewStaff<'a> {
    pub staff_id: &'a str,
    pub username: &'a str,
    pub display_name: &'a str,
    pub role: &'a str,
    pub branch_id: Option<&'a str>,
    pub specialty: Option<&'a str>,
    pub vault_staff_id: Option<&'a str>,
    pub password_hash: Option<&'a str>,
}

const STAFF_COLUMNS: [Staff; 9] = [
    Staff::StaffId,
    Staff::Username,
    Staff::DisplayName,
    Staff::Role,
    Staff::BranchId,
    Staff::Specialty,
    Staff::VaultStaffId,
    Staff::PasswordHash,
    Staff::DisabledAt,
];

pub async fn insert_staff(db: &Database, s: &NewStaff<'_>, now: i64) -> Result<(), StoreError> {
    db.execute(
        &Query::insert()
            .into_table(Staff::Table)
            .columns([
                Staff::StaffId,
                Staff::Username,
                Staff::DisplayName,
                Staff::Role,
                Staff::BranchId,
                Staff::Specialty,
                Staff::VaultStaffId,
                Staff::PasswordHash,
                Staff::CreatedAt,
            ])
            .values_panic([
                s.staff_id.into(),
                s.username.into(),
                s.display_name.into(),
                s.role.into(),
                s.branch_id.map(str::to_owned).into(),
                s.specialty.map(str::to_owned).into(),
                s.vault_staff_id.map(str::to_owned).into(),
                s.password_hash.map(str::to_owned).into(),
                now.into(),
            ])
            .to_owned(),
    )
    .await?;
    Ok(())
}

pub async fn staff_by_username(
    db: &Database,
    username: &str,
) -> Result<Option<StaffRow>, StoreError> {
    db.fetch_optional(
        &Query::select()
            .columns(STAFF_COLUMNS)
            .from(Staff::Table)
            .and_where(Expr::col(Staff::Username).eq(username))
            .to_owned(),
    )
    .await
}

pub async fn staff_by_id(db: &Database, staff_id: &str) -> Result<Option<StaffRow>, StoreError> {
    db.fetch_optional(
        &Query::select()
            .columns(STAFF_COLUMNS)
            .from(Staff::Table)
            .and_where(Expr::col(Staff::StaffId).eq(staff_id))
            .to_owned(),
    )
    .await
}

/// Staff with the given role, by display name.
pub async fn staff_with_role(db: &Database, role: &str) -> Result<Vec<StaffRow>, StoreError> {
    db.fetch_all(
        &Query::select()
            .columns(STAFF_COLUMNS)
            .from(Staff::Table)
            .and_where(Expr::col(Staff::Role).eq(role))
            .and_where(Expr::col(Staff::DisabledAt).is_null())
            .order_by(Staff::DisplayName, sea_query::Order::Asc)
            .to_owned(),
    )
    .await
}

pub async fn count_staff(db: &Database) -> Result<i64, StoreError> {
    #[derive(sqlx::FromRow)]
    struct Count {
        n: i64,
    }
    let row: Option<Count> = db
        .fetch_optional(
            &Query::select()
                .expr_as(Expr::col(Staff::StaffId).count(), "n")
                .from(Staff::Table)
                .to_owned(),
        )
        .await?;
    Ok(row.map_or(0, |r| r.n))
}

/// Who a session belongs to: a staff member or a patient (by token).
#[derive(Debug, sqlx::FromRow)]
pub struct SessionRow {
    pub staff_id: Option<String>,
    pub patient_token: Option<String>,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
}

pub async fn insert_session(
    db: &Database,
    hash: &[u8],
    staff_id: Option<&str>,
    patient_token: Option<&str>,
    now: i64,
    expires_at: i64,
) -> Result<(), StoreError> {
    db.execute(
        &Query::insert()
            .into_table(Sessions::Table)
            .columns([
                Sessions::SessionHash,
                Sessions::StaffId,
                Sessions::PatientToken,
                Sessions::CreatedAt,
                Sessions::ExpiresAt,
            ])
            .values_panic([
                hash.to_vec().into(),
                staff_id.map(str::to_owned).into(),
                patient_token.map(str::to_owned).into(),
                now.into(),
                expires_at.into(),
            ])
            .to_owned(),
    )
    .await?;
    Ok(())
}

pub async fn session(db: &Database, hash: &[u8]) -> Result<Option<SessionRow>, StoreError> {
    db.fetch_optional(
        &Query::select()
            .columns([
                Sessions::StaffId,
                Sessions::PatientToken,
                Sessions::ExpiresAt,
                Sessions::RevokedAt,
            ])
            .from(Sessions::Table)
            .and_where(Expr::col(Sessions::SessionHash).eq(hash.to_vec()))
            .to_owned(),
    )
    .await
}

pub async fn revoke_session(db: &Database, hash: &[u8], now: i64) -> Result<u64, StoreError> {
    db.execute(
        &Query::update()
            .table(Sessions::Table)
            .value(Sessions::RevokedAt, now)
            .and_where(Expr::col(Sessions::SessionHash).eq(hash.to_vec()))
            .and_where(Expr::col(Sessions::RevokedAt).is_null())
            .to_owned(),
    )
    .await
}

/// Ends every session of a patient token (account closed, deletion request).
pub async fn revoke_patient_sessions(
    db: &Database,
    patient_token: &str,
    now: i64,
) -> Result<u64, StoreError> {
    db.execute(
        &Query::update()
            .table(Sessions::Table)
            .value(Sessions::RevokedAt, now)
            .and_where(Expr::col(Sessions::PatientToken).eq(patient_token))
            .and_where(Expr::col(Sessions::RevokedAt).is_null())
            .to_owned(),
    )
    .await
}

/// Deletes every session of a patient token: their account is gone (a deletion request was
/// carried out), so not even a revoked row of it stays.
pub async fn delete_patient_sessions(
    tx: &mut Transaction,
    patient_token: &str,
) -> Result<u64, StoreError> {
    tx.execute(
        &Query::delete()
            .from_table(Sessions::Table)
            .and_where(Expr::col(Sessions::PatientToken).eq(patient_token))
            .to_owned(),
    )
    .await
}

/// Whether a patient token has any session row (live or not): clinic-app knew the patient.
pub async fn has_patient_sessions(db: &Database, patient_token: &str) -> Result<bool, StoreError> {
    #[derive(sqlx::FromRow)]
    struct One {
        n: i64,
    }
    let row: Option<One> = db
        .fetch_optional(
            &Query::select()
                .expr_as(Expr::col(Sessions::SessionHash).count(), "n")
                .from(Sessions::Table)
                .and_where(Expr::col(Sessions::PatientToken).eq(patient_token))
                .to_owned(),
        )
        .await?;
    Ok(row.is_some_and(|r| r.n > 0))
}
