//! Cash-register shifts: a cashier opens one at a branch, takes payments and refunds in it, and
//! closes it with the totals (the X/Z report figures of the register, per method).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{Method, require_any, stored_kopecks};
use crate::domain::Clinic;
use crate::domain::auth::{Capability, StaffPrincipal};
use crate::domain::error::ClinicError;
use crate::store::billing::{self as rows, PaymentRow, ShiftRow};
use crate::store::{self, StoreError, Transaction, directory};

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewShift {
    /// The branch of the register; the cashier's own branch when left out.
    #[serde(default)]
    pub branch_id: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Shift {
    pub shift_id: String,
    pub branch_id: String,
    pub cashier_id: String,
    pub opened_at: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub closed_at: Option<i64>,
}

impl From<ShiftRow> for Shift {
    fn from(s: ShiftRow) -> Self {
        Shift {
            shift_id: s.shift_id,
            branch_id: s.branch_id,
            cashier_id: s.cashier_id,
            opened_at: s.opened_at,
            closed_at: s.closed_at,
        }
    }
}

/// One method's figures in a shift.
#[derive(Debug, Serialize, ToSchema, PartialEq, Eq)]
pub struct MethodTotals {
    pub method: Method,
    pub payments_kopecks: u64,
    pub payments_count: u64,
    pub refunds_kopecks: u64,
    pub refunds_count: u64,
    /// Payments less refunds (negative when more was returned than taken).
    pub net_kopecks: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ShiftTotals {
    #[serde(flatten)]
    pub shift: Shift,
    /// Cash, card and transfer, always all three.
    pub methods: Vec<MethodTotals>,
    pub payments_kopecks: u64,
    pub payments_count: u64,
    pub refunds_kopecks: u64,
    pub refunds_count: u64,
    pub net_kopecks: i64,
    /// How the cash in the drawer moved: cash taken less cash returned.
    pub cash_in_drawer_kopecks: i64,
}

fn signed(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// The totals of a shift's rows.
pub(crate) fn totals(shift: ShiftRow, payments: &[PaymentRow]) -> Result<ShiftTotals, StoreError> {
    let mut methods: Vec<MethodTotals> = Method::ALL
        .into_iter()
        .map(|method| MethodTotals {
            method,
            payments_kopecks: 0,
            payments_count: 0,
            refunds_kopecks: 0,
            refunds_count: 0,
            net_kopecks: 0,
        })
        .collect();
    for p in payments {
        let method = Method::parse(&p.method)?;
        let Some(m) = methods.iter_mut().find(|m| m.method == method) else {
            continue;
        };
        let amount = stored_kopecks(p.kopecks);
        if p.kopecks > 0 {
            m.payments_kopecks = m.payments_kopecks.saturating_add(amount);
            m.payments_count += 1;
        } else {
            m.refunds_kopecks = m.refunds_kopecks.saturating_add(amount);
            m.refunds_count += 1;
        }
    }
    for m in &mut methods {
        m.net_kopecks = signed(m.payments_kopecks).saturating_sub(signed(m.refunds_kopecks));
    }
    let sum = |f: fn(&MethodTotals) -> u64| methods.iter().map(f).fold(0u64, u64::saturating_add);
    let payments_kopecks = sum(|m| m.payments_kopecks);
    let refunds_kopecks = sum(|m| m.refunds_kopecks);
    let cash_in_drawer_kopecks = methods
        .iter()
        .find(|m| m.method == Method::Cash)
        .map_or(0, |m| m.net_kopecks);
    Ok(ShiftTotals {
        payments_count: sum(|m| m.payments_count),
        refunds_count: sum(|m| m.refunds_count),
        net_kopecks: signed(payments_kopecks).saturating_sub(signed(refunds_kopecks)),
        payments_kopecks,
        refunds_kopecks,
        cash_in_drawer_kopecks,
        methods,
        shift: shift.into(),
    })
}

impl Clinic {
    /// Opens the caller's shift at a branch. One open shift per cashier.
    pub async fn open_shift(
        &self,
        who: &StaffPrincipal,
        req: NewShift,
    ) -> Result<Shift, ClinicError> {
        who.require(Capability::TakePayments)?;
        let branch_id = req
            .branch_id
            .or_else(|| who.branch_id.clone())
            .ok_or_else(|| {
                ClinicError::invalid(
                    "missing_field",
                    "branch_id",
                    "branch_id: you belong to no branch; name the branch of the register",
                )
            })?;
        if who.branch_id.as_ref().is_some_and(|own| *own != branch_id) {
            return Err(ClinicError::Forbidden(
                "you can open a shift only at your own branch".into(),
            ));
        }
        directory::branch(&self.db, &branch_id)
            .await?
            .ok_or_else(|| {
                ClinicError::invalid("unknown_branch", "branch_id", "branch_id: no such branch")
            })?;
        let row = ShiftRow {
            shift_id: store::new_id(),
            branch_id,
            cashier_id: who.staff_id.clone(),
            opened_at: self.clock.now(),
            closed_at: None,
        };
        match rows::insert_shift(&self.db, &row).await {
            Err(StoreError::Conflict) => {
                return Err(ClinicError::conflict(
                    "shift_already_open",
                    "you already have an open shift; close it before opening another",
                ));
            }
            other => other?,
        }
        tracing::info!(shift_id = %row.shift_id, branch_id = %row.branch_id, "shift opened");
        Ok(row.into())
    }

    /// The caller's open shift.
    pub async fn current_shift(&self, who: &StaffPrincipal) -> Result<Shift, ClinicError> {
        who.require(Capability::TakePayments)?;
        rows::open_shift_of(&self.db, &who.staff_id)
            .await?
            .map(Shift::from)
            .ok_or(ClinicError::NotFound("open shift"))
    }

    /// Closes the caller's shift and returns its totals. No payment can join it afterwards:
    /// payments lock the shift they write into and check that it is still open.
    pub async fn close_shift(
        &self,
        who: &StaffPrincipal,
        shift_id: &str,
    ) -> Result<ShiftTotals, ClinicError> {
        who.require(Capability::TakePayments)?;
        let shift = rows::shift(&self.db, shift_id)
            .await?
            .ok_or(ClinicError::NotFound("shift"))?;
        if shift.cashier_id != who.staff_id {
            return Err(ClinicError::Forbidden(
                "only the cashier who opened a shift closes it".into(),
            ));
        }
        let mut tx = self.db.begin().await?;
        tx.lock_keys(&[shift_key(shift_id)]).await?;
        if !rows::close_shift(&mut tx, shift_id, self.clock.now()).await? {
            return Err(ClinicError::conflict(
                "shift_closed",
                "this shift is already closed",
            ));
        }
        tx.commit().await?;
        tracing::info!(shift_id = %shift_id, "shift closed");
        self.totals_of(shift_id).await
    }

    /// The totals of any shift, for cashiers and the accounts.
    pub async fn shift_totals(
        &self,
        who: &StaffPrincipal,
        shift_id: &str,
    ) -> Result<ShiftTotals, ClinicError> {
        require_any(who, &[Capability::TakePayments, Capability::Accounting])?;
        self.totals_of(shift_id).await
    }

    async fn totals_of(&self, shift_id: &str) -> Result<ShiftTotals, ClinicError> {
        let shift = rows::shift(&self.db, shift_id)
            .await?
            .ok_or(ClinicError::NotFound("shift"))?;
        let payments = rows::payments_of_shift(&self.db, shift_id).await?;
        Ok(totals(shift, &payments)?)
    }

    /// The caller's open shift, locked so that it cannot close under a payment being written.
    pub(crate) async fn locked_open_shift(
        tx: &mut Transaction,
        cashier_id: &str,
    ) -> Result<ShiftRow, ClinicError> {
        let no_shift = || {
            ClinicError::conflict(
                "no_open_shift",
                "you have no open cash-register shift; open one (POST /v1/shifts) before taking or returning money",
            )
        };
        let shift = rows::open_shift_of_in(tx, cashier_id)
            .await?
            .ok_or_else(no_shift)?;
        tx.lock_keys(&[shift_key(&shift.shift_id)]).await?;
        // Read again under the lock: a close may have committed in between.
        rows::open_shift_of_in(tx, cashier_id)
            .await?
            .filter(|s| s.shift_id == shift.shift_id)
            .ok_or_else(no_shift)
    }
}

fn shift_key(shift_id: &str) -> String {
    format!("shift:{shift_id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(method: &str, kopecks: i64) -> PaymentRow {
        PaymentRow {
            payment_id: format!("{method}{kopecks}"),
            invoice_id: "i".into(),
            shift_id: "s".into(),
            method: method.into(),
            kopecks,
            refund_of: (kopecks < 0).then(|| "p".into()),
            idempotency_key: "k".into(),
            cashier_id: "c".into(),
            taken_at: 0,
            settlement: "full_payment".into(),
            offset_kopecks: 0,
            credit_kopecks: 0,
            reason: None,
        }
    }

    #[test]
    fn totals_add_up_per_method() {
        let shift = ShiftRow {
            shift_id: "s".into(),
            branch_id: "b".into(),
            cashier_id: "c".into(),
            opened_at: 0,
            closed_at: None,
        };
        let t = totals(
            shift,
            &[
                row("cash", 100_000),
                row("cash", 50_000),
                row("card", 250_000),
                row("cash", -30_000),
            ],
        )
        .unwrap();
        assert_eq!(t.payments_kopecks, 400_000);
        assert_eq!(t.payments_count, 3);
        assert_eq!(t.refunds_kopecks, 30_000);
        assert_eq!(t.net_kopecks, 370_000);
        assert_eq!(t.cash_in_drawer_kopecks, 120_000);
        assert_eq!(t.methods.len(), 3);
        assert_eq!(t.methods[2].payments_count, 0);
    }
}
