//! Patient rights: data requests, consents, legal holds and destruction acts (ADR 0016).

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use uuid::Uuid;
use vault_wire::{
    ConsentPurpose, ConsentsResponse, DataRequestView, DataRequestsQuery, DestructionAct,
    ExtendDataRequest, FileDataRequest, LegalHoldView, ListDataRequestsResponse,
    ListDestructionActsResponse, PatientDataExport, PlaceLegalHold, SetConsentRequest,
};

use super::caller::Caller;
use super::error::ApiError;
use super::oversight::ApiQuery;
use super::patients::token;
use crate::domain::rights::RightsError;
use crate::startup::AppState;
use service_kit::http::json::ApiJson;

impl From<RightsError> for ApiError {
    fn from(e: RightsError) -> Self {
        let message = e.to_string();
        match e {
            RightsError::Forbidden { reasons } => Self::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!(
                    "the access policy does not allow this ({})",
                    reasons.join(", ")
                ),
            ),
            RightsError::UnknownToken => Self::new(
                StatusCode::NOT_FOUND,
                "unknown_token",
                "no patient has this token in your domain",
            ),
            RightsError::UnknownRequest => {
                Self::new(StatusCode::NOT_FOUND, "unknown_request", message)
            }
            RightsError::UnknownHold => Self::new(StatusCode::NOT_FOUND, "unknown_hold", message),
            RightsError::UnknownAct => Self::new(StatusCode::NOT_FOUND, "unknown_act", message),
            RightsError::Duplicate => Self::new(StatusCode::CONFLICT, "duplicate_request", message),
            RightsError::NotPending => Self::new(StatusCode::CONFLICT, "not_pending", message),
            RightsError::AlreadyExtended => {
                Self::new(StatusCode::CONFLICT, "already_extended", message)
            }
            RightsError::HoldReleased => Self::new(StatusCode::CONFLICT, "hold_released", message),
            RightsError::NotAnswered => Self::new(StatusCode::CONFLICT, "not_answered", message),
            RightsError::WrongKind(_) => {
                Self::new(StatusCode::UNPROCESSABLE_ENTITY, "wrong_kind", message)
            }
            RightsError::RecipientKey(_) => Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_recipient_key",
                message,
            )
            .field("recipient_key"),
            RightsError::WrongChannel(_) => {
                Self::new(StatusCode::UNPROCESSABLE_ENTITY, "wrong_channel", message)
                    .field("channel")
            }
            RightsError::Vault(v) => v.into(),
            RightsError::Store(s) => s.into(),
        }
    }
}

fn uuid(raw: &str, what: &str) -> Result<Uuid, ApiError> {
    raw.parse().map_err(|_| {
        ApiError::bad_request("invalid_id", format!("{what} is not a UUID")).field(what)
    })
}

/// A patient (through the patient app) or reception files an access or deletion request.
/// A deletion is carried out at once for what rests on consent; the answer says what was
/// deleted and what the law keeps, on what basis and until when.
#[utoipa::path(post, path = "/v1/data-requests", operation_id = "fileDataRequest", tag = "rights",
    request_body = FileDataRequest,
    responses((status = 201, body = DataRequestView), (status = 403, body = vault_wire::ApiError),
        (status = 404, body = vault_wire::ApiError), (status = 409, body = vault_wire::ApiError),
        (status = 422, body = vault_wire::ApiError), (status = 503, body = vault_wire::ApiError)),
    security(("bearer" = [])))]
