//! Appointments and the waitlist.

use sea_query::{Cond, Expr, ExprTrait, Iden, Order, Query, SelectStatement};

use super::{Database, StoreError, Transaction};

#[derive(Iden)]
enum Appointments {
    Table,
    AppointmentId,
    DoctorId,
    BranchId,
    RoomId,
    PatientToken,
    ServiceCode,
    StartsAt,
    EndsAt,
    Status,
    HoldsSlot,
    BookedBy,
    BookedVia,
    CancelledBy,
    CancelledAt,
    LateCancel,
    RescheduledTo,
    CreatedAt,
    UpdatedAt,
}

#[derive(Iden)]
enum Waitlist {
    Table,
    EntryId,
    DoctorId,
    Day,
    PatientToken,
    CreatedBy,
    CreatedAt,
    NotifiedAt,
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct AppointmentRow {
    pub appointment_id: String,
    pub doctor_id: String,
    pub branch_id: String,
    pub room_id: String,
    pub patient_token: String,
    pub service_code: String,
    pub starts_at: i64,
    pub ends_at: i64,
    pub status: String,
    pub booked_by: String,
    pub booked_via: String,
    pub cancelled_by: Option<String>,
    pub cancelled_at: Option<i64>,
    pub late_cancel: Option<bool>,
    pub rescheduled_to: Option<String>,
}

const COLUMNS: [Appointments; 15] = [
    Appointments::AppointmentId,
    Appointments::DoctorId,
    Appointments::BranchId,
    Appointments::RoomId,
    Appointments::PatientToken,
    Appointments::ServiceCode,
    Appointments::StartsAt,
    Appointments::EndsAt,
    Appointments::Status,
    Appointments::BookedBy,
    Appointments::BookedVia,
    Appointments::CancelledBy,
    Appointments::CancelledAt,
    Appointments::LateCancel,
    Appointments::RescheduledTo,
];

pub async fn insert(tx: &mut Transaction, a: &AppointmentRow, now: i64) -> Result<(), StoreError> {
    tx.execute(
        &Query::insert()
            .into_table(Appointments::Table)
            .columns([
                Appointments::AppointmentId,
                Appointments::DoctorId,
                Appointments::BranchId,
                Appointments::RoomId,
                Appointments::PatientToken,
                Appointments::ServiceCode,
                Appointments::StartsAt,
                Appointments::EndsAt,
                Appointments::Status,
                Appointments::HoldsSlot,
                Appointments::BookedBy,
                Appointments::BookedVia,
                Appointments::CreatedAt,
                Appointments::UpdatedAt,
            ])
            .values_panic([
                a.appointment_id.clone().into(),
                a.doctor_id.clone().into(),
                a.branch_id.clone().into(),
                a.room_id.clone().into(),
                a.patient_token.clone().into(),
                a.service_code.clone().into(),
                a.starts_at.into(),
                a.ends_at.into(),
                a.status.clone().into(),
                true.into(),
                a.booked_by.clone().into(),
                a.booked_via.clone().into(),
                now.into(),
                now.into(),
            ])
            .to_owned(),
    )
    .await?;
    Ok(())
}

/// Which live appointments overlap `[starts_at, ends_at)` for the doctor, the room or the
/// patient, other than `except` (the appointment being moved).
pub async fn overlapping(
    tx: &mut Transaction,
    doctor_id: &str,
    room_id: &str,
    patient_token: &str,
    starts_at: i64,
    ends_at: i64,
    except: Option<&str>,
) -> Result<Vec<AppointmentRow>, StoreError> {
    let mut q = Query::select();
    q.columns(COLUMNS)
        .from(Appointments::Table)
        .and_where(Expr::col(Appointments::HoldsSlot).eq(true))
        .and_where(Expr::col(Appointments::StartsAt).lt(ends_at))
        .and_where(Expr::col(Appointments::EndsAt).gt(starts_at))
        .cond_where(
            Cond::any()
                .add(Expr::col(Appointments::DoctorId).eq(doctor_id))
                .add(Expr::col(Appointments::RoomId).eq(room_id))
                .add(Expr::col(Appointments::PatientToken).eq(patient_token)),
        );
    if let Some(except) = except {
        q.and_where(Expr::col(Appointments::AppointmentId).ne(except));
    }
    tx.fetch_all(&q).await
}

fn by_id(appointment_id: &str) -> SelectStatement {
    Query::select()
        .columns(COLUMNS)
        .from(Appointments::Table)
        .and_where(Expr::col(Appointments::AppointmentId).eq(appointment_id))
        .to_owned()
}

pub async fn get(
    db: &Database,
    appointment_id: &str,
) -> Result<Option<AppointmentRow>, StoreError> {
    db.fetch_optional(&by_id(appointment_id)).await
}

/// As [`get`], inside a transaction (a row read under the transaction's locks).
pub async fn get_in(
    tx: &mut Transaction,
    appointment_id: &str,
) -> Result<Option<AppointmentRow>, StoreError> {
    tx.fetch_optional(&by_id(appointment_id)).await
}

/// Appointments starting in `[from, until)`, optionally of one branch or one doctor, by time.
/// Cancelled and rescheduled ones are included when `include_released` is set.
pub async fn between(
    db: &Database,
    from: i64,
    until: i64,
    branch_id: Option<&str>,
    doctor_id: Option<&str>,
    include_released: bool,
) -> Result<Vec<AppointmentRow>, StoreError> {
    let mut q = Query::select();
    q.columns(COLUMNS)
        .from(Appointments::Table)
        .and_where(Expr::col(Appointments::StartsAt).gte(from))
        .and_where(Expr::col(Appointments::StartsAt).lt(until))
        .order_by(Appointments::StartsAt, Order::Asc)
        .order_by(Appointments::DoctorId, Order::Asc);
    if let Some(branch_id) = branch_id {
        q.and_where(Expr::col(Appointments::BranchId).eq(branch_id));
    }
    if let Some(doctor_id) = doctor_id {
        q.and_where(Expr::col(Appointments::DoctorId).eq(doctor_id));
    }
    if !include_released {
        q.and_where(Expr::col(Appointments::HoldsSlot).eq(true));
    }
    db.fetch_all(&q).await
}

/// A patient's appointments, newest first.
pub async fn of_patient(
    db: &Database,
    patient_token: &str,
) -> Result<Vec<AppointmentRow>, StoreError> {
    db.fetch_all(
        &Query::select()
            .columns(COLUMNS)
            .from(Appointments::Table)
            .and_where(Expr::col(Appointments::PatientToken).eq(patient_token))
            .order_by(Appointments::StartsAt, Order::Desc)
            .to_owned(),
    )
    .await
}

/// A patient's appointments that still hold their slot and start after `after`, soonest first
/// (read under the transaction's locks: what a deletion must not leave behind).
pub async fn live_after(
    tx: &mut Transaction,
    patient_token: &str,
    after: i64,
) -> Result<Vec<AppointmentRow>, StoreError> {
    tx.fetch_all(
        &Query::select()
            .columns(COLUMNS)
            .from(Appointments::Table)
            .and_where(Expr::col(Appointments::PatientToken).eq(patient_token))
            .and_where(Expr::col(Appointments::HoldsSlot).eq(true))
            .and_where(Expr::col(Appointments::StartsAt).gt(after))
            .order_by(Appointments::StartsAt, Order::Asc)
            .to_owned(),
    )
    .await
}

/// Moves an appointment to a new status, from the status it was read in (so two concurrent
/// changes cannot both apply). Returns whether it applied.
pub async fn set_status(
    tx: &mut Transaction,
    appointment_id: &str,
    from_status: &str,
    to_status: &str,
    holds_slot: bool,
    now: i64,
) -> Result<bool, StoreError> {
    let n = tx
        .execute(
            &Query::update()
                .table(Appointments::Table)
                .value(Appointments::Status, to_status)
                .value(Appointments::HoldsSlot, holds_slot)
                .value(Appointments::UpdatedAt, now)
                .and_where(Expr::col(Appointments::AppointmentId).eq(appointment_id))
                .and_where(Expr::col(Appointments::Status).eq(from_status))
                .to_owned(),
        )
        .await?;
    Ok(n == 1)
}

/// Cancels a booked or arrived appointment, recording who and whether it was late.
pub async fn cancel(
    tx: &mut Transaction,
    appointment_id: &str,
    from_status: &str,
    cancelled_by: &str,
    late: bool,
    now: i64,
) -> Result<bool, StoreError> {
    let n = tx
        .execute(
            &Query::update()
                .table(Appointments::Table)
                .value(Appointments::Status, "cancelled")
                .value(Appointments::HoldsSlot, false)
                .value(Appointments::CancelledBy, cancelled_by)
                .value(Appointments::CancelledAt, now)
                .value(Appointments::LateCancel, late)
                .value(Appointments::UpdatedAt, now)
                .and_where(Expr::col(Appointments::AppointmentId).eq(appointment_id))
                .and_where(Expr::col(Appointments::Status).eq(from_status))
                .to_owned(),
        )
        .await?;
    Ok(n == 1)
}

/// Marks an appointment as moved to another one; it releases its slot.
pub async fn mark_rescheduled(
    tx: &mut Transaction,
    appointment_id: &str,
    to: &str,
    by: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let n = tx
        .execute(
            &Query::update()
                .table(Appointments::Table)
                .value(Appointments::Status, "rescheduled")
                .value(Appointments::HoldsSlot, false)
                .value(Appointments::RescheduledTo, to)
                .value(Appointments::CancelledBy, by)
                .value(Appointments::CancelledAt, now)
                .value(Appointments::UpdatedAt, now)
                .and_where(Expr::col(Appointments::AppointmentId).eq(appointment_id))
                .and_where(Expr::col(Appointments::Status).eq("booked"))
                .to_owned(),
        )
        .await?;
    Ok(n == 1)
}

const WAITLIST_COLUMNS: [Waitlist; 6] = [
    Waitlist::EntryId,
    Waitlist::DoctorId,
    Waitlist::Day,
    Waitlist::PatientToken,
    Waitlist::CreatedAt,
    Waitlist::NotifiedAt,
];

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct WaitlistRow {
    pub entry_id: String,
    pub doctor_id: String,
    pub day: String,
    pub patient_token: String,
    pub created_at: i64,
    pub notified_at: Option<i64>,
}

pub async fn add_to_waitlist(
    db: &Database,
    w: &WaitlistRow,
    created_by: &str,
) -> Result<(), StoreError> {
    db.execute(
        &Query::insert()
            .into_table(Waitlist::Table)
            .columns([
                Waitlist::EntryId,
                Waitlist::DoctorId,
                Waitlist::Day,
                Waitlist::PatientToken,
                Waitlist::CreatedBy,
                Waitlist::CreatedAt,
            ])
            .values_panic([
                w.entry_id.clone().into(),
                w.doctor_id.clone().into(),
                w.day.clone().into(),
                w.patient_token.clone().into(),
                created_by.into(),
                w.created_at.into(),
            ])
            .to_owned(),
    )
    .await?;
    Ok(())
}

/// The waitlist of a doctor's day, first come first.
pub async fn waitlist(
    db: &Database,
    doctor_id: &str,
    day: &str,
) -> Result<Vec<WaitlistRow>, StoreError> {
    db.fetch_all(
        &Query::select()
            .columns(WAITLIST_COLUMNS)
            .from(Waitlist::Table)
            .and_where(Expr::col(Waitlist::DoctorId).eq(doctor_id))
            .and_where(Expr::col(Waitlist::Day).eq(day))
            .order_by(Waitlist::CreatedAt, Order::Asc)
            .to_owned(),
    )
    .await
}

/// Marks the first not-yet-notified entry of a doctor's day as notified and returns it.
pub async fn notify_first_waiting(
    tx: &mut Transaction,
    doctor_id: &str,
    day: &str,
    now: i64,
) -> Result<Option<WaitlistRow>, StoreError> {
    let first: Option<WaitlistRow> = tx
        .fetch_optional(
            &Query::select()
                .columns(WAITLIST_COLUMNS)
                .from(Waitlist::Table)
                .and_where(Expr::col(Waitlist::DoctorId).eq(doctor_id))
                .and_where(Expr::col(Waitlist::Day).eq(day))
                .and_where(Expr::col(Waitlist::NotifiedAt).is_null())
                .order_by(Waitlist::CreatedAt, Order::Asc)
                .limit(1)
                .to_owned(),
        )
        .await?;
    if let Some(entry) = &first {
        tx.execute(
            &Query::update()
                .table(Waitlist::Table)
                .value(Waitlist::NotifiedAt, now)
                .and_where(Expr::col(Waitlist::EntryId).eq(entry.entry_id.clone()))
                .to_owned(),
        )
        .await?;
    }
    Ok(first)
}

/// Takes a patient off every waitlist (their account is deleted).
pub async fn delete_waitlist_of(
    tx: &mut Transaction,
    patient_token: &str,
) -> Result<u64, StoreError> {
    tx.execute(
        &Query::delete()
            .from_table(Waitlist::Table)
            .and_where(Expr::col(Waitlist::PatientToken).eq(patient_token))
            .to_owned(),
    )
    .await
}
