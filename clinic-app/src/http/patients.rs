//! Reception finds or registers a patient; the vault answers with tokens. Registration takes
//! the consents the patient signed, recorded in the vault right after.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use service_kit::http::json::ApiJson;
use utoipa::ToSchema;
use vault_wire::{ConsentPurpose, PatientIdentity, SearchPatientsRequest, SearchPatientsResponse};

use super::caller::StaffCaller;
use super::error::ApiError;
use crate::domain::ClinicError;
use crate::domain::patients::Registered;
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

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterPatientBody {
    pub identity: PatientIdentity,
    /// The consents the patient signed on paper at registration: `sms_reminders`,
    /// `marketing`, `patient_app`, `analytics`. Required, and may be empty: without
    /// `sms_reminders` no reminder goes out, without `patient_app` the app asks the patient
    /// to accept its terms at sign-in.
    #[schema(value_type = Vec<String>)]
    pub consents: Vec<ConsentPurpose>,
}

/// Registers a patient in the vault, records the consents they signed, and answers with their
/// clinic-app token and the consents in force. Recording consents needs the receptionist role.
#[utoipa::path(post, path = "/v1/patients", operation_id = "registerPatient", tag = "patients",
    request_body = RegisterPatientBody,
    responses((status = 201, body = Registered), (status = 403, body = vault_wire::ApiError),
        (status = 422, body = vault_wire::ApiError), (status = 503, body = vault_wire::ApiError)),
    security(("bearer" = [])))]
pub async fn register(
    State(state): State<Arc<AppState>>,
    StaffCaller(who): StaffCaller,
    ApiJson(req): ApiJson<RegisterPatientBody>,
) -> Result<(StatusCode, Json<Registered>), ApiError> {
    let registered = state
        .clinic
        .register_patient(&who, req.identity, &req.consents)
        .await?;
    Ok((StatusCode::CREATED, Json(registered)))
}
