//! The message outbox: written in the same transaction as the booking it is about, sent later.

use sea_query::{Expr, ExprTrait, Iden, Order, Query};

use super::{Database, StoreError, Transaction};

#[derive(Iden)]
enum Outbox {
    Table,
    MessageId,
    Kind,
    PatientToken,
    AppointmentId,
    DueAt,
    SentAt,
    Channel,
    Attempts,
    LastError,
    DroppedAt,
    CreatedAt,
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct MessageRow {
    pub message_id: String,
    pub kind: String,
    pub patient_token: String,
    pub appointment_id: Option<String>,
    pub due_at: i64,
    pub attempts: i64,
}

pub async fn enqueue(tx: &mut Transaction, m: &MessageRow, now: i64) -> Result<(), StoreError> {
    tx.execute(
        &Query::insert()
            .into_table(Outbox::Table)
            .columns([
                Outbox::MessageId,
                Outbox::Kind,
                Outbox::PatientToken,
                Outbox::AppointmentId,
                Outbox::DueAt,
                Outbox::CreatedAt,
            ])
            .values_panic([
                m.message_id.clone().into(),
                m.kind.clone().into(),
                m.patient_token.clone().into(),
                m.appointment_id.clone().into(),
                m.due_at.into(),
                now.into(),
            ])
            .to_owned(),
    )
    .await?;
    Ok(())
}

/// Unsent, undropped messages due by `now`, oldest first.
pub async fn due(db: &Database, now: i64, limit: u64) -> Result<Vec<MessageRow>, StoreError> {
    db.fetch_all(
        &Query::select()
            .columns([
                Outbox::MessageId,
                Outbox::Kind,
                Outbox::PatientToken,
                Outbox::AppointmentId,
                Outbox::DueAt,
                Outbox::Attempts,
            ])
            .from(Outbox::Table)
            .and_where(Expr::col(Outbox::SentAt).is_null())
            .and_where(Expr::col(Outbox::DroppedAt).is_null())
            .and_where(Expr::col(Outbox::DueAt).lte(now))
            .order_by(Outbox::DueAt, Order::Asc)
            .limit(limit)
            .to_owned(),
    )
    .await
}

/// Claims a due message for one sender: moves its due time to `lease_until` if it is still
/// what was read. Two senders (replicas) never both claim it; a sender that dies leaves it
/// to be retried when the lease ends.
pub async fn claim(
    db: &Database,
    message_id: &str,
    read_due_at: i64,
    lease_until: i64,
) -> Result<bool, StoreError> {
    let n = db
        .execute(
            &Query::update()
                .table(Outbox::Table)
                .value(Outbox::DueAt, lease_until)
                .and_where(Expr::col(Outbox::MessageId).eq(message_id))
                .and_where(Expr::col(Outbox::DueAt).eq(read_due_at))
                .and_where(Expr::col(Outbox::SentAt).is_null())
                .to_owned(),
        )
        .await?;
    Ok(n == 1)
}

/// Marks a message sent; only if it still is unsent, so two senders never both count it.
pub async fn mark_sent(
    db: &Database,
    message_id: &str,
    channel: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let n = db
        .execute(
            &Query::update()
                .table(Outbox::Table)
                .value(Outbox::SentAt, now)
                .value(Outbox::Channel, channel)
                .and_where(Expr::col(Outbox::MessageId).eq(message_id))
                .and_where(Expr::col(Outbox::SentAt).is_null())
                .to_owned(),
        )
        .await?;
    Ok(n == 1)
}

/// Records a failed attempt (`error` is a code, never a cause text with data) and when to retry.
pub async fn mark_failed(
    db: &Database,
    message_id: &str,
    error: &str,
    retry_at: i64,
) -> Result<(), StoreError> {
    db.execute(
        &Query::update()
            .table(Outbox::Table)
            .value(Outbox::Attempts, Expr::col(Outbox::Attempts).add(1))
            .value(Outbox::LastError, error)
            .value(Outbox::DueAt, retry_at)
            .and_where(Expr::col(Outbox::MessageId).eq(message_id))
            .to_owned(),
    )
    .await?;
    Ok(())
}

/// Gives a message up (no contact on file, too many attempts, appointment cancelled).
pub async fn drop_message(
    db: &Database,
    message_id: &str,
    reason: &str,
    now: i64,
) -> Result<(), StoreError> {
    db.execute(
        &Query::update()
            .table(Outbox::Table)
            .value(Outbox::DroppedAt, now)
            .value(Outbox::LastError, reason)
            .and_where(Expr::col(Outbox::MessageId).eq(message_id))
            .to_owned(),
    )
    .await?;
    Ok(())
}

/// Drops the unsent reminders of an appointment that was cancelled or moved.
pub async fn drop_for_appointment(
    tx: &mut Transaction,
    appointment_id: &str,
    now: i64,
) -> Result<u64, StoreError> {
    tx.execute(
        &Query::update()
            .table(Outbox::Table)
            .value(Outbox::DroppedAt, now)
            .value(Outbox::LastError, "appointment_released")
            .and_where(Expr::col(Outbox::AppointmentId).eq(appointment_id))
            .and_where(Expr::col(Outbox::SentAt).is_null())
            .and_where(Expr::col(Outbox::DroppedAt).is_null())
            .to_owned(),
    )
    .await
}

/// Unsent, undropped messages of one kind for a patient, oldest first (a deletion settles the
/// queued ends of care relationships before the vault unlinks the token).
pub async fn pending_of_patient(
    db: &Database,
    patient_token: &str,
    kind: &str,
) -> Result<Vec<MessageRow>, StoreError> {
    db.fetch_all(
        &Query::select()
            .columns([
                Outbox::MessageId,
                Outbox::Kind,
                Outbox::PatientToken,
                Outbox::AppointmentId,
                Outbox::DueAt,
                Outbox::Attempts,
            ])
            .from(Outbox::Table)
            .and_where(Expr::col(Outbox::PatientToken).eq(patient_token))
            .and_where(Expr::col(Outbox::Kind).eq(kind))
            .and_where(Expr::col(Outbox::SentAt).is_null())
            .and_where(Expr::col(Outbox::DroppedAt).is_null())
            .order_by(Outbox::CreatedAt, Order::Asc)
            .to_owned(),
    )
    .await
}

/// Deletes every message of a patient, sent or not: the messages rested on their consent,
/// which a deletion withdraws, and the vault no longer resolves the token to send one.
pub async fn delete_of_patient(
    tx: &mut Transaction,
    patient_token: &str,
) -> Result<u64, StoreError> {
    tx.execute(
        &Query::delete()
            .from_table(Outbox::Table)
            .and_where(Expr::col(Outbox::PatientToken).eq(patient_token))
            .to_owned(),
    )
    .await
}
