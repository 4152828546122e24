//! Invoices: one per visit, priced from the price list of the visit's branch-local day, and the
//! views of an invoice for staff and for the patient app.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use vault_wire::PatientToken;

use super::{
    Invoice, InvoiceLine, InvoiceStatus, Method, Payment, PaymentKind, Sums, may_see, receipt_url,
    stored_amount, stored_kopecks,
};
use crate::domain::Clinic;
use crate::domain::appointments::Status;
use crate::domain::auth::{Capability, Principal, StaffPrincipal};
use crate::domain::error::ClinicError;
use crate::domain::schedule;
use crate::store::billing::{self as rows, InvoiceRow, LineRow, PaymentRow};
use crate::store::{self, StoreError, appointments, directory};

/// At most this many extra lines (materials, tests) on one invoice.
pub const MAX_EXTRA_LINES: usize = 50;
/// At most this many of one service on a line.
pub const MAX_QUANTITY: i64 = 100;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewInvoice {
    pub appointment_id: String,
    /// Who pays, when not the patient (a parent for a child): another token of clinic-app.
    #[serde(default)]
    pub payer_token: Option<PatientToken>,
    /// Services beyond the visit's own (tests, materials), priced the same way.
    #[serde(default)]
    pub extra_lines: Vec<ExtraLine>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExtraLine {
    pub service_code: String,
    /// 1 to 100; 1 when left out.
    #[serde(default = "one")]
    pub quantity: i64,
}

fn one() -> i64 {
    1
}

/// An invoice as the patient app shows it to a patient or a payer: no tokens, no staff ids.
#[derive(Debug, Serialize, ToSchema)]
pub struct OwnInvoice {
    pub invoice_id: String,
    pub branch_id: String,
    /// The visit's branch-local day.
    pub visit_day: String,
    /// Whether the signed-in patient is the one treated (else they pay for somebody else).
    pub you_are_the_patient: bool,
    pub you_are_the_payer: bool,
    pub lines: Vec<InvoiceLine>,
    pub total_kopecks: u64,
    pub paid_kopecks: u64,
    pub refunded_kopecks: u64,
    pub outstanding_kopecks: u64,
    pub status: InvoiceStatus,
    pub payments: Vec<OwnPayment>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OwnPayment {
    pub payment_id: String,
    pub kind: PaymentKind,
    pub method: Method,
    pub amount_kopecks: u64,
    pub taken_at: i64,
    /// The receipt of this payment or refund (the patient app may fetch it).
    pub receipt_url: String,
}

/// One priced line before it is stored.
struct Priced {
    code: String,
    name: String,
    quantity: i64,
    price: i64,
    vat_exempt: bool,
}

impl Clinic {
    /// Prices one service for an invoice, or says which field is at fault.
    async fn price_line(
        &self,
        code: &str,
        quantity: i64,
        day: &str,
        field: &'static str,
        label: &str,
    ) -> Result<Priced, ClinicError> {
        let service = directory::service(&self.db, code)
            .await?
            .filter(|s| s.deleted_at.is_none())
            .ok_or_else(|| {
                ClinicError::invalid(
                    "service_unavailable",
                    field,
                    format!("{label}: service {code} does not exist or was withdrawn from the price list"),
                )
            })?;
        let price = directory::price_on(&self.db, code, day)
            .await?
            .ok_or_else(|| {
                ClinicError::invalid(
                    "no_price",
                    field,
                    format!("{label}: service {code} has no price on {day}; an administrator must publish one"),
                )
            })?;
        Ok(Priced {
            code: service.code,
            name: service.name,
            quantity,
            price: price.kopecks,
            vat_exempt: service.vat_exempt,
        })
    }

    /// Bills a visit: its service plus any extra lines, at the prices of the visit's day.
    pub async fn create_invoice(
        &self,
        who: &StaffPrincipal,
        req: NewInvoice,
    ) -> Result<Invoice, ClinicError> {
        who.require(Capability::TakePayments)?;
        if req.extra_lines.len() > MAX_EXTRA_LINES {
            return Err(ClinicError::invalid(
                "too_many_lines",
                "extra_lines",
                format!("extra_lines: at most {MAX_EXTRA_LINES}"),
            ));
        }
        let appointment = appointments::get(&self.db, &req.appointment_id)
            .await?
            .ok_or(ClinicError::NotFound("appointment"))?;
        let status = Status::parse(&appointment.status)?;
        if matches!(
            status,
            Status::Cancelled | Status::Rescheduled | Status::NoShow
        ) {
            return Err(ClinicError::conflict(
                "appointment_not_billable",
                format!(
                    "the appointment is {}; a cancelled, moved or missed visit is not billed",
                    status.as_str()
                ),
            ));
        }
        let patient: PatientToken = appointment
            .patient_token
            .parse()
            .map_err(|_| StoreError::Corrupt("appointments.patient_token".into()))?;
        let payer = req.payer_token.unwrap_or_else(|| patient.clone());
        let branch = directory::branch(&self.db, &appointment.branch_id)
            .await?
            .ok_or_else(|| StoreError::Corrupt("appointments.branch_id".into()))?;
        let day = visit_day(appointment.starts_at, branch.utc_offset_minutes);

        let mut priced = vec![
            self.price_line(
                &appointment.service_code,
                1,
                &day,
                "appointment_id",
                "appointment_id: the visit's service",
            )
            .await?,
        ];
        for (i, extra) in req.extra_lines.iter().enumerate() {
            if !(1..=MAX_QUANTITY).contains(&extra.quantity) {
                return Err(ClinicError::invalid(
                    "invalid_quantity",
                    "extra_lines",
                    format!("extra_lines[{i}].quantity: 1 to {MAX_QUANTITY}"),
                ));
            }
            let label = format!("extra_lines[{i}].service_code");
            priced.push(
                self.price_line(
                    &extra.service_code,
                    extra.quantity,
                    &day,
                    "extra_lines",
                    &label,
                )
                .await?,
            );
        }
        let total = priced.iter().try_fold(0i64, |sum, p| {
            p.price
                .checked_mul(p.quantity)
                .and_then(|s| sum.checked_add(s))
        });
        let total = total.ok_or_else(|| {
            ClinicError::invalid(
                "invalid_amount",
                "extra_lines",
                "the invoice total is too large",
            )
        })?;

        let now = self.clock.now();
        let invoice = InvoiceRow {
            invoice_id: store::new_id(),
            appointment_id: appointment.appointment_id.clone(),
            patient_token: patient.as_str().to_owned(),
            payer_token: payer.as_str().to_owned(),
            branch_id: appointment.branch_id.clone(),
            total_kopecks: total,
            created_by: who.staff_id.clone(),
            created_at: now,
        };
        let lines: Vec<LineRow> = priced
            .into_iter()
            .zip(1i64..)
            .map(|(p, line_no)| LineRow {
                invoice_id: invoice.invoice_id.clone(),
                line_no,
                service_code: p.code,
                service_name: p.name,
                quantity: p.quantity,
                price_kopecks: p.price,
                vat_exempt: p.vat_exempt,
            })
            .collect();
        let mut tx = self.db.begin().await?;
        match rows::insert_invoice(&mut tx, &invoice, &lines).await {
            Err(StoreError::Conflict) => {
                return Err(ClinicError::conflict(
                    "invoice_exists",
                    "this visit already has an invoice; open it instead of billing the visit again",
                ));
            }
            other => other?,
        }
        tx.commit().await?;
        tracing::info!(invoice_id = %invoice.invoice_id, appointment_id = %invoice.appointment_id, "invoice created");
        invoice_view(invoice, &lines, &[], day)
    }

    /// One invoice with its payments and refunds.
    pub async fn invoice(
        &self,
        principal: &Principal,
        invoice_id: &str,
    ) -> Result<Invoice, ClinicError> {
        let invoice = rows::invoice(&self.db, invoice_id)
            .await?
            .ok_or(ClinicError::NotFound("invoice"))?;
        may_see(principal, &invoice, "invoice")?;
        let ids = [invoice.invoice_id.clone()];
        let lines = rows::lines_of(&self.db, &ids).await?;
        let payments = rows::payments_of(&self.db, &ids).await?;
        let day = self.visit_day_of(&invoice).await?;
        invoice_view(invoice, &lines, &payments, day)
    }

    /// The invoices of a patient of the app: those of their visits and those they pay for.
    pub async fn own_invoices(&self, own: &PatientToken) -> Result<Vec<OwnInvoice>, ClinicError> {
        let invoices = rows::invoices_of_token(&self.db, own.as_str()).await?;
        let ids: Vec<String> = invoices.iter().map(|i| i.invoice_id.clone()).collect();
        let mut lines: HashMap<String, Vec<LineRow>> = HashMap::new();
        for l in rows::lines_of(&self.db, &ids).await? {
            lines.entry(l.invoice_id.clone()).or_default().push(l);
        }
        let mut payments: HashMap<String, Vec<PaymentRow>> = HashMap::new();
        for p in rows::payments_of(&self.db, &ids).await? {
            payments.entry(p.invoice_id.clone()).or_default().push(p);
        }
        let mut out = Vec::with_capacity(invoices.len());
        for invoice in invoices {
            let day = self.visit_day_of(&invoice).await?;
            let lines = lines.remove(&invoice.invoice_id).unwrap_or_default();
            let payments = payments.remove(&invoice.invoice_id).unwrap_or_default();
            let total = stored_amount(invoice.total_kopecks, "invoices.total_kopecks")?;
            let sums = Sums::of(&payments);
            out.push(OwnInvoice {
                you_are_the_patient: invoice.patient_token == own.as_str(),
                you_are_the_payer: invoice.payer_token == own.as_str(),
                invoice_id: invoice.invoice_id,
                branch_id: invoice.branch_id,
                visit_day: day,
                lines: lines
                    .iter()
                    .map(InvoiceLine::from_row)
                    .collect::<Result<_, _>>()?,
                total_kopecks: total,
                paid_kopecks: sums.paid,
                refunded_kopecks: sums.refunded,
                outstanding_kopecks: sums.outstanding(total),
                status: sums.status(total),
                payments: payments
                    .iter()
                    .map(|p| {
                        Ok(OwnPayment {
                            payment_id: p.payment_id.clone(),
                            kind: if p.refund_of.is_some() {
                                PaymentKind::Refund
                            } else {
                                PaymentKind::Payment
                            },
                            method: Method::parse(&p.method)?,
                            amount_kopecks: stored_kopecks(p.kopecks),
                            taken_at: p.taken_at,
                            receipt_url: receipt_url(&p.payment_id),
                        })
                    })
                    .collect::<Result<_, StoreError>>()?,
            });
        }
        Ok(out)
    }

    async fn visit_day_of(&self, invoice: &InvoiceRow) -> Result<String, ClinicError> {
        let appointment = appointments::get(&self.db, &invoice.appointment_id)
            .await?
            .ok_or_else(|| StoreError::Corrupt("invoices.appointment_id".into()))?;
        let branch = directory::branch(&self.db, &appointment.branch_id)
            .await?
            .ok_or_else(|| StoreError::Corrupt("appointments.branch_id".into()))?;
        Ok(visit_day(appointment.starts_at, branch.utc_offset_minutes))
    }
}

fn visit_day(starts_at: i64, utc_offset_minutes: i64) -> String {
    schedule::local_day(starts_at, utc_offset_minutes)
        .format("%Y-%m-%d")
        .to_string()
}

pub(crate) fn invoice_view(
    invoice: InvoiceRow,
    lines: &[LineRow],
    payments: &[PaymentRow],
    visit_day: String,
) -> Result<Invoice, ClinicError> {
    let total = stored_amount(invoice.total_kopecks, "invoices.total_kopecks")?;
    let sums = Sums::of(payments);
    Ok(Invoice {
        patient_token: invoice
            .patient_token
            .parse()
            .map_err(|_| StoreError::Corrupt("invoices.patient_token".into()))?,
        payer_token: invoice
            .payer_token
            .parse()
            .map_err(|_| StoreError::Corrupt("invoices.payer_token".into()))?,
        invoice_id: invoice.invoice_id,
        appointment_id: invoice.appointment_id,
        branch_id: invoice.branch_id,
        visit_day,
        lines: lines
            .iter()
            .map(InvoiceLine::from_row)
            .collect::<Result<_, _>>()?,
        total_kopecks: total,
        paid_kopecks: sums.paid,
        refunded_kopecks: sums.refunded,
        outstanding_kopecks: sums.outstanding(total),
        status: sums.status(total),
        payments: payments
            .iter()
            .map(|p| Payment::from_row(p, payments))
            .collect::<Result<_, _>>()?,
        created_by: invoice.created_by,
        created_at: invoice.created_at,
    })
}
