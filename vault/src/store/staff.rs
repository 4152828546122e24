//! Staff accounts, their sessions and service credentials.

use sea_query::{Expr, ExprTrait, Iden, Query};

use super::{Database, StoreError};

// The variant is the column name `staff_id`; the lint does not know SQL naming.
#[allow(clippy::enum_variant_names)]
#[derive(Iden)]
enum Staff {
    Table,
    StaffId,
    Username,
    PasswordHash,
    Role,
    Branch,
    TotpEnvelope,
    DisabledAt,
    CreatedAt,
}

#[derive(Iden)]
enum StaffSessions {
    Table,
    SessionHash,
    StaffId,
    CreatedAt,
    ExpiresAt,
    RevokedAt,
}

#[derive(Iden)]
enum ServiceCredentials {
    Table,
    Domain,
    SecretHash,
    CreatedAt,
    RevokedAt,
}

/// A staff account as stored. The password hash is an argon2id PHC string; the TOTP seed is
/// sealed under the vault-wide staff-secret key.
#[derive(sqlx::FromRow)]
pub struct StaffRow {
    pub staff_id: String,
    pub username: String,
    pub password_hash: String,
    pub role: String,
    pub branch: String,
    pub totp_envelope: Option<Vec<u8>>,
    pub disabled_at: Option<i64>,
    /// The session's expiry, when the row was read through a session.
    #[sqlx(default)]
    pub expires_at: Option<i64>,
}

fn staff_columns() -> sea_query::SelectStatement {
    Query::select()
        .columns([
            (Staff::Table, Staff::StaffId),
            (Staff::Table, Staff::Username),
            (Staff::Table, Staff::PasswordHash),
            (Staff::Table, Staff::Role),
            (Staff::Table, Staff::Branch),
            (Staff::Table, Staff::TotpEnvelope),
            (Staff::Table, Staff::DisabledAt),
        ])
        .from(Staff::Table)
        .to_owned()
}

pub async fn insert_staff(db: &Database, row: &StaffRow, now: i64) -> Result<(), StoreError> {
    db.execute(
        &Query::insert()
            .into_table(Staff::Table)
            .columns([
                Staff::StaffId,
                Staff::Username,
                Staff::PasswordHash,
                Staff::Role,
                Staff::Branch,
                Staff::TotpEnvelope,
                Staff::CreatedAt,
            ])
            .values_panic([
                row.staff_id.clone().into(),
                row.username.clone().into(),
                row.password_hash.clone().into(),
                row.role.clone().into(),
                row.branch.clone().into(),
                row.totp_envelope.clone().into(),
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
        &staff_columns()
            .and_where(Expr::col(Staff::Username).eq(username))
            .to_owned(),
    )
    .await
}

pub async fn staff_by_id(db: &Database, staff_id: &str) -> Result<Option<StaffRow>, StoreError> {
    db.fetch_optional(
        &staff_columns()
            .and_where(Expr::col(Staff::StaffId).eq(staff_id))
            .to_owned(),
    )
    .await
}

pub async fn insert_session(
    db: &Database,
    hash: &[u8],
    staff_id: &str,
    now: i64,
    expires_at: i64,
) -> Result<(), StoreError> {
    db.execute(
        &Query::insert()
            .into_table(StaffSessions::Table)
            .columns([
                StaffSessions::SessionHash,
                StaffSessions::StaffId,
                StaffSessions::CreatedAt,
                StaffSessions::ExpiresAt,
            ])
            .values_panic([
                hash.to_vec().into(),
                staff_id.into(),
                now.into(),
                expires_at.into(),
            ])
            .to_owned(),
    )
    .await?;
    Ok(())
}

/// The staff account behind a live session (not expired, not revoked, account not disabled).
pub async fn staff_by_session(
    db: &Database,
    hash: &[u8],
    now: i64,
) -> Result<Option<StaffRow>, StoreError> {
    // One round trip: the live session joined to its active account.
    let mut q = staff_columns();
    q.inner_join(
        StaffSessions::Table,
        Expr::col((StaffSessions::Table, StaffSessions::StaffId))
            .equals((Staff::Table, Staff::StaffId)),
    )
    .and_where(Expr::col((StaffSessions::Table, StaffSessions::SessionHash)).eq(hash.to_vec()))
    .and_where(Expr::col((StaffSessions::Table, StaffSessions::ExpiresAt)).gt(now))
    .and_where(Expr::col((StaffSessions::Table, StaffSessions::RevokedAt)).is_null())
    .and_where(Expr::col((Staff::Table, Staff::DisabledAt)).is_null())
    .column((StaffSessions::Table, StaffSessions::ExpiresAt));
    db.fetch_optional(&q).await
}

pub async fn revoke_session(db: &Database, hash: &[u8], now: i64) -> Result<bool, StoreError> {
    let n = db
        .execute(
            &Query::update()
                .table(StaffSessions::Table)
                .value(StaffSessions::RevokedAt, now)
                .and_where(Expr::col(StaffSessions::SessionHash).eq(hash.to_vec()))
                .and_where(Expr::col(StaffSessions::RevokedAt).is_null())
                .to_owned(),
        )
        .await?;
    Ok(n == 1)
}

/// Creates or replaces a service credential (rotation revokes the old secret by replacing it).
pub async fn put_service_credential(
    db: &Database,
    domain: &str,
    hash: &[u8],
    now: i64,
) -> Result<(), StoreError> {
    db.execute(
        &Query::insert()
            .into_table(ServiceCredentials::Table)
            .columns([
                ServiceCredentials::Domain,
                ServiceCredentials::SecretHash,
                ServiceCredentials::CreatedAt,
            ])
            .values_panic([domain.into(), hash.to_vec().into(), now.into()])
            .on_conflict(
                sea_query::OnConflict::column(ServiceCredentials::Domain)
                    .update_columns([
                        ServiceCredentials::SecretHash,
                        ServiceCredentials::CreatedAt,
                    ])
                    .value(
                        ServiceCredentials::RevokedAt,
                        Expr::val(Option::<i64>::None),
                    )
                    .to_owned(),
            )
            .to_owned(),
    )
    .await?;
    Ok(())
}

/// The secret hash of a live service credential.
pub async fn service_secret_hash(
    db: &Database,
    domain: &str,
) -> Result<Option<Vec<u8>>, StoreError> {
    #[derive(sqlx::FromRow)]
    struct Row {
        secret_hash: Vec<u8>,
    }
    Ok(db
        .fetch_optional::<Row, _>(
            &Query::select()
                .column(ServiceCredentials::SecretHash)
                .from(ServiceCredentials::Table)
                .and_where(Expr::col(ServiceCredentials::Domain).eq(domain))
                .and_where(Expr::col(ServiceCredentials::RevokedAt).is_null())
                .to_owned(),
        )
        .await?
        .map(|r| r.secret_hash))
}
