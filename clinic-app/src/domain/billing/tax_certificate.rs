//! The certificate of payment for medical services for the tax deduction (KND 1151156, FNS
//! order EA-7-11/824@ of 08.11.2023), as a printable HTML page.
//!
//! The sum is what the payer paid in the year for the patient's invoices, less what was later
//! refunded of those payments (a refund reduces the expense of the year the money was paid).
//! Every service is code 1 ("ordinary"); code 2 ("expensive treatment", Government decree 458)
//! is not modelled and always shows zero. Names, birth dates and INNs come from the vault
//! (purpose `tax_certificate`) for this request only: they are rendered and dropped, never
//! stored or logged. The register of issued certificates keeps tokens, the year, the number
//! and the sum: printing the same figures again gives the same certificate; different figures
//! (a refund since) give a correction with the same number.

use std::collections::HashMap;
use std::str::FromStr;

use askama::Template;
use chrono::{Datelike, NaiveDate};
use vault_wire::PatientToken;

use super::{parse_token, refunded_of, require_any, stored_kopecks};
use crate::domain::Clinic;
use crate::domain::auth::{Capability, StaffPrincipal};
use crate::domain::error::ClinicError;
use crate::domain::schedule;
use crate::store::billing::{self as rows, CertificateRow, DatedPaymentRow};
use crate::store::{self, StoreError};
use crate::vault::TaxPerson;

/// Who the patient is to the taxpayer (Tax Code art. 219 part 1 item 3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Relation {
    /// The taxpayer paid for their own treatment.
    Myself,
    /// A child (or ward) up to 18, or up to 24 in full-time education.
    Child,
    Spouse,
    Parent,
}

impl Relation {
    pub fn as_str(self) -> &'static str {
        match self {
            Relation::Myself => "self",
            Relation::Child => "child",
            Relation::Spouse => "spouse",
            Relation::Parent => "parent",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Relation::Myself => "налогоплательщик",
            Relation::Child => "ребёнок (подопечный) налогоплательщика",
            Relation::Spouse => "супруг (супруга) налогоплательщика",
            Relation::Parent => "родитель налогоплательщика",
        }
    }
}

impl FromStr for Relation {
    type Err = ClinicError;
    fn from_str(s: &str) -> Result<Self, ClinicError> {
        [
            Relation::Myself,
            Relation::Child,
            Relation::Spouse,
            Relation::Parent,
        ]
        .into_iter()
        .find(|r| r.as_str() == s)
        .ok_or_else(|| {
            ClinicError::invalid(
                "invalid_relation",
                "relation",
                "relation: use self, child, spouse or parent",
            )
        })
    }
}

/// What to certify, as the query gives it (parsed here, naming the field at fault).
#[derive(Debug)]
pub struct CertificateRequest {
    pub payer_token: String,
    /// The payer when left out.
    pub patient_token: Option<String>,
    pub year: i64,
    /// `self` when payer and patient are one person; required otherwise.
    pub relation: Option<String>,
}

#[derive(Template)]
#[template(path = "tax_certificate.html")]
struct Page<'a> {
    clinic_name: &'a str,
    clinic_inn: &'a str,
    clinic_kpp: &'a str,
    clinic_license: &'a str,
    clinic_address: &'a str,
    number: i64,
    correction: i64,
    year: i64,
    issued_on: String,
    payer_name: String,
    payer_inn: Option<String>,
    payer_birth_date: Option<String>,
    same_person: bool,
    patient_name: String,
    patient_inn: Option<String>,
    patient_birth_date: Option<String>,
    relation_code: &'a str,
    relation_label: &'a str,
    code1: String,
    code2: String,
}

fn full_name(p: &TaxPerson) -> String {
    match &p.patronymic {
        Some(patronymic) => format!("{} {} {patronymic}", p.surname, p.name),
        None => format!("{} {}", p.surname, p.name),
    }
}

/// `17.05.1980` for `1980-05-17`; other text as it came.
fn russian_date(value: &str) -> String {
    NaiveDate::parse_from_str(value, "%Y-%m-%d")
        .map_or_else(|_| value.to_owned(), |d| d.format("%d.%m.%Y").to_string())
}

