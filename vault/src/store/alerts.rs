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

/// Which events of a principal a rate rule counts (see `audit::alerts`).
#[derive(Clone, Copy, Debug)]
pub enum RuleEvents {
    /// Permitted events of these actions (the patient-volume rule's reads).
    Permitted(&'static [&'static str]),
    /// Denied events of any action.
    Denied,
    /// Events of this action by a service principal (the service-rate rule's resolves).
    ByService(&'static str),
}

/// The events of `principal` that `events` selects, with `at > since` and `seq <= to_seq`,
/// newest first, at most `limit`: one rate rule's window. The query reads the principal's
/// range of the `(principal, at)` index, so a scan reads what its rules count, however long
/// the audit has grown, and a window cut by `limit` loses its oldest events, never the ones
/// just written. `seq <= to_seq` is applied here, not in SQL: as a condition it let the
/// planner add a scan of the whole primary key (ADR 0022).
pub async fn rule_window(
    tx: &mut Transaction,
    principal: &str,
    since: i64,
    to_seq: i64,
    events: RuleEvents,
    limit: u64,
) -> Result<Vec<ChainedRow>, StoreError> {
    let mut q = super::audit::event_columns();
    q.and_where(Expr::col(AuditEvents::Principal).eq(principal))
        .and_where(Expr::col(AuditEvents::At).gt(since));
    match events {
        RuleEvents::Permitted(actions) => {
            q.and_where(Expr::col(AuditEvents::Decision).eq("permit"))
                .and_where(Expr::col(AuditEvents::Action).is_in(actions.iter().copied()));
        }
        RuleEvents::Denied => {
            q.and_where(Expr::col(AuditEvents::Decision).eq("deny"));
        }
        RuleEvents::ByService(action) => {
            q.and_where(Expr::col(AuditEvents::Action).eq(action))
                .and_where(Expr::col(AuditEvents::Role).eq("service"));
        }
    }
    q.order_by(AuditEvents::At, Order::Desc).limit(limit);
    let mut rows: Vec<ChainedRow> = tx.fetch_all(&q).await?;
    // Events committed after the scan's last one are the next scan's.
    rows.retain(|e| e.seq <= to_seq);
    Ok(rows)
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
