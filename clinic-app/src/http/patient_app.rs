//! The patient app's back end: sign-in by a one-time code and the patient's own view.
//! Doctors, services, free slots, booking, cancelling and rescheduling are the shared routes
//! of `directory` and `appointments`, which accept a patient session; consents and data
//! requests are in `rights`.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use service_kit::http::json::ApiJson;
use utoipa::{OpenApi, ToSchema};
use vault_wire::PatientToken;

use super::caller::PatientCaller;
use super::error::ApiError;
use crate::domain::ClinicError;
use crate::domain::patient_app::{LoginChallenge, LoginError, MyAppointments};
use crate::startup::AppState;

/// The routes of this area, merged into the main router.
pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/v1/patient/login/start", post(login_start))
        .route("/v1/patient/login/verify", post(login_verify))
        .route("/v1/me", get(me))
        .route("/v1/me/appointments", get(my_appointments))
}

/// The OpenAPI paths of this area, merged into the main document.
#[derive(OpenApi)]
#[openapi(paths(login_start, login_verify, me, my_appointments))]
pub struct AreaApi;

/// The error body of sign-in: the common one plus what the app needs to guide the patient.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct LoginErrorBody {
    /// `too_many_codes`, `wrong_code`, `challenge_invalid`, `terms_not_accepted`, or a common
    /// code.
    pub code: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// With `wrong_code`: how many more codes this challenge takes (0: ask for a new code).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempts_left: Option<i64>,
    /// With `too_many_codes`: seconds until a new code can be asked for (also `Retry-After`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_seconds: Option<i64>,
}

/// A refused sign-in step as an HTTP answer.
pub struct LoginRefusal(LoginError);

impl From<LoginError> for LoginRefusal {
    fn from(e: LoginError) -> Self {
        Self(e)
    }
}

impl From<ClinicError> for LoginRefusal {
    fn from(e: ClinicError) -> Self {
        Self(LoginError::Clinic(e))
    }
}

impl IntoResponse for LoginRefusal {
    fn into_response(self) -> Response {
        let message = self.0.to_string();
        let body = |code: &str| LoginErrorBody {
            code: code.to_owned(),
            message: message.clone(),
            field: None,
            attempts_left: None,
            retry_after_seconds: None,
        };
        match self.0 {
            LoginError::TooManyCodes {
                retry_after_seconds,
            } => {
                let mut response = (
                    StatusCode::TOO_MANY_REQUESTS,
                    Json(LoginErrorBody {
                        retry_after_seconds: Some(retry_after_seconds),
                        ..body("too_many_codes")
                    }),
                )
                    .into_response();
                response.headers_mut().insert(
                    header::RETRY_AFTER,
                    HeaderValue::from(retry_after_seconds.max(1)),
                );
                response
            }
            LoginError::WrongCode { attempts_left } => (
                StatusCode::UNAUTHORIZED,
                Json(LoginErrorBody {
                    attempts_left: Some(attempts_left),
                    ..body("wrong_code")
                }),
            )
                .into_response(),
            LoginError::ChallengeInvalid => {
                (StatusCode::UNAUTHORIZED, Json(body("challenge_invalid"))).into_response()
            }
            LoginError::TermsNotAccepted => {
                (StatusCode::FORBIDDEN, Json(body("terms_not_accepted"))).into_response()
            }
            LoginError::Clinic(e) => ApiError::from(e).into_response(),
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginStartRequest {
    /// The phone on file, in any usual form (`+7 916 123-45-67`, `8 (916) 123-45-67`).
    pub phone: String,
}

/// Starts a patient's sign-in: a 6-digit code goes by SMS to the phone if exactly one patient
/// has it. The answer is the same for unknown phones, and no code is sent then.
#[utoipa::path(post, path = "/v1/patient/login/start", operation_id = "patientLoginStart", tag = "patient-app",
    request_body = LoginStartRequest,
    responses((status = 202, body = LoginChallenge), (status = 422, body = vault_wire::ApiError),
        (status = 429, body = LoginErrorBody, description = "too_many_codes; see Retry-After"),
        (status = 503, body = vault_wire::ApiError)))]
pub async fn login_start(
    State(state): State<Arc<AppState>>,
    ApiJson(req): ApiJson<LoginStartRequest>,
) -> Result<(StatusCode, Json<LoginChallenge>), LoginRefusal> {
    let challenge = state.clinic.start_login(&req.phone).await?;
    Ok((StatusCode::ACCEPTED, Json(challenge)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginVerifyRequest {
    pub challenge_id: String,
    /// The 6 digits from the SMS.
    pub code: String,
    /// The patient accepts the app's terms: records their consent to the patient app
    /// (`patient_app`), which the app rests on. Needed once, when the answer was
    /// `terms_not_accepted` (or after the consent was withdrawn).
    #[serde(default)]
    pub accept_terms: bool,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct PatientLoginResponse {
    /// The bearer session of the app, `cp_...`.
    pub session: String,
    pub expires_at: i64,
}

/// Checks the code and opens a patient app session. A code works once; five wrong codes end
/// the challenge. A patient who has not consented to the app is asked to accept its terms
/// (403 `terms_not_accepted`; the same code with `accept_terms: true` then signs in).
#[utoipa::path(post, path = "/v1/patient/login/verify", operation_id = "patientLoginVerify", tag = "patient-app",
    request_body = LoginVerifyRequest,
    responses((status = 200, body = PatientLoginResponse),
        (status = 401, body = LoginErrorBody, description = "wrong_code (with attempts_left) or challenge_invalid"),
        (status = 403, body = LoginErrorBody, description = "terms_not_accepted: send the same code with accept_terms: true"),
        (status = 422, body = vault_wire::ApiError),
        (status = 503, body = vault_wire::ApiError, description = "vault_unavailable: the consent cannot be checked; the code stays valid")))]
pub async fn login_verify(
    State(state): State<Arc<AppState>>,
    ApiJson(req): ApiJson<LoginVerifyRequest>,
) -> Result<Json<PatientLoginResponse>, LoginRefusal> {
    let signed_in = state
        .clinic
        .verify_login(&state.auth, &req.challenge_id, &req.code, req.accept_terms)
        .await?;
    Ok(Json(PatientLoginResponse {
        session: signed_in.session.as_str().to_owned(),
        expires_at: signed_in.expires_at,
    }))
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct Me {
    /// The patient's clinic-app token; nothing else personal is kept here.
    #[schema(value_type = String)]
    pub patient_token: PatientToken,
}

/// Who the signed-in patient is: their token.
#[utoipa::path(get, path = "/v1/me", operation_id = "getMe", tag = "patient-app",
    responses((status = 200, body = Me), (status = 401, body = vault_wire::ApiError), (status = 403, body = vault_wire::ApiError)),
    security(("bearer" = [])))]
pub async fn me(PatientCaller(token): PatientCaller) -> Json<Me> {
    Json(Me {
        patient_token: token,
    })
}

/// The patient's own appointments, upcoming and past, with doctor, service and branch.
#[utoipa::path(get, path = "/v1/me/appointments", operation_id = "listMyAppointments", tag = "patient-app",
    responses((status = 200, body = MyAppointments), (status = 401, body = vault_wire::ApiError), (status = 403, body = vault_wire::ApiError)),
    security(("bearer" = [])))]
pub async fn my_appointments(
    State(state): State<Arc<AppState>>,
    PatientCaller(token): PatientCaller,
) -> Result<Json<MyAppointments>, ApiError> {
    Ok(Json(state.clinic.my_appointments(&token).await?))
}
