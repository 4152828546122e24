//! Billing: an invoice per visit priced from the price list, cash-register shifts, payments and
//! refunds, the 54-FZ receipt payload, the daily export for 1C:Accounting and the tax-deduction
//! certificate (KND 1151156).
//!
//! Money is whole kopecks (`u64` here, signed in the `payments` table where refunds are negative
//! rows). Nothing in billing needs personal data except the tax certificate, which resolves the
//! taxpayer's and the patient's names from the vault for the one request that prints it; so
//! invoices, payments, refunds, receipts, shift totals and the 1C export keep working while the
//! vault is down. A payment or a refund serialises on its invoice (the database's write lock on
//! SQLite, an advisory lock on PostgreSQL), so two cashiers can never overpay or over-refund it.
//!
//! The rules per area: [`invoices`], [`shifts`], [`payments`], [`receipt`], [`export_1c`],
//! [`tax_certificate`]; `docs/billing.md` describes the formats.

pub mod export_1c;
pub mod invoices;
pub mod payments;
pub mod receipt;
pub mod shifts;
pub mod tax_certificate;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use vault_wire::PatientToken;

use super::auth::{Capability, Principal, StaffPrincipal};
use super::error::ClinicError;
use crate::money::Kopecks;
use crate::store::StoreError;
use crate::store::billing::{InvoiceRow, LineRow, PaymentRow};

/// How the money was taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    Cash,
    /// A bank card at the terminal.
    Card,
    /// A bank transfer or a payment by QR code (SBP) to the clinic's account.
    Transfer,
}

impl Method {
    pub const ALL: [Method; 3] = [Method::Cash, Method::Card, Method::Transfer];

    pub fn as_str(self) -> &'static str {
        match self {
            Method::Cash => "cash",
            Method::Card => "card",
            Method::Transfer => "transfer",
        }
    }

    pub fn parse(s: &str) -> Result<Self, StoreError> {
        Method::ALL
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| StoreError::Corrupt("payments.method".into()))
    }
}

/// The settlement method of a receipt (54-FZ tag 1214), fixed when the money is taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Settlement {
    /// 1 "ПРЕДОПЛАТА 100%": the whole invoice paid at once before the visit was completed.
    FullPrepayment,
    /// 2 "ПРЕДОПЛАТА": part of the invoice paid before the visit was completed.
    Prepayment,
    /// 4 "ПОЛНЫЙ РАСЧЕТ": the visit was completed and this payment settles the invoice, counting
    /// earlier prepayments (tag 1215).
    FullPayment,
    /// 5 "ЧАСТИЧНЫЙ РАСЧЕТ И КРЕДИТ": the visit was completed, part is paid now (counting
    /// earlier prepayments) and the rest is owed (tag 1216).
    PartialPaymentAndCredit,
    /// 7 "ОПЛАТА КРЕДИТА": paying off what was left owed after a completed visit.
    CreditPayment,
}

impl Settlement {
    pub fn as_str(self) -> &'static str {
        match self {
            Settlement::FullPrepayment => "full_prepayment",
            Settlement::Prepayment => "prepayment",
            Settlement::FullPayment => "full_payment",
            Settlement::PartialPaymentAndCredit => "partial_payment_and_credit",
            Settlement::CreditPayment => "credit_payment",
        }
    }

    /// The value of tag 1214.
    pub fn tag_value(self) -> u8 {
        match self {
            Settlement::FullPrepayment => 1,
            Settlement::Prepayment => 2,
            Settlement::FullPayment => 4,
            Settlement::PartialPaymentAndCredit => 5,
            Settlement::CreditPayment => 7,
        }
    }

    /// Whether the receipt was printed before the service was rendered.
    pub fn is_prepayment(self) -> bool {
        matches!(self, Settlement::FullPrepayment | Settlement::Prepayment)
    }

    pub fn parse(s: &str) -> Result<Self, StoreError> {
        [
            Settlement::FullPrepayment,
            Settlement::Prepayment,
            Settlement::FullPayment,
            Settlement::PartialPaymentAndCredit,
            Settlement::CreditPayment,
        ]
        .into_iter()
        .find(|m| m.as_str() == s)
        .ok_or_else(|| StoreError::Corrupt("payments.settlement".into()))
    }
}

