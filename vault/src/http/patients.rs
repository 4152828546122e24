//! Patients: register, update, search, resolve. Each handler extracts, calls one domain
//! function and maps its error.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use vault_wire::{
    FieldStatus, PatientToken, RegisterPatientRequest, RegisterPatientResponse, ResolveRequest,
    ResolveResponse, ResolvedField, ResolvedPatient, SearchPatientsRequest, SearchPatientsResponse,
    UpdatePatientRequest, UpdatePatientResponse,
};

use super::caller::Caller;
use super::error::ApiError;
use crate::domain::identity;
use crate::domain::patients::FieldAnswer;
use crate::startup::AppState;
use service_kit::http::json::ApiJson;

pub fn token(raw: &str) -> Result<PatientToken, ApiError> {
    raw.parse().map_err(|_| {
        ApiError::bad_request(
            "invalid_token",
            "not a patient token (pt_ followed by 26 characters)",
        )
        .field("token")
    })
}

/// A token the vault issued itself; failing to parse it is an internal fault.
pub fn own_token(raw: &str) -> Result<PatientToken, ApiError> {
    raw.parse().map_err(|_| {
        ApiError::from(crate::store::StoreError::Corrupt(
            "stored token does not parse".into(),
        ))
    })
}

/// Registers a patient and returns their token in the caller's domain.
#[utoipa::path(post, path = "/v1/patients", operation_id = "registerPatient", tag = "patients",
    request_body = RegisterPatientRequest,
    responses((status = 201, body = RegisterPatientResponse), (status = 401, body = vault_wire::ApiError),
        (status = 403, body = vault_wire::ApiError), (status = 422, body = vault_wire::ApiError),
        (status = 503, body = vault_wire::ApiError)),
    security(("bearer" = [])))]
pub async fn register(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiJson(req): ApiJson<RegisterPatientRequest>,
) -> Result<(StatusCode, Json<RegisterPatientResponse>), ApiError> {
    let t = state
        .patients
        .register(
            &caller.principal,
            &caller.meta,
            identity::for_register(&req.identity),
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(RegisterPatientResponse {
            token: own_token(&t)?,
        }),
    ))
}

/// Updates some identity fields of a patient.
#[utoipa::path(patch, path = "/v1/patients/{token}", operation_id = "updatePatient", tag = "patients",
    params(("token" = String, Path, description = "patient token in the caller's domain")),
    request_body = UpdatePatientRequest,
    responses((status = 200, body = UpdatePatientResponse), (status = 404, body = vault_wire::ApiError),
        (status = 422, body = vault_wire::ApiError)),
    security(("bearer" = [])))]
pub async fn update(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(raw): Path<String>,
    ApiJson(req): ApiJson<UpdatePatientRequest>,
) -> Result<Json<UpdatePatientResponse>, ApiError> {
    let token = token(&raw)?;
    if req.is_empty() {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "nothing_to_update",
            "name at least one field to change",
        ));
    }
    let input = identity::for_update(&req);
    let changed = state
        .patients
        .update(&caller.principal, &caller.meta, token.as_str(), input)
        .await?;
    // The fields the vault wrote: those asked for, and `full_name` when a part of it changed.
    let updated_fields = changed.iter().filter_map(|f| f.parse().ok()).collect();
    Ok(Json(UpdatePatientResponse {
        token,
        updated_fields,
    }))
}

/// Finds patients by exact match on a blind index; answers tokens only.
#[utoipa::path(post, path = "/v1/patients/search", operation_id = "searchPatients", tag = "patients",
    request_body = SearchPatientsRequest,
    responses((status = 200, body = SearchPatientsResponse), (status = 422, body = vault_wire::ApiError)),
    security(("bearer" = [])))]
pub async fn search(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiJson(req): ApiJson<SearchPatientsRequest>,
) -> Result<Json<SearchPatientsResponse>, ApiError> {
    let criterion = req.criterion().map_err(|e| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_search",
            e.to_string(),
        )
    })?;
    let (kind, key) = identity::search_key(&criterion);
    let tokens = state
        .patients
        .search(&caller.principal, &caller.meta, kind, &key)
        .await?;
    let tokens = tokens
        .iter()
        .map(|t| own_token(t))
        .collect::<Result<_, _>>()?;
    Ok(Json(SearchPatientsResponse { tokens }))
}

/// Resolves many tokens to the named fields for one purpose; each field shown, masked or
/// withheld as the policy says, with the reason.
#[utoipa::path(post, path = "/v1/resolve", operation_id = "resolveTokens", tag = "patients",
    request_body = ResolveRequest,
    responses((status = 200, body = ResolveResponse), (status = 422, body = vault_wire::ApiError),
        (status = 503, body = vault_wire::ApiError)),
    security(("bearer" = [])))]
pub async fn resolve(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiJson(req): ApiJson<ResolveRequest>,
) -> Result<Json<ResolveResponse>, ApiError> {
    let tokens: Vec<String> = req.tokens().iter().map(|t| t.as_str().to_owned()).collect();
    let fields: Vec<&'static str> = req.fields().iter().map(|f| f.as_str()).collect();
    let answers = state
        .patients
        .resolve(
            &caller.principal,
            &caller.meta,
            &tokens,
            &fields,
            req.purpose(),
        )
        .await?;
    let mut patients = Vec::with_capacity(answers.len());
    for a in answers {
        let mut fields = std::collections::BTreeMap::new();
        for (name, answer) in a.fields {
            let Some(field) = vault_wire::FieldName::ALL
                .into_iter()
                .find(|f| f.as_str() == name)
            else {
                continue;
            };
            let resolved = match answer {
                FieldAnswer::Shown(v) => ResolvedField {
                    status: FieldStatus::Shown,
                    value: Some(v),
                    reason: None,
                },
                FieldAnswer::Masked(v) => ResolvedField {
                    status: FieldStatus::Masked,
                    value: Some(v),
                    reason: Some("masked for this purpose".into()),
                },
                FieldAnswer::Withheld(why) => ResolvedField {
                    status: FieldStatus::Withheld,
                    value: None,
                    reason: Some(why),
                },
            };
            fields.insert(field, resolved);
        }
        patients.push(ResolvedPatient {
            token: own_token(&a.token)?,
            found: a.found,
            fields,
        });
    }
    Ok(Json(ResolveResponse { patients }))
}

/// A doctor's patients with a live care relationship, as tokens of the doctor's domain.
#[utoipa::path(get, path = "/v1/me/patients", operation_id = "listMyPatients", tag = "patients",
    responses((status = 200, body = SearchPatientsResponse), (status = 403, body = vault_wire::ApiError)),
    security(("bearer" = [])))]
pub async fn my_patients(
    State(state): State<Arc<AppState>>,
    caller: Caller,
) -> Result<Json<SearchPatientsResponse>, ApiError> {
    let tokens = state
        .patients
        .in_my_care(&caller.principal, &caller.meta)
        .await?;
    let tokens = tokens
        .iter()
        .map(|t| own_token(t))
        .collect::<Result<_, _>>()?;
    Ok(Json(SearchPatientsResponse { tokens }))
}
