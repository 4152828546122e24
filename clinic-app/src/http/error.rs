//! The one error body of every handler, in the vault's style: a stable code, a message the
//! caller can act on, the field at fault. 5xx bodies never carry the cause; it is logged once.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use vault_wire::ApiError as Body;

use crate::domain::ClinicError;
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
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(self.body)).into_response()
    }
}

impl From<ClinicError> for ApiError {
    fn from(e: ClinicError) -> Self {
        match e {
            ClinicError::Invalid {
                code,
                message,
                field,
            } => {
                let mut err = Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, message);
                if let Some(field) = field {
                    err.body = err.body.with_field(field);
                }
                err
            }
            ClinicError::NotFound(what) => Self::new(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("{what} not found"),
            ),
            ClinicError::Missing { code, message } => {
                Self::new(StatusCode::NOT_FOUND, code, message)
            }
            ClinicError::Conflict { code, message } => {
                Self::new(StatusCode::CONFLICT, code, message)
            }
            ClinicError::Unauthenticated => Self::new(
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "sign in first: send Authorization: Bearer <session>",
            ),
            ClinicError::Forbidden(message) => {
                Self::new(StatusCode::FORBIDDEN, "forbidden", message)
            }
            ClinicError::TooManyRequests(message) => {
                Self::new(StatusCode::TOO_MANY_REQUESTS, "too_many_requests", message)
            }
            ClinicError::VaultUnavailable(cause) => {
                tracing::error!(error = %cause, "request failed: the vault is unavailable");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "vault_unavailable",
                    "the vault cannot be reached, so nothing that needs patients' data can be done now; nothing was changed, try again shortly",
                )
            }
            ClinicError::VaultRefused {
                status,
                code,
                message,
            } => {
                tracing::warn!(status, code = %code, "the vault refused a call");
                let status = match status {
                    401 | 403 => StatusCode::FORBIDDEN,
                    404 => StatusCode::NOT_FOUND,
                    409 => StatusCode::CONFLICT,
                    400 | 422 => StatusCode::UNPROCESSABLE_ENTITY,
                    _ => StatusCode::BAD_GATEWAY,
                };
                Self::new(
                    status,
                    &format!("vault_{code}"),
                    format!("the vault refused: {message}"),
                )
            }
            ClinicError::Store(e) => e.into(),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(_) => {
                tracing::error!(error = %e, "request failed: the database is unavailable");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "database_unavailable",
                    "clinic-app cannot reach its database; nothing was changed, try again shortly",
                )
            }
            StoreError::Conflict => Self::new(
                StatusCode::CONFLICT,
                "conflict",
                "this already exists or changed meanwhile",
            ),
            other => {
                tracing::error!(error = %other, "request failed: internal error");
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "internal error; the request id is in the logs",
                )
            }
        }
    }
}