/// Why money was returned: a fixed list, so no free text (and no name) lands in the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RefundReason {
    ServiceNotRendered,
    PatientRequest,
    ChargedInError,
    Other,
}

impl RefundReason {
    pub fn as_str(self) -> &'static str {
        match self {
            RefundReason::ServiceNotRendered => "service_not_rendered",
            RefundReason::PatientRequest => "patient_request",
            RefundReason::ChargedInError => "charged_in_error",
            RefundReason::Other => "other",
        }
    }

    pub fn parse(s: &str) -> Result<Self, StoreError> {
        [
            RefundReason::ServiceNotRendered,
            RefundReason::PatientRequest,
            RefundReason::ChargedInError,
            RefundReason::Other,
        ]
        .into_iter()
        .find(|r| r.as_str() == s)
        .ok_or_else(|| StoreError::Corrupt("payments.reason".into()))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum InvoiceStatus {
    /// Nothing paid yet.
    Unpaid,
    /// Something paid (net of refunds), something outstanding.
    PartiallyPaid,
    Paid,
    /// Everything paid was returned.
    Refunded,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PaymentKind {
    Payment,
    Refund,
}

/// A payment or a refund as the API shows it. Amounts are positive; `kind` tells them apart.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Payment {
    pub payment_id: String,
    pub invoice_id: String,
    pub kind: PaymentKind,
    pub method: Method,
    pub amount_kopecks: u64,
    /// A refund: the payment it returns.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refund_of: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<RefundReason>,
    /// A payment: how much of it can still be refunded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refundable_kopecks: Option<u64>,
    /// The receipt's settlement method (54-FZ tag 1214).
    pub settlement: Settlement,
    pub shift_id: String,
    pub cashier_id: String,
    pub taken_at: i64,
    /// The 54-FZ receipt payload of this payment or refund.
    pub receipt_url: String,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct InvoiceLine {
    pub line_no: i64,
    pub service_code: String,
    pub service_name: String,
    pub quantity: u64,
    pub price_kopecks: u64,
    pub sum_kopecks: u64,
    /// Medical services are exempt from VAT (Tax Code art. 149 part 2 item 2).
    pub vat_exempt: bool,
}

/// An invoice as staff see it.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Invoice {
    pub invoice_id: String,
    pub appointment_id: String,
    pub branch_id: String,
    pub patient_token: PatientToken,
    /// Who pays (a parent for a child): the patient unless given.
    pub payer_token: PatientToken,
    /// The branch-local day of the visit, whose prices the lines carry.
    pub visit_day: String,
    pub lines: Vec<InvoiceLine>,
    pub total_kopecks: u64,
    pub paid_kopecks: u64,
    pub refunded_kopecks: u64,
    pub outstanding_kopecks: u64,
    pub status: InvoiceStatus,
    pub payments: Vec<Payment>,
    pub created_by: String,
    pub created_at: i64,
}

/// A non-negative amount of a stored row (a payment's or a refund's absolute value).
pub(crate) fn stored_kopecks(value: i64) -> u64 {
    value.unsigned_abs()
}

/// A stored amount that must not be negative (totals, prices).
pub(crate) fn stored_amount(value: i64, column: &str) -> Result<u64, StoreError> {
    u64::try_from(value).map_err(|_| StoreError::Corrupt(format!("{column} is negative")))
}

/// An amount to store.
pub(crate) fn to_stored(value: u64, field: &'static str) -> Result<i64, ClinicError> {
    i64::try_from(value)
        .map_err(|_| ClinicError::invalid("invalid_amount", field, format!("{field}: too large")))
}

/// Parses a positive amount of roubles as a cashier types it ("1500", "1500.50", "1500,50").
pub(crate) fn parse_amount(value: &str, field: &'static str) -> Result<u64, ClinicError> {
    let amount: Kopecks = value.parse().map_err(|e: crate::money::AmountError| {
        ClinicError::invalid("invalid_amount", field, format!("{field}: {e}"))
    })?;
    if amount.get() == 0 {
        return Err(ClinicError::invalid(
            "invalid_amount",
            field,
            format!("{field}: must be more than zero"),
        ));
    }
    to_stored(amount.get(), field)?;
    Ok(amount.get())
}

/// Roubles with a dot and two decimals, as the 1C export and messages show them.
pub(crate) fn roubles(kopecks: u64) -> String {
    Kopecks::new(kopecks).to_string()
}

/// Checks an idempotency key: 8 to 128 characters of letters, digits, `-`, `_`, `.`, `:`, so
/// that a UUID or a terminal's transaction id fits and nothing else does.
pub(crate) fn check_idempotency_key(key: &str) -> Result<(), ClinicError> {
    let ok = (8..=128).contains(&key.len())
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'));
    if ok {
        Ok(())
    } else {
        Err(ClinicError::invalid(
            "invalid_idempotency_key",
            "idempotency_key",
            "idempotency_key: 8 to 128 letters, digits, '-', '_', '.' or ':'; send a new UUID per payment and the same one when repeating it",
        ))
    }
}

/// Staff with either capability (the tax certificate, shift totals, reading invoices).
pub(crate) fn require_any(
    who: &StaffPrincipal,
    capabilities: &[Capability],
) -> Result<(), ClinicError> {
    if capabilities.iter().any(|c| who.role.can(*c)) {
        Ok(())
    } else {
        Err(ClinicError::Forbidden(format!(
            "the {} role cannot do this",
            who.role
        )))
    }
}

/// Whether a caller may see an invoice and its receipts: staff who take payments (or do the
/// accounts), a patient whose own token is the patient's or the payer's. Anybody else is told
/// it does not exist.
pub(crate) fn may_see(
    principal: &Principal,
    invoice: &InvoiceRow,
    what: &'static str,
) -> Result<(), ClinicError> {
    match principal {
        Principal::Staff(s) => require_any(s, &[Capability::TakePayments, Capability::Accounting]),
        Principal::Patient(own)
            if own.as_str() == invoice.patient_token || own.as_str() == invoice.payer_token =>
        {
            Ok(())
        }
        Principal::Patient(_) => Err(ClinicError::NotFound(what)),
    }
}

/// Paid and refunded so far on one invoice.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Sums {
    pub paid: u64,
    pub refunded: u64,
}

