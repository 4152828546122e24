//! Alerts, the alert scanner's cursor, and staff who are also patients.

use sea_query::{Expr, ExprTrait, Iden, Order, Query};

use super::audit::{AuditEvents, ChainedRow};
use super::{Database, StoreError, Transaction};

#[derive(Iden)]
enum Alerts {
    Table,
    AlertId,
    RaisedAt,
    Rule,
    Principal,
    SeqFirst,
    SeqLast,
    Details,
}

#[derive(Iden)]
enum AlertCursor {
    Table,
    Id,
    LastSeq,
}

#[derive(Iden)]
enum StaffPatients {
    Table,
    StaffId,
    PatientId,
}

#[derive(Iden)]
enum PatientTokens {
    Table,
    Token,
    PatientId,
}

#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct AlertRow {
    pub alert_id: String,
    pub raised_at: i64,
    pub rule: String,
    pub principal: String,
    pub seq_first: i64,
    pub seq_last: i64,
    pub details: String,
}

pub async fn insert(tx: &mut Transaction, a: &AlertRow) -> Result<(), StoreError> {
    tx.execute(
        &Query::insert()
            .into_table(Alerts::Table)
            .columns([
                Alerts::AlertId,
                Alerts::RaisedAt,
                Alerts::Rule,
                Alerts::Principal,
                Alerts::SeqFirst,
                Alerts::SeqLast,
                Alerts::Details,
            ])
            .values_panic([
                a.alert_id.clone().into(),
                a.raised_at.into(),
                a.rule.clone().into(),
                a.principal.clone().into(),
                a.seq_first.into(),
                a.seq_last.into(),
                a.details.clone().into(),
            ])
            .to_owned(),
    )
    .await?;
    Ok(())
}

/// Whether `rule` already fired for `principal` at or after `since` (one alert per window).
pub async fn fired_since(
    tx: &mut Transaction,
    rule: &str,
    principal: &str,
    since: i64,
) -> Result<bool, StoreError> {
    let found: Option<AlertRow> = tx
        .fetch_optional(
            &alert_columns()
                .and_where(Expr::col(Alerts::Rule).eq(rule))
                .and_where(Expr::col(Alerts::Principal).eq(principal))
                .and_where(Expr::col(Alerts::RaisedAt).gte(since))
                .limit(1)
                .to_owned(),
        )
        .await?;
    Ok(found.is_some())
}

fn alert_columns() -> sea_query::SelectStatement {
    Query::select()
        .columns([
            Alerts::AlertId,
            Alerts::RaisedAt,
            Alerts::Rule,
            Alerts::Principal,
            Alerts::SeqFirst,
            Alerts::SeqLast,
            Alerts::Details,
        ])
        .from(Alerts::Table)
        .to_owned()
}

/// Alerts raised at or after `since`, newest first.
pub async fn list(db: &Database, since: i64, limit: u64) -> Result<Vec<AlertRow>, StoreError> {
    db.fetch_all(
        &alert_columns()
            .and_where(Expr::col(Alerts::RaisedAt).gte(since))
            .order_by(Alerts::RaisedAt, Order::Desc)
            .order_by(Alerts::AlertId, Order::Asc)
            .limit(limit)
            .to_owned(),
    )
    .await
}

/// The last audit sequence number the scanner has evaluated, locked for this transaction on
/// PostgreSQL so two replicas never scan the same events.
pub async fn cursor(tx: &mut Transaction) -> Result<i64, StoreError> {
    if let Transaction::Postgres(t) = tx {
        sqlx::query("SELECT pg_advisory_xact_lock(7720012)")
            .execute(&mut **t)
            .await?;
    }
    #[derive(sqlx::FromRow)]
    struct Row {
        last_seq: i64,
    }
    let row: Option<Row> = tx
        .fetch_optional(
            &Query::select()
                .column(AlertCursor::LastSeq)
                .from(AlertCursor::Table)
                .and_where(Expr::col(AlertCursor::Id).eq(1))
                .to_owned(),
        )
        .await?;
    Ok(row.map_or(0, |r| r.last_seq))
}

pub async fn set_cursor(tx: &mut Transaction, seq: i64) -> Result<(), StoreError> {
    tx.execute(
        &Query::update()
            .table(AlertCursor::Table)
            .value(AlertCursor::LastSeq, seq)
            .and_where(Expr::col(AlertCursor::Id).eq(1))
            .to_owned(),
    )
    .await?;
    Ok(())
}

/// Events with `at >= from` and `seq <= to_seq`: the window the rate rules look at.
pub async fn window(
    tx: &mut Transaction,
    from: i64,
    to_seq: i64,
) -> Result<Vec<ChainedRow>, StoreError> {
    let mut q = super::audit::event_columns();
    q.and_where(Expr::col(AuditEvents::At).gte(from))
        .and_where(Expr::col(AuditEvents::Seq).lte(to_seq))
        .order_by(AuditEvents::Seq, Order::Asc)
        .limit(100_000);
    tx.fetch_all(&q).await
}

/// Every token (of any domain) of a patient who is also a member of staff, with that staff id.
pub async fn staff_patient_tokens(
    tx: &mut Transaction,
) -> Result<Vec<(String, String)>, StoreError> {
    #[derive(sqlx::FromRow)]
    struct Row {
        token: String,
        staff_id: String,
    }
    let rows: Vec<Row> = tx
        .fetch_all(
            &Query::select()
                .column((PatientTokens::Table, PatientTokens::Token))
                .column((StaffPatients::Table, StaffPatients::StaffId))
                .from(StaffPatients::Table)
                .inner_join(
                    PatientTokens::Table,
                    Expr::col((PatientTokens::Table, PatientTokens::PatientId))
                        .equals((StaffPatients::Table, StaffPatients::PatientId)),
                )
                .to_owned(),
        )
        .await?;
    Ok(rows.into_iter().map(|r| (r.token, r.staff_id)).collect())
}

/// Records that a member of staff is also this patient.
pub async fn link_staff_patient(
    db: &Database,
    staff_id: &str,
    patient_id: &str,
) -> Result<(), StoreError> {
    db.execute(
        &Query::insert()
            .into_table(StaffPatients::Table)
            .columns([StaffPatients::StaffId, StaffPatients::PatientId])
            .values_panic([staff_id.into(), patient_id.into()])
            .on_conflict(
                sea_query::OnConflict::column(StaffPatients::StaffId)
                    .update_column(StaffPatients::PatientId)
                    .to_owned(),
            )
            .to_owned(),
    )
    .await?;
    Ok(())
}
