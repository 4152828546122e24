//! Patients and their wrapped DEKs.

use sea_query::{Expr, ExprTrait, Iden, Order, Query};

use super::{Database, StoreError, Transaction, parse_id, to_u32};
use crate::ids::PatientId;
use crate::keys::{KekVersion, WrappedDek};

#[derive(Iden)]
pub(super) enum Patients {
    Table,
    PatientId,
    CreatedAt,
    ShreddedAt,
    /// Raised by triggers on every change an unseal reads (migration 0014).
    Revision,
}

#[derive(Iden)]
pub(super) enum PatientDeks {
    Table,
    PatientId,
    DekVersion,
    KekVersion,
    WrappedDek,
    CreatedAt,
}

/// A patient's DEK as stored.
#[derive(Clone)]
pub struct StoredDek {
    pub patient: PatientId,
    pub dek_version: u32,
    pub wrapped: WrappedDek,
}

#[derive(sqlx::FromRow)]
struct DekRow {
    patient_id: String,
    dek_version: i64,
    kek_version: i64,
    wrapped_dek: Vec<u8>,
}

impl StoredDek {
    /// A DEK row read by a join elsewhere.
    pub fn new(
        patient: PatientId,
        dek_version: u32,
        kek_version: i64,
        bytes: Vec<u8>,
    ) -> Result<Self, StoreError> {
        let kek_version = KekVersion::new(to_u32(kek_version, "kek_version")?)
            .ok_or_else(|| StoreError::Corrupt("kek_version 0".into()))?;
        Ok(StoredDek {
            patient,
            dek_version,
            wrapped: WrappedDek { kek_version, bytes },
        })
    }
}

impl TryFrom<DekRow> for StoredDek {
    type Error = StoreError;
    fn try_from(row: DekRow) -> Result<Self, StoreError> {
        StoredDek::new(
            parse_id(&row.patient_id, "patient_id")?,
            to_u32(row.dek_version, "dek_version")?,
            row.kek_version,
            row.wrapped_dek,
        )
    }
}

/// What the vault knows of a patient before opening anything.
pub enum PatientKeyState {
    Unknown,
    Shredded,
    Live(StoredDek),
}

/// Inserts a patient with its first wrapped DEK, in the caller's transaction.
pub async fn insert_patient(
    tx: &mut Transaction,
    patient: PatientId,
    dek_version: u32,
    wrapped: &WrappedDek,
    now: i64,
) -> Result<(), StoreError> {
    tx.execute(
        &Query::insert()
            .into_table(Patients::Table)
            .columns([Patients::PatientId, Patients::CreatedAt])
            .values_panic([patient.to_string().into(), now.into()])
            .to_owned(),
    )
    .await?;
    tx.execute(
        &Query::insert()
            .into_table(PatientDeks::Table)
            .columns([
                PatientDeks::PatientId,
                PatientDeks::DekVersion,
                PatientDeks::KekVersion,
                PatientDeks::WrappedDek,
                PatientDeks::CreatedAt,
            ])
            .values_panic([
                patient.to_string().into(),
                i64::from(dek_version).into(),
                i64::from(wrapped.kek_version.get()).into(),
                wrapped.bytes.clone().into(),
                now.into(),
            ])
            .to_owned(),
    )
    .await?;
    Ok(())
}

#[derive(sqlx::FromRow)]
struct PatientRow {
    shredded_at: Option<i64>,
}

/// The patient's row, if the patient exists.
async fn patient_row(db: &Database, patient: PatientId) -> Result<Option<PatientRow>, StoreError> {
    db.fetch_optional::<PatientRow, _>(
        &Query::select()
            .column(Patients::ShreddedAt)
            .from(Patients::Table)
            .and_where(Expr::col(Patients::PatientId).eq(patient.to_string()))
            .to_owned(),
    )
    .await
}

/// The patient's DEK of `dek_version`, or why there is none.
pub async fn patient_dek(
    db: &Database,
    patient: PatientId,
    dek_version: u32,
) -> Result<PatientKeyState, StoreError> {
    Ok(patient_deks(db, &[patient], dek_version)
        .await?
        .into_iter()
        .next()
        .map_or(PatientKeyState::Unknown, |(_, state)| state))
}