/// Roubles with a decimal comma, as printed forms show them: `2500,00`.
fn printed(kopecks: u64) -> String {
    format!("{},{:02}", kopecks / 100, kopecks % 100)
}

/// What the payer paid in the year for the patient, less later refunds of those payments.
pub(crate) fn paid_in_year(rows: &[DatedPaymentRow], year: i64) -> u64 {
    let all: Vec<_> = rows.iter().map(|r| r.payment.clone()).collect();
    rows.iter()
        .filter(|r| r.payment.kopecks > 0 && r.payment.refund_of.is_none())
        .filter(|r| {
            i64::from(schedule::local_day(r.payment.taken_at, r.utc_offset_minutes).year()) == year
        })
        .map(|r| {
            stored_kopecks(r.payment.kopecks)
                .saturating_sub(refunded_of(&r.payment.payment_id, &all))
        })
        .fold(0, u64::saturating_add)
}

fn person<'a>(
    people: &'a HashMap<PatientToken, TaxPerson>,
    token: &PatientToken,
    who: &str,
) -> Result<&'a TaxPerson, ClinicError> {
    people.get(token).ok_or_else(|| {
        ClinicError::conflict(
            "vault_withheld",
            format!("the vault did not release the {who}'s data for the tax certificate"),
        )
    })
}

impl Clinic {
    /// Issues (or prints again) the certificate and renders it as HTML.
    pub async fn tax_certificate(
        &self,
        who: &StaffPrincipal,
        req: CertificateRequest,
    ) -> Result<String, ClinicError> {
        require_any(who, &[Capability::TakePayments, Capability::Accounting])?;
        let payer = parse_token(&req.payer_token, "payer_token")?;
        let patient = match &req.patient_token {
            Some(t) => parse_token(t, "patient_token")?,
            None => payer.clone(),
        };
        let same_person = payer == patient;
        let relation = match (req.relation.as_deref(), same_person) {
            (None, true) => Relation::Myself,
            (None, false) => {
                return Err(ClinicError::invalid(
                    "missing_field",
                    "relation",
                    "relation: the patient is not the payer; say whether the patient is the payer's child, spouse or parent",
                ));
            }
            (Some(r), _) => r.parse()?,
        };
        if (relation == Relation::Myself) != same_person {
            return Err(ClinicError::invalid(
                "invalid_relation",
                "relation",
                "relation: 'self' is for a payer who is the patient, and only then",
            ));
        }
        let now = self.clock.now();
        let this_year =
            i64::from(schedule::local_day(now, schedule::PRICE_LIST_UTC_OFFSET_MINUTES).year());
        if !(2000..=this_year).contains(&req.year) {
            return Err(ClinicError::invalid(
                "invalid_year",
                "year",
                format!("year: from 2000 to {this_year}"),
            ));
        }
        let paid = rows::payments_of_pair(&self.db, payer.as_str(), patient.as_str()).await?;
        let code1 = paid_in_year(&paid, req.year);
        if code1 == 0 {
            return Err(ClinicError::invalid(
                "nothing_paid",
                "year",
                format!(
                    "year: this payer paid nothing for this patient's services in {} (net of refunds); there is nothing to certify",
                    req.year
                ),
            ));
        }
        // The vault last before writing: if it cannot answer, nothing is issued.
        let people = self
            .vault
            .tax_people(&[payer.clone(), patient.clone()])
            .await?;
        let payer_person = person(&people, &payer, "payer")?;
        let patient_person = person(&people, &patient, "patient")?;
        let certificate = self
            .register_certificate(who, &payer, &patient, req.year, relation, code1, now)
            .await?;
        let issued_on = schedule::local_day(
            certificate.issued_at,
            schedule::PRICE_LIST_UTC_OFFSET_MINUTES,
        )
        .format("%d.%m.%Y")
        .to_string();
        let page = Page {
            clinic_name: &self.identity.name,
            clinic_inn: &self.identity.inn,
            clinic_kpp: &self.identity.kpp,
            clinic_license: &self.identity.license,
            clinic_address: &self.identity.address,
            number: certificate.number,
            correction: certificate.correction,
            year: req.year,
            issued_on,
            payer_name: full_name(payer_person),
            payer_inn: payer_person.inn.clone(),
            payer_birth_date: payer_person.birth_date.as_deref().map(russian_date),
            same_person,
            patient_name: full_name(patient_person),
            patient_inn: patient_person.inn.clone(),
            patient_birth_date: patient_person.birth_date.as_deref().map(russian_date),
            relation_code: relation.as_str(),
            relation_label: relation.label(),
            code1: printed(code1),
            code2: printed(0),
        };
        let html = page
            .render()
            .map_err(|_| StoreError::Corrupt("the tax certificate template failed".into()))?;
        tracing::info!(
            certificate_id = %certificate.certificate_id,
            year = certificate.year,
            number = certificate.number,
            correction = certificate.correction,
            "tax certificate printed"
        );
        Ok(html)
    }

