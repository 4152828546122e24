//! Sign-in and sign-out of staff.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use vault_wire::{LoginRequest, LoginResponse};

use super::caller::{Caller, Meta};
use super::error::ApiError;
use crate::startup::AppState;
use service_kit::http::json::ApiJson;

/// Signs a member of staff in; doctors and nurses also give a TOTP code.
#[utoipa::path(post, path = "/v1/login", operation_id = "login", tag = "auth",
    request_body = LoginRequest,
    responses((status = 200, body = LoginResponse), (status = 401, body = vault_wire::ApiError),
        (status = 429, body = vault_wire::ApiError)))]
pub async fn login(
    State(state): State<Arc<AppState>>,
    Meta(meta): Meta,
    ApiJson(req): ApiJson<LoginRequest>,
) -> Result<Json<LoginResponse>, ApiError> {
    let session = state
        .auth
        .login(&req.username, &req.password, req.totp.as_deref(), &meta)
        .await?;
    Ok(Json(LoginResponse {
        session: session.secret.as_str().to_owned(),
        expires_at: session.expires_at,
        role: session.role.as_str().to_owned(),
    }))
}

/// Revokes the caller's session.
#[utoipa::path(post, path = "/v1/logout", operation_id = "logout", tag = "auth",
    responses((status = 204), (status = 401, body = vault_wire::ApiError)),
    security(("bearer" = [])))]
pub async fn logout(
    State(state): State<Arc<AppState>>,
    caller: Caller,
) -> Result<StatusCode, ApiError> {
    state
        .auth
        .logout(&caller.bearer, &caller.principal, &caller.meta)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
