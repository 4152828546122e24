//! The consents a patient gives and may withdraw at any time (152-FZ art. 9). Purposes that rest
//! on a contract or on the law need none; the few that rest on consent name theirs in
//! [`crate::Purpose::required_consent`], and the policy refuses them while it is not held.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// What a patient may consent to, one consent each. A closed list: the consent registry stores
/// only these, and an unknown name is an error, never a default.
///
/// Serialised as the snake_case names of [`ConsentPurpose::as_str`], which are also the ids of
/// the `ConsentPurpose` enum in the Cedar schema.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentPurpose {
    /// Appointment reminders by SMS.
    SmsReminders,
    /// Advertising and offers (38-FZ art. 18 wants prior consent as well).
    Marketing,
    /// The patient's own account in the patient app.
    PatientApp,
    /// Statistics on the patient's data. No purpose needs it yet: the analytics service gets
    /// no personal data from the vault; the registry records it so the answer is ready.
    Analytics,
}

impl ConsentPurpose {
    /// Every consent purpose, in declaration order.
    pub const ALL: [ConsentPurpose; 4] = [
        ConsentPurpose::SmsReminders,
        ConsentPurpose::Marketing,
        ConsentPurpose::PatientApp,
        ConsentPurpose::Analytics,
    ];

    /// The name used in the Cedar schema, in the consent registry and on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ConsentPurpose::SmsReminders => "sms_reminders",
            ConsentPurpose::Marketing => "marketing",
            ConsentPurpose::PatientApp => "patient_app",
            ConsentPurpose::Analytics => "analytics",
        }
    }
}

impl fmt::Display for ConsentPurpose {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is no consent purpose. The message lists the valid names and leaves the value
/// out (it comes from a request and may be anything); the caller still has it in `.0`.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("unknown consent purpose: use one of sms_reminders, marketing, patient_app, analytics")]
pub struct UnknownConsentPurpose(pub String);

impl FromStr for ConsentPurpose {
    type Err = UnknownConsentPurpose;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ConsentPurpose::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| UnknownConsentPurpose(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consent_purposes_round_trip_and_unknown_ones_are_refused() {
        for c in ConsentPurpose::ALL {
            assert_eq!(c.as_str().parse::<ConsentPurpose>(), Ok(c));
            assert_eq!(c.to_string(), c.as_str());
        }
        let err = "newsletter".parse::<ConsentPurpose>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown consent purpose: use one of sms_reminders, marketing, patient_app, analytics"
        );
        assert!(
            !err.to_string().contains("newsletter"),
            "the value is not echoed"
        );
        assert_eq!(
            err.0, "newsletter",
            "the caller can still see what was given"
        );
        assert!(
            "SmsReminders".parse::<ConsentPurpose>().is_err(),
            "names are case-sensitive"
        );
    }

    #[test]
    fn the_error_message_lists_every_consent_purpose() {
        let message = UnknownConsentPurpose(String::new()).to_string();
        for c in ConsentPurpose::ALL {
            assert!(message.contains(c.as_str()), "{c} missing from {message}");
        }
    }

    #[test]
    fn serde_names_are_the_schema_names() {
        for c in ConsentPurpose::ALL {
            let json = serde_json::to_string(&c).unwrap();
            assert_eq!(json, format!("\"{}\"", c.as_str()));
            assert_eq!(serde_json::from_str::<ConsentPurpose>(&json).unwrap(), c);
        }
        assert!(serde_json::from_str::<ConsentPurpose>("\"sms\"").is_err());
        assert!(serde_json::from_str::<ConsentPurpose>("\"PatientApp\"").is_err());
    }
}
