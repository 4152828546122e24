//! Sealed records: every version of every record, as envelopes.

use sea_query::{Expr, ExprTrait, Iden, Order, Query};

use super::care::{StaffFacts, StaffFactsRow};
use super::keys::StoredDek;
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
#[derive(Clone)]
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

/// `version` of a record, or its latest version when `version` is `None`.
fn select_version(record: RecordId, version: Option<u32>) -> sea_query::SelectStatement {
    let mut q = select_all();
    q.and_where(Expr::col(SealedRecords::RecordId).eq(record.to_string()));
    match version {
        Some(v) => q.and_where(Expr::col(SealedRecords::Version).eq(i64::from(v))),
        None => q.order_by(SealedRecords::Version, Order::Desc).limit(1),
    };
    q
}

/// One version of a record, or its latest version when `version` is `None`.
pub async fn get(
    db: &Database,
    record: RecordId,
    version: Option<u32>,
) -> Result<Option<StoredRecord>, StoreError> {
    db.fetch_optional::<RecordRow, _>(&select_version(record, version))
        .await?
        .map(StoredRecord::try_from)
        .transpose()
}

/// All that an unseal reads, from one statement (ADR 0026); kept in memory for the next
/// unseal of the same record by the same staff member (ADR 0029).
#[derive(Clone)]
pub struct UnsealRead {
    /// The staff member's facts about the patient, for the decision.
    pub facts: StaffFacts,
    /// The version asked for, if it exists and is this patient's: a record of another patient
    /// is not joined, and is answered like a missing one.
    pub record: Option<StoredRecord>,
    /// The patient was crypto-shredded.
    pub shredded: bool,
    /// Every DEK version of the patient (none once shredded); the record's envelope names the
    /// one that opens it.
    pub deks: Vec<StoredDek>,
    /// The patient's revision when this was read: raised by every change to any of the above
    /// (migration 0014), so the audit writer can check that none came since.
    pub revision: i64,
    /// The first moment the facts can change by time alone: a care relationship of this
    /// staff member with the patient beginning or ending, a live grant expiring. `None` if
    /// nothing is due. Past it, what was read must be read again.
    pub facts_until: Option<i64>,
}

