//! A patient's rights: consents, access and deletion requests, and the answer to an access
//! request. The patient acts in the app (`/v1/me/...`), reception at the desk
//! (`/v1/patients/{token}/...`); the vault records and decides.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use service_kit::http::json::ApiJson;
use utoipa::{IntoParams, OpenApi, ToSchema};
use vault_wire::{Channel, ConsentPurpose, ConsentsResponse, DataRequestKind, PatientToken};

use super::caller::{PatientCaller, StaffCaller};
use super::error::ApiError;
use crate::domain::ClinicError;
use crate::domain::auth::Principal;
use crate::domain::rights::{DataRequest, PatientExport};
use crate::startup::AppState;

/// The routes of this area, merged into the main router.
pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/v1/me/consents", get(my_consents))
        .route("/v1/me/consents/{purpose}", put(set_my_consent))
        .route(
            "/v1/me/data-requests",
            post(file_my_data_request).get(my_data_requests),
        )
        .route(
            "/v1/me/data-requests/{request_id}/export",
            get(export_my_data),
        )
        .route("/v1/patients/{token}/consents", get(patient_consents))
        .route(
            "/v1/patients/{token}/consents/{purpose}",
            put(set_patient_consent),
        )
        .route(
            "/v1/patients/{token}/data-requests",
            post(file_data_request_for_patient),
        )
}

/// The OpenAPI paths of this area, merged into the main document.
#[derive(OpenApi)]
#[openapi(paths(
    my_consents,
    set_my_consent,
    file_my_data_request,
    my_data_requests,
    export_my_data,
    patient_consents,
    set_patient_consent,
    file_data_request_for_patient
))]
pub struct AreaApi;

fn token(raw: &str) -> Result<PatientToken, ApiError> {
    raw.parse().map_err(|e: vault_wire::ParseError| {
        ClinicError::invalid("invalid_token", "token", format!("token: {}", e.rule())).into()
    })
}

fn purpose(raw: &str) -> Result<ConsentPurpose, ApiError> {
    raw.parse().map_err(|e: policy::UnknownConsentPurpose| {
        ClinicError::invalid("invalid_purpose", "purpose", format!("purpose: {e}")).into()
    })
}

/// Personal data in the body: no cache keeps a copy.
fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MyConsentBody {
    /// `true` gives the consent, `false` withdraws it.
    pub granted: bool,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatientConsentBody {
    /// `true` gives the consent, `false` withdraws it.
    pub granted: bool,
    /// `reception` (said at the desk; the default) or `paper` (a signed form).
    #[serde(default)]
    pub channel: Option<Channel>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MyDataRequestBody {
    /// `access` (what the clinic holds on me) or `deletion` (delete my data; carried out at
    /// once, and it ends the account).
    pub kind: DataRequestKind,
    /// With `access`: the X25519 public key of the phone (64 hex digits). The answer then
    /// carries the records' contents sealed to it (RFC 9180 HPKE), which only the phone opens.
    #[serde(default)]
    pub recipient_key: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatientDataRequestBody {
    pub kind: DataRequestKind,
    /// `reception` (at the desk; the default) or `paper` (a letter or a signed form).
    #[serde(default)]
    pub channel: Option<Channel>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExportQuery {
    /// `json` (the default) or `html` (a printable document).
    pub format: Option<String>,
}

/// The signed-in patient's consents in force and their history.
#[utoipa::path(get, path = "/v1/me/consents", operation_id = "myConsents", tag = "patient-app",
    responses((status = 200, body = ConsentsResponse), (status = 401, body = vault_wire::ApiError),
        (status = 403, body = vault_wire::ApiError), (status = 503, body = vault_wire::ApiError)),
    security(("bearer" = [])))]
pub async fn my_consents(
    State(state): State<Arc<AppState>>,
    PatientCaller(own): PatientCaller,
) -> Result<Json<ConsentsResponse>, ApiError> {
    let principal = Principal::Patient(own.clone());
    Ok(Json(state.clinic.consents(&principal, &own).await?))
}

/// Gives or withdraws one of the patient's consents. Withdrawing `patient_app` ends every
/// session of the patient's app, this one included.
#[utoipa::path(put, path = "/v1/me/consents/{purpose}", operation_id = "setMyConsent", tag = "patient-app",
    params(("purpose" = String, Path, description = "sms_reminders, marketing, patient_app or analytics")),
    request_body = MyConsentBody,
    responses((status = 200, body = ConsentsResponse), (status = 401, body = vault_wire::ApiError),
        (status = 422, body = vault_wire::ApiError, description = "invalid_purpose"),
        (status = 503, body = vault_wire::ApiError)),
    security(("bearer" = [])))]
