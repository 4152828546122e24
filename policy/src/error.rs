//! The one error type of this crate.

use thiserror::Error;

use crate::{UnknownConsentPurpose, UnknownPurpose};

/// Why the policy could not be loaded, or a name could not be parsed.
///
/// Loading errors name the policy (its `@id`) and the problem, because the only fix is an edit
/// of `policy/policies/`, and CI runs the same check (`PolicyEngine::new`) in a test. A denied
/// request is not an error: it is a [`crate::Decision`] with `allowed: false` and its reasons.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum PolicyError {
    #[error("the Cedar schema does not parse: {0}")]
    Schema(String),

    #[error("the Cedar policies do not parse: {0}")]
    Policies(String),

    /// Decisions name their reasons by `@id`, so a policy without one could not be explained.
    #[error("a policy has no @id(\"...\") annotation (Cedar calls it `{0}`)")]
    MissingId(String),

    #[error("two policies share @id(\"{0}\")")]
    DuplicateId(String),

    #[error("policy `{policy}` has an unknown @obligation(\"{value}\")")]
    UnknownObligation { policy: String, value: String },

    /// A forbid never allows anything, so an obligation on it would silently never apply.
    #[error("policy `{0}` is a forbid with an @obligation; obligations belong on permits")]
    ObligationOnForbid(String),

    /// Strict validation found errors or warnings; each entry names its policy.
    #[error("the policies do not validate against the schema: {}", .0.join("; "))]
    Invalid(Vec<String>),

    #[error(transparent)]
    UnknownPurpose(#[from] UnknownPurpose),

    #[error(transparent)]
    UnknownConsentPurpose(#[from] UnknownConsentPurpose),

    #[error("unknown {kind} '{value}'")]
    UnknownName { kind: &'static str, value: String },
}
