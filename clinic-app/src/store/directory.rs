//! The directory: branches, rooms, services and their prices, doctors' weekly templates and
//! exceptions (leave, sick days).

use sea_query::{Expr, ExprTrait, Iden, Order, Query};

use super::{Database, StoreError};

#[derive(Iden)]
enum Branches {
    Table,
    BranchId,
    Name,
    Address,
    UtcOffsetMinutes,
    CreatedAt,
}

#[derive(Iden)]
enum Rooms {
    Table,
    RoomId,
    BranchId,
    Name,
}

#[derive(Iden)]
enum Services {
    Table,
    Code,
    Name,
    DurationMinutes,
    VatExempt,
    DeletedAt,
}

#[derive(Iden)]
enum Prices {
    Table,
    ServiceCode,
    ValidFrom,
    Kopecks,
}

#[derive(Iden)]
enum ScheduleTemplates {
    Table,
    TemplateId,
    DoctorId,
    BranchId,
    RoomId,
    Weekday,
    StartMinute,
    EndMinute,
    SlotMinutes,
    ValidFrom,
    ValidUntil,
}

#[derive(Iden)]
enum ScheduleExceptions {
    Table,
    ExceptionId,
    DoctorId,
    FirstDay,
    LastDay,
    Kind,
    CreatedBy,
    CreatedAt,
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct BranchRow {
    pub branch_id: String,
    pub name: String,
    pub address: String,
    pub utc_offset_minutes: i64,
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct RoomRow {
    pub room_id: String,
    pub branch_id: String,
    pub name: String,
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct ServiceRow {
    pub code: String,
    pub name: String,
    pub duration_minutes: i64,
    pub vat_exempt: bool,
    pub deleted_at: Option<i64>,
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct PriceRow {
    pub service_code: String,
    pub valid_from: String,
    pub kopecks: i64,
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct TemplateRow {
    pub template_id: String,
    pub doctor_id: String,
    pub branch_id: String,
    pub room_id: String,
    pub weekday: i64,
    pub start_minute: i64,
    pub end_minute: i64,
    pub slot_minutes: i64,
    pub valid_from: String,
    pub valid_until: Option<String>,
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct ExceptionRow {
    pub exception_id: String,
    pub doctor_id: String,
    pub first_day: String,
    pub last_day: String,
    pub kind: String,
}

const BRANCH_COLUMNS: [Branches; 4] = [
    Branches::BranchId,
    Branches::Name,
    Branches::Address,
    Branches::UtcOffsetMinutes,
];

const ROOM_COLUMNS: [Rooms; 3] = [Rooms::RoomId, Rooms::BranchId, Rooms::Name];

pub async fn insert_branch(db: &Database, b: &BranchRow, now: i64) -> Result<(), StoreError> {
    db.execute(
        &Query::insert()
            .into_table(Branches::Table)
            .columns([
                Branches::BranchId,
                Branches::Name,
                Branches::Address,
                Branches::UtcOffsetMinutes,
                Branches::CreatedAt,
            ])
            .values_panic([
                b.branch_id.clone().into(),
                b.name.clone().into(),
                b.address.clone().into(),
                b.utc_offset_minutes.into(),
                now.into(),
            ])
            .to_owned(),
    )
    .await?;
    Ok(())
}

pub async fn branches(db: &Database) -> Result<Vec<BranchRow>, StoreError> {
    db.fetch_all(
        &Query::select()
            .columns(BRANCH_COLUMNS)
            .from(Branches::Table)
            .order_by(Branches::Name, Order::Asc)
            .to_owned(),
    )
    .await
}

pub async fn branch(db: &Database, branch_id: &str) -> Result<Option<BranchRow>, StoreError> {
    db.fetch_optional(
        &Query::select()
            .columns(BRANCH_COLUMNS)
            .from(Branches::Table)
            .and_where(Expr::col(Branches::BranchId).eq(branch_id))
            .to_owned(),
    )
    .await
}

pub async fn insert_room(db: &Database, r: &RoomRow) -> Result<(), StoreError> {
    db.execute(
        &Query::insert()
            .into_table(Rooms::Table)
            .columns(ROOM_COLUMNS)
            .values_panic([
                r.room_id.clone().into(),
                r.branch_id.clone().into(),
                r.name.clone().into(),
            ])
            .to_owned(),
    )
    .await?;
    Ok(())
}

pub async fn room(db: &Database, room_id: &str) -> Result<Option<RoomRow>, StoreError> {
    db.fetch_optional(
        &Query::select()
            .columns(ROOM_COLUMNS)
            .from(Rooms::Table)
            .and_where(Expr::col(Rooms::RoomId).eq(room_id))
            .to_owned(),
    )
    .await
}

pub async fn rooms(db: &Database) -> Result<Vec<RoomRow>, StoreError> {
    db.fetch_all(
        &Query::select()
            .columns(ROOM_COLUMNS)
            .from(Rooms::Table)
            .order_by(Rooms::Name, Order::Asc)
            .to_owned(),
    )
    .await
}

pub async fn insert_service(db: &Database, s: &ServiceRow) -> Result<(), StoreError> {
    db.execute(
        &Query::insert()
            .into_table(Services::Table)
            .columns([
                Services::Code,
                Services::Name,
                Services::DurationMinutes,
                Services::VatExempt,
            ])
            .values_panic([
                s.code.clone().into(),
                s.name.clone().into(),
                s.duration_minutes.into(),
                s.vat_exempt.into(),
            ])
            .to_owned(),
    )
    .await?;
    Ok(())
}

/// Marks a service deleted: it stays on old invoices and the price history, but cannot be
/// booked or invoiced any more.
pub async fn delete_service(db: &Database, code: &str, now: i64) -> Result<u64, StoreError> {
    db.execute(
        &Query::update()
            .table(Services::Table)
            .value(Services::DeletedAt, now)
            .and_where(Expr::col(Services::Code).eq(code))
            .and_where(Expr::col(Services::DeletedAt).is_null())
            .to_owned(),
    )
    .await
}

const SERVICE_COLUMNS: [Services; 5] = [
    Services::Code,
    Services::Name,
    Services::DurationMinutes,
    Services::VatExempt,
    Services::DeletedAt,
];

pub async fn service(db: &Database, code: &str) -> Result<Option<ServiceRow>, StoreError> {
    db.fetch_optional(
        &Query::select()
            .columns(SERVICE_COLUMNS)
            .from(Services::Table)
            .and_where(Expr::col(Services::Code).eq(code))
            .to_owned(),
    )
    .await
}

/// Services that can be booked (not deleted), by code.
pub async fn services(db: &Database) -> Result<Vec<ServiceRow>, StoreError> {
    db.fetch_all(
        &Query::select()
            .columns(SERVICE_COLUMNS)
            .from(Services::Table)
            .and_where(Expr::col(Services::DeletedAt).is_null())
            .order_by(Services::Code, Order::Asc)
            .to_owned(),
    )
    .await
}

pub async fn insert_price(db: &Database, p: &PriceRow) -> Result<(), StoreError> {
    db.execute(
        &Query::insert()
            .into_table(Prices::Table)
            .columns([Prices::ServiceCode, Prices::ValidFrom, Prices::Kopecks])
            .values_panic([
                p.service_code.clone().into(),
                p.valid_from.clone().into(),
                p.kopecks.into(),
            ])
            .to_owned(),
    )
    .await?;
    Ok(())
}

/// The price of a service on a day (`YYYY-MM-DD`): the latest that starts on or before it.
pub async fn price_on(
    db: &Database,
    service_code: &str,
    day: &str,
) -> Result<Option<PriceRow>, StoreError> {
    db.fetch_optional(
        &Query::select()
            .columns([Prices::ServiceCode, Prices::ValidFrom, Prices::Kopecks])
            .from(Prices::Table)
            .and_where(Expr::col(Prices::ServiceCode).eq(service_code))
            .and_where(Expr::col(Prices::ValidFrom).lte(day))
            .order_by(Prices::ValidFrom, Order::Desc)
            .limit(1)
            .to_owned(),
    )
    .await
}

/// The whole price history, by service and date.
pub async fn prices(db: &Database) -> Result<Vec<PriceRow>, StoreError> {
    db.fetch_all(
        &Query::select()
            .columns([Prices::ServiceCode, Prices::ValidFrom, Prices::Kopecks])
            .from(Prices::Table)
            .order_by(Prices::ServiceCode, Order::Asc)
            .order_by(Prices::ValidFrom, Order::Asc)
            .to_owned(),
    )
    .await
}

pub async fn insert_template(db: &Database, t: &TemplateRow) -> Result<(), StoreError> {
    db.execute(
        &Query::insert()
            .into_table(ScheduleTemplates::Table)
            .columns([
                ScheduleTemplates::TemplateId,
                ScheduleTemplates::DoctorId,
                ScheduleTemplates::BranchId,
                ScheduleTemplates::RoomId,
                ScheduleTemplates::Weekday,
                ScheduleTemplates::StartMinute,
                ScheduleTemplates::EndMinute,
                ScheduleTemplates::SlotMinutes,
                ScheduleTemplates::ValidFrom,
                ScheduleTemplates::ValidUntil,
            ])
            .values_panic([
                t.template_id.clone().into(),
                t.doctor_id.clone().into(),
                t.branch_id.clone().into(),
                t.room_id.clone().into(),
                t.weekday.into(),
                t.start_minute.into(),
                t.end_minute.into(),
                t.slot_minutes.into(),
                t.valid_from.clone().into(),
                t.valid_until.clone().into(),
            ])
            .to_owned(),
    )
    .await?;
    Ok(())
}

const TEMPLATE_COLUMNS: [ScheduleTemplates; 10] = [
    ScheduleTemplates::TemplateId,
    ScheduleTemplates::DoctorId,
    ScheduleTemplates::BranchId,
    ScheduleTemplates::RoomId,
    ScheduleTemplates::Weekday,
    ScheduleTemplates::StartMinute,
    ScheduleTemplates::EndMinute,
    ScheduleTemplates::SlotMinutes,
    ScheduleTemplates::ValidFrom,
    ScheduleTemplates::ValidUntil,
];

/// Templates in force on a local day (`YYYY-MM-DD`) with its ISO weekday, optionally of one
/// doctor or one branch.
pub async fn templates_on(
    db: &Database,
    day: &str,
    weekday: i64,
    doctor_id: Option<&str>,
    branch_id: Option<&str>,
) -> Result<Vec<TemplateRow>, StoreError> {
    let mut q = Query::select();
    q.columns(TEMPLATE_COLUMNS)
        .from(ScheduleTemplates::Table)
        .and_where(Expr::col(ScheduleTemplates::Weekday).eq(weekday))
        .and_where(Expr::col(ScheduleTemplates::ValidFrom).lte(day))
        .and_where(
            Expr::col(ScheduleTemplates::ValidUntil)
                .is_null()
                .or(Expr::col(ScheduleTemplates::ValidUntil).gte(day)),
        )
        .order_by(ScheduleTemplates::StartMinute, Order::Asc);
    if let Some(doctor_id) = doctor_id {
        q.and_where(Expr::col(ScheduleTemplates::DoctorId).eq(doctor_id));
    }
    if let Some(branch_id) = branch_id {
        q.and_where(Expr::col(ScheduleTemplates::BranchId).eq(branch_id));
    }
    db.fetch_all(&q).await
}

/// Templates of one doctor (or all), for checking overlaps when a template is added.
pub async fn templates_of(db: &Database, doctor_id: &str) -> Result<Vec<TemplateRow>, StoreError> {
    db.fetch_all(
        &Query::select()
            .columns(TEMPLATE_COLUMNS)
            .from(ScheduleTemplates::Table)
            .and_where(Expr::col(ScheduleTemplates::DoctorId).eq(doctor_id))
            .to_owned(),
    )
    .await
}

pub async fn insert_exception(
    db: &Database,
    e: &ExceptionRow,
    created_by: &str,
    now: i64,
) -> Result<(), StoreError> {
    db.execute(
        &Query::insert()
            .into_table(ScheduleExceptions::Table)
            .columns([
                ScheduleExceptions::ExceptionId,
                ScheduleExceptions::DoctorId,
                ScheduleExceptions::FirstDay,
                ScheduleExceptions::LastDay,
                ScheduleExceptions::Kind,
                ScheduleExceptions::CreatedBy,
                ScheduleExceptions::CreatedAt,
            ])
            .values_panic([
                e.exception_id.clone().into(),
                e.doctor_id.clone().into(),
                e.first_day.clone().into(),
                e.last_day.clone().into(),
                e.kind.clone().into(),
                created_by.into(),
                now.into(),
            ])
            .to_owned(),
    )
    .await?;
    Ok(())
}

/// Exceptions covering a local day, optionally of one doctor.
pub async fn exceptions_on(
    db: &Database,
    day: &str,
    doctor_id: Option<&str>,
) -> Result<Vec<ExceptionRow>, StoreError> {
    let mut q = Query::select();
    q.columns([
        ScheduleExceptions::ExceptionId,
        ScheduleExceptions::DoctorId,
        ScheduleExceptions::FirstDay,
        ScheduleExceptions::LastDay,
        ScheduleExceptions::Kind,
    ])
    .from(ScheduleExceptions::Table)
    .and_where(Expr::col(ScheduleExceptions::FirstDay).lte(day))
    .and_where(Expr::col(ScheduleExceptions::LastDay).gte(day));
    if let Some(doctor_id) = doctor_id {
        q.and_where(Expr::col(ScheduleExceptions::DoctorId).eq(doctor_id));
    }
    db.fetch_all(&q).await
}
