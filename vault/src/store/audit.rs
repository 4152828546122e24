//! Audit events and chain checkpoints. Append-only: the vault only ever inserts here, and the
//! database refuses UPDATE and DELETE (migration 0004).

use sea_query::{Expr, ExprTrait, Iden, Order, Query};
use sqlx::Row;

use super::keys::Patients;
use super::{Database, StoreError, Transaction};

/// The audit tables' names, shared with the security officer's queries (store/oversight.rs).
#[derive(Iden)]
pub(crate) enum AuditEvents {
    Table,
    Seq,
    At,
    RequestId,
    Principal,
    Role,
    Branch,
    Action,
    PatientToken,
    PatientTokens,
    Purpose,
    ReasonCode,
    Decision,
    Reasons,
    ClientAddr,
    EntryHash,
}

#[derive(Iden)]
pub(crate) enum AuditCheckpoints {
    Table,
    Seq,
    HeadHash,
    Mac,
    CreatedAt,
}

/// One event. Tokens and codes only, never personal data.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct AuditRow {
    pub at: i64,
    pub request_id: String,
    pub principal: String,
    pub role: String,
    pub branch: Option<String>,
    pub action: String,
    pub patient_token: Option<String>,
    /// The tokens an event about many patients covers, space-separated (a resolve's shared
    /// decision); `patient_token` is then `None`. See [`AuditRow::tokens`].
    pub patient_tokens: Option<String>,
    pub purpose: Option<String>,
    pub reason_code: Option<String>,
    pub decision: String,
    pub reasons: String,
    pub client_addr: Option<String>,
}

impl AuditRow {
    /// Every patient token the event names: its one token, or the tokens of its list.
    pub fn tokens(&self) -> impl Iterator<Item = &str> {
        self.patient_token
            .as_deref()
            .into_iter()
            .chain(self.patient_tokens.iter().flat_map(|l| l.split(' ')))
    }

    /// How many patients the event is about (at least 1, for counting events without a token).
    pub fn weight(&self) -> usize {
        self.tokens().count().max(1)
    }
}

/// An event with its place in the chain.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct ChainedRow {
    pub seq: i64,
    #[sqlx(flatten)]
    pub row: AuditRow,
    pub entry_hash: Option<Vec<u8>>,
}

/// What an event's decision was made on, to be checked when it commits: the patient and the
/// revision read with the facts (ADR 0029). Nothing of a batch is written if any of its checks
/// fails.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RevisionCheck {
    pub patient_id: String,
    pub revision: i64,
}

/// Wraps a failed audit write: whatever the cause (disk full, read-only, a trigger, a lost
/// connection), an event that cannot be written stops the request.
fn audit_failure(e: StoreError) -> StoreError {
    match e {
        StoreError::Unavailable(e) | StoreError::Other(e) | StoreError::AuditFailed(e) => {
            StoreError::AuditFailed(e)
        }
        other => other,
    }
}

/// Serialises audit writers of all replicas on PostgreSQL for the rest of the transaction.
pub async fn lock_chain(tx: &mut Transaction) -> Result<(), StoreError> {
    if let Transaction::Postgres(t) = tx {
        sqlx::query("SELECT pg_advisory_xact_lock(7720011)")
            .execute(&mut **t)
            .await
            .map_err(|e| audit_failure(e.into()))?;
    }
    Ok(())
}

/// The newest event's sequence number and hash.
pub async fn head(tx: &mut Transaction) -> Result<Option<(i64, Vec<u8>)>, StoreError> {
    #[derive(sqlx::FromRow)]
    struct Row {
        seq: i64,
        entry_hash: Option<Vec<u8>>,
    }
    let row = tx
        .fetch_optional::<Row, _>(
            &Query::select()
                .columns([AuditEvents::Seq, AuditEvents::EntryHash])
                .from(AuditEvents::Table)
                .order_by(AuditEvents::Seq, Order::Desc)
                .limit(1)
                .to_owned(),
        )
        .await
        .map_err(audit_failure)?;
    Ok(row.map(|r| (r.seq, r.entry_hash.unwrap_or_default())))
}

/// Inserts chained events in the caller's transaction.
pub async fn insert_chained(tx: &mut Transaction, rows: &[ChainedRow]) -> Result<(), StoreError> {
    if rows.is_empty() {
        return Ok(());
    }
    if let Transaction::Postgres(t) = tx {
        return insert_chained_postgres(t, rows).await;
    }
    let mut q = Query::insert();
    q.into_table(AuditEvents::Table).columns([
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
    ]);
    for c in rows {
        let r = &c.row;
        q.values_panic([
            c.seq.into(),
            r.at.into(),
            r.request_id.clone().into(),
            r.principal.clone().into(),
            r.role.clone().into(),
            r.branch.clone().into(),
            r.action.clone().into(),
            r.patient_token.clone().into(),
            r.patient_tokens.clone().into(),
            r.purpose.clone().into(),
            r.reason_code.clone().into(),
            r.decision.clone().into(),
            r.reasons.clone().into(),
            r.client_addr.clone().into(),
            c.entry_hash.clone().into(),
        ]);
    }
    tx.execute(&q).await.map_err(audit_failure)?;
    Ok(())
}