pub async fn set_my_consent(
    State(state): State<Arc<AppState>>,
    PatientCaller(own): PatientCaller,
    Path(raw): Path<String>,
    ApiJson(b): ApiJson<MyConsentBody>,
) -> Result<Json<ConsentsResponse>, ApiError> {
    let purpose = purpose(&raw)?;
    let principal = Principal::Patient(own.clone());
    Ok(Json(
        state
            .clinic
            .set_consent(&principal, &own, purpose, b.granted, None)
            .await?,
    ))
}

/// Reception looks up a patient's consents.
#[utoipa::path(get, path = "/v1/patients/{token}/consents", operation_id = "patientConsents", tag = "patients",
    params(("token" = String, Path, description = "The patient's clinic-app token")),
    responses((status = 200, body = ConsentsResponse), (status = 403, body = vault_wire::ApiError),
        (status = 404, body = vault_wire::ApiError, description = "unknown_patient"),
        (status = 503, body = vault_wire::ApiError)),
    security(("bearer" = [])))]
pub async fn patient_consents(
    State(state): State<Arc<AppState>>,
    StaffCaller(who): StaffCaller,
    Path(raw): Path<String>,
) -> Result<Json<ConsentsResponse>, ApiError> {
    let patient = token(&raw)?;
    Ok(Json(
        state
            .clinic
            .consents(&Principal::Staff(who), &patient)
            .await?,
    ))
}

/// Reception records a consent the patient gives or withdraws at the desk or on paper.
#[utoipa::path(put, path = "/v1/patients/{token}/consents/{purpose}", operation_id = "setPatientConsent", tag = "patients",
    params(("token" = String, Path, description = "The patient's clinic-app token"),
        ("purpose" = String, Path, description = "sms_reminders, marketing, patient_app or analytics")),
    request_body = PatientConsentBody,
    responses((status = 200, body = ConsentsResponse), (status = 403, body = vault_wire::ApiError),
        (status = 404, body = vault_wire::ApiError, description = "unknown_patient"),
        (status = 422, body = vault_wire::ApiError, description = "invalid_purpose, invalid_channel"),
        (status = 503, body = vault_wire::ApiError)),
    security(("bearer" = [])))]
pub async fn set_patient_consent(
    State(state): State<Arc<AppState>>,
    StaffCaller(who): StaffCaller,
    Path((raw, purpose_raw)): Path<(String, String)>,
    ApiJson(b): ApiJson<PatientConsentBody>,
) -> Result<Json<ConsentsResponse>, ApiError> {
    let patient = token(&raw)?;
    let purpose = purpose(&purpose_raw)?;
    Ok(Json(
        state
            .clinic
            .set_consent(
                &Principal::Staff(who),
                &patient,
                purpose,
                b.granted,
                b.channel,
            )
            .await?,
    ))
}

/// Files the patient's access or deletion request with the vault. A deletion is carried out at
/// once: future appointments cancelled, the app account closed, the answer lists what was
/// deleted and what the law keeps (on what basis, until when).
#[utoipa::path(post, path = "/v1/me/data-requests", operation_id = "fileMyDataRequest", tag = "patient-app",
    request_body = MyDataRequestBody,
    responses((status = 201, body = DataRequest),
        (status = 409, body = vault_wire::ApiError, description = "duplicate_request, changed_meanwhile"),
        (status = 401, body = vault_wire::ApiError),
        (status = 503, body = vault_wire::ApiError, description = "vault_unavailable: nothing was filed")),
    security(("bearer" = [])))]
