//! Identity fields, pseudonyms and blind indexes of patients.

use sea_query::{Expr, ExprTrait, Iden, OnConflict, Query};

use super::{Database, StoreError, Transaction, parse_id, to_u32};
use crate::ids::PatientId;

#[derive(Iden)]
enum IdentityFields {
    Table,
    PatientId,
    Field,
    Version,
    Envelope,
    UpdatedAt,
}

#[derive(Iden)]
enum PatientTokens {
    Table,
    Token,
    Domain,
    PatientId,
    CreatedAt,
}

#[derive(Iden)]
enum BlindIndexes {
    Table,
    Kind,
    Digest,
    PatientId,
}

/// One sealed identity field.
pub struct StoredField {
    pub patient: PatientId,
    pub field: String,
    pub version: u32,
    pub envelope: Vec<u8>,
}

#[derive(sqlx::FromRow)]
struct FieldRow {
    patient_id: String,
    field: String,
    version: i64,
    envelope: Vec<u8>,
}

impl TryFrom<FieldRow> for StoredField {
    type Error = StoreError;
    fn try_from(r: FieldRow) -> Result<Self, StoreError> {
        Ok(StoredField {
            patient: parse_id(&r.patient_id, "patient_id")?,
            field: r.field,
            version: to_u32(r.version, "version")?,
            envelope: r.envelope,
        })
    }
}

/// Writes a field (insert, or replace with the given version).
pub async fn upsert_field(
    tx: &mut Transaction,
    f: &StoredField,
    now: i64,
) -> Result<(), StoreError> {
    tx.execute(
        &Query::insert()
            .into_table(IdentityFields::Table)
            .columns([
                IdentityFields::PatientId,
                IdentityFields::Field,
                IdentityFields::Version,
                IdentityFields::Envelope,
                IdentityFields::UpdatedAt,
            ])
            .values_panic([
                f.patient.to_string().into(),
                f.field.clone().into(),
                i64::from(f.version).into(),
                f.envelope.clone().into(),
                now.into(),
            ])
            .on_conflict(
                OnConflict::columns([IdentityFields::PatientId, IdentityFields::Field])
                    .update_columns([
                        IdentityFields::Version,
                        IdentityFields::Envelope,
                        IdentityFields::UpdatedAt,
                    ])
                    .to_owned(),
            )
            .to_owned(),
    )
    .await?;
    Ok(())
}

/// Removes a field (an update that clears an optional field).
pub async fn delete_field(
    tx: &mut Transaction,
    patient: PatientId,
    field: &str,
) -> Result<(), StoreError> {
    tx.execute(
        &Query::delete()
            .from_table(IdentityFields::Table)
            .and_where(Expr::col(IdentityFields::PatientId).eq(patient.to_string()))
            .and_where(Expr::col(IdentityFields::Field).eq(field))
            .to_owned(),
    )
    .await?;
    Ok(())
}

/// The named fields of many patients in one query.
pub async fn fields_of(
    db: &Database,
    patients: &[PatientId],
    fields: &[&str],
) -> Result<Vec<StoredField>, StoreError> {
    if patients.is_empty() || fields.is_empty() {
        return Ok(Vec::new());
    }
    db.fetch_all::<FieldRow, _>(
        &Query::select()
            .columns([
                IdentityFields::PatientId,
                IdentityFields::Field,
                IdentityFields::Version,
                IdentityFields::Envelope,
            ])
            .from(IdentityFields::Table)
            .and_where(
                Expr::col(IdentityFields::PatientId).is_in(patients.iter().map(|p| p.to_string())),
            )
            .and_where(Expr::col(IdentityFields::Field).is_in(fields.iter().copied()))
            .to_owned(),
    )
    .await?
    .into_iter()
    .map(StoredField::try_from)
    .collect()
}

/// What a resolve needs of one token it found: the patient, the key state and the sealed
/// fields asked for.
pub struct ResolveEntry {
    pub patient: PatientId,
    pub keys: super::keys::PatientKeyState,
    pub fields: Vec<StoredField>,
}

