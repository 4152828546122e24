//! One error for the domain: what went wrong in words a receptionist or a client can act on.
//! Messages never carry a patient's personal data or a token.

use thiserror::Error;

use crate::store::StoreError;

#[derive(Debug, Error)]
pub enum ClinicError {
    /// The request is wrong; `code` is stable snake_case, `field` names the offending field.
    #[error("{message}")]
    Invalid {
        code: &'static str,
        message: String,
        field: Option<&'static str>,
    },
    #[error("{0} not found")]
    NotFound(&'static str),
    /// Not found, with a stable code and a message that says what to do (an unknown patient
    /// token, a data request that is not the caller's).
    #[error("{message}")]
    Missing { code: &'static str, message: String },
    /// The request is right but the state forbids it now (slot taken, shift closed, ...).
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    #[error("sign in first")]
    Unauthenticated,
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    TooManyRequests(String),
    /// The vault could not be reached or failed: operations that need personal data stop.
    #[error("the vault is unavailable")]
    VaultUnavailable(String),
    /// The vault refused the call (its policy, an unknown token, bad input).
    #[error("the vault refused: {message}")]
    VaultRefused {
        status: u16,
        code: String,
        message: String,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ClinicError {
    pub fn invalid(code: &'static str, field: &'static str, message: impl Into<String>) -> Self {
        Self::Invalid {
            code,
            message: message.into(),
            field: Some(field),
        }
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::Conflict {
            code,
            message: message.into(),
        }
    }
}

impl From<vault_wire::ClientError> for ClinicError {
    fn from(e: vault_wire::ClientError) -> Self {
        use vault_wire::ClientError;
        match e {
            // The vault answered but cannot serve now (its database, its audit, its token).
            ClientError::Api { status, error } if status >= 500 => {
                ClinicError::VaultUnavailable(format!("HTTP {status} {}", error.code))
            }
            ClientError::Api { status, error } => ClinicError::VaultRefused {
                status,
                code: error.code,
                message: error.message,
            },
            ClientError::Unavailable(cause) | ClientError::Decode(cause) => {
                ClinicError::VaultUnavailable(cause)
            }
            ClientError::Config(cause) => ClinicError::VaultUnavailable(cause),
        }
    }
}