/// What an unseal of `record` (`version`, or the latest) by `staff_id` needs, in one round
/// trip: the patient's row with the staff member's facts (the columns of
/// [`super::care::staff_facts_select`]), LEFT JOIN the version asked for, LEFT JOIN the
/// patient's DEKs, one row per DEK version. One statement also means one snapshot, so a shred
/// cannot fall between the key state and the record. `None` for an unknown patient.
///
/// Every unseal runs this, so it is written by hand as the resolve statement is (ADR 0028):
/// one text, prepared once per connection, where building it with sea-query cost about 5 % of
/// the machine under the unseal load. It is plain SQL both backends take (`$N` parameters,
/// `CAST`); a version of `NULL` asks for the latest.
pub async fn for_unseal(
    db: &Database,
    staff_id: &str,
    patient: PatientId,
    record: RecordId,
    version: Option<u32>,
    now: i64,
) -> Result<Option<UnsealRead>, StoreError> {
    #[derive(sqlx::FromRow)]
    struct Row {
        #[sqlx(flatten)]
        facts: StaffFactsRow,
        shredded_at: Option<i64>,
        revision: i64,
        facts_until: Option<i64>,
        record_id: Option<String>,
        version: Option<i64>,
        kind: Option<String>,
        envelope: Option<Vec<u8>>,
        created_at: Option<i64>,
        author: Option<String>,
        dek_version: Option<i64>,
        kek_version: Option<i64>,
        wrapped_dek: Option<Vec<u8>>,
    }
    const SQL: &str = "SELECT EXISTS (SELECT 1 FROM care_relationships c \
            WHERE c.doctor_staff_id = $1 AND c.patient_id = $2 \
            AND c.valid_from <= $3 AND c.valid_until > $3) AS care, \
        p.restricted_at, g.grant_id, g.reason_code, p.shredded_at, p.revision, \
        (SELECT MIN(e.at) FROM ( \
            SELECT CASE WHEN c.valid_from > $3 THEN c.valid_from ELSE c.valid_until END AS at \
            FROM care_relationships c \
            WHERE c.doctor_staff_id = $1 AND c.patient_id = $2 AND c.valid_until > $3 \
            UNION ALL \
            SELECT CASE WHEN b.started_at > $3 THEN b.started_at ELSE b.expires_at END \
            FROM break_glass_grants b \
            WHERE b.staff_id = $1 AND b.patient_id = $2 AND b.expires_at > $3 \
            AND b.ended_at IS NULL) e) AS facts_until, \
        r.record_id, r.version, r.kind, r.envelope, r.created_at, r.author, \
        d.dek_version, d.kek_version, d.wrapped_dek \
        FROM patients p \
        LEFT JOIN (SELECT b.grant_id, b.reason_code FROM break_glass_grants b \
            WHERE b.staff_id = $1 AND b.patient_id = $2 AND b.started_at <= $3 \
            AND b.expires_at > $3 AND b.ended_at IS NULL \
            ORDER BY b.grant_id LIMIT 1) g ON TRUE \
        LEFT JOIN (SELECT s.record_id, s.version, s.patient_id, s.kind, s.envelope, \
            s.created_at, s.author FROM sealed_records s \
            WHERE s.record_id = $4 AND (CAST($5 AS BIGINT) IS NULL OR s.version = $5) \
            ORDER BY s.version DESC LIMIT 1) r ON r.patient_id = p.patient_id \
        LEFT JOIN patient_deks d ON d.patient_id = p.patient_id \
        WHERE p.patient_id = $2";
    let (patient_id, record_id) = (patient.to_string(), record.to_string());
    let version = version.map(i64::from);
    // The same text and binds on either pool; only the pool's type differs.
    macro_rules! fetch {
        ($pool:expr) => {
            sqlx::query_as(SQL)
                .bind(staff_id)
                .bind(&patient_id)
                .bind(now)
                .bind(&record_id)
                .bind(version)
                .fetch_all($pool)
                .await?
        };
    }
    let rows: Vec<Row> = match db {
        Database::Postgres(pool) => fetch!(pool),
        Database::Sqlite(pool) => fetch!(pool),
    };
    let mut rows = rows.into_iter();
    let Some(first) = rows.next() else {
        return Ok(None);
    };
    let record = match (
        first.record_id,
        first.version,
        first.kind,
        first.envelope,
        first.created_at,
    ) {
        (Some(record_id), Some(version), Some(kind), Some(envelope), Some(created_at)) => {
            Some(StoredRecord {
                record: parse_id(&record_id, "record_id")?,
                version: to_u32(version, "version")?,
                patient,
                kind,
                envelope,
                created_at,
                author: first.author,
            })
        }
        _ => None,
    };
    let dek_of = |v: Option<i64>, k: Option<i64>, w: Option<Vec<u8>>| match (v, k, w) {
        (Some(v), Some(k), Some(w)) => {
            Some(to_u32(v, "dek_version").and_then(|v| StoredDek::new(patient, v, k, w)))
        }
        _ => None,
    };
    let mut deks = Vec::new();
    deks.extend(dek_of(
        first.dek_version,
        first.kek_version,
        first.wrapped_dek,
    ));
    for r in rows {
        deks.extend(dek_of(r.dek_version, r.kek_version, r.wrapped_dek));
    }
    Ok(Some(UnsealRead {
        facts: first.facts.into(),
        record,
        shredded: first.shredded_at.is_some(),
        deks: deks.into_iter().collect::<Result<_, _>>()?,
        revision: first.revision,
        facts_until: first.facts_until,
    }))
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
