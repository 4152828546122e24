//! Sealed records: every version of every record, as envelopes.

use sea_query::{Expr, ExprTrait, Iden, Order, Query};

use super::{Database, StoreError, Transaction, parse_id, to_u32};
use crate::ids::{PatientId, RecordId};

#[derive(Iden)]
enum SealedRecords {
    Table,
    RecordId,
    Version,
    PatientId,
    Kind,
    Envelope,
    CreatedAt,
    Author,
}

/// One stored version of a record.
pub struct StoredRecord {
    pub record: RecordId,
    pub version: u32,
    pub patient: PatientId,
    pub kind: String,
    pub envelope: Vec<u8>,
    pub created_at: i64,
    /// Staff id of the author, where a member of staff wrote it.
    pub author: Option<String>,
}

#[derive(sqlx::FromRow)]
struct RecordRow {
    record_id: String,
    version: i64,
    patient_id: String,
    kind: String,
    envelope: Vec<u8>,
    created_at: i64,
    author: Option<String>,
}

impl TryFrom<RecordRow> for StoredRecord {
    type Error = StoreError;
    fn try_from(row: RecordRow) -> Result<Self, StoreError> {
        Ok(StoredRecord {
            record: parse_id(&row.record_id, "record_id")?,
            version: to_u32(row.version, "version")?,
            patient: parse_id(&row.patient_id, "patient_id")?,
            kind: row.kind,
            envelope: row.envelope,
            created_at: row.created_at,
            author: row.author,
        })
    }
}

/// Inserts one version. The primary key (record, version) makes a concurrent second writer of
/// the same version fail with [`StoreError::Conflict`] instead of overwriting.
pub async fn insert(tx: &mut Transaction, r: &StoredRecord) -> Result<(), StoreError> {
    tx.execute(
        &Query::insert()
            .into_table(SealedRecords::Table)
            .columns([
                SealedRecords::RecordId,
                SealedRecords::Version,
                SealedRecords::PatientId,
                SealedRecords::Kind,
                SealedRecords::Envelope,
                SealedRecords::CreatedAt,
                SealedRecords::Author,
            ])
            .values_panic([
                r.record.to_string().into(),
                i64::from(r.version).into(),
                r.patient.to_string().into(),
                r.kind.clone().into(),
                r.envelope.clone().into(),
                r.created_at.into(),
                r.author.clone().into(),
            ])
            .to_owned(),
    )
    .await?;
    Ok(())
}

fn select_all() -> sea_query::SelectStatement {
    Query::select()
        .columns([
            SealedRecords::RecordId,
            SealedRecords::Version,
            SealedRecords::PatientId,
            SealedRecords::Kind,
            SealedRecords::Envelope,
            SealedRecords::CreatedAt,
            SealedRecords::Author,
        ])
        .from(SealedRecords::Table)
        .to_owned()
}

/// One version of a record, or its latest version when `version` is `None`.
pub async fn get(
    db: &Database,
    record: RecordId,
    version: Option<u32>,
) -> Result<Option<StoredRecord>, StoreError> {
    let mut q = select_all();
    q.and_where(Expr::col(SealedRecords::RecordId).eq(record.to_string()));
    match version {
        Some(v) => q.and_where(Expr::col(SealedRecords::Version).eq(i64::from(v))),
        None => q.order_by(SealedRecords::Version, Order::Desc).limit(1),
    };
    db.fetch_optional::<RecordRow, _>(&q)
        .await?
        .map(StoredRecord::try_from)
        .transpose()
}

/// Every version of every record of a patient, oldest first.
pub async fn for_patient(
    db: &Database,
    patient: PatientId,
) -> Result<Vec<StoredRecord>, StoreError> {
    db.fetch_all::<RecordRow, _>(
        &select_all()
            .and_where(Expr::col(SealedRecords::PatientId).eq(patient.to_string()))
            .order_by(SealedRecords::CreatedAt, Order::Asc)
            .order_by(SealedRecords::RecordId, Order::Asc)
            .order_by(SealedRecords::Version, Order::Asc)
            .to_owned(),
    )
    .await?
    .into_iter()
    .map(StoredRecord::try_from)
    .collect()
}
