//! The vocabulary every decision uses: the closed list of purposes a consumer may name when it
//! asks for personal data, the classes of fields each purpose may see, and the consent (if any)
//! each purpose rests on.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::{ConsentPurpose, PolicyError};

/// Classes of patient data. Every stored field belongs to exactly one.
///
/// Serialised as the snake_case names the Cedar schema uses (`identity`, ..., `financial`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldClass {
    /// Surname, name, patronymic, birth date, sex.
    Identity,
    /// Phones, e-mail, address.
    Contact,
    /// SNILS, passport, INN.
    Document,
    /// Visit notes, diagnoses, prescriptions, lab results, attachments.
    Medical,
    /// Invoices, payments, refunds.
    Financial,
}

impl FieldClass {
    pub const ALL: [FieldClass; 5] = [
        FieldClass::Identity,
        FieldClass::Contact,
        FieldClass::Document,
        FieldClass::Medical,
        FieldClass::Financial,
    ];

    /// The name used in the Cedar schema, in audit events and on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            FieldClass::Identity => "identity",
            FieldClass::Contact => "contact",
            FieldClass::Document => "document",
            FieldClass::Medical => "medical",
            FieldClass::Financial => "financial",
        }
    }
}

impl fmt::Display for FieldClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for FieldClass {
    type Err = PolicyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        FieldClass::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| PolicyError::UnknownName {
                kind: "field class",
                value: s.to_owned(),
            })
    }
}

/// Why personal data is asked for. A closed list: an unknown purpose is an error, never a default.
///
/// Serialised as the snake_case names of [`Purpose::as_str`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    Treatment,
    Scheduling,
    Reminder,
    Billing,
    Receipt,
    TaxCertificate,
    PatientSelfService,
    DisclosureLegal,
    /// Advertising and offers to the patient; rests on the patient's consent alone.
    Marketing,
}

impl Purpose {
    pub const ALL: [Purpose; 9] = [
        Purpose::Treatment,
        Purpose::Scheduling,
        Purpose::Reminder,
        Purpose::Billing,
        Purpose::Receipt,
        Purpose::TaxCertificate,
        Purpose::PatientSelfService,
        Purpose::DisclosureLegal,
        Purpose::Marketing,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Treatment => "treatment",
            Purpose::Scheduling => "scheduling",
            Purpose::Reminder => "reminder",
            Purpose::Billing => "billing",
            Purpose::Receipt => "receipt",
            Purpose::TaxCertificate => "tax_certificate",
            Purpose::PatientSelfService => "patient_self_service",
            Purpose::DisclosureLegal => "disclosure_legal",
            Purpose::Marketing => "marketing",
        }
    }

    /// The field classes this purpose may ever see; the policy may narrow it further (masking,
    /// role, relationship), never widen it. This table is the single source: the engine passes
    /// it to Cedar with every request, where `purpose-limits-field-class` enforces it.
    pub fn field_classes(self) -> &'static [FieldClass] {
        use FieldClass::*;
        match self {
            Purpose::Treatment => &[Identity, Contact, Document, Medical],
            // A schedule shows who comes; reminders need where to reach them.
            Purpose::Scheduling => &[Identity, Contact],
            Purpose::Reminder => &[Contact],
            Purpose::Billing => &[Identity, Financial],
            // 54-FZ: a receipt for a private buyer carries no personal data.
            Purpose::Receipt => &[],
            // KND 1151156 needs full name, birth date and INN of taxpayer and patient.
            Purpose::TaxCertificate => &[Identity, Document, Financial],
            Purpose::PatientSelfService => &[Identity, Contact, Document, Medical, Financial],
            Purpose::DisclosureLegal => &[Identity, Document, Medical],
            // An offer needs where to reach the patient, not who they are or what ails them.
            Purpose::Marketing => &[Contact],
        }
    }

    /// The consent this purpose rests on, if any; without it the policy refuses the purpose
    /// (`consent-required`), whoever asks. `None` means the purpose rests on a contract or on
    /// the law (152-FZ art. 6 and art. 10 part 2), so a withdrawn consent does not stop it.
    /// This table is the single source: the engine passes it to Cedar with every request.
    pub fn required_consent(self) -> Option<ConsentPurpose> {
        match self {
            // Care rests on the contract and the law (152-FZ art. 10 part 2 item 4); consent to
            // an intervention (323-FZ art. 20) is a signed medical document, not this registry.
            Purpose::Treatment => None,
            // Booking a visit the patient asked for is part of the contract for services.
            Purpose::Scheduling => None,
            // A reminder is an extra message to the patient's phone: only with their consent.
            Purpose::Reminder => Some(ConsentPurpose::SmsReminders),
            // Billing for services rendered is the contract.
            Purpose::Billing => None,
            // 54-FZ obliges the clinic to issue a receipt (and it carries no personal data).
            Purpose::Receipt => None,
            // The Tax Code obliges the clinic to issue the certificate the patient asks for.
            Purpose::TaxCertificate => None,
            // The patient app is a service the patient signs up for, and may leave.
            Purpose::PatientSelfService => Some(ConsentPurpose::PatientApp),
            // 323-FZ art. 13 part 4: disclosure without consent on a lawful request.
            Purpose::DisclosureLegal => None,
            // Advertising rests on consent alone (152-FZ art. 15, 38-FZ art. 18).
            Purpose::Marketing => Some(ConsentPurpose::Marketing),
        }
    }

    pub fn allows(self, class: FieldClass) -> bool {
        self.field_classes().contains(&class)
    }
}

