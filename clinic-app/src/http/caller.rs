//! Extractors for who is calling: any signed-in principal, staff only, or a patient only.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use vault_wire::PatientToken;

use super::error::ApiError;
use crate::domain::ClinicError;
use crate::domain::auth::{Principal, StaffPrincipal};
use crate::startup::AppState;

/// The bearer session of the request, if any.
pub fn bearer(parts: &Parts) -> Option<&str> {
    parts
        .headers
        .get(AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// Any signed-in caller.
pub struct Caller(pub Principal);

/// A signed-in staff member.
pub struct StaffCaller(pub StaffPrincipal);

/// A signed-in patient of the mobile app: their own token.
pub struct PatientCaller(pub PatientToken);

impl FromRequestParts<Arc<AppState>> for Caller {
    type Rejection = ApiError;
    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, ApiError> {
        let session = bearer(parts).ok_or(ClinicError::Unauthenticated)?;
        Ok(Caller(state.auth.principal(session).await?))
    }
}

impl FromRequestParts<Arc<AppState>> for StaffCaller {
    type Rejection = ApiError;
    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, ApiError> {
        match Caller::from_request_parts(parts, state).await?.0 {
            Principal::Staff(s) => Ok(StaffCaller(s)),
            Principal::Patient(_) => {
                Err(ClinicError::Forbidden("this is for clinic staff".into()).into())
            }
        }
    }
}

impl FromRequestParts<Arc<AppState>> for PatientCaller {
    type Rejection = ApiError;
    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, ApiError> {
        match Caller::from_request_parts(parts, state).await?.0 {
            Principal::Patient(t) => Ok(PatientCaller(t)),
            Principal::Staff(_) => {
                Err(ClinicError::Forbidden("this is for patients of the app".into()).into())
            }
        }
    }
}
