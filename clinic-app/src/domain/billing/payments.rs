//! Payments and refunds. Each is one transaction serialised on its invoice: the idempotency key
//! is looked up, the caller's shift checked (and locked against closing), the amount checked
//! against what is outstanding or refundable, the row written. A check that fails writes
//! nothing.
//!
//! Idempotency: the key travels in the body (`idempotency_key`). The same key with the same
//! request answers the payment already recorded (200, no second row); the same key with another
//! request is refused (409 `idempotency_key_reused`). Keys are unique across payments and
//! refunds.

use serde::Deserialize;
use utoipa::ToSchema;

use super::{
    Method, Payment, RefundReason, Settlement, Sums, check_idempotency_key, parse_amount,
    refunded_of, roubles, stored_amount, stored_kopecks, to_stored,
};
use crate::domain::Clinic;
use crate::domain::appointments::Status;
use crate::domain::auth::{Capability, StaffPrincipal};
use crate::domain::error::ClinicError;
use crate::store::billing::{self as rows, PaymentRow};
use crate::store::{self, StoreError, appointments};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPayment {
    pub method: Method,
    /// Roubles, e.g. `1500` or `1500.50`; at most what is outstanding.
    pub amount: String,
    /// A new UUID per payment, the same one when the request is repeated (a double click, a
    /// retry after a timeout).
    pub idempotency_key: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRefund {
    /// Roubles; at most what is left of the payment after earlier refunds.
    pub amount: String,
    pub idempotency_key: String,
    #[serde(default)]
    pub reason: Option<RefundReason>,
}

/// A payment or refund, and whether this request recorded it (false: a repeat of the key).
#[derive(Debug)]
pub struct Recorded {
    pub payment: Payment,
    pub created: bool,
}

/// The settlement method, prepayment offset and credit of a new payment's receipt.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Settled {
    pub settlement: Settlement,
    pub offset: u64,
    pub credit: u64,
}

/// Chooses the receipt's settlement method (tag 1214) for a payment of `amount` on an invoice
/// of `total`, given its earlier rows. Before the visit is completed money is a prepayment
/// (100% when one payment covers the whole invoice). The first receipt after the visit lists
/// the whole invoice, counts earlier prepayments (tag 1215) and leaves the rest owed (tag 1216):
/// a full payment when nothing is left, else a partial payment and credit. Any later payment
/// pays off that credit.
pub(crate) fn settle(rendered: bool, total: u64, earlier: &[PaymentRow], amount: u64) -> Settled {
    let net_before = Sums::of(earlier).net();
    if !rendered {
        let settlement = if net_before == 0 && amount == total {
            Settlement::FullPrepayment
        } else {
            Settlement::Prepayment
        };
        return Settled {
            settlement,
            offset: 0,
            credit: 0,
        };
    }
    let after_visit = earlier.iter().any(|p| {
        p.refund_of.is_none() && Settlement::parse(&p.settlement).is_ok_and(|s| !s.is_prepayment())
    });
    if after_visit {
        return Settled {
            settlement: Settlement::CreditPayment,
            offset: 0,
            credit: 0,
        };
    }
    let credit = total.saturating_sub(net_before).saturating_sub(amount);
    Settled {
        settlement: if credit == 0 {
            Settlement::FullPayment
        } else {
            Settlement::PartialPaymentAndCredit
        },
        offset: net_before,
        credit,
    }
}

