//! The daily export for 1C:Accounting: one CSV row per payment or refund that a branch's
//! registers took on a branch-local day, with no patient data at all (1C books them to the
//! "retail buyer"). The format is specified in `docs/billing.md`; change both together.
//!
//! UTF-8 without a byte-order mark, `;` between fields, CRLF after every row, a header row
//! first. A field is quoted (RFC 4180) only if it holds `;`, `"`, CR or LF; one that starts with
//! `=`, `+`, `-` or `@` gets a leading `'` so a spreadsheet does not run it as a formula.

use std::collections::HashMap;

use chrono::FixedOffset;

use super::{roubles, stored_kopecks};
use crate::domain::Clinic;
use crate::domain::auth::{Capability, StaffPrincipal};
use crate::domain::error::ClinicError;
use crate::domain::schedule;
use crate::store::billing::{self as rows, DatedPaymentRow};
use crate::store::directory;

/// The header row: the columns in order.
pub const COLUMNS: [&str; 11] = [
    "datetime",
    "document_no",
    "operation",
    "method",
    "amount",
    "refund_of",
    "invoice_no",
    "service_codes",
    "branch_id",
    "cashier_id",
    "shift_id",
];

const SEPARATOR: char = ';';
const LINE_END: &str = "\r\n";

/// A finished export: the file's name and its text.
#[derive(Debug)]
pub struct Export1c {
    pub filename: String,
    pub csv: String,
}

/// One field, quoted or defused as needed.
fn field(value: &str) -> String {
    let value = if value.starts_with(['=', '+', '-', '@']) {
        format!("'{value}")
    } else {
        value.to_owned()
    };
    if value.contains([SEPARATOR, '"', '\r', '\n']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value
    }
}

fn row(fields: &[&str]) -> String {
    let mut line = fields
        .iter()
        .map(|f| field(f))
        .collect::<Vec<_>>()
        .join(&SEPARATOR.to_string());
    line.push_str(LINE_END);
    line
}

/// ISO 8601 with the branch's offset, e.g. `2026-11-30T10:15:00+03:00`.
fn local_datetime(at: i64, utc_offset_minutes: i64) -> String {
    let offset = i32::try_from(utc_offset_minutes * 60)
        .ok()
        .and_then(FixedOffset::east_opt);
    match (chrono::DateTime::from_timestamp(at, 0), offset) {
        (Some(dt), Some(offset)) => dt
            .with_timezone(&offset)
            .format("%Y-%m-%dT%H:%M:%S%:z")
            .to_string(),
        _ => at.to_string(),
    }
}

/// A file name that is safe in a header whatever the branch id holds.
fn filename(branch_id: &str, day: &str) -> String {
    let safe: String = branch_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("1c-payments-{safe}-{day}.csv")
}

/// The CSV of some rows, with each invoice's service codes.
pub(crate) fn render(rows: &[DatedPaymentRow], codes: &HashMap<String, String>) -> String {
    let mut csv = row(&COLUMNS);
    for r in rows {
        let p = &r.payment;
        let operation = if p.refund_of.is_some() {
            "refund"
        } else {
            "payment"
        };
        csv.push_str(&row(&[
            &local_datetime(p.taken_at, r.utc_offset_minutes),
            &p.payment_id,
            operation,
            &p.method,
            &roubles(stored_kopecks(p.kopecks)),
            p.refund_of.as_deref().unwrap_or(""),
            &p.invoice_id,
            codes.get(&p.invoice_id).map_or("", String::as_str),
            &r.branch_id,
            &p.cashier_id,
            &p.shift_id,
        ]));
    }
    csv
}

impl Clinic {
    /// The payments and refunds a branch took on a day (branch-local), for 1C.
    pub async fn export_1c(
        &self,
        who: &StaffPrincipal,
        day: &str,
        branch_id: &str,
    ) -> Result<Export1c, ClinicError> {
        who.require(Capability::Accounting)?;
        let parsed = schedule::parse_day(day, "day")?;
        let branch = directory::branch(&self.db, branch_id)
            .await?
            .ok_or(ClinicError::NotFound("branch"))?;
        let midnight = schedule::local_midnight(parsed, branch.utc_offset_minutes);
        let taken =
            rows::payments_at_branch(&self.db, branch_id, midnight, midnight + 86_400).await?;
        let mut invoice_ids: Vec<String> =
            taken.iter().map(|r| r.payment.invoice_id.clone()).collect();
        invoice_ids.sort();
        invoice_ids.dedup();
        let mut codes: HashMap<String, Vec<String>> = HashMap::new();
        for line in rows::lines_of(&self.db, &invoice_ids).await? {
            let list = codes.entry(line.invoice_id).or_default();
            if !list.contains(&line.service_code) {
                list.push(line.service_code);
            }
        }
        let codes: HashMap<String, String> = codes
            .into_iter()
            .map(|(invoice, list)| (invoice, list.join(",")))
            .collect();
        let day = parsed.format("%Y-%m-%d").to_string();
        tracing::info!(branch_id = %branch_id, day = %day, rows = taken.len(), "1C export");
        Ok(Export1c {
            filename: filename(branch_id, &day),
            csv: render(&taken, &codes),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_quoted_and_defused() {
        assert_eq!(field("B01.047.001"), "B01.047.001");
        assert_eq!(field("a;b"), "\"a;b\"");
        assert_eq!(field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(field("=HYPERLINK(1)"), "'=HYPERLINK(1)");
        assert_eq!(row(&["a", "b"]), "a;b\r\n");
    }

    #[test]
    fn times_are_branch_local_and_names_safe() {
        assert_eq!(
            local_datetime(1_796_029_200, 180),
            "2026-11-30T12:00:00+03:00"
        );
        assert_eq!(
            filename("msk\"1\r\n", "2026-11-30"),
            "1c-payments-msk_1__-2026-11-30.csv"
        );
    }
}
