//! Care relationships (from clinic-app) and break-glass (by doctors).

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use vault_wire::{
    BreakGlassGrant, BreakGlassReason, CareRelationshipRequest, StartBreakGlassRequest,
};

use super::caller::Caller;
use super::error::ApiError;
use super::patients::token;
use crate::domain::care;
use crate::startup::AppState;
use service_kit::http::json::ApiJson;

/// Reports that a doctor treats a patient in a time window (an appointment was booked).
#[utoipa::path(put, path = "/v1/care-relationships", operation_id = "putCareRelationship", tag = "care",
    request_body = CareRelationshipRequest,
    responses((status = 204), (status = 403, body = vault_wire::ApiError), (status = 404, body = vault_wire::ApiError)),
    security(("bearer" = [])))]
pub async fn put_relationship(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiJson(req): ApiJson<CareRelationshipRequest>,
) -> Result<StatusCode, ApiError> {
    state
        .care
        .put_relationship(
            &caller.principal,
            &caller.meta,
            req.doctor_staff_id(),
            req.patient().as_str(),
            req.from(),
            req.until(),
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Ends a doctor's open care relationships with a patient now (the appointment was cancelled).
#[utoipa::path(delete, path = "/v1/care-relationships/{doctor}/{token}", operation_id = "endCareRelationship", tag = "care",
    params(("doctor" = String, Path), ("token" = String, Path)),
    responses((status = 204), (status = 404, body = vault_wire::ApiError)),
    security(("bearer" = [])))]
pub async fn end_relationship(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path((doctor, raw)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let t = token(&raw)?;
    state
        .care
        .end_relationship(&caller.principal, &caller.meta, &doctor, t.as_str())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A doctor opens one patient's records in an emergency: read-only, time-boxed, audited, and
/// the security officer is alerted.
#[utoipa::path(post, path = "/v1/break-glass", operation_id = "startBreakGlass", tag = "care",
    request_body = StartBreakGlassRequest,
    responses((status = 201, body = BreakGlassGrant), (status = 403, body = vault_wire::ApiError)),
    security(("bearer" = [])))]
pub async fn start_break_glass(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiJson(req): ApiJson<StartBreakGlassRequest>,
) -> Result<(StatusCode, Json<BreakGlassGrant>), ApiError> {
    let reason = match req.reason() {
        BreakGlassReason::Btg => care::BreakGlassReason::Btg,
        BreakGlassReason::Etreat => care::BreakGlassReason::Etreat,
    };
    let minutes = Duration::from_secs(u64::from(req.minutes()) * 60);
    let grant = state
        .care
        .start_break_glass(
            &caller.principal,
            &caller.meta,
            req.patient().as_str(),
            reason,
            req.justification().as_str(),
            minutes,
        )
        .await?;
    let grant_id = grant
        .grant_id
        .parse()
        .map_err(|_| ApiError::from(crate::store::StoreError::Corrupt("grant id".into())))?;
    Ok((
        StatusCode::CREATED,
        Json(BreakGlassGrant {
            grant_id,
            expires_at: grant.expires_at,
        }),
    ))
}

/// Ends the caller's own break-glass grant before it expires.
#[utoipa::path(post, path = "/v1/break-glass/{grant_id}/end", operation_id = "endBreakGlass", tag = "care",
    params(("grant_id" = String, Path)),
    responses((status = 204), (status = 404, body = vault_wire::ApiError)),
    security(("bearer" = [])))]
pub async fn end_break_glass(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(grant_id): Path<uuid::Uuid>,
) -> Result<StatusCode, ApiError> {
    if state
        .care
        .end_break_glass(&caller.principal, &caller.meta, &grant_id.to_string())
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_grant",
            "no live grant of yours has this id",
        ))
    }
}