pub async fn file_my_data_request(
    State(state): State<Arc<AppState>>,
    PatientCaller(own): PatientCaller,
    ApiJson(b): ApiJson<MyDataRequestBody>,
) -> Result<(StatusCode, Json<DataRequest>), ApiError> {
    let principal = Principal::Patient(own.clone());
    let request = state
        .clinic
        .file_data_request(&principal, &own, b.kind, None, b.recipient_key)
        .await?;
    Ok((StatusCode::CREATED, Json(request)))
}

/// The patient's own data requests, newest first, with the vault's current state.
#[utoipa::path(get, path = "/v1/me/data-requests", operation_id = "listMyDataRequests", tag = "patient-app",
    responses((status = 200, body = [DataRequest]), (status = 401, body = vault_wire::ApiError)),
    security(("bearer" = [])))]
pub async fn my_data_requests(
    State(state): State<Arc<AppState>>,
    PatientCaller(own): PatientCaller,
) -> Result<Json<Vec<DataRequest>>, ApiError> {
    Ok(Json(state.clinic.data_requests_of(&own).await?))
}

/// Reception files an access or deletion request on a patient's behalf (at the desk or by
/// letter); a deletion is carried out at once, as in the app.
#[utoipa::path(post, path = "/v1/patients/{token}/data-requests", operation_id = "fileDataRequestForPatient", tag = "patients",
    params(("token" = String, Path, description = "The patient's clinic-app token")),
    request_body = PatientDataRequestBody,
    responses((status = 201, body = DataRequest), (status = 403, body = vault_wire::ApiError),
        (status = 404, body = vault_wire::ApiError, description = "unknown_patient"),
        (status = 409, body = vault_wire::ApiError, description = "duplicate_request, changed_meanwhile"),
        (status = 422, body = vault_wire::ApiError),
        (status = 503, body = vault_wire::ApiError, description = "vault_unavailable: nothing was filed")),
    security(("bearer" = [])))]
pub async fn file_data_request_for_patient(
    State(state): State<Arc<AppState>>,
    StaffCaller(who): StaffCaller,
    Path(raw): Path<String>,
    ApiJson(b): ApiJson<PatientDataRequestBody>,
) -> Result<(StatusCode, Json<DataRequest>), ApiError> {
    let patient = token(&raw)?;
    let request = state
        .clinic
        .file_data_request(&Principal::Staff(who), &patient, b.kind, b.channel, None)
        .await?;
    Ok((StatusCode::CREATED, Json(request)))
}

/// The answer to the patient's access request, once the clinic's security officer answered
/// it: the vault's data (identity, consents, records without contents, who accessed them,
/// purposes and bases) and clinic-app's (appointments, invoices, payments and refunds, data
/// requests), as JSON or as a printable HTML document. Served, never stored.
#[utoipa::path(get, path = "/v1/me/data-requests/{request_id}/export", operation_id = "exportMyData", tag = "patient-app",
    params(("request_id" = String, Path, description = "The request id from listMyDataRequests"), ExportQuery),
    responses((status = 200, body = PatientExport, description = "JSON; with ?format=html a text/html document"),
        (status = 404, body = vault_wire::ApiError, description = "not_found: not a request of yours"),
        (status = 409, body = vault_wire::ApiError, description = "not_answered (with the deadline), not_an_access_request"),
        (status = 422, body = vault_wire::ApiError, description = "invalid_format"),
        (status = 503, body = vault_wire::ApiError)),
    security(("bearer" = [])))]
pub async fn export_my_data(
    State(state): State<Arc<AppState>>,
    PatientCaller(own): PatientCaller,
    Path(request_id): Path<String>,
    Query(q): Query<ExportQuery>,
) -> Result<Response, ApiError> {
    let html = match q.format.as_deref() {
        None | Some("json") => false,
        Some("html") => true,
        Some(_) => {
            return Err(ClinicError::invalid(
                "invalid_format",
                "format",
                "format: json (the default) or html",
            )
            .into());
        }
    };
    let export = state.clinic.export_data(&own, &request_id).await?;
    if html {
        let page = state.clinic.render_export(&export)?;
        return Ok(no_store(
            (
                [(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/html; charset=utf-8"),
                )],
                page,
            )
                .into_response(),
        ));
    }
    Ok(no_store(Json(export).into_response()))
}