/// The audit writer's own PostgreSQL connection, which it keeps from one batch to the next. A
/// statement run on the pool gives its connection back when it ends, and sqlx checks every
/// connection given back with a round trip (a Sync) before anyone may take it again: with the
/// writer's pool of one, every batch would wait for that check of the batch before.
pub type WriterConnection = sqlx::pool::PoolConnection<sqlx::Postgres>;

/// Takes the writer's connection from its pool; `None` on SQLite, where the writer uses a
/// transaction for every batch.
pub async fn writer_connection(db: &Database) -> Result<Option<WriterConnection>, StoreError> {
    match db {
        Database::Postgres(pool) => pool
            .acquire()
            .await
            .map(Some)
            .map_err(|e| audit_failure(e.into())),
        Database::Sqlite(_) => Ok(None),
    }
}

/// On PostgreSQL, inserts a batch as one statement committed on its own: a materialised CTE
/// takes the chain lock (the same one [`lock_chain`] takes) before anything else is read, and
/// the statement's implicit transaction releases it at commit. The batch's revision checks are
/// read after the lock, in the insert's snapshot: if any patient's revision moved, nothing is
/// inserted and the statement answers the checks that failed (empty: the batch is written). A
/// unique violation on `seq` (another writer appended meanwhile) is `StoreError::Conflict`, as
/// in the transaction.
///
/// Each check is one probe of the `patients` key: a correlated scalar subquery, which
/// PostgreSQL runs per check and never turns into a join. Written as `NOT EXISTS`, the planner
/// chose to hash the whole table when it held a few hundred patients, about a fifth of the
/// writer's time in the load benchmark (docs/benchmarks.md, session 15); the probe is the plan
/// at any size.
pub async fn insert_chained_alone(
    conn: &mut WriterConnection,
    rows: &[ChainedRow],
    checks: &[RevisionCheck],
) -> Result<Vec<RevisionCheck>, StoreError> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    const SQL: &str = "WITH chain_lock AS MATERIALIZED (SELECT pg_advisory_xact_lock(7720011)), \
        stale AS MATERIALIZED (SELECT c.patient_id, c.revision FROM chain_lock, \
            UNNEST($16::TEXT[], $17::BIGINT[]) AS c (patient_id, revision) \
            WHERE c.revision IS DISTINCT FROM \
                (SELECT p.revision FROM patients p WHERE p.patient_id = c.patient_id)), \
        written AS (INSERT INTO audit_events (seq, at, request_id, principal, role, branch, \
            action, patient_token, purpose, reason_code, decision, reasons, client_addr, \
            entry_hash, patient_tokens) \
            SELECT u.* FROM chain_lock, UNNEST($1::BIGINT[], $2::BIGINT[], $3::TEXT[], \
            $4::TEXT[], $5::TEXT[], $6::TEXT[], $7::TEXT[], $8::TEXT[], $9::TEXT[], $10::TEXT[], \
            $11::TEXT[], $12::TEXT[], $13::TEXT[], $14::BYTEA[], $15::TEXT[]) AS u \
            WHERE NOT EXISTS (SELECT 1 FROM stale)) \
        SELECT patient_id, revision FROM stale";
    let stale = bind_columns(sqlx::query(SQL), rows)
        .bind(
            checks
                .iter()
                .map(|c| c.patient_id.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(checks.iter().map(|c| c.revision).collect::<Vec<i64>>())
        .fetch_all(&mut **conn)
        .await
        .map_err(|e| match StoreError::from(e) {
            StoreError::Conflict => StoreError::Conflict,
            other => audit_failure(other),
        })?;
    let failed = stale
        .iter()
        .map(|row| {
            Ok(RevisionCheck {
                patient_id: row.try_get(0)?,
                revision: row.try_get(1)?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(|e| audit_failure(e.into()))?;
    Ok(failed)
}

/// The checks whose patient's revision is no longer the one checked (or whose patient is gone),
/// read in the caller's transaction after [`lock_chain`].
pub async fn stale_revisions(
    tx: &mut Transaction,
    checks: &[RevisionCheck],
) -> Result<Vec<RevisionCheck>, StoreError> {
    if checks.is_empty() {
        return Ok(Vec::new());
    }
    #[derive(sqlx::FromRow)]
    struct Row {
        patient_id: String,
        revision: i64,
    }
    let rows: Vec<Row> = tx
        .fetch_all(
            &Query::select()
                .columns([Patients::PatientId, Patients::Revision])
                .from(Patients::Table)
                .and_where(
                    Expr::col(Patients::PatientId)
                        .is_in(checks.iter().map(|c| c.patient_id.clone())),
                )
                .to_owned(),
        )
        .await
        .map_err(audit_failure)?;
    Ok(checks
        .iter()
        .filter(|c| {
            !rows
                .iter()
                .any(|r| r.patient_id == c.patient_id && r.revision == c.revision)
        })
        .cloned()
        .collect())
}

/// Binds a batch's 15 columns as arrays, in the order of the inserts' column lists. The arrays
/// borrow the rows' strings: a batch of a 300-token resolve binds 300 events without copying
/// them again.
fn bind_columns<'q>(
    query: sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>,
    rows: &'q [ChainedRow],
) -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments> {
    let column = |f: fn(&ChainedRow) -> Option<&str>| rows.iter().map(f).collect::<Vec<_>>();
    let text = |f: fn(&ChainedRow) -> &str| rows.iter().map(f).collect::<Vec<_>>();
    query
        .bind(rows.iter().map(|c| c.seq).collect::<Vec<i64>>())
        .bind(rows.iter().map(|c| c.row.at).collect::<Vec<i64>>())
        .bind(text(|c| &c.row.request_id))
        .bind(text(|c| &c.row.principal))
        .bind(text(|c| &c.row.role))
        .bind(column(|c| c.row.branch.as_deref()))
        .bind(text(|c| &c.row.action))
        .bind(column(|c| c.row.patient_token.as_deref()))
        .bind(column(|c| c.row.purpose.as_deref()))
        .bind(column(|c| c.row.reason_code.as_deref()))
        .bind(text(|c| &c.row.decision))
        .bind(text(|c| &c.row.reasons))
        .bind(column(|c| c.row.client_addr.as_deref()))
        .bind(
            rows.iter()
                .map(|c| c.entry_hash.as_deref())
                .collect::<Vec<Option<&[u8]>>>(),
        )
        .bind(column(|c| c.row.patient_tokens.as_deref()))
}

/// The PostgreSQL insert of a batch: one array per column, unnested into rows. The statement
/// text is the same for every batch size, so it is parsed and planned once per connection and
/// binds 15 parameters whatever the batch holds; a multi-row `VALUES` built per batch size
/// binds 15 per event and is re-prepared for each new size. This is the audit's hot path
/// (every read's events go through the group writer), so it is written by hand.
async fn insert_chained_postgres(
    tx: &mut sqlx::Transaction<'static, sqlx::Postgres>,
    rows: &[ChainedRow],
) -> Result<(), StoreError> {
    const SQL: &str = "INSERT INTO audit_events (seq, at, request_id, principal, role, branch, \
        action, patient_token, purpose, reason_code, decision, reasons, client_addr, entry_hash, \
        patient_tokens) \
        SELECT * FROM UNNEST($1::BIGINT[], $2::BIGINT[], $3::TEXT[], $4::TEXT[], $5::TEXT[], \
        $6::TEXT[], $7::TEXT[], $8::TEXT[], $9::TEXT[], $10::TEXT[], $11::TEXT[], $12::TEXT[], \
        $13::TEXT[], $14::BYTEA[], $15::TEXT[])";
    bind_columns(sqlx::query(SQL), rows)
        .execute(&mut **tx)
        .await
        .map_err(|e| audit_failure(e.into()))?;
    Ok(())
}

pub(crate) fn event_columns() -> sea_query::SelectStatement {
    Query::select()
        .columns([
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
        .from(AuditEvents::Table)
        .to_owned()
}

/// Events with `seq > after`, oldest first, at most `limit`.
pub async fn events_after(
    db: &Database,
    after: i64,
    limit: u64,
) -> Result<Vec<ChainedRow>, StoreError> {
    db.fetch_all(
        &event_columns()
            .and_where(Expr::col(AuditEvents::Seq).gt(after))
            .order_by(AuditEvents::Seq, Order::Asc)
            .limit(limit)
            .to_owned(),
    )
    .await
}

/// A signed chain head.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Checkpoint {
    pub seq: i64,
    pub head_hash: Vec<u8>,
    pub mac: Vec<u8>,
    pub created_at: i64,
}

pub async fn insert_checkpoint(tx: &mut Transaction, c: &Checkpoint) -> Result<(), StoreError> {
    tx.execute(
        &Query::insert()
            .into_table(AuditCheckpoints::Table)
            .columns([
                AuditCheckpoints::Seq,
                AuditCheckpoints::HeadHash,
                AuditCheckpoints::Mac,
                AuditCheckpoints::CreatedAt,
            ])
            .values_panic([
                c.seq.into(),
                c.head_hash.clone().into(),
                c.mac.clone().into(),
                c.created_at.into(),
            ])
            .to_owned(),
    )
    .await
    .map_err(audit_failure)?;
    Ok(())
}

/// The newest checkpoint, if any.
pub async fn last_checkpoint(tx: &mut Transaction) -> Result<Option<Checkpoint>, StoreError> {
    tx.fetch_optional(
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
    .map_err(audit_failure)
}

pub async fn checkpoints(db: &Database) -> Result<Vec<Checkpoint>, StoreError> {
    db.fetch_all(
        &Query::select()
            .columns([
                AuditCheckpoints::Seq,
                AuditCheckpoints::HeadHash,
                AuditCheckpoints::Mac,
                AuditCheckpoints::CreatedAt,
            ])
            .from(AuditCheckpoints::Table)
            .order_by(AuditCheckpoints::Seq, Order::Asc)
            .to_owned(),
    )
    .await
}
