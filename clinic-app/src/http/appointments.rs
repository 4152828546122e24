//! Schedules and appointments: the day view, free slots, booking, cancelling, rescheduling,
//! visit statuses and the waitlist. Staff and patients of the app share these routes; the
//! domain decides what each may do.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use service_kit::http::json::ApiJson;
use utoipa::{IntoParams, ToSchema};
use vault_wire::PatientToken;

use super::caller::{Caller, StaffCaller};
use super::error::ApiError;
use crate::domain::ClinicError;
use crate::domain::appointments::{
    Appointment, BookingRequest, CancelOutcome, DaySchedule, Status, WaitlistEntry,
};
use crate::domain::auth::Principal;
use crate::domain::schedule;
use crate::startup::AppState;

/// The patient a request is about: the token given, or a signed-in patient's own. Staff must
/// name one (the domain then checks that a patient names only their own).
fn patient_of(who: &Principal, given: Option<PatientToken>) -> Result<PatientToken, ClinicError> {
    match (who, given) {
        (_, Some(token)) => Ok(token),
        (Principal::Patient(own), None) => Ok(own.clone()),
        (Principal::Staff(_), None) => Err(ClinicError::invalid(
            "missing_field",
            "patient_token",
            "patient_token: find or register the patient first",
        )),
    }
}

#[derive(Deserialize, IntoParams)]
pub struct DayQuery {
    pub branch_id: String,
    /// `YYYY-MM-DD`, branch-local.
    pub day: String,
    /// `false` shows tokens and times only, without asking the vault.
    #[serde(default)]
    pub names: Option<bool>,
}

/// The day's schedule of a branch, with names resolved by the vault in one call.
#[utoipa::path(get, path = "/v1/schedule/day", operation_id = "daySchedule", tag = "schedule",
    params(DayQuery),
    responses((status = 200, body = DaySchedule), (status = 403, body = vault_wire::ApiError), (status = 404, body = vault_wire::ApiError)),
    security(("bearer" = [])))]
pub async fn day_schedule(
    State(state): State<Arc<AppState>>,
    Caller(who): Caller,
    Query(q): Query<DayQuery>,
) -> Result<Json<DaySchedule>, ApiError> {
    let view = state
        .clinic
        .day_schedule(&who, &q.branch_id, &q.day, q.names.unwrap_or(true))
        .await?;
    Ok(Json(view))
}

#[derive(Deserialize, IntoParams)]
pub struct SlotsQuery {
    /// `YYYY-MM-DD`, branch-local.
    pub day: String,
    pub doctor_id: Option<String>,
    pub branch_id: Option<String>,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct FreeSlot {
    pub doctor_id: String,
    pub branch_id: String,
    pub room_id: String,
    pub starts_at: i64,
    pub ends_at: i64,
}

/// Free slots of a day (for reception and for the patient app).
#[utoipa::path(get, path = "/v1/slots", operation_id = "listFreeSlots", tag = "schedule",
    params(SlotsQuery),
    responses((status = 200, body = [FreeSlot]), (status = 422, body = vault_wire::ApiError)),
    security(("bearer" = [])))]
pub async fn free_slots(
    State(state): State<Arc<AppState>>,
    _caller: Caller,
    Query(q): Query<SlotsQuery>,
) -> Result<Json<Vec<FreeSlot>>, ApiError> {
    let day = schedule::parse_day(&q.day, "day")?;
    let slots = schedule::free_slots(
        &state.clinic.db,
        day,
        q.doctor_id.as_deref(),
        q.branch_id.as_deref(),
        state.clinic.clock.now(),
    )
    .await?;
    Ok(Json(
        slots
            .into_iter()
            .map(|s| FreeSlot {
                doctor_id: s.doctor_id,
                branch_id: s.branch_id,
                room_id: s.room_id,
                starts_at: s.starts_at,
                ends_at: s.ends_at,
            })
            .collect(),
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BookBody {
    pub doctor_id: String,
    pub service_code: String,
    /// The slot's start, Unix seconds (from `listFreeSlots`).
    pub starts_at: i64,
    /// Required for staff; a patient of the app books for themselves and may leave it out.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub patient_token: Option<PatientToken>,
}

/// Books a slot (reception for a patient, or a patient for themselves).
#[utoipa::path(post, path = "/v1/appointments", operation_id = "bookAppointment", tag = "schedule",
    request_body = BookBody,
    responses((status = 201, body = Appointment), (status = 409, body = vault_wire::ApiError),
        (status = 422, body = vault_wire::ApiError), (status = 503, body = vault_wire::ApiError)),
    security(("bearer" = [])))]
pub async fn book(
    State(state): State<Arc<AppState>>,
    Caller(who): Caller,
    ApiJson(b): ApiJson<BookBody>,
) -> Result<(StatusCode, Json<Appointment>), ApiError> {
    let patient = patient_of(&who, b.patient_token)?;
    let appointment = state
        .clinic
        .book(
            &who,
            BookingRequest {
                doctor_id: b.doctor_id,
                service_code: b.service_code,
                starts_at: b.starts_at,
                patient,
            },
        )
        .await?;
    Ok((StatusCode::CREATED, Json(appointment)))
}

/// Cancels an appointment; late when within 24 hours of the start.
#[utoipa::path(post, path = "/v1/appointments/{appointment_id}/cancel", operation_id = "cancelAppointment", tag = "schedule",
    params(("appointment_id" = String, Path)),
    responses((status = 200, body = CancelOutcome), (status = 404, body = vault_wire::ApiError), (status = 409, body = vault_wire::ApiError)),
    security(("bearer" = [])))]