/// One row of a resolve: a token found, by its place in the list asked for (from 0), with its
/// patient's key state and one sealed field asked for (`None` where the patient has none).
#[derive(sqlx::FromRow)]
struct ResolveRow {
    position: i64,
    patient_id: String,
    shredded_at: Option<i64>,
    kek_version: Option<i64>,
    wrapped_dek: Option<Vec<u8>>,
    field: Option<String>,
    version: Option<i64>,
    envelope: Option<Vec<u8>>,
}

/// A resolve's reads in one statement: each token of `domain` with its patient, the patient's
/// DEK of `dek_version` (or that it was shredded) and the sealed `fields`. The answer has one
/// entry per token, in the order asked; `None` for a token not found. `fields` names one field
/// at least (the API refuses an empty list): PostgreSQL answers a row per token and field, so
/// with none every token would read as not found.
///
/// How it is shaped, from the day-view profiles (ADR 0018, 0020, 0021, 0027):
/// - The token and field lists travel as one array parameter each (PostgreSQL) or one JSON
///   array (SQLite), joined rather than spelled out as `IN ($1, ...)`: with a list of hundreds
///   of parameters PostgreSQL's generic plan rebuilt and scanned the list for every row.
/// - One row per token and field asked for. On PostgreSQL each field is found by its whole
///   key (patient, field) in the key's index, which carries version and envelope (migration
///   0012); the `LIMIT 1` (the key is unique) keeps the planner from turning that probe into a
///   scan of all the patient's fields filtered by the list. The token and DEK probes are
///   index-only too (migration 0013). The day view asks for one field (ADR 0025), so its rows
///   are one per token.
/// - A row names its token by its place in the list, not by the token's text, and the
///   patient row is probed only when the DEK is missing: a shred deletes the DEKs and marks the
///   patient in one transaction, so in one snapshot a DEK present means not shredded.
pub async fn resolve_batch(
    db: &Database,
    domain: &str,
    tokens: &[String],
    fields: &[&str],
    dek_version: u32,
) -> Result<Vec<Option<ResolveEntry>>, StoreError> {
    debug_assert!(!fields.is_empty(), "a resolve reads one field at least");
    if tokens.is_empty() {
        return Ok(Vec::new());
    }
    const POSTGRES: &str = "SELECT q.position - 1 AS position, t.patient_id, \
        CASE WHEN d.wrapped_dek IS NULL THEN \
            (SELECT p.shredded_at FROM patients p WHERE p.patient_id = t.patient_id) END \
            AS shredded_at, \
        d.kek_version, d.wrapped_dek, f.field, f.version, f.envelope \
        FROM UNNEST($2::TEXT[]) WITH ORDINALITY AS q (token, position) \
        JOIN patient_tokens t ON t.token = q.token AND t.domain = $1 \
        LEFT JOIN patient_deks d ON d.patient_id = t.patient_id AND d.dek_version = $3 \
        CROSS JOIN UNNEST($4::TEXT[]) AS w (field) \
        LEFT JOIN LATERAL (SELECT i.field, i.version, i.envelope FROM identity_fields i \
            WHERE i.patient_id = t.patient_id AND i.field = w.field LIMIT 1) f ON TRUE";
    const SQLITE: &str = "SELECT q.key AS position, t.patient_id, \
        CASE WHEN d.wrapped_dek IS NULL THEN \
            (SELECT p.shredded_at FROM patients p WHERE p.patient_id = t.patient_id) END \
            AS shredded_at, \
        d.kek_version, d.wrapped_dek, f.field, f.version, f.envelope \
        FROM json_each(?2) AS q \
        JOIN patient_tokens t ON t.token = q.value AND t.domain = ?1 \
        LEFT JOIN patient_deks d ON d.patient_id = t.patient_id AND d.dek_version = ?3 \
        LEFT JOIN identity_fields f ON f.patient_id = t.patient_id \
        AND f.field IN (SELECT value FROM json_each(?4))";
    let rows: Vec<ResolveRow> = match db {
        Database::Postgres(pool) => {
            sqlx::query_as(POSTGRES)
                .bind(domain)
                .bind(tokens)
                .bind(i64::from(dek_version))
                .bind(fields)
                .fetch_all(pool)
                .await?
        }
        Database::Sqlite(pool) => {
            let json = |v: Result<String, serde_json::Error>| {
                v.map_err(|e| StoreError::Corrupt(format!("resolve lists as JSON: {e}")))
            };
            sqlx::query_as(SQLITE)
                .bind(domain)
                .bind(json(serde_json::to_string(tokens))?)
                .bind(i64::from(dek_version))
                .bind(json(serde_json::to_string(fields))?)
                .fetch_all(pool)
                .await?
        }
    };
    let mut out: Vec<Option<ResolveEntry>> =
        std::iter::repeat_with(|| None).take(tokens.len()).collect();
    for r in rows {
        let slot = usize::try_from(r.position)
            .ok()
            .and_then(|i| out.get_mut(i))
            .ok_or_else(|| StoreError::Corrupt("a resolve row outside the token list".into()))?;
        let entry = match slot {
            Some(entry) => entry,
            None => {
                let patient: PatientId = parse_id(&r.patient_id, "patient_id")?;
                let keys = match (r.shredded_at, r.kek_version, r.wrapped_dek) {
                    (None, Some(kek_version), Some(bytes)) => super::keys::PatientKeyState::Live(
                        super::keys::StoredDek::new(patient, dek_version, kek_version, bytes)?,
                    ),
                    (Some(_), None, None) => super::keys::PatientKeyState::Shredded,
                    // One statement reads one snapshot: a live patient without the DEK is
                    // damage, not a shred racing the read.
                    _ => {
                        return Err(StoreError::Corrupt(
                            "a live patient has no DEK of that version".into(),
                        ));
                    }
                };
                slot.insert(ResolveEntry {
                    patient,
                    keys,
                    fields: Vec::new(),
                })
            }
        };
        match (r.field, r.version, r.envelope) {
            (Some(field), Some(version), Some(envelope)) => {
                // The API takes distinct fields; a list naming one twice still answers it once.
                if !entry.fields.iter().any(|f| f.field == field) {
                    entry.fields.push(StoredField {
                        patient: entry.patient,
                        field,
                        version: to_u32(version, "version")?,
                        envelope,
                    });
                }
            }
            (None, None, None) => {}
            _ => {
                return Err(StoreError::Corrupt(
                    "a resolve row with part of a field".into(),
                ));
            }
        }
    }
    Ok(out)
}

