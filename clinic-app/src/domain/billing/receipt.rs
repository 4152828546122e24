//! The 54-FZ receipt payload of a payment or a refund: what the fiscal register's driver prints
//! and sends to the fiscal data operator. Tag numbers follow the fiscal document formats (FNS
//! order ED-7-20/662@ with the changes of ED-7-20/1050@ for the 22% VAT rate).
//!
//! A receipt to a private person carries no buyer data (54-FZ art. 4.7: the buyer's name and
//! INN only for organisations and sole traders), so the payload has no token, no name, no
//! contact. Items: a receipt that covers the whole invoice lists its lines as priced; one that
//! covers part of it (a partial prepayment, a payment of credit, a partial refund) lists every
//! line with its share of the amount (in proportion to the line's sum, the kopecks left over by
//! rounding going to the lines with the largest remainders), quantity 1, so that the items
//! always add up to the money on the receipt.

use serde::Serialize;
use utoipa::ToSchema;

use super::{Method, Settlement, may_see, stored_amount, stored_kopecks};
use crate::domain::Clinic;
use crate::domain::auth::Principal;
use crate::domain::error::ClinicError;
use crate::store::billing::{self as rows, LineRow, PaymentRow};
use crate::store::{self, StoreError, directory};

/// The clinic's taxation system (tag 1055): the general system, ОСН (value 1 of the bit field).
/// A clinic on the simplified system changes this constant and `docs/billing.md`.
pub const TAXATION_SYSTEM: &str = "osn";
pub const TAXATION_SYSTEM_TAG_VALUE: u8 = 1;
/// The VAT rate of services that are not exempt, in percent (from 2026).
pub const VAT_RATE_PERCENT: u64 = 22;

/// Tag 1054.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Operation {
    /// 1 "ПРИХОД".
    Income,
    /// 2 "ВОЗВРАТ ПРИХОДА".
    IncomeReturn,
}

/// Tag 1199.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub enum Vat {
    /// 6 "НДС не облагается" (medical services, Tax Code art. 149).
    #[serde(rename = "none")]
    None,
    /// 11 "НДС 22%".
    #[serde(rename = "vat22")]
    Vat22,
    /// 12 "НДС 22/122", the computed rate of a prepayment.
    #[serde(rename = "vat122")]
    Vat122,
}

