//! Billing: cash-register shifts, invoices and their lines, payments and refunds (refunds are
//! negative rows naming the payment they return), and the register of tax certificates.
//!
//! Rows hold tokens, ids, codes and kopecks; never a name. Reads that a payment or a refund
//! must see under its lock take a [`Transaction`]; the rest read from the pool.

use sea_query::{Cond, Expr, ExprTrait, Iden, Order, Query, SelectStatement};

use super::{Database, StoreError, Transaction};

#[derive(Iden)]
enum Shifts {
    Table,
    ShiftId,
    BranchId,
    CashierId,
    OpenedAt,
    ClosedAt,
}

#[derive(Iden)]
enum Invoices {
    Table,
    InvoiceId,
    AppointmentId,
    PatientToken,
    PayerToken,
    BranchId,
    TotalKopecks,
    CreatedBy,
    CreatedAt,
}

#[derive(Iden)]
enum InvoiceLines {
    Table,
    InvoiceId,
    LineNo,
    ServiceCode,
    ServiceName,
    Quantity,
    PriceKopecks,
    VatExempt,
}

#[derive(Iden)]
enum Payments {
    Table,
    PaymentId,
    InvoiceId,
    ShiftId,
    Method,
    Kopecks,
    RefundOf,
    IdempotencyKey,
    CashierId,
    TakenAt,
    Settlement,
    OffsetKopecks,
    CreditKopecks,
    Reason,
}

#[derive(Iden)]
enum Branches {
    Table,
    BranchId,
    UtcOffsetMinutes,
}