/// Current versions of a patient's fields, inside a transaction (for updates).
pub async fn field_versions(
    tx: &mut Transaction,
    patient: PatientId,
) -> Result<Vec<(String, u32)>, StoreError> {
    #[derive(sqlx::FromRow)]
    struct Row {
        field: String,
        version: i64,
    }
    tx.fetch_all::<Row, _>(
        &Query::select()
            .columns([IdentityFields::Field, IdentityFields::Version])
            .from(IdentityFields::Table)
            .and_where(Expr::col(IdentityFields::PatientId).eq(patient.to_string()))
            .to_owned(),
    )
    .await?
    .into_iter()
    .map(|r| Ok((r.field, to_u32(r.version, "version")?)))
    .collect()
}

pub async fn insert_token(
    tx: &mut Transaction,
    token: &str,
    domain: &str,
    patient: PatientId,
    now: i64,
) -> Result<(), StoreError> {
    tx.execute(
        &Query::insert()
            .into_table(PatientTokens::Table)
            .columns([
                PatientTokens::Token,
                PatientTokens::Domain,
                PatientTokens::PatientId,
                PatientTokens::CreatedAt,
            ])
            .values_panic([
                token.into(),
                domain.into(),
                patient.to_string().into(),
                now.into(),
            ])
            .to_owned(),
    )
    .await?;
    Ok(())
}

#[derive(sqlx::FromRow)]
struct TokenRow {
    token: String,
    patient_id: String,
}

