//! The vocabulary every decision uses: the closed list of purposes a consumer may name when it
//! asks for personal data, and the classes of fields each purpose may see.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::PolicyError;

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
}

impl Purpose {
    pub const ALL: [Purpose; 8] = [
        Purpose::Treatment,
        Purpose::Scheduling,
        Purpose::Reminder,
        Purpose::Billing,
        Purpose::Receipt,
        Purpose::TaxCertificate,
        Purpose::PatientSelfService,
        Purpose::DisclosureLegal,
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
    "unknown purpose: use one of treatment, scheduling, reminder, billing, receipt, tax_certificate, patient_self_service, disclosure_legal"
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
        let err = "marketing".parse::<Purpose>().unwrap_err();
        assert!(err.to_string().starts_with("unknown purpose: use one of"));
        assert!(
            !err.to_string().contains("marketing"),
            "the value is not echoed"
        );
        assert_eq!(
            err.0, "marketing",
            "the caller can still see what was given"
        );
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
        assert!(serde_json::from_str::<Purpose>("\"marketing\"").is_err());
        assert!(serde_json::from_str::<FieldClass>("\"Medical\"").is_err());
        assert!("genome".parse::<FieldClass>().is_err());
    }
}
