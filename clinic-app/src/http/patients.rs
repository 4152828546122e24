//! Reception finds or registers a patient; the vault answers with tokens.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use service_kit::http::json::ApiJson;
use vault_wire::{
    RegisterPatientRequest, RegisterPatientResponse, SearchPatientsRequest, SearchPatientsResponse,
};

use super::caller::StaffCaller;
use super::error::ApiError;
use crate::domain::ClinicError;
use crate::startup::AppState;

/// Finds patients by phone, SNILS, passport, or surname + name + birth date: tokens only.
#[utoipa::path(post, path = "/v1/patients/search", operation_id = "findPatients", tag = "patients",
    request_body = SearchPatientsRequest,
    responses((status = 200, body = SearchPatientsResponse), (status = 503, body = vault_wire::ApiError)),
    security(("bearer" = [])))]
pub async fn search(
    State(state): State<Arc<AppState>>,
    StaffCaller(who): StaffCaller,
    ApiJson(req): ApiJson<SearchPatientsRequest>,
) -> Result<Json<SearchPatientsResponse>, ApiError> {
    let criterion = req
        .criterion()
        .map_err(|e| ClinicError::invalid("invalid_search", "phone", e.to_string()))?;
    let tokens = state.clinic.find_patients(&who, criterion).await?;
    Ok(Json(SearchPatientsResponse { tokens }))
}

/// Registers a patient in the vault and answers with their clinic-app token.
#[utoipa::path(post, path = "/v1/patients", operation_id = "registerPatient", tag = "patients",
    request_body = RegisterPatientRequest,
    responses((status = 201, body = RegisterPatientResponse), (status = 422, body = vault_wire::ApiError),
        (status = 503, body = vault_wire::ApiError)),
    security(("bearer" = [])))]
pub async fn register(
    State(state): State<Arc<AppState>>,
    StaffCaller(who): StaffCaller,
    ApiJson(req): ApiJson<RegisterPatientRequest>,
) -> Result<(StatusCode, Json<RegisterPatientResponse>), ApiError> {
    let token = state.clinic.register_patient(&who, req.identity).await?;
    Ok((StatusCode::CREATED, Json(RegisterPatientResponse { token })))
}