/// Patients behind tokens of one domain; tokens of other domains are not found.
pub async fn patients_by_tokens(
    db: &Database,
    domain: &str,
    tokens: &[String],
) -> Result<Vec<(String, PatientId)>, StoreError> {
    if tokens.is_empty() {
        return Ok(Vec::new());
    }
    db.fetch_all::<TokenRow, _>(
        &Query::select()
            .columns([PatientTokens::Token, PatientTokens::PatientId])
            .from(PatientTokens::Table)
            .and_where(Expr::col(PatientTokens::Domain).eq(domain))
            .and_where(Expr::col(PatientTokens::Token).is_in(tokens.iter().map(String::as_str)))
            .to_owned(),
    )
    .await?
    .into_iter()
    .map(|r| Ok((r.token, parse_id(&r.patient_id, "patient_id")?)))
    .collect()
}

/// The tokens of these patients in one domain.
pub async fn tokens_of(
    db: &Database,
    domain: &str,
    patients: &[PatientId],
) -> Result<Vec<(String, PatientId)>, StoreError> {
    if patients.is_empty() {
        return Ok(Vec::new());
    }
    db.fetch_all::<TokenRow, _>(
        &Query::select()
            .columns([PatientTokens::Token, PatientTokens::PatientId])
            .from(PatientTokens::Table)
            .and_where(Expr::col(PatientTokens::Domain).eq(domain))
            .and_where(
                Expr::col(PatientTokens::PatientId).is_in(patients.iter().map(|p| p.to_string())),
            )
            .to_owned(),
    )
    .await?
    .into_iter()
    .map(|r| Ok((r.token, parse_id(&r.patient_id, "patient_id")?)))
    .collect()
}

pub async fn insert_blind_index(
    tx: &mut Transaction,
    kind: &str,
    digest: &[u8],
    patient: PatientId,
) -> Result<(), StoreError> {
    tx.execute(
        &Query::insert()
            .into_table(BlindIndexes::Table)
            .columns([
                BlindIndexes::Kind,
                BlindIndexes::Digest,
                BlindIndexes::PatientId,
            ])
            .values_panic([
                kind.into(),
                digest.to_vec().into(),
                patient.to_string().into(),
            ])
            .on_conflict(
                OnConflict::columns([
                    BlindIndexes::Kind,
                    BlindIndexes::Digest,
                    BlindIndexes::PatientId,
                ])
                .do_nothing()
                .to_owned(),
            )
            .to_owned(),
    )
    .await?;
    Ok(())
}

pub async fn delete_blind_indexes(
    tx: &mut Transaction,
    kind: &str,
    patient: PatientId,
) -> Result<(), StoreError> {
    tx.execute(
        &Query::delete()
            .from_table(BlindIndexes::Table)
            .and_where(Expr::col(BlindIndexes::Kind).eq(kind))
            .and_where(Expr::col(BlindIndexes::PatientId).eq(patient.to_string()))
            .to_owned(),
    )
    .await?;
    Ok(())
}

/// At most this many patients share one exact-match value (a family phone); more is a sign of a
/// bad index value, not a search result.
pub const SEARCH_LIMIT: u64 = 50;

/// Patients whose index of `kind` equals `digest` (shredded ones included: the caller filters).
pub async fn find_by_blind_index(
    db: &Database,
    kind: &str,
    digest: &[u8],
) -> Result<Vec<PatientId>, StoreError> {
    #[derive(sqlx::FromRow)]
    struct Row {
        patient_id: String,
    }
    db.fetch_all::<Row, _>(
        &Query::select()
            .column(BlindIndexes::PatientId)
            .from(BlindIndexes::Table)
            .and_where(Expr::col(BlindIndexes::Kind).eq(kind))
            .and_where(Expr::col(BlindIndexes::Digest).eq(digest.to_vec()))
            .order_by(BlindIndexes::PatientId, sea_query::Order::Asc)
            .limit(SEARCH_LIMIT)
            .to_owned(),
    )
    .await?
    .into_iter()
    .map(|r| parse_id(&r.patient_id, "patient_id"))
    .collect()
}