impl fmt::Display for Purpose {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Error, PartialEq, Eq)]
#[error(
    "unknown purpose: use one of treatment, scheduling, reminder, billing, receipt, tax_certificate, patient_self_service, disclosure_legal, marketing"
)]
pub struct UnknownPurpose(pub String);

impl FromStr for Purpose {
    type Err = UnknownPurpose;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Purpose::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| UnknownPurpose(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purposes_round_trip_and_unknown_ones_are_refused() {
        for p in Purpose::ALL {
            assert_eq!(p.as_str().parse::<Purpose>(), Ok(p));
        }
        let err = "research".parse::<Purpose>().unwrap_err();
        assert!(err.to_string().starts_with("unknown purpose: use one of"));
        assert!(
            !err.to_string().contains("research"),
            "the value is not echoed"
        );
        assert_eq!(err.0, "research", "the caller can still see what was given");
        for p in Purpose::ALL {
            assert!(err.to_string().contains(p.as_str()), "{p} missing");
        }
        assert!(
            "Treatment".parse::<Purpose>().is_err(),
            "purposes are case-sensitive"
        );
    }

    #[test]
    fn only_care_self_service_and_legal_disclosure_reach_medical_data() {
        let medical: Vec<_> = Purpose::ALL
            .into_iter()
            .filter(|p| p.allows(FieldClass::Medical))
            .collect();
        assert_eq!(
            medical,
            [
                Purpose::Treatment,
                Purpose::PatientSelfService,
                Purpose::DisclosureLegal
            ]
        );
    }

    #[test]
    fn operational_purposes_see_only_what_their_task_needs() {
        assert!(
            !Purpose::Receipt.allows(FieldClass::Identity),
            "54-FZ receipts carry no PII"
        );
        assert!(Purpose::Reminder.allows(FieldClass::Contact));
        assert!(!Purpose::Reminder.allows(FieldClass::Identity));
        assert!(Purpose::TaxCertificate.allows(FieldClass::Document), "INN");
        assert!(!Purpose::Scheduling.allows(FieldClass::Document));
        assert_eq!(Purpose::Marketing.field_classes(), [FieldClass::Contact]);
    }

    #[test]
    fn only_reminders_the_patient_app_and_marketing_rest_on_consent() {
        let needing: Vec<_> = Purpose::ALL
            .into_iter()
            .filter_map(|p| p.required_consent().map(|c| (p, c)))
            .collect();
        assert_eq!(
            needing,
            [
                (Purpose::Reminder, ConsentPurpose::SmsReminders),
                (Purpose::PatientSelfService, ConsentPurpose::PatientApp),
                (Purpose::Marketing, ConsentPurpose::Marketing),
            ]
        );
    }

    #[test]
    fn serde_names_are_the_schema_names() {
        for p in Purpose::ALL {
            let json = serde_json::to_string(&p).unwrap();
            assert_eq!(json, format!("\"{}\"", p.as_str()));
            assert_eq!(serde_json::from_str::<Purpose>(&json).unwrap(), p);
        }
        for c in FieldClass::ALL {
            let json = serde_json::to_string(&c).unwrap();
            assert_eq!(json, format!("\"{}\"", c.as_str()));
            assert_eq!(serde_json::from_str::<FieldClass>(&json).unwrap(), c);
            assert_eq!(c.as_str().parse::<FieldClass>(), Ok(c));
        }
        assert!(serde_json::from_str::<Purpose>("\"research\"").is_err());
        assert!(serde_json::from_str::<FieldClass>("\"Medical\"").is_err());
        assert!("genome".parse::<FieldClass>().is_err());
    }
}
