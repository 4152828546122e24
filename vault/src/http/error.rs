//! One error type for every handler: a stable code, a message the caller can act on, the field
//! at fault. 5xx bodies never carry the cause; the cause is logged once with the request id.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use vault_wire::ApiError as Body;

use crate::domain::VaultError;
use crate::domain::auth::AuthError;
use crate::domain::patients::PatientError;
use crate::keys::KeyError;
use crate::store::StoreError;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub body: Body,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            body: Body::new(code, message),
        }
    }

    pub fn field(mut self, field: &str) -> Self {
        self.body = self.body.with_field(field);
        self
    }

    pub fn bad_request(code: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    fn unavailable(code: &str, cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %cause, code, "request failed: dependency unavailable");
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            code,
            "the vault cannot serve this right now; nothing was changed, try again shortly",
        )
    }

    fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "request failed: internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error; the request id is in the logs",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(self.body)).into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(_) => Self::unavailable("database_unavailable", &e),
            StoreError::AuditFailed(ref cause) => {
                let cause = cause.to_string();
                Self::unavailable("audit_unavailable", &cause)
            }
            StoreError::Conflict => Self::new(
                StatusCode::CONFLICT,
                "conflict",
                "this already exists or changed meanwhile",
            ),
            other => Self::internal(&other),
        }
    }
}

impl From<KeyError> for ApiError {
    fn from(e: KeyError) -> Self {
        match e {
            KeyError::Unwrap => Self::internal(&"a stored key did not unwrap"),
            other => Self::unavailable("key_store_unavailable", &other),
        }
    }
}

impl From<VaultError> for ApiError {
    fn from(e: VaultError) -> Self {
        match e {
            VaultError::UnknownPatient => {
                Self::new(StatusCode::NOT_FOUND, "unknown_patient", "no such patient")
            }
            VaultError::UnknownRecord => Self::new(
                StatusCode::NOT_FOUND,
                "unknown_record",
                "no such record for this patient",
            ),
            VaultError::PatientShredded => Self::new(
                StatusCode::GONE,
                "patient_destroyed",
                "this patient's data was destroyed",
            ),
            VaultError::Open(_) => Self::internal(&"stored data did not open"),
            VaultError::Seal => Self::internal(&"data could not be sealed"),
            VaultError::Keys(k) => k.into(),
            VaultError::Store(s) => s.into(),
        }
    }
}

impl From<PatientError> for ApiError {
    fn from(e: PatientError) -> Self {
        match e {
            PatientError::Forbidden { reasons } => Self::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!(
                    "the access policy does not allow this ({})",
                    reasons.join(", ")
                ),
            ),
            PatientError::UnknownToken => Self::new(
                StatusCode::NOT_FOUND,
                "unknown_token",
                "no patient has this token in your domain",
            ),
            PatientError::Conflict => Self::new(
                StatusCode::CONFLICT,
                "conflict",
                "someone else changed this record at the same moment; read it again and retry",
            ),
            PatientError::KindMismatch => Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "kind_mismatch",
                "a correction must have the same kind as the record it corrects",
            )
            .field("body.kind"),
            PatientError::UnknownDoctor => Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "unknown_doctor",
                "doctor_staff_id names no active doctor of the vault",
            )
            .field("doctor_staff_id"),
            PatientError::WindowTooLong => Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "window_too_long",
                "a care relationship may cover at most 90 days; report longer care again",
            )
            .field("until"),
            PatientError::Vault(v) => v.into(),
            PatientError::Store(s) => s.into(),
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::InvalidCredentials => Self::new(
                StatusCode::UNAUTHORIZED,
                "invalid_credentials",
                e.to_string(),
            ),
            AuthError::TotpRequired => {
                Self::new(StatusCode::UNAUTHORIZED, "totp_required", e.to_string()).field("totp")
            }
            AuthError::Throttled(_) => {
                Self::new(StatusCode::TOO_MANY_REQUESTS, "throttled", e.to_string())
            }
            AuthError::Unauthenticated => Self::new(
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "send Authorization: Bearer <session or service credential>; sessions expire, sign in again",
            ),
            AuthError::Invalid(m) => Self::bad_request("invalid", m),
            AuthError::Store(s) => s.into(),
        }
    }
}
