//! Staff sign-in and sign-out.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::{Deserialize, Serialize};
use service_kit::http::json::ApiJson;
use utoipa::ToSchema;

use super::caller::{Caller, bearer};
use super::error::ApiError;
use crate::startup::AppState;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StaffLoginRequest {
    pub username: String,
    pub password: String,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct StaffLoginResponse {
    pub session: String,
    pub expires_at: i64,
    pub role: String,
    pub staff_id: String,
}

/// Signs a receptionist, cashier, accountant, doctor or administrator in.
#[utoipa::path(post, path = "/v1/staff/login", operation_id = "staffLogin", tag = "auth",
    request_body = StaffLoginRequest,
    responses((status = 200, body = StaffLoginResponse), (status = 401, body = vault_wire::ApiError),
        (status = 429, body = vault_wire::ApiError)))]
pub async fn login(
    State(state): State<Arc<AppState>>,
    ApiJson(req): ApiJson<StaffLoginRequest>,
) -> Result<Json<StaffLoginResponse>, ApiError> {
    let s = state.auth.sign_in(&req.username, &req.password).await?;
    Ok(Json(StaffLoginResponse {
        session: s.session.as_str().to_owned(),
        expires_at: s.expires_at,
        role: s.role.as_str().to_owned(),
        staff_id: s.staff_id,
    }))
}

/// Ends the caller's session (staff or patient).
#[utoipa::path(post, path = "/v1/logout", operation_id = "logout", tag = "auth",
    responses((status = 204), (status = 401, body = vault_wire::ApiError)),
    security(("bearer" = [])))]
pub async fn logout(
    State(state): State<Arc<AppState>>,
    _caller: Caller,
    parts: Parts,
) -> Result<StatusCode, ApiError> {
    if let Some(session) = bearer(&parts) {
        state.auth.sign_out(session).await?;
    }
    Ok(StatusCode::NO_CONTENT)
}