impl Vat {
    pub fn tag_value(self) -> u8 {
        match self {
            Vat::None => 6,
            Vat::Vat22 => 11,
            Vat::Vat122 => 12,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReceiptItem {
    /// Tag 1030: the service's name from the price list.
    pub name: String,
    /// The clinic's code of the service (not printed; for the register's item list).
    pub service_code: String,
    /// Tag 1079.
    pub price_kopecks: u64,
    /// Tag 1023.
    pub quantity: u64,
    /// Tag 1043: price × quantity.
    pub sum_kopecks: u64,
    /// Tag 1199.
    pub vat: Vat,
    pub vat_tag_value: u8,
    /// Tag 1200: VAT included in the sum (0 when exempt).
    pub vat_kopecks: u64,
    /// Tag 1214.
    pub payment_method: Settlement,
    pub payment_method_tag_value: u8,
    /// Tag 1212: always `service` (4).
    pub payment_object: &'static str,
    pub payment_object_tag_value: u8,
}

/// How the receipt's total was paid.
#[derive(Debug, Default, Serialize, ToSchema, PartialEq, Eq)]
pub struct ReceiptPayments {
    /// Tag 1031: cash.
    pub cash_kopecks: u64,
    /// Tag 1081: card or transfer.
    pub electronic_kopecks: u64,
    /// Tag 1215: earlier prepayments counted on this receipt.
    pub prepayment_kopecks: u64,
    /// Tag 1216: left owed (credit).
    pub credit_kopecks: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Receipt {
    pub payment_id: String,
    pub invoice_id: String,
    /// Tag 1054.
    pub operation: Operation,
    pub operation_tag_value: u8,
    /// Tag 1055.
    pub taxation_system: &'static str,
    pub taxation_system_tag_value: u8,
    /// Tag 1048.
    pub seller_name: String,
    /// Tag 1018.
    pub seller_inn: String,
    /// Tag 1009: the address of the branch whose register took the money.
    pub settlement_address: String,
    /// Tag 1187: the branch's name.
    pub settlement_place: String,
    /// Tag 1021: the cashier's name as in the staff directory.
    pub cashier: String,
    pub items: Vec<ReceiptItem>,
    pub payments: ReceiptPayments,
    /// Tag 1020: the items' sum, equal to the sum of `payments`.
    pub total_kopecks: u64,
    /// Tag 1105: the part of the total without VAT (exempt items).
    pub total_without_vat_kopecks: u64,
    pub taken_at: i64,
}

/// One line's sum.
struct LineSum<'a> {
    line: &'a LineRow,
    price: u64,
    quantity: u64,
    sum: u64,
}

fn line_sums(lines: &[LineRow]) -> Result<Vec<LineSum<'_>>, StoreError> {
    lines
        .iter()
        .map(|line| {
            let price = stored_amount(line.price_kopecks, "invoice_lines.price_kopecks")?;
            let quantity = stored_amount(line.quantity, "invoice_lines.quantity")?;
            let sum = price
                .checked_mul(quantity)
                .ok_or_else(|| StoreError::Corrupt("invoice_lines: sum out of range".into()))?;
            Ok(LineSum {
                line,
                price,
                quantity,
                sum,
            })
        })
        .collect()
}

/// Splits `amount` over sums in proportion, exactly: floors first, then one kopeck each to the
/// largest remainders (earlier lines first on ties).
pub(crate) fn allocate(sums: &[u64], amount: u64) -> Vec<u64> {
    let total: u128 = sums.iter().map(|s| u128::from(*s)).sum();
    if total == 0 {
        return vec![0; sums.len()];
    }
    let exact: Vec<(u64, u128)> = sums
        .iter()
        .map(|s| {
            let scaled = u128::from(*s) * u128::from(amount);
            (
                u64::try_from(scaled / total).unwrap_or(u64::MAX),
                scaled % total,
            )
        })
        .collect();
    let mut shares: Vec<u64> = exact.iter().map(|(floor, _)| *floor).collect();
    let mut left = amount.saturating_sub(shares.iter().sum());
    let mut order: Vec<usize> = (0..sums.len()).collect();
    order.sort_by(|a, b| exact[*b].1.cmp(&exact[*a].1).then(a.cmp(b)));
    for i in order {
        if left == 0 {
            break;
        }
        shares[i] += 1;
        left -= 1;
    }
    shares
}

/// VAT included in a sum at the rate (22/122), rounded half up.
fn vat_included(sum: u64) -> u64 {
    let scaled = u128::from(sum) * u128::from(VAT_RATE_PERCENT);
    let divisor = u128::from(100 + VAT_RATE_PERCENT);
    u64::try_from((scaled + divisor / 2) / divisor).unwrap_or(u64::MAX)
}

fn item(
    line: &LineRow,
    price: u64,
    quantity: u64,
    sum: u64,
    settlement: Settlement,
) -> ReceiptItem {
    let vat = match (line.vat_exempt, settlement.is_prepayment()) {
        (true, _) => Vat::None,
        (false, false) => Vat::Vat22,
        (false, true) => Vat::Vat122,
    };
    ReceiptItem {
        name: line.service_name.clone(),
        service_code: line.service_code.clone(),
        price_kopecks: price,
        quantity,
        sum_kopecks: sum,
        vat,
        vat_tag_value: vat.tag_value(),
        vat_kopecks: if vat == Vat::None {
            0
        } else {
            vat_included(sum)
        },
        payment_method: settlement,
        payment_method_tag_value: settlement.tag_value(),
        payment_object: "service",
        payment_object_tag_value: 4,
    }
}

/// The items of a receipt covering `covered` kopecks of an invoice.
pub(crate) fn items(
    lines: &[LineRow],
    covered: u64,
    settlement: Settlement,
) -> Result<Vec<ReceiptItem>, StoreError> {
    let sums = line_sums(lines)?;
    let total: u64 = sums.iter().map(|s| s.sum).fold(0, u64::saturating_add);
    if covered == total {
        return Ok(sums
            .iter()
            .map(|s| item(s.line, s.price, s.quantity, s.sum, settlement))
            .collect());
    }
    let shares = allocate(&sums.iter().map(|s| s.sum).collect::<Vec<_>>(), covered);
    Ok(sums
        .iter()
        .zip(shares)
        .filter(|(_, share)| *share > 0)
        .map(|(s, share)| item(s.line, share, 1, share, settlement))
        .collect())
}

/// The receipt of one payment or refund row, with the invoice's lines.
pub(crate) fn build(
    payment: &PaymentRow,
    lines: &[LineRow],
    invoice_total: u64,
) -> Result<(Operation, Vec<ReceiptItem>, ReceiptPayments), StoreError> {
    let settlement = Settlement::parse(&payment.settlement)?;
    let method = Method::parse(&payment.method)?;
    let money = stored_kopecks(payment.kopecks);
    let is_refund = payment.refund_of.is_some();
    let offset = stored_amount(payment.offset_kopecks, "payments.offset_kopecks")?;
    let credit = stored_amount(payment.credit_kopecks, "payments.credit_kopecks")?;
    // The first receipt after the visit covers the whole invoice: money, offset and credit.
    let covered = if !is_refund
        && matches!(
            settlement,
            Settlement::FullPayment | Settlement::PartialPaymentAndCredit
        ) {
        money.saturating_add(offset).saturating_add(credit)
    } else {
        money
    };
    if covered > invoice_total {
        return Err(StoreError::Corrupt(
            "payments: more than the invoice".into(),
        ));
    }
    let (cash, electronic) = if method == Method::Cash {
        (money, 0)
    } else {
        (0, money)
    };
    let payments = ReceiptPayments {
        cash_kopecks: cash,
        electronic_kopecks: electronic,
        prepayment_kopecks: if is_refund { 0 } else { offset },
        credit_kopecks: if is_refund { 0 } else { credit },
    };
    let operation = if is_refund {
        Operation::IncomeReturn
    } else {
        Operation::Income
    };
    Ok((operation, items(lines, covered, settlement)?, payments))
}

impl Clinic {
    /// The receipt payload of a payment or a refund. Staff who take payments see any; a patient
    /// of the app only those of invoices where they are the patient or the payer.
    pub async fn receipt(
        &self,
        principal: &Principal,
        payment_id: &str,
    ) -> Result<Receipt, ClinicError> {
        let payment = rows::payment(&self.db, payment_id)
            .await?
            .ok_or(ClinicError::NotFound("payment"))?;
        let invoice = rows::invoice(&self.db, &payment.invoice_id)
            .await?
            .ok_or_else(|| StoreError::Corrupt("payments.invoice_id".into()))?;
        if let Principal::Staff(s) = principal {
            s.require(crate::domain::auth::Capability::TakePayments)?;
        }
        may_see(principal, &invoice, "payment")?;
        let lines = rows::lines_of(&self.db, std::slice::from_ref(&invoice.invoice_id)).await?;
        let total = stored_amount(invoice.total_kopecks, "invoices.total_kopecks")?;
        let (operation, items, payments) = build(&payment, &lines, total)?;
        let shift = rows::shift(&self.db, &payment.shift_id)
            .await?
            .ok_or_else(|| StoreError::Corrupt("payments.shift_id".into()))?;
        let branch = directory::branch(&self.db, &shift.branch_id)
            .await?
            .ok_or_else(|| StoreError::Corrupt("shifts.branch_id".into()))?;
        let cashier = store::staff::staff_by_id(&self.db, &payment.cashier_id)
            .await?
            .map(|s| s.display_name)
            .unwrap_or_default();
        let total_kopecks = items
            .iter()
            .map(|i| i.sum_kopecks)
            .fold(0, u64::saturating_add);
        let total_without_vat_kopecks = items
            .iter()
            .filter(|i| i.vat == Vat::None)
            .map(|i| i.sum_kopecks)
            .fold(0, u64::saturating_add);
        Ok(Receipt {
            payment_id: payment.payment_id,
            invoice_id: payment.invoice_id,
            operation_tag_value: match operation {
                Operation::Income => 1,
                Operation::IncomeReturn => 2,
            },
            operation,
            taxation_system: TAXATION_SYSTEM,
            taxation_system_tag_value: TAXATION_SYSTEM_TAG_VALUE,
            seller_name: self.identity.name.clone(),
            seller_inn: self.identity.inn.clone(),
            settlement_address: branch.address,
            settlement_place: branch.name,
            cashier,
            items,
            payments,
            total_kopecks,
            total_without_vat_kopecks,
            taken_at: payment.taken_at,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(no: i64, price: i64, quantity: i64, exempt: bool) -> LineRow {
        LineRow {
            invoice_id: "i".into(),
            line_no: no,
            service_code: format!("S{no}"),
            service_name: format!("Услуга {no}"),
            quantity,
            price_kopecks: price,
            vat_exempt: exempt,
        }
    }

    #[test]
    fn shares_add_up_exactly() {
        assert_eq!(allocate(&[250_000, 65_050], 100_000), vec![79_352, 20_648]);
        let shares = allocate(&[1, 1, 1], 2);
        assert_eq!(shares, vec![1, 1, 0]);
        for amount in [1, 7, 99_999, 315_050] {
            let s = allocate(&[250_000, 65_050, 3], amount);
            assert_eq!(s.iter().sum::<u64>(), amount);
        }
    }

    #[test]
    fn a_whole_invoice_keeps_its_lines_and_a_part_is_shared() {
        let lines = [line(1, 250_000, 1, true), line(2, 65_050, 2, true)];
        let full = items(&lines, 380_100, Settlement::FullPayment).unwrap();
        assert_eq!(full[1].quantity, 2);
        assert_eq!(full[1].price_kopecks, 65_050);
        assert_eq!(full[1].sum_kopecks, 130_100);
        assert_eq!(full[0].vat, Vat::None);
        assert_eq!(full[0].vat_tag_value, 6);
        let part = items(&lines, 100_000, Settlement::Prepayment).unwrap();
        assert_eq!(part.iter().map(|i| i.sum_kopecks).sum::<u64>(), 100_000);
        assert!(
            part.iter()
                .all(|i| i.quantity == 1 && i.price_kopecks == i.sum_kopecks)
        );
        assert_eq!(part[0].payment_method_tag_value, 2);
    }

    #[test]
    fn taxed_services_carry_22_percent_included() {
        let lines = [line(1, 12_200, 1, false)];
        let full = items(&lines, 12_200, Settlement::FullPayment).unwrap();
        assert_eq!(
            (full[0].vat, full[0].vat_tag_value, full[0].vat_kopecks),
            (Vat::Vat22, 11, 2_200)
        );
        let pre = items(&lines, 12_200, Settlement::FullPrepayment).unwrap();
        assert_eq!((pre[0].vat, pre[0].vat_tag_value), (Vat::Vat122, 12));
    }
}