pub async fn file(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiJson(req): ApiJson<FileDataRequest>,
) -> Result<(StatusCode, Json<DataRequestView>), ApiError> {
    let view = state
        .rights
        .file_request(
            &caller.principal,
            &caller.meta,
            &req.patient,
            req.kind,
            req.channel,
            req.recipient_key.as_deref(),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// One patient's requests (`patient` given: clinic-app, reception) or the whole queue (the
/// security officer), oldest deadline first.
#[utoipa::path(get, path = "/v1/data-requests", operation_id = "listDataRequests", tag = "rights",
    params(DataRequestsQuery),
    responses((status = 200, body = ListDataRequestsResponse), (status = 403, body = vault_wire::ApiError)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiQuery(q): ApiQuery<DataRequestsQuery>,
) -> Result<Json<ListDataRequestsResponse>, ApiError> {
    let requests = state
        .rights
        .list_requests(
            &caller.principal,
            &caller.meta,
            q.patient.as_ref(),
            q.pending.unwrap_or(false),
        )
        .await?;
    Ok(Json(ListDataRequestsResponse { requests }))
}

#[utoipa::path(get, path = "/v1/data-requests/{request_id}", operation_id = "getDataRequest", tag = "rights",
    params(("request_id" = String, Path)),
    responses((status = 200, body = DataRequestView), (status = 404, body = vault_wire::ApiError)),
    security(("bearer" = [])))]
pub async fn get(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(raw): Path<String>,
) -> Result<Json<DataRequestView>, ApiError> {
    let id = uuid(&raw, "request_id")?;
    Ok(Json(
        state
            .rights
            .get_request(&caller.principal, &caller.meta, id)
            .await?,
    ))
}

/// The security officer extends an access request once by 5 working days, with the reason.
#[utoipa::path(post, path = "/v1/data-requests/{request_id}/extend", operation_id = "extendDataRequest", tag = "rights",
    params(("request_id" = String, Path)), request_body = ExtendDataRequest,
    responses((status = 200, body = DataRequestView), (status = 409, body = vault_wire::ApiError)),
    security(("bearer" = [])))]
pub async fn extend(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(raw): Path<String>,
    ApiJson(req): ApiJson<ExtendDataRequest>,
) -> Result<Json<DataRequestView>, ApiError> {
    let id = uuid(&raw, "request_id")?;
    Ok(Json(
        state
            .rights
            .extend_request(&caller.principal, &caller.meta, id, req.reason.as_str())
            .await?,
    ))
}

/// The security officer answers an access request; the patient app may then fetch the export.
#[utoipa::path(post, path = "/v1/data-requests/{request_id}/answer", operation_id = "answerDataRequest", tag = "rights",
    params(("request_id" = String, Path)),
    responses((status = 200, body = DataRequestView), (status = 409, body = vault_wire::ApiError)),
    security(("bearer" = [])))]
pub async fn answer(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(raw): Path<String>,
) -> Result<Json<DataRequestView>, ApiError> {
    let id = uuid(&raw, "request_id")?;
    Ok(Json(
        state
            .rights
            .answer_request(&caller.principal, &caller.meta, id)
            .await?,
    ))
}

/// The vault's part of an answered access request, for the patient app.
#[utoipa::path(get, path = "/v1/data-requests/{request_id}/export", operation_id = "exportPatientData", tag = "rights",
    params(("request_id" = String, Path)),
    responses((status = 200, body = PatientDataExport), (status = 403, body = vault_wire::ApiError),
        (status = 409, body = vault_wire::ApiError)),
    security(("bearer" = [])))]
pub async fn export(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(raw): Path<String>,
) -> Result<Json<PatientDataExport>, ApiError> {
    let id = uuid(&raw, "request_id")?;
    Ok(Json(
        state
            .rights
            .export(&caller.principal, &caller.meta, id)
            .await?,
    ))
}

/// Stops destruction of the request's patient (a court request, an incident).
#[utoipa::path(post, path = "/v1/data-requests/{request_id}/legal-holds", operation_id = "placeLegalHold", tag = "rights",
    params(("request_id" = String, Path)), request_body = PlaceLegalHold,
    responses((status = 201, body = LegalHoldView), (status = 404, body = vault_wire::ApiError)),
    security(("bearer" = [])))]
pub async fn place_hold(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(raw): Path<String>,
    ApiJson(req): ApiJson<PlaceLegalHold>,
) -> Result<(StatusCode, Json<LegalHoldView>), ApiError> {
    let id = uuid(&raw, "request_id")?;
    let hold = state
        .rights
        .place_hold(
            &caller.principal,
            &caller.meta,
            id,
            req.reason,
            req.reference.as_str(),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(hold)))
}

