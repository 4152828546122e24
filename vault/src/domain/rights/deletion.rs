//! A deletion request, split by legal basis (ADR 0016, regulation reference row "Deletion vs
//! retention"): what rests on consent goes now; what the law requires is kept, restricted to
//! its legal purposes, until its retention ends and the retention job destroys it.

use policy::{ConsentPurpose, ConsumerDomain, Purpose};
use uuid::Uuid;
use vault_wire::{Channel, DeletedData, DeletionAnswer, RetainedData};

use crate::domain::calendar::{add_years, start_of_year_after};
use crate::ids::PatientId;
use crate::keys::system::BlindKind;
use crate::store::rights::{self as rs, RetentionRow};
use crate::store::{self, StoreError, Transaction};

/// Identity fields that exist only to reach the patient (reminders, the patient app): held on
/// consent, deleted now. Name, birth date, sex, address and documents belong to the medical
/// card (form 025/u) and to contracts, and are kept.
const CONTACT_FIELDS: [&str; 2] = ["phones", "email"];

/// Domains whose pseudonyms exist for processing on consent: the patient-app account lives in
/// clinic-app, and analytics rests on its own consent.
const CONSENT_DOMAINS: [ConsumerDomain; 2] = [ConsumerDomain::ClinicApp, ConsumerDomain::Analytics];

/// The retention classes, with the law behind each and the purposes they stay readable for.
pub(crate) const MEDICAL_CARD: &str = "medical_card";
pub(crate) const ACCOUNTING: &str = "accounting";

const MEDICAL_CARD_YEARS: i64 = 25;
const ACCOUNTING_YEARS: i64 = 5;

pub(super) struct DeletionOutcome {
    pub answer: DeletionAnswer,
    unlinked: u64,
}

impl DeletionOutcome {
    /// What the audit event says: counts and classes, never values.
    pub fn audit_summary(&self) -> String {
        format!(
            "deleted:consents,contact_fields,phone_index; unlinked_tokens:{}; kept:{MEDICAL_CARD},{ACCOUNTING}",
            self.unlinked
        )
    }
}

/// Carries out a deletion in the caller's transaction (which also records the request).
pub(super) async fn carry_out(
    tx: &mut Transaction,
    patient: PatientId,
    request_id: &Uuid,
    channel: Channel,
    now: i64,
) -> Result<DeletionOutcome, StoreError> {
    for purpose in ConsentPurpose::ALL {
        rs::insert_consent(
            tx,
            patient,
            purpose.as_str(),
            false,
            channel.as_str(),
            now,
            &format!("request:{request_id}"),
        )
        .await?;
    }
    for field in CONTACT_FIELDS {
        store::patients::delete_field(tx, patient, field).await?;
    }
    store::patients::delete_blind_indexes(tx, BlindKind::Phone.as_str(), patient).await?;
    let domains = CONSENT_DOMAINS.map(ConsumerDomain::as_str);
    let unlinked = rs::unlink_tokens(tx, patient, &domains, now).await?;
    rs::restrict_patient(tx, patient, now).await?;

    let card_until = add_years(now, MEDICAL_CARD_YEARS);
    // 402-FZ art. 29: at least five years after the reporting year.
    let accounting_until = start_of_year_after(now, ACCOUNTING_YEARS + 1);
    let kept = vec![
        RetainedData {
            data: "identity (name, birth date, sex, address, SNILS, passport, INN) and medical records with their attachments and earlier versions".into(),
            basis: "medical card form 025/u, 25 years: Minzdrav letter 07.12.2015 No. 13-2/1538; 323-FZ art. 22; 152-FZ art. 10 part 2 item 4".into(),
            until: card_until,
            readable_for: [Purpose::Treatment, Purpose::DisclosureLegal]
                .map(|p| p.as_str().to_owned())
                .to_vec(),
        },
        RetainedData {
            data: "contracts, invoices, payments, refunds and receipts (held by clinic-app under its former pseudonym) and the identity they name".into(),
            basis: "accounting documents, 5 years after the reporting year: 402-FZ art. 29".into(),
            until: accounting_until,
            readable_for: [Purpose::Billing, Purpose::TaxCertificate, Purpose::DisclosureLegal]
                .map(|p| p.as_str().to_owned())
                .to_vec(),
        },
    ];
    for (data, r) in [(MEDICAL_CARD, &kept[0]), (ACCOUNTING, &kept[1])] {
        rs::insert_retention(
            tx,
            &RetentionRow {
                patient_id: patient.to_string(),
                data: data.to_owned(),
                basis: r.basis.clone(),
                until: r.until,
                request_id: request_id.to_string(),
            },
        )
        .await?;
    }
    let consent =
        "it rested on the patient's consent, now withdrawn (152-FZ art. 9 part 2, art. 21 part 5)";
    let deleted = vec![
        DeletedData {
            data: "consents to SMS reminders, marketing, the patient app and analytics".into(),
            basis: "withdrawn by this request (152-FZ art. 9 part 2)".into(),
        },
        DeletedData {
            data: "phone numbers, e-mail address and the phone search index".into(),
            basis: consent.into(),
        },
        DeletedData {
            data: "the patient-app account and the clinic-app pseudonym (unlinked: it no longer leads to the patient)".into(),
            basis: consent.into(),
        },
        DeletedData {
            data: "the analytics pseudonym, if there was one".into(),
            basis: consent.into(),
        },
    ];
    Ok(DeletionOutcome {
        answer: DeletionAnswer { deleted, kept },
        unlinked,
    })
}