impl Sums {
    pub fn of(rows: &[PaymentRow]) -> Sums {
        rows.iter().fold(Sums::default(), |s, p| {
            if p.kopecks > 0 {
                Sums {
                    paid: s.paid.saturating_add(stored_kopecks(p.kopecks)),
                    ..s
                }
            } else {
                Sums {
                    refunded: s.refunded.saturating_add(stored_kopecks(p.kopecks)),
                    ..s
                }
            }
        })
    }

    /// Paid less refunded.
    pub fn net(self) -> u64 {
        self.paid.saturating_sub(self.refunded)
    }

    /// What is still to pay. A refund reopens what it returned.
    pub fn outstanding(self, total: u64) -> u64 {
        total.saturating_sub(self.net())
    }

    pub fn status(self, total: u64) -> InvoiceStatus {
        if self.refunded > 0 && self.net() == 0 {
            InvoiceStatus::Refunded
        } else if self.net() >= total && self.paid > 0 {
            InvoiceStatus::Paid
        } else if self.net() > 0 {
            InvoiceStatus::PartiallyPaid
        } else if total == 0 {
            InvoiceStatus::Paid
        } else {
            InvoiceStatus::Unpaid
        }
    }
}

/// How much has been refunded of one payment, from its invoice's rows.
pub(crate) fn refunded_of(payment_id: &str, rows: &[PaymentRow]) -> u64 {
    rows.iter()
        .filter(|r| r.refund_of.as_deref() == Some(payment_id))
        .fold(0u64, |sum, r| sum.saturating_add(stored_kopecks(r.kopecks)))
}

pub(crate) fn receipt_url(payment_id: &str) -> String {
    format!("/v1/payments/{payment_id}/receipt")
}