#[utoipa::path(post, path = "/v1/legal-holds/{hold_id}/release", operation_id = "releaseLegalHold", tag = "rights",
    params(("hold_id" = String, Path)),
    responses((status = 200, body = LegalHoldView), (status = 409, body = vault_wire::ApiError)),
    security(("bearer" = [])))]
pub async fn release_hold(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(raw): Path<String>,
) -> Result<Json<LegalHoldView>, ApiError> {
    let id = uuid(&raw, "hold_id")?;
    Ok(Json(
        state
            .rights
            .release_hold(&caller.principal, &caller.meta, id)
            .await?,
    ))
}

/// Gives or withdraws one consent.
#[utoipa::path(put, path = "/v1/patients/{token}/consents/{purpose}", operation_id = "setConsent", tag = "rights",
    params(("token" = String, Path), ("purpose" = String, Path, description = "sms_reminders, marketing, patient_app or analytics")),
    request_body = SetConsentRequest,
    responses((status = 200, body = ConsentsResponse), (status = 400, body = vault_wire::ApiError),
        (status = 403, body = vault_wire::ApiError), (status = 404, body = vault_wire::ApiError)),
    security(("bearer" = [])))]
pub async fn set_consent(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path((raw, purpose)): Path<(String, String)>,
    ApiJson(req): ApiJson<SetConsentRequest>,
) -> Result<Json<ConsentsResponse>, ApiError> {
    let t = token(&raw)?;
    let purpose: ConsentPurpose = purpose
        .parse()
        .map_err(|e: policy::UnknownConsentPurpose| {
            ApiError::bad_request("invalid_purpose", e.to_string()).field("purpose")
        })?;
    Ok(Json(
        state
            .rights
            .set_consent(
                &caller.principal,
                &caller.meta,
                &t,
                purpose,
                req.granted,
                req.channel,
            )
            .await?,
    ))
}

/// The consents in force and their history.
#[utoipa::path(get, path = "/v1/patients/{token}/consents", operation_id = "listConsents", tag = "rights",
    params(("token" = String, Path)),
    responses((status = 200, body = ConsentsResponse), (status = 403, body = vault_wire::ApiError),
        (status = 404, body = vault_wire::ApiError)),
    security(("bearer" = [])))]
pub async fn list_consents(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(raw): Path<String>,
) -> Result<Json<ConsentsResponse>, ApiError> {
    let t = token(&raw)?;
    Ok(Json(
        state
            .rights
            .list_consents(&caller.principal, &caller.meta, &t)
            .await?,
    ))
}

/// Destruction acts, newest first (the security officer; kept 3 years).
#[utoipa::path(get, path = "/v1/destruction-acts", operation_id = "listDestructionActs", tag = "rights",
    responses((status = 200, body = ListDestructionActsResponse), (status = 403, body = vault_wire::ApiError)),
    security(("bearer" = [])))]
pub async fn list_acts(
    State(state): State<Arc<AppState>>,
    caller: Caller,
) -> Result<Json<ListDestructionActsResponse>, ApiError> {
    let acts = state
        .rights
        .acts(&caller.principal, &caller.meta, None)
        .await?;
    Ok(Json(ListDestructionActsResponse { acts }))
}

/// One destruction act (Roskomnadzor order 179) with its signature and log extract.
#[utoipa::path(get, path = "/v1/destruction-acts/{act_id}", operation_id = "getDestructionAct", tag = "rights",
    params(("act_id" = String, Path)),
    responses((status = 200, body = DestructionAct), (status = 404, body = vault_wire::ApiError)),
    security(("bearer" = [])))]
pub async fn get_act(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(raw): Path<String>,
) -> Result<Json<DestructionAct>, ApiError> {
    let id = uuid(&raw, "act_id")?;
    let mut acts = state
        .rights
        .acts(&caller.principal, &caller.meta, Some(id))
        .await?;
    acts.pop()
        .map(Json)
        .ok_or_else(|| RightsError::UnknownAct.into())
}