/// The states of many patients' DEKs of `dek_version`, in one round trip (patients LEFT JOIN
/// their DEK rows). Unknown patients are absent from the answer.
pub async fn patient_deks(
    db: &Database,
    patients: &[PatientId],
    dek_version: u32,
) -> Result<Vec<(PatientId, PatientKeyState)>, StoreError> {
    #[derive(sqlx::FromRow)]
    struct Row {
        patient_id: String,
        shredded_at: Option<i64>,
        dek_version: Option<i64>,
        kek_version: Option<i64>,
        wrapped_dek: Option<Vec<u8>>,
    }
    if patients.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<Row> = db
        .fetch_all(
            &Query::select()
                .column((Patients::Table, Patients::PatientId))
                .column((Patients::Table, Patients::ShreddedAt))
                .column((PatientDeks::Table, PatientDeks::DekVersion))
                .column((PatientDeks::Table, PatientDeks::KekVersion))
                .column((PatientDeks::Table, PatientDeks::WrappedDek))
                .from(Patients::Table)
                .left_join(
                    PatientDeks::Table,
                    Expr::col((PatientDeks::Table, PatientDeks::PatientId))
                        .equals((Patients::Table, Patients::PatientId))
                        .and(
                            Expr::col((PatientDeks::Table, PatientDeks::DekVersion))
                                .eq(i64::from(dek_version)),
                        ),
                )
                .and_where(
                    Expr::col((Patients::Table, Patients::PatientId))
                        .is_in(patients.iter().map(|p| p.to_string())),
                )
                .to_owned(),
        )
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let patient: PatientId = parse_id(&r.patient_id, "patient_id")?;
        let state = match (r.shredded_at, r.dek_version, r.kek_version, r.wrapped_dek) {
            (Some(_), ..) => PatientKeyState::Shredded,
            (None, Some(dek_version), Some(kek_version), Some(wrapped_dek)) => {
                PatientKeyState::Live(
                    DekRow {
                        patient_id: r.patient_id,
                        dek_version,
                        kek_version,
                        wrapped_dek,
                    }
                    .try_into()?,
                )
            }
            _ => {
                // A shred may have committed between the join's reads: ask once more before
                // calling the missing DEK corruption.
                match patient_row(db, patient).await? {
                    Some(p) if p.shredded_at.is_some() => PatientKeyState::Shredded,
                    _ => {
                        return Err(StoreError::Corrupt(
                            "a live patient has no DEK of that version".into(),
                        ));
                    }
                }
            }
        };
        out.push((patient, state));
    }
    Ok(out)
}

fn dek_columns() -> sea_query::SelectStatement {
    Query::select()
        .columns([
            PatientDeks::PatientId,
            PatientDeks::DekVersion,
            PatientDeks::KekVersion,
            PatientDeks::WrappedDek,
        ])
        .from(PatientDeks::Table)
        .to_owned()
}

/// Up to `limit` DEKs still wrapped by a KEK older than `kek`, in a stable order.
pub async fn deks_wrapped_before(
    db: &Database,
    kek: KekVersion,
    limit: u64,
) -> Result<Vec<StoredDek>, StoreError> {
    db.fetch_all::<DekRow, _>(
        &dek_columns()
            .and_where(Expr::col(PatientDeks::KekVersion).lt(i64::from(kek.get())))
            .order_by(PatientDeks::PatientId, Order::Asc)
            .order_by(PatientDeks::DekVersion, Order::Asc)
            .limit(limit)
            .to_owned(),
    )
    .await?
    .into_iter()
    .map(StoredDek::try_from)
    .collect()
}

#[derive(sqlx::FromRow)]
struct CountRow {
    n: i64,
}

/// How many DEKs are still wrapped by a KEK older than `kek`.
pub async fn count_wrapped_before(db: &Database, kek: KekVersion) -> Result<u64, StoreError> {
    let row = db
        .fetch_optional::<CountRow, _>(
            &Query::select()
                .expr_as(Expr::col(PatientDeks::PatientId).count(), "n")
                .from(PatientDeks::Table)
                .and_where(Expr::col(PatientDeks::KekVersion).lt(i64::from(kek.get())))
                .to_owned(),
        )
        .await?;
    Ok(row.map_or(0, |r| u64::try_from(r.n).unwrap_or(0)))
}