impl Payment {
    /// The view of a row; `invoice_rows` are its invoice's payments and refunds (for what is
    /// still refundable).
    pub(crate) fn from_row(
        row: &PaymentRow,
        invoice_rows: &[PaymentRow],
    ) -> Result<Self, StoreError> {
        let is_refund = row.refund_of.is_some();
        Ok(Payment {
            payment_id: row.payment_id.clone(),
            invoice_id: row.invoice_id.clone(),
            kind: if is_refund {
                PaymentKind::Refund
            } else {
                PaymentKind::Payment
            },
            method: Method::parse(&row.method)?,
            amount_kopecks: stored_kopecks(row.kopecks),
            refund_of: row.refund_of.clone(),
            reason: row.reason.as_deref().map(RefundReason::parse).transpose()?,
            refundable_kopecks: (!is_refund).then(|| {
                stored_kopecks(row.kopecks)
                    .saturating_sub(refunded_of(&row.payment_id, invoice_rows))
            }),
            settlement: Settlement::parse(&row.settlement)?,
            shift_id: row.shift_id.clone(),
            cashier_id: row.cashier_id.clone(),
            taken_at: row.taken_at,
            receipt_url: receipt_url(&row.payment_id),
        })
    }
}

impl InvoiceLine {
    pub(crate) fn from_row(row: &LineRow) -> Result<Self, StoreError> {
        let quantity = stored_amount(row.quantity, "invoice_lines.quantity")?;
        let price_kopecks = stored_amount(row.price_kopecks, "invoice_lines.price_kopecks")?;
        Ok(InvoiceLine {
            line_no: row.line_no,
            service_code: row.service_code.clone(),
            service_name: row.service_name.clone(),
            quantity,
            price_kopecks,
            sum_kopecks: price_kopecks
                .checked_mul(quantity)
                .ok_or_else(|| StoreError::Corrupt("invoice_lines: sum out of range".into()))?,
            vat_exempt: row.vat_exempt,
        })
    }
}

/// Parses a token from a query or a path, naming the field.
pub(crate) fn parse_token(value: &str, field: &'static str) -> Result<PatientToken, ClinicError> {
    value.parse().map_err(|_| {
        ClinicError::invalid(
            "invalid_token",
            field,
            format!("{field}: expected a patient token like pt_ followed by 26 characters"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str, kopecks: i64, refund_of: Option<&str>) -> PaymentRow {
        PaymentRow {
            payment_id: id.into(),
            invoice_id: "i".into(),
            shift_id: "s".into(),
            method: "cash".into(),
            kopecks,
            refund_of: refund_of.map(str::to_owned),
            idempotency_key: id.into(),
            cashier_id: "c".into(),
            taken_at: 0,
            settlement: "prepayment".into(),
            offset_kopecks: 0,
            credit_kopecks: 0,
            reason: None,
        }
    }

    #[test]
    fn statuses_follow_the_money() {
        let total = 250_000;
        assert_eq!(Sums::of(&[]).status(total), InvoiceStatus::Unpaid);
        let part = [row("a", 100_000, None)];
        assert_eq!(Sums::of(&part).status(total), InvoiceStatus::PartiallyPaid);
        assert_eq!(Sums::of(&part).outstanding(total), 150_000);
        let full = [row("a", 100_000, None), row("b", 150_000, None)];
        assert_eq!(Sums::of(&full).status(total), InvoiceStatus::Paid);
        let back = [row("a", 250_000, None), row("r", -250_000, Some("a"))];
        assert_eq!(Sums::of(&back).status(total), InvoiceStatus::Refunded);
        assert_eq!(Sums::of(&back).outstanding(total), total);
        let some_back = [row("a", 250_000, None), row("r", -50_000, Some("a"))];
        assert_eq!(
            Sums::of(&some_back).status(total),
            InvoiceStatus::PartiallyPaid
        );
        assert_eq!(refunded_of("a", &some_back), 50_000);
    }

    #[test]
    fn amounts_must_be_positive_money() {
        assert_eq!(parse_amount("1500.50", "amount").unwrap(), 150_050);
        for bad in ["0", "0.00", "-1", "abc", "1.001"] {
            assert!(parse_amount(bad, "amount").is_err(), "{bad}");
        }
        assert!(check_idempotency_key("7f1c2a9e-0b8d-4c1e-9a51-2b7f3e8d9c10").is_ok());
        for bad in ["short", "has space 123", "ключ-оплаты-1"] {
            assert!(check_idempotency_key(bad).is_err(), "{bad}");
        }
    }
}