pub async fn cancel(
    State(state): State<Arc<AppState>>,
    Caller(who): Caller,
    Path(appointment_id): Path<String>,
) -> Result<Json<CancelOutcome>, ApiError> {
    Ok(Json(state.clinic.cancel(&who, &appointment_id).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RescheduleBody {
    pub starts_at: i64,
    /// Another doctor; the same one when left out.
    #[serde(default)]
    pub doctor_id: Option<String>,
}

/// Moves a booked appointment to another slot, atomically.
#[utoipa::path(post, path = "/v1/appointments/{appointment_id}/reschedule", operation_id = "rescheduleAppointment", tag = "schedule",
    params(("appointment_id" = String, Path)), request_body = RescheduleBody,
    responses((status = 200, body = Appointment), (status = 409, body = vault_wire::ApiError), (status = 422, body = vault_wire::ApiError)),
    security(("bearer" = [])))]
pub async fn reschedule(
    State(state): State<Arc<AppState>>,
    Caller(who): Caller,
    Path(appointment_id): Path<String>,
    ApiJson(b): ApiJson<RescheduleBody>,
) -> Result<Json<Appointment>, ApiError> {
    Ok(Json(
        state
            .clinic
            .reschedule(&who, &appointment_id, b.doctor_id, b.starts_at)
            .await?,
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusBody {
    /// arrived, in_progress, completed or no_show.
    pub status: Status,
}

/// Marks arrival, start, completion or a no-show.
#[utoipa::path(post, path = "/v1/appointments/{appointment_id}/status", operation_id = "setAppointmentStatus", tag = "schedule",
    params(("appointment_id" = String, Path)), request_body = StatusBody,
    responses((status = 200, body = Appointment), (status = 409, body = vault_wire::ApiError)),
    security(("bearer" = [])))]
pub async fn set_status(
    State(state): State<Arc<AppState>>,
    StaffCaller(who): StaffCaller,
    Path(appointment_id): Path<String>,
    ApiJson(b): ApiJson<StatusBody>,
) -> Result<Json<Appointment>, ApiError> {
    Ok(Json(
        state
            .clinic
            .set_status(&Principal::Staff(who), &appointment_id, b.status)
            .await?,
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WaitlistBody {
    pub doctor_id: String,
    pub day: String,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub patient_token: Option<PatientToken>,
}

/// Puts a patient on the waitlist of a doctor's full day.
#[utoipa::path(post, path = "/v1/waitlist", operation_id = "joinWaitlist", tag = "schedule",
    request_body = WaitlistBody,
    responses((status = 201, body = WaitlistEntry), (status = 409, body = vault_wire::ApiError)),
    security(("bearer" = [])))]
pub async fn join_waitlist(
    State(state): State<Arc<AppState>>,
    Caller(who): Caller,
    ApiJson(b): ApiJson<WaitlistBody>,
) -> Result<(StatusCode, Json<WaitlistEntry>), ApiError> {
    let patient = patient_of(&who, b.patient_token)?;
    let entry = state
        .clinic
        .join_waitlist(&who, &b.doctor_id, &b.day, &patient)
        .await?;
    Ok((StatusCode::CREATED, Json(entry)))
}