impl Clinic {
    /// Takes money for an invoice in the caller's open shift.
    pub async fn record_payment(
        &self,
        who: &StaffPrincipal,
        invoice_id: &str,
        req: NewPayment,
    ) -> Result<Recorded, ClinicError> {
        who.require(Capability::TakePayments)?;
        let amount = parse_amount(&req.amount, "amount")?;
        check_idempotency_key(&req.idempotency_key)?;
        let same = |p: &PaymentRow| {
            p.refund_of.is_none()
                && p.invoice_id == invoice_id
                && p.method == req.method.as_str()
                && stored_kopecks(p.kopecks) == amount
        };

        let mut tx = self.db.begin().await?;
        tx.lock_keys(&[invoice_key(invoice_id)]).await?;
        if let Some(earlier) = rows::payment_by_key_in(&mut tx, &req.idempotency_key).await? {
            drop(tx);
            return self.repeat(earlier, same).await;
        }
        let invoice = rows::invoice_in(&mut tx, invoice_id)
            .await?
            .ok_or(ClinicError::NotFound("invoice"))?;
        let shift = Self::locked_open_shift(&mut tx, &who.staff_id).await?;
        let history = rows::payments_of_invoice_in(&mut tx, invoice_id).await?;
        let total = stored_amount(invoice.total_kopecks, "invoices.total_kopecks")?;
        let outstanding = Sums::of(&history).outstanding(total);
        if amount > outstanding {
            let message = if outstanding == 0 {
                "amount: the invoice is paid in full; nothing is outstanding".to_owned()
            } else {
                format!(
                    "amount: {} is more than the {} outstanding on this invoice",
                    roubles(amount),
                    roubles(outstanding)
                )
            };
            return Err(ClinicError::invalid(
                "amount_exceeds_outstanding",
                "amount",
                message,
            ));
        }
        let rendered = appointments::get_in(&mut tx, &invoice.appointment_id)
            .await?
            .map(|a| Status::parse(&a.status))
            .transpose()?
            == Some(Status::Completed);
        let settled = settle(rendered, total, &history, amount);
        let row = PaymentRow {
            payment_id: store::new_id(),
            invoice_id: invoice_id.to_owned(),
            shift_id: shift.shift_id,
            method: req.method.as_str().to_owned(),
            kopecks: to_stored(amount, "amount")?,
            refund_of: None,
            idempotency_key: req.idempotency_key.clone(),
            cashier_id: who.staff_id.clone(),
            taken_at: self.clock.now(),
            settlement: settled.settlement.as_str().to_owned(),
            offset_kopecks: to_stored(settled.offset, "amount")?,
            credit_kopecks: to_stored(settled.credit, "amount")?,
            reason: None,
        };
        if let Err(e) = rows::insert_payment(&mut tx, &row).await {
            drop(tx);
            return self.after_key_race(e, &req.idempotency_key, same).await;
        }
        tx.commit().await?;
        tracing::info!(payment_id = %row.payment_id, invoice_id = %invoice_id, shift_id = %row.shift_id, "payment recorded");
        Ok(Recorded {
            payment: Payment::from_row(&row, &history)?,
            created: true,
        })
    }

    /// Returns part or all of a payment, by the same method, from the caller's open shift.
    pub async fn refund_payment(
        &self,
        who: &StaffPrincipal,
        payment_id: &str,
        req: NewRefund,
    ) -> Result<Recorded, ClinicError> {
        who.require(Capability::TakePayments)?;
        let amount = parse_amount(&req.amount, "amount")?;
        check_idempotency_key(&req.idempotency_key)?;
        let original = rows::payment(&self.db, payment_id)
            .await?
            .ok_or(ClinicError::NotFound("payment"))?;
        let reason = req.reason.map(|r| r.as_str());
        let same = |p: &PaymentRow| {
            p.refund_of.as_deref() == Some(payment_id)
                && stored_kopecks(p.kopecks) == amount
                && p.kopecks < 0
                && p.reason.as_deref() == reason
        };

        let mut tx = self.db.begin().await?;
        tx.lock_keys(&[invoice_key(&original.invoice_id)]).await?;
        if let Some(earlier) = rows::payment_by_key_in(&mut tx, &req.idempotency_key).await? {
            drop(tx);
            return self.repeat(earlier, same).await;
        }
        if original.refund_of.is_some() {
            return Err(ClinicError::conflict(
                "not_a_payment",
                "this is a refund; refund the payment it returned instead",
            ));
        }
        let shift = Self::locked_open_shift(&mut tx, &who.staff_id).await?;
        let history = rows::payments_of_invoice_in(&mut tx, &original.invoice_id).await?;
        let refundable =
            stored_kopecks(original.kopecks).saturating_sub(refunded_of(payment_id, &history));
        if amount > refundable {
            let message = if refundable == 0 {
                "amount: this payment has been refunded in full".to_owned()
            } else {
                format!(
                    "amount: {} is more than the {} of this payment that can still be refunded",
                    roubles(amount),
                    roubles(refundable)
                )
            };
            return Err(ClinicError::invalid(
                "refund_exceeds_paid",
                "amount",
                message,
            ));
        }
        let row = PaymentRow {
            payment_id: store::new_id(),
            invoice_id: original.invoice_id.clone(),
            shift_id: shift.shift_id,
            method: original.method.clone(),
            kopecks: -to_stored(amount, "amount")?,
            refund_of: Some(payment_id.to_owned()),
            idempotency_key: req.idempotency_key.clone(),
            cashier_id: who.staff_id.clone(),
            taken_at: self.clock.now(),
            settlement: original.settlement.clone(),
            offset_kopecks: 0,
            credit_kopecks: 0,
            reason: reason.map(str::to_owned),
        };
        if let Err(e) = rows::insert_payment(&mut tx, &row).await {
            drop(tx);
            return self.after_key_race(e, &req.idempotency_key, same).await;
        }
        tx.commit().await?;
        tracing::info!(payment_id = %row.payment_id, refund_of = %payment_id, invoice_id = %row.invoice_id, shift_id = %row.shift_id, "refund recorded");
        Ok(Recorded {
            payment: Payment::from_row(&row, &history)?,
            created: true,
        })
    }

