//! Errors of this crate: why a value was refused at the edge ([`ParseError`]) and the one error
//! body every vault endpoint answers with ([`ApiError`]).

use std::fmt;

use serde::{Deserialize, Serialize};
use thiserror::Error;
use utoipa::ToSchema;

/// Why a value was refused. It names the kind of value and the rule it broke, and never echoes the
/// input: the input is often personal data, and this text ends up in 4xx bodies and in logs.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[error("invalid {what}: {rule}")]
pub struct ParseError {
    what: &'static str,
    rule: &'static str,
}

impl ParseError {
    pub(crate) const fn new(what: &'static str, rule: &'static str) -> Self {
        Self { what, rule }
    }

    /// The kind of value, e.g. `SNILS`.
    pub fn what(&self) -> &'static str {
        self.what
    }

    /// The rule that was broken, e.g. `the check number does not match`.
    pub fn rule(&self) -> &'static str {
        self.rule
    }
}

/// The body of every non-2xx answer of the vault.
///
/// `code` is stable snake_case that a client may branch on (`invalid_field`, `not_found`,
/// `forbidden`, ...); `message` is for people and never carries personal data or the text of an
/// internal cause; `field` names the offending request field (JSON path such as
/// `identity.snils`) when the error is about one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"code": "invalid_field", "message": "invalid SNILS: the check number does not match", "field": "identity.snils"}))]
pub struct ApiError {
    pub code: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl ApiError {
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            code: code.into(),
            message: message.into(),
            field: None,
        }
    }

    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    /// A 4xx body for a value that did not parse: code `invalid_field`, the parse error's text
    /// (which names the rule, not the value) and the field's path.
    pub fn invalid_field(field: impl Into<String>, error: &ParseError) -> Self {
        Self::new("invalid_field", error.to_string()).with_field(field)
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.field {
            Some(field) => write!(f, "{} ({field}): {}", self.code, self.message),
            None => write!(f, "{}: {}", self.code, self.message),
        }
    }
}

impl std::error::Error for ApiError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_error_round_trips_and_omits_an_absent_field() {
        let e = ApiError::new("not_found", "no such patient");
        let json = serde_json::to_value(&e).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"code": "not_found", "message": "no such patient"})
        );
        let back: ApiError = serde_json::from_value(json).unwrap();
        assert_eq!(back, e);
        assert_eq!(e.to_string(), "not_found: no such patient");
    }

    #[test]
    fn invalid_field_names_the_field_and_the_rule() {
        let e = ApiError::invalid_field("identity.snils", &ParseError::new("SNILS", "bad"));
        assert_eq!(e.code, "invalid_field");
        assert_eq!(e.field.as_deref(), Some("identity.snils"));
        assert_eq!(
            e.to_string(),
            "invalid_field (identity.snils): invalid SNILS: bad"
        );
    }
}
