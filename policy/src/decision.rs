//! The answer: allowed or not, why, and what the enforcement point must do with the data.

use serde::{Deserialize, Serialize};

use crate::names::closed_names;
use crate::{FieldClass, Purpose};

/// Something the vault must do when it acts on an allowed decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Obligation {
    /// Alert the security officer now (break-glass, a colleague's record).
    NotifySecurityOfficer,
    /// Show document numbers (SNILS, passport, INN) masked: the last 4 characters only.
    Mask,
}

closed_names!(Obligation, "obligation", {
    NotifySecurityOfficer => "notify_security_officer",
    Mask => "mask",
});

/// A policy decision, written to the audit chain whether it allows or not.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Decision {
    pub allowed: bool,
    /// The `@id`s of the policies that determined the decision (the permits that allowed it,
    /// or the forbids that refused it), sorted; `default-deny` when nothing permitted; or a
    /// `request-...`, `invalid-request: ...` or `evaluation-error: ...` reason. Never personal
    /// data or tokens.
    pub reasons: Vec<String>,
    /// Sorted, without duplicates; always empty when `allowed` is false.
    pub obligations: Vec<Obligation>,
}

impl Decision {
    pub(crate) fn deny(reasons: Vec<String>) -> Self {
        Decision {
            allowed: false,
            reasons,
            obligations: Vec::new(),
        }
    }
}

/// Whether an allowed read must be masked.
///
/// Decided here, not in Cedar, because it depends only on the purpose and the field class —
/// the same table-like fact as `Purpose::field_classes` — and would otherwise need a copy of
/// every permit split by purpose. Full document numbers are needed for care (identifying the
/// patient, insurance), tax certificates (INN) and legal disclosure; everyone else sees the
/// last 4 characters.
pub(crate) fn needs_mask(purpose: Option<Purpose>, class: Option<FieldClass>) -> bool {
    class == Some(FieldClass::Document)
        && !matches!(
            purpose,
            Some(Purpose::Treatment | Purpose::TaxCertificate | Purpose::DisclosureLegal)
        )
}