#[derive(Iden)]
enum TaxCertificates {
    Table,
    CertificateId,
    Year,
    Number,
    Correction,
    PayerToken,
    PatientToken,
    Relation,
    Code1Kopecks,
    IssuedBy,
    IssuedAt,
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct ShiftRow {
    pub shift_id: String,
    pub branch_id: String,
    pub cashier_id: String,
    pub opened_at: i64,
    pub closed_at: Option<i64>,
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct InvoiceRow {
    pub invoice_id: String,
    pub appointment_id: String,
    pub patient_token: String,
    pub payer_token: String,
    pub branch_id: String,
    pub total_kopecks: i64,
    pub created_by: String,
    pub created_at: i64,
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct LineRow {
    pub invoice_id: String,
    pub line_no: i64,
    pub service_code: String,
    pub service_name: String,
    pub quantity: i64,
    pub price_kopecks: i64,
    pub vat_exempt: bool,
}

/// A payment (`kopecks > 0`) or a refund (`kopecks < 0`, `refund_of` set).
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct PaymentRow {
    pub payment_id: String,
    pub invoice_id: String,
    pub shift_id: String,
    pub method: String,
    pub kopecks: i64,
    pub refund_of: Option<String>,
    pub idempotency_key: String,
    pub cashier_id: String,
    pub taken_at: i64,
    pub settlement: String,
    pub offset_kopecks: i64,
    pub credit_kopecks: i64,
    pub reason: Option<String>,
}

/// A payment or refund with the UTC offset of the branch whose register took it.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct DatedPaymentRow {
    #[sqlx(flatten)]
    pub payment: PaymentRow,
    pub branch_id: String,
    pub utc_offset_minutes: i64,
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct CertificateRow {
    pub certificate_id: String,
    pub year: i64,
    pub number: i64,
    pub correction: i64,
    pub payer_token: String,
    pub patient_token: String,
    pub relation: String,
    pub code1_kopecks: i64,
    pub issued_by: String,
    pub issued_at: i64,
}

const SHIFT_COLUMNS: [Shifts; 5] = [
    Shifts::ShiftId,
    Shifts::BranchId,
    Shifts::CashierId,
    Shifts::OpenedAt,
    Shifts::ClosedAt,
];

const INVOICE_COLUMNS: [Invoices; 8] = [
    Invoices::InvoiceId,
    Invoices::AppointmentId,
    Invoices::PatientToken,
    Invoices::PayerToken,
    Invoices::BranchId,
    Invoices::TotalKopecks,
    Invoices::CreatedBy,
    Invoices::CreatedAt,
];

const LINE_COLUMNS: [InvoiceLines; 7] = [
    InvoiceLines::InvoiceId,
    InvoiceLines::LineNo,
    InvoiceLines::ServiceCode,
    InvoiceLines::ServiceName,
    InvoiceLines::Quantity,
    InvoiceLines::PriceKopecks,
    InvoiceLines::VatExempt,
];

const PAYMENT_COLUMNS: [Payments; 13] = [
    Payments::PaymentId,
    Payments::InvoiceId,
    Payments::ShiftId,
    Payments::Method,
    Payments::Kopecks,
    Payments::RefundOf,
    Payments::IdempotencyKey,
    Payments::CashierId,
    Payments::TakenAt,
    Payments::Settlement,
    Payments::OffsetKopecks,
    Payments::CreditKopecks,
    Payments::Reason,
];

const CERTIFICATE_COLUMNS: [TaxCertificates; 10] = [
    TaxCertificates::CertificateId,
    TaxCertificates::Year,
    TaxCertificates::Number,
    TaxCertificates::Correction,
    TaxCertificates::PayerToken,
    TaxCertificates::PatientToken,
    TaxCertificates::Relation,
    TaxCertificates::Code1Kopecks,
    TaxCertificates::IssuedBy,
    TaxCertificates::IssuedAt,
];

fn payments_select() -> SelectStatement {
    Query::select()
        .columns(PAYMENT_COLUMNS.map(|c| (Payments::Table, c)))
        .from(Payments::Table)
        .to_owned()
}

// ---- Shifts ----

/// Opens a shift; `Conflict` when the cashier already has an open one (a unique index).
pub async fn insert_shift(db: &Database, s: &ShiftRow) -> Result<(), StoreError> {
    db.execute(
        &Query::insert()
            .into_table(Shifts::Table)
            .columns([
                Shifts::ShiftId,
                Shifts::BranchId,
                Shifts::CashierId,
                Shifts::OpenedAt,
            ])
            .values_panic([
                s.shift_id.clone().into(),
                s.branch_id.clone().into(),
                s.cashier_id.clone().into(),
                s.opened_at.into(),
            ])
            .to_owned(),
    )
    .await?;
    Ok(())
}

pub async fn shift(db: &Database, shift_id: &str) -> Result<Option<ShiftRow>, StoreError> {
    db.fetch_optional(
        &Query::select()
            .columns(SHIFT_COLUMNS)
            .from(Shifts::Table)
            .and_where(Expr::col(Shifts::ShiftId).eq(shift_id))
            .to_owned(),
    )
    .await
}

fn open_shift_query(cashier_id: &str) -> SelectStatement {
    Query::select()
        .columns(SHIFT_COLUMNS)
        .from(Shifts::Table)
        .and_where(Expr::col(Shifts::CashierId).eq(cashier_id))
        .and_where(Expr::col(Shifts::ClosedAt).is_null())
        .to_owned()
}

/// The cashier's open shift, if any.
pub async fn open_shift_of(
    db: &Database,
    cashier_id: &str,
) -> Result<Option<ShiftRow>, StoreError> {
    db.fetch_optional(&open_shift_query(cashier_id)).await
}

pub async fn open_shift_of_in(
    tx: &mut Transaction,
    cashier_id: &str,
) -> Result<Option<ShiftRow>, StoreError> {
    tx.fetch_optional(&open_shift_query(cashier_id)).await
}

/// Closes an open shift; false when it was not open.
pub async fn close_shift(
    tx: &mut Transaction,
    shift_id: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let n = tx
        .execute(
            &Query::update()
                .table(Shifts::Table)
                .value(Shifts::ClosedAt, now)
                .and_where(Expr::col(Shifts::ShiftId).eq(shift_id))
                .and_where(Expr::col(Shifts::ClosedAt).is_null())
                .to_owned(),
        )
        .await?;
    Ok(n == 1)
}

/// Every payment and refund taken in a shift, in the order taken.
pub async fn payments_of_shift(
    db: &Database,
    shift_id: &str,
) -> Result<Vec<PaymentRow>, StoreError> {
    db.fetch_all(
        &payments_select()
            .and_where(Expr::col(Payments::ShiftId).eq(shift_id))
            .order_by(Payments::TakenAt, Order::Asc)
            .order_by(Payments::PaymentId, Order::Asc)
            .to_owned(),
    )
    .await
}

// ---- Invoices ----

/// Writes an invoice and its lines; `Conflict` when the appointment already has an invoice.
pub async fn insert_invoice(
    tx: &mut Transaction,
    invoice: &InvoiceRow,
    lines: &[LineRow],
) -> Result<(), StoreError> {
    tx.execute(
        &Query::insert()
            .into_table(Invoices::Table)
            .columns(INVOICE_COLUMNS)
            .values_panic([
                invoice.invoice_id.clone().into(),
                invoice.appointment_id.clone().into(),
                invoice.patient_token.clone().into(),
                invoice.payer_token.clone().into(),
                invoice.branch_id.clone().into(),
                invoice.total_kopecks.into(),
                invoice.created_by.clone().into(),
                invoice.created_at.into(),
            ])
            .to_owned(),
    )
    .await?;
    let mut insert = Query::insert();
    insert.into_table(InvoiceLines::Table).columns(LINE_COLUMNS);
    for l in lines {
        insert.values_panic([
            l.invoice_id.clone().into(),
            l.line_no.into(),
            l.service_code.clone().into(),
            l.service_name.clone().into(),
            l.quantity.into(),
            l.price_kopecks.into(),
            l.vat_exempt.into(),
        ]);
    }
    if !lines.is_empty() {
        tx.execute(&insert).await?;
    }
    Ok(())
}

fn invoice_query(invoice_id: &str) -> SelectStatement {
    Query::select()
        .columns(INVOICE_COLUMNS)
        .from(Invoices::Table)
        .and_where(Expr::col(Invoices::InvoiceId).eq(invoice_id))
        .to_owned()
}

pub async fn invoice(db: &Database, invoice_id: &str) -> Result<Option<InvoiceRow>, StoreError> {
    db.fetch_optional(&invoice_query(invoice_id)).await
}

pub async fn invoice_in(
    tx: &mut Transaction,
    invoice_id: &str,
) -> Result<Option<InvoiceRow>, StoreError> {
    tx.fetch_optional(&invoice_query(invoice_id)).await
}

/// Invoices where the token is the patient or the payer, newest first.
pub async fn invoices_of_token(db: &Database, token: &str) -> Result<Vec<InvoiceRow>, StoreError> {
    db.fetch_all(
        &Query::select()
            .columns(INVOICE_COLUMNS)
            .from(Invoices::Table)
            .cond_where(
                Cond::any()
                    .add(Expr::col(Invoices::PatientToken).eq(token))
                    .add(Expr::col(Invoices::PayerToken).eq(token)),
            )
            .order_by(Invoices::CreatedAt, Order::Desc)
            .order_by(Invoices::InvoiceId, Order::Asc)
            .to_owned(),
    )
    .await
}

/// The lines of some invoices, by invoice and line number.
pub async fn lines_of(db: &Database, invoice_ids: &[String]) -> Result<Vec<LineRow>, StoreError> {
    if invoice_ids.is_empty() {
        return Ok(Vec::new());
    }
    db.fetch_all(
        &Query::select()
            .columns(LINE_COLUMNS)
            .from(InvoiceLines::Table)
            .and_where(Expr::col(InvoiceLines::InvoiceId).is_in(invoice_ids.iter().cloned()))
            .order_by(InvoiceLines::InvoiceId, Order::Asc)
            .order_by(InvoiceLines::LineNo, Order::Asc)
            .to_owned(),
    )
    .await
}

fn payments_of_invoice_query(invoice_id: &str) -> SelectStatement {
    payments_select()
        .and_where(Expr::col(Payments::InvoiceId).eq(invoice_id))
        .order_by(Payments::TakenAt, Order::Asc)
        .order_by(Payments::PaymentId, Order::Asc)
        .to_owned()
}

/// Payments and refunds of some invoices, in the order taken.
pub async fn payments_of(
    db: &Database,
    invoice_ids: &[String],
) -> Result<Vec<PaymentRow>, StoreError> {
    if invoice_ids.is_empty() {
        return Ok(Vec::new());
    }
    db.fetch_all(
        &payments_select()
            .and_where(Expr::col(Payments::InvoiceId).is_in(invoice_ids.iter().cloned()))
            .order_by(Payments::TakenAt, Order::Asc)
            .order_by(Payments::PaymentId, Order::Asc)
            .to_owned(),
    )
    .await
}

pub async fn payments_of_invoice_in(
    tx: &mut Transaction,
    invoice_id: &str,
) -> Result<Vec<PaymentRow>, StoreError> {
    tx.fetch_all(&payments_of_invoice_query(invoice_id)).await
}

// ---- Payments and refunds ----

pub async fn payment(db: &Database, payment_id: &str) -> Result<Option<PaymentRow>, StoreError> {
    db.fetch_optional(
        &payments_select()
            .and_where(Expr::col(Payments::PaymentId).eq(payment_id))
            .to_owned(),
    )
    .await
}

fn by_key_query(key: &str) -> SelectStatement {
    payments_select()
        .and_where(Expr::col(Payments::IdempotencyKey).eq(key))
        .to_owned()
}

/// The payment or refund recorded under an idempotency key, if any.
pub async fn payment_by_key(db: &Database, key: &str) -> Result<Option<PaymentRow>, StoreError> {
    db.fetch_optional(&by_key_query(key)).await
}

pub async fn payment_by_key_in(
    tx: &mut Transaction,
    key: &str,
) -> Result<Option<PaymentRow>, StoreError> {
    tx.fetch_optional(&by_key_query(key)).await
}

/// Writes a payment or a refund; `Conflict` when the idempotency key is taken.
pub async fn insert_payment(tx: &mut Transaction, p: &PaymentRow) -> Result<(), StoreError> {
    tx.execute(
        &Query::insert()
            .into_table(Payments::Table)
            .columns(PAYMENT_COLUMNS)
            .values_panic([
                p.payment_id.clone().into(),
                p.invoice_id.clone().into(),
                p.shift_id.clone().into(),
                p.method.clone().into(),
                p.kopecks.into(),
                p.refund_of.clone().into(),
                p.idempotency_key.clone().into(),
                p.cashier_id.clone().into(),
                p.taken_at.into(),
                p.settlement.clone().into(),
                p.offset_kopecks.into(),
                p.credit_kopecks.into(),
                p.reason.clone().into(),
            ])
            .to_owned(),
    )
    .await?;
    Ok(())
}

/// Payments and refunds joined to the branch of the shift that took them.
fn dated_payments() -> SelectStatement {
    payments_select()
        .column((Shifts::Table, Shifts::BranchId))
        .column((Branches::Table, Branches::UtcOffsetMinutes))
        .inner_join(
            Shifts::Table,
            Expr::col((Shifts::Table, Shifts::ShiftId))
                .equals((Payments::Table, Payments::ShiftId)),
        )
        .inner_join(
            Branches::Table,
            Expr::col((Branches::Table, Branches::BranchId))
                .equals((Shifts::Table, Shifts::BranchId)),
        )
        .to_owned()
}

/// What a branch's registers took in `[from, until)`: by time, then by id (a stable order).
pub async fn payments_at_branch(
    db: &Database,
    branch_id: &str,
    from: i64,
    until: i64,
) -> Result<Vec<DatedPaymentRow>, StoreError> {
    db.fetch_all(
        &dated_payments()
            .and_where(Expr::col((Shifts::Table, Shifts::BranchId)).eq(branch_id))
            .and_where(Expr::col((Payments::Table, Payments::TakenAt)).gte(from))
            .and_where(Expr::col((Payments::Table, Payments::TakenAt)).lt(until))
            .order_by((Payments::Table, Payments::TakenAt), Order::Asc)
            .order_by((Payments::Table, Payments::PaymentId), Order::Asc)
            .to_owned(),
    )
    .await
}

/// Every payment and refund on invoices of this payer for this patient.
pub async fn payments_of_pair(
    db: &Database,
    payer_token: &str,
    patient_token: &str,
) -> Result<Vec<DatedPaymentRow>, StoreError> {
    db.fetch_all(
        &dated_payments()
            .inner_join(
                Invoices::Table,
                Expr::col((Invoices::Table, Invoices::InvoiceId))
                    .equals((Payments::Table, Payments::InvoiceId)),
            )
            .and_where(Expr::col((Invoices::Table, Invoices::PayerToken)).eq(payer_token))
            .and_where(Expr::col((Invoices::Table, Invoices::PatientToken)).eq(patient_token))
            .order_by((Payments::Table, Payments::TakenAt), Order::Asc)
            .order_by((Payments::Table, Payments::PaymentId), Order::Asc)
            .to_owned(),
    )
    .await
}

// ---- Tax certificates ----

/// The latest version of the certificate of a year for a payer and a patient.
pub async fn latest_certificate(
    tx: &mut Transaction,
    year: i64,
    payer_token: &str,
    patient_token: &str,
) -> Result<Option<CertificateRow>, StoreError> {
    tx.fetch_optional(
        &Query::select()
            .columns(CERTIFICATE_COLUMNS)
            .from(TaxCertificates::Table)
            .and_where(Expr::col(TaxCertificates::Year).eq(year))
            .and_where(Expr::col(TaxCertificates::PayerToken).eq(payer_token))
            .and_where(Expr::col(TaxCertificates::PatientToken).eq(patient_token))
            .order_by(TaxCertificates::Correction, Order::Desc)
            .limit(1)
            .to_owned(),
    )
    .await
}

/// The highest certificate number given for a year.
pub async fn last_certificate_number(
    tx: &mut Transaction,
    year: i64,
) -> Result<Option<i64>, StoreError> {
    #[derive(sqlx::FromRow)]
    struct Number {
        number: i64,
    }
    let row: Option<Number> = tx
        .fetch_optional(
            &Query::select()
                .column(TaxCertificates::Number)
                .from(TaxCertificates::Table)
                .and_where(Expr::col(TaxCertificates::Year).eq(year))
                .order_by(TaxCertificates::Number, Order::Desc)
                .limit(1)
                .to_owned(),
        )
        .await?;
    Ok(row.map(|r| r.number))
}

pub async fn insert_certificate(
    tx: &mut Transaction,
    c: &CertificateRow,
) -> Result<(), StoreError> {
    tx.execute(
        &Query::insert()
            .into_table(TaxCertificates::Table)
            .columns(CERTIFICATE_COLUMNS)
            .values_panic([
                c.certificate_id.clone().into(),
                c.year.into(),
                c.number.into(),
                c.correction.into(),
                c.payer_token.clone().into(),
                c.patient_token.clone().into(),
                c.relation.clone().into(),
                c.code1_kopecks.into(),
                c.issued_by.clone().into(),
                c.issued_at.into(),
            ])
            .to_owned(),
    )
    .await?;
    Ok(())
}