/// Replaces a wrapping, but only if it is still the one read (`old`): safe to run twice or on
/// two replicas at once. Returns whether this call did the update.
pub async fn replace_wrapping(
    db: &Database,
    dek: &StoredDek,
    new: &WrappedDek,
) -> Result<bool, StoreError> {
    let updated = db
        .execute(
            &Query::update()
                .table(PatientDeks::Table)
                .values([
                    (
                        PatientDeks::KekVersion,
                        i64::from(new.kek_version.get()).into(),
                    ),
                    (PatientDeks::WrappedDek, new.bytes.clone().into()),
                ])
                .and_where(Expr::col(PatientDeks::PatientId).eq(dek.patient.to_string()))
                .and_where(Expr::col(PatientDeks::DekVersion).eq(i64::from(dek.dek_version)))
                .and_where(
                    Expr::col(PatientDeks::KekVersion).eq(i64::from(dek.wrapped.kek_version.get())),
                )
                .to_owned(),
        )
        .await?;
    Ok(updated == 1)
}

#[derive(sqlx::FromRow)]
struct KekRow {
    kek_version: i64,
}

/// KEK versions that wrapped DEKs and vault-wide keys still name; each must exist in the key
/// store.
pub async fn kek_versions_in_use(db: &Database) -> Result<Vec<KekVersion>, StoreError> {
    let mut rows = db
        .fetch_all::<KekRow, _>(
            &Query::select()
                .distinct()
                .column(PatientDeks::KekVersion)
                .from(PatientDeks::Table)
                .to_owned(),
        )
        .await?;
    rows.extend(
        db.fetch_all::<KekRow, _>(
            &Query::select()
                .distinct()
                .column(VaultKeys::KekVersion)
                .from(VaultKeys::Table)
                .to_owned(),
        )
        .await?,
    );
    let mut versions = rows
        .into_iter()
        .map(|r| {
            KekVersion::new(to_u32(r.kek_version, "kek_version")?)
                .ok_or_else(|| StoreError::Corrupt("kek_version 0".into()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    versions.sort();
    versions.dedup();
    Ok(versions)
}

/// Crypto-shred: deletes every wrapped DEK of the patient and marks the patient shredded, in
/// the caller's transaction. Ciphertexts stay until retention removes them; without the DEK
/// they are noise.
pub async fn shred_patient(
    tx: &mut Transaction,
    patient: PatientId,
    now: i64,
) -> Result<bool, StoreError> {
    let id = patient.to_string();
    tx.execute(
        &Query::delete()
            .from_table(PatientDeks::Table)
            .and_where(Expr::col(PatientDeks::PatientId).eq(id.clone()))
            .to_owned(),
    )
    .await?;
    let marked = tx
        .execute(
            &Query::update()
                .table(Patients::Table)
                .value(Patients::ShreddedAt, now)
                .and_where(Expr::col(Patients::PatientId).eq(id))
                .and_where(Expr::col(Patients::ShreddedAt).is_null())
                .to_owned(),
        )
        .await?;
    Ok(marked == 1)
}

/// How many patients exist (shredded ones included).
pub async fn count_patients(db: &Database) -> Result<u64, StoreError> {
    let row = db
        .fetch_optional::<CountRow, _>(
            &Query::select()
                .expr_as(Expr::col(Patients::PatientId).count(), "n")
                .from(Patients::Table)
                .to_owned(),
        )
        .await?;
    Ok(row.map_or(0, |r| u64::try_from(r.n).unwrap_or(0)))
}

#[derive(Iden)]
enum VaultKeys {
    Table,
    Name,
    KekVersion,
    WrappedKey,
    CreatedAt,
}

#[derive(sqlx::FromRow)]
struct VaultKeyRow {
    name: String,
    kek_version: i64,
    wrapped_key: Vec<u8>,
}

/// A vault-wide key as stored.
pub struct StoredVaultKey {
    pub name: String,
    pub wrapped: WrappedDek,
}

impl TryFrom<VaultKeyRow> for StoredVaultKey {
    type Error = StoreError;
    fn try_from(row: VaultKeyRow) -> Result<Self, StoreError> {
        let kek_version = KekVersion::new(to_u32(row.kek_version, "kek_version")?)
            .ok_or_else(|| StoreError::Corrupt("kek_version 0".into()))?;
        Ok(StoredVaultKey {
            name: row.name,
            wrapped: WrappedDek {
                kek_version,
                bytes: row.wrapped_key,
            },
        })
    }
}

fn vault_key_columns() -> sea_query::SelectStatement {
    Query::select()
        .columns([
            VaultKeys::Name,
            VaultKeys::KekVersion,
            VaultKeys::WrappedKey,
        ])
        .from(VaultKeys::Table)
        .to_owned()
}

pub async fn vault_key(db: &Database, name: &str) -> Result<Option<StoredVaultKey>, StoreError> {
    db.fetch_optional::<VaultKeyRow, _>(
        &vault_key_columns()
            .and_where(Expr::col(VaultKeys::Name).eq(name))
            .to_owned(),
    )
    .await?
    .map(StoredVaultKey::try_from)
    .transpose()
}

/// Inserts a vault-wide key unless one of that name exists (two replicas starting at once keep
/// the first); returns whether this call inserted it.
pub async fn insert_vault_key(
    db: &Database,
    name: &str,
    wrapped: &WrappedDek,
    now: i64,
) -> Result<bool, StoreError> {
    let inserted = db
        .execute(
            &Query::insert()
                .into_table(VaultKeys::Table)
                .columns([
                    VaultKeys::Name,
                    VaultKeys::KekVersion,
                    VaultKeys::WrappedKey,
                    VaultKeys::CreatedAt,
                ])
                .values_panic([
                    name.into(),
                    i64::from(wrapped.kek_version.get()).into(),
                    wrapped.bytes.clone().into(),
                    now.into(),
                ])
                .on_conflict(
                    sea_query::OnConflict::column(VaultKeys::Name)
                        .do_nothing()
                        .to_owned(),
                )
                .to_owned(),
        )
        .await?;
    Ok(inserted == 1)
}

/// Vault-wide keys still wrapped by a KEK older than `kek`.
pub async fn vault_keys_wrapped_before(
    db: &Database,
    kek: KekVersion,
) -> Result<Vec<StoredVaultKey>, StoreError> {
    db.fetch_all::<VaultKeyRow, _>(
        &vault_key_columns()
            .and_where(Expr::col(VaultKeys::KekVersion).lt(i64::from(kek.get())))
            .to_owned(),
    )
    .await?
    .into_iter()
    .map(StoredVaultKey::try_from)
    .collect()
}

/// Replaces a vault-wide key's wrapping if unchanged since it was read.
pub async fn replace_vault_key_wrapping(
    db: &Database,
    key: &StoredVaultKey,
    new: &WrappedDek,
) -> Result<bool, StoreError> {
    let updated = db
        .execute(
            &Query::update()
                .table(VaultKeys::Table)
                .values([
                    (
                        VaultKeys::KekVersion,
                        i64::from(new.kek_version.get()).into(),
                    ),
                    (VaultKeys::WrappedKey, new.bytes.clone().into()),
                ])
                .and_where(Expr::col(VaultKeys::Name).eq(key.name.as_str()))
                .and_where(
                    Expr::col(VaultKeys::KekVersion).eq(i64::from(key.wrapped.kek_version.get())),
                )
                .to_owned(),
        )
        .await?;
    Ok(updated == 1)
}

#[derive(Iden)]
enum KekVersions {
    Table,
    Version,
    CreatedAt,
    RewrappedAt,
    RetiredAt,
}

/// A KEK version as the database records it (migration 0008). Times are Unix seconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KekVersionRecord {
    pub version: KekVersion,
    pub created_at: i64,
    /// When the last live wrapping under this version was replaced by a newer one: only backups
    /// older than this can hold wrappings under it.
    pub rewrapped_at: Option<i64>,
    /// When the version was destroyed in the key store (or found destroyed).
    pub retired_at: Option<i64>,
}

#[derive(sqlx::FromRow)]
struct KekVersionRow {
    version: i64,
    created_at: i64,
    rewrapped_at: Option<i64>,
    retired_at: Option<i64>,
}

impl TryFrom<KekVersionRow> for KekVersionRecord {
    type Error = StoreError;
    fn try_from(row: KekVersionRow) -> Result<Self, StoreError> {
        Ok(KekVersionRecord {
            version: KekVersion::new(to_u32(row.version, "version")?)
                .ok_or_else(|| StoreError::Corrupt("kek_versions.version 0".into()))?,
            created_at: row.created_at,
            rewrapped_at: row.rewrapped_at,
            retired_at: row.retired_at,
        })
    }
}

/// Records that a KEK version exists, created at `now`; a version already recorded keeps its
/// row. Returns whether this call inserted it.
pub async fn record_kek_version(
    db: &Database,
    version: KekVersion,
    now: i64,
) -> Result<bool, StoreError> {
    let inserted = db
        .execute(
            &Query::insert()
                .into_table(KekVersions::Table)
                .columns([KekVersions::Version, KekVersions::CreatedAt])
                .values_panic([i64::from(version.get()).into(), now.into()])
                .on_conflict(
                    sea_query::OnConflict::column(KekVersions::Version)
                        .do_nothing()
                        .to_owned(),
                )
                .to_owned(),
        )
        .await?;
    Ok(inserted == 1)
}

/// After a completed rewrap to `kek`: every older, unretired version gets `rewrapped_at = now`
/// if it had none. Versions in `touched` had live wrappings until this rewrap moved them, so
/// theirs is moved to `now` even if set (a wrapping made under an old version by a replica that
/// had not yet seen the rotation restarts the wait). Returns the rows changed.
pub async fn mark_rewrapped_before(
    db: &Database,
    kek: KekVersion,
    touched: &[KekVersion],
    now: i64,
) -> Result<u64, StoreError> {
    let mut which = sea_query::Cond::any().add(Expr::col(KekVersions::RewrappedAt).is_null());
    if !touched.is_empty() {
        which = which
            .add(Expr::col(KekVersions::Version).is_in(touched.iter().map(|v| i64::from(v.get()))));
    }
    db.execute(
        &Query::update()
            .table(KekVersions::Table)
            .value(KekVersions::RewrappedAt, now)
            .and_where(Expr::col(KekVersions::Version).lt(i64::from(kek.get())))
            .and_where(Expr::col(KekVersions::RetiredAt).is_null())
            .cond_where(which)
            .to_owned(),
    )
    .await
}

/// Sets `rewrapped_at = now` on one version that has none (it was found wrapping nothing).
pub async fn mark_kek_rewrapped(
    db: &Database,
    version: KekVersion,
    now: i64,
) -> Result<bool, StoreError> {
    let updated = db
        .execute(
            &Query::update()
                .table(KekVersions::Table)
                .value(KekVersions::RewrappedAt, now)
                .and_where(Expr::col(KekVersions::Version).eq(i64::from(version.get())))
                .and_where(Expr::col(KekVersions::RewrappedAt).is_null())
                .to_owned(),
        )
        .await?;
    Ok(updated == 1)
}

/// Every recorded KEK version, ascending.
pub async fn list_kek_versions(db: &Database) -> Result<Vec<KekVersionRecord>, StoreError> {
    db.fetch_all::<KekVersionRow, _>(
        &Query::select()
            .columns([
                KekVersions::Version,
                KekVersions::CreatedAt,
                KekVersions::RewrappedAt,
                KekVersions::RetiredAt,
            ])
            .from(KekVersions::Table)
            .order_by(KekVersions::Version, Order::Asc)
            .to_owned(),
    )
    .await?
    .into_iter()
    .map(KekVersionRecord::try_from)
    .collect()
}

/// Records that a version is gone from the key store, once; returns whether this call did.
pub async fn mark_kek_retired(
    db: &Database,
    version: KekVersion,
    now: i64,
) -> Result<bool, StoreError> {
    let updated = db
        .execute(
            &Query::update()
                .table(KekVersions::Table)
                .value(KekVersions::RetiredAt, now)
                .and_where(Expr::col(KekVersions::Version).eq(i64::from(version.get())))
                .and_where(Expr::col(KekVersions::RetiredAt).is_null())
                .to_owned(),
        )
        .await?;
    Ok(updated == 1)
}

/// What one KEK version still wraps in this database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WrappedBy {
    pub deks: u64,
    pub vault_keys: u64,
}

impl WrappedBy {
    pub fn is_empty(self) -> bool {
        self.deks == 0 && self.vault_keys == 0
    }
}

/// How many DEKs and vault-wide keys are wrapped by exactly `kek`.
pub async fn count_wrapped_by(db: &Database, kek: KekVersion) -> Result<WrappedBy, StoreError> {
    let v = i64::from(kek.get());
    let deks = db
        .fetch_optional::<CountRow, _>(
            &Query::select()
                .expr_as(Expr::col(PatientDeks::PatientId).count(), "n")
                .from(PatientDeks::Table)
                .and_where(Expr::col(PatientDeks::KekVersion).eq(v))
                .to_owned(),
        )
        .await?;
    let vault_keys = db
        .fetch_optional::<CountRow, _>(
            &Query::select()
                .expr_as(Expr::col(VaultKeys::Name).count(), "n")
                .from(VaultKeys::Table)
                .and_where(Expr::col(VaultKeys::KekVersion).eq(v))
                .to_owned(),
        )
        .await?;
    let n = |row: Option<CountRow>| row.map_or(0, |r| u64::try_from(r.n).unwrap_or(0));
    Ok(WrappedBy {
        deks: n(deks),
        vault_keys: n(vault_keys),
    })
}