    /// The register entry for these figures: the last one if nothing changed, else a new
    /// number (or a correction of the existing number).
    #[allow(clippy::too_many_arguments)]
    async fn register_certificate(
        &self,
        who: &StaffPrincipal,
        payer: &PatientToken,
        patient: &PatientToken,
        year: i64,
        relation: Relation,
        code1: u64,
        now: i64,
    ) -> Result<CertificateRow, ClinicError> {
        let code1 = super::to_stored(code1, "year")?;
        let mut tx = self.db.begin().await?;
        tx.lock_keys(&[format!("tax_certificates:{year}")]).await?;
        let latest =
            rows::latest_certificate(&mut tx, year, payer.as_str(), patient.as_str()).await?;
        let (number, correction) = match latest {
            Some(c) if c.code1_kopecks == code1 && c.relation == relation.as_str() => return Ok(c),
            Some(c) => (c.number, c.correction + 1),
            None => (
                rows::last_certificate_number(&mut tx, year)
                    .await?
                    .unwrap_or(0)
                    + 1,
                0,
            ),
        };
        let row = CertificateRow {
            certificate_id: store::new_id(),
            year,
            number,
            correction,
            payer_token: payer.as_str().to_owned(),
            patient_token: patient.as_str().to_owned(),
            relation: relation.as_str().to_owned(),
            code1_kopecks: code1,
            issued_by: who.staff_id.clone(),
            issued_at: now,
        };
        rows::insert_certificate(&mut tx, &row).await?;
        tx.commit().await?;
        Ok(row)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::billing::PaymentRow;

    fn dated(id: &str, kopecks: i64, refund_of: Option<&str>, taken_at: i64) -> DatedPaymentRow {
        DatedPaymentRow {
            payment: PaymentRow {
                payment_id: id.into(),
                invoice_id: "i".into(),
                shift_id: "s".into(),
                method: "card".into(),
                kopecks,
                refund_of: refund_of.map(str::to_owned),
                idempotency_key: id.into(),
                cashier_id: "c".into(),
                taken_at,
                settlement: "full_payment".into(),
                offset_kopecks: 0,
                credit_kopecks: 0,
                reason: None,
            },
            branch_id: "b".into(),
            utc_offset_minutes: 180,
        }
    }

    #[test]
    fn the_year_is_the_payments_and_refunds_reduce_it() {
        // 2026-12-31 22:00 UTC is 2027-01-01 01:00 in Moscow.
        let new_year_msk = 1_798_754_400;
        let rows = [
            dated("a", 250_000, None, 1_796_029_200),
            dated("r", -50_000, Some("a"), new_year_msk + 86_400),
            dated("b", 65_050, None, new_year_msk),
        ];
        assert_eq!(paid_in_year(&rows, 2026), 200_000);
        assert_eq!(paid_in_year(&rows, 2027), 65_050);
        assert_eq!(paid_in_year(&rows, 2025), 0);
    }

    #[test]
    fn printed_forms() {
        assert_eq!(printed(250_050), "2500,50");
        assert_eq!(russian_date("1980-05-17"), "17.05.1980");
        assert_eq!(russian_date("unknown"), "unknown");
        assert!("self".parse::<Relation>().is_ok());
        assert!("cousin".parse::<Relation>().is_err());
    }
}