    /// Answers a repeated idempotency key: the recorded row if the request is the same.
    async fn repeat(
        &self,
        earlier: PaymentRow,
        same: impl Fn(&PaymentRow) -> bool,
    ) -> Result<Recorded, ClinicError> {
        if !same(&earlier) {
            return Err(ClinicError::conflict(
                "idempotency_key_reused",
                "this idempotency key was already used for a different payment or refund; send a new key for a new one",
            ));
        }
        let history =
            rows::payments_of(&self.db, std::slice::from_ref(&earlier.invoice_id)).await?;
        Ok(Recorded {
            payment: Payment::from_row(&earlier, &history)?,
            created: false,
        })
    }

    /// An insert failed: if another request took the same key meanwhile (a double submit that
    /// raced past the lookup), answer as a repeat; else the error stands.
    async fn after_key_race(
        &self,
        error: StoreError,
        key: &str,
        same: impl Fn(&PaymentRow) -> bool,
    ) -> Result<Recorded, ClinicError> {
        if !matches!(error, StoreError::Conflict) {
            return Err(error.into());
        }
        match rows::payment_by_key(&self.db, key).await? {
            Some(earlier) => self.repeat(earlier, same).await,
            None => Err(error.into()),
        }
    }
}

fn invoice_key(invoice_id: &str) -> String {
    format!("invoice:{invoice_id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(kopecks: i64, settlement: Settlement) -> PaymentRow {
        PaymentRow {
            payment_id: format!("p{kopecks}"),
            invoice_id: "i".into(),
            shift_id: "s".into(),
            method: "cash".into(),
            kopecks,
            refund_of: None,
            idempotency_key: "k".into(),
            cashier_id: "c".into(),
            taken_at: 0,
            settlement: settlement.as_str().into(),
            offset_kopecks: 0,
            credit_kopecks: 0,
            reason: None,
        }
    }

    #[test]
    fn before_the_visit_money_is_a_prepayment() {
        let s = settle(false, 250_000, &[], 250_000);
        assert_eq!(s.settlement, Settlement::FullPrepayment);
        let s = settle(false, 250_000, &[], 100_000);
        assert_eq!(s.settlement, Settlement::Prepayment);
        let earlier = [row(100_000, Settlement::Prepayment)];
        let s = settle(false, 250_000, &earlier, 150_000);
        assert_eq!(s.settlement, Settlement::Prepayment);
    }

    #[test]
    fn after_the_visit_the_first_receipt_counts_prepayments_and_credit() {
        let s = settle(true, 250_000, &[], 250_000);
        assert_eq!(
            s,
            Settled {
                settlement: Settlement::FullPayment,
                offset: 0,
                credit: 0
            }
        );
        let earlier = [row(100_000, Settlement::Prepayment)];
        let s = settle(true, 250_000, &earlier, 150_000);
        assert_eq!(
            s,
            Settled {
                settlement: Settlement::FullPayment,
                offset: 100_000,
                credit: 0
            }
        );
        let s = settle(true, 250_000, &earlier, 50_000);
        assert_eq!(
            s,
            Settled {
                settlement: Settlement::PartialPaymentAndCredit,
                offset: 100_000,
                credit: 100_000
            }
        );
        let earlier = [row(50_000, Settlement::PartialPaymentAndCredit)];
        let s = settle(true, 250_000, &earlier, 200_000);
        assert_eq!(s.settlement, Settlement::CreditPayment);
    }
}
