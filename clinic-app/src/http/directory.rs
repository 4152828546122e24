//! The directory: branches, rooms, services, prices, doctors, weekly templates, exceptions.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use service_kit::http::json::ApiJson;
use utoipa::{IntoParams, ToSchema};

use super::caller::{Caller, StaffCaller};
use super::error::ApiError;
use crate::domain::directory::{
    Branch, Doctor, ExceptionAdded, NewBranch, NewException, NewPrice, NewRoom, NewService,
    NewTemplate, PriceListEntry, Service,
};
use crate::startup::AppState;

#[derive(Deserialize, IntoParams)]
pub struct IdParam {
    /// A readable id to use instead of a random one (e.g. `msk-tverskaya`).
    pub id: Option<String>,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct Created {
    pub id: String,
}

#[utoipa::path(post, path = "/v1/branches", operation_id = "addBranch", tag = "directory",
    params(IdParam), request_body = NewBranch,
    responses((status = 201, body = Branch), (status = 403, body = vault_wire::ApiError), (status = 409, body = vault_wire::ApiError)),
    security(("bearer" = [])))]
pub async fn add_branch(
    State(state): State<Arc<AppState>>,
    StaffCaller(who): StaffCaller,
    Query(q): Query<IdParam>,
    ApiJson(b): ApiJson<NewBranch>,
) -> Result<(StatusCode, Json<Branch>), ApiError> {
    let branch = state.clinic.add_branch(&who, q.id.as_deref(), b).await?;
    Ok((StatusCode::CREATED, Json(branch)))
}

#[utoipa::path(get, path = "/v1/branches", operation_id = "listBranches", tag = "directory",
    responses((status = 200, body = [Branch])), security(("bearer" = [])))]
pub async fn branches(
    State(state): State<Arc<AppState>>,
    _caller: Caller,
) -> Result<Json<Vec<Branch>>, ApiError> {
    Ok(Json(state.clinic.branches().await?))
}

#[utoipa::path(post, path = "/v1/rooms", operation_id = "addRoom", tag = "directory",
    params(IdParam), request_body = NewRoom,
    responses((status = 201, body = Created), (status = 403, body = vault_wire::ApiError)),
    security(("bearer" = [])))]
pub async fn add_room(
    State(state): State<Arc<AppState>>,
    StaffCaller(who): StaffCaller,
    Query(q): Query<IdParam>,
    ApiJson(r): ApiJson<NewRoom>,
) -> Result<(StatusCode, Json<Created>), ApiError> {
    let id = state.clinic.add_room(&who, q.id.as_deref(), r).await?;
    Ok((StatusCode::CREATED, Json(Created { id })))
}

#[utoipa::path(post, path = "/v1/services", operation_id = "addService", tag = "directory",
    request_body = NewService,
    responses((status = 201), (status = 403, body = vault_wire::ApiError), (status = 409, body = vault_wire::ApiError)),
    security(("bearer" = [])))]
pub async fn add_service(
    State(state): State<Arc<AppState>>,
    StaffCaller(who): StaffCaller,
    ApiJson(s): ApiJson<NewService>,
) -> Result<StatusCode, ApiError> {
    state.clinic.add_service(&who, s).await?;
    Ok(StatusCode::CREATED)
}

/// The published price list: services that can be booked, with today's prices.
#[utoipa::path(get, path = "/v1/services", operation_id = "listServices", tag = "directory",
    responses((status = 200, body = [Service])), security(("bearer" = [])))]
pub async fn services(
    State(state): State<Arc<AppState>>,
    _caller: Caller,
) -> Result<Json<Vec<Service>>, ApiError> {
    Ok(Json(state.clinic.services().await?))
}

#[utoipa::path(delete, path = "/v1/services/{code}", operation_id = "deleteService", tag = "directory",
    params(("code" = String, Path)),
    responses((status = 204), (status = 404, body = vault_wire::ApiError)), security(("bearer" = [])))]
pub async fn delete_service(
    State(state): State<Arc<AppState>>,
    StaffCaller(who): StaffCaller,
    Path(code): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.clinic.delete_service(&who, &code).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/v1/services/{code}/prices", operation_id = "setPrice", tag = "directory",
    params(("code" = String, Path)), request_body = NewPrice,
    responses((status = 201), (status = 409, body = vault_wire::ApiError), (status = 422, body = vault_wire::ApiError)),
    security(("bearer" = [])))]
pub async fn set_price(
    State(state): State<Arc<AppState>>,
    StaffCaller(who): StaffCaller,
    Path(code): Path<String>,
    ApiJson(p): ApiJson<NewPrice>,
) -> Result<StatusCode, ApiError> {
    state.clinic.set_price(&who, &code, p).await?;
    Ok(StatusCode::CREATED)
}

/// The published price list with every dated price: public, no sign-in.
#[utoipa::path(get, path = "/v1/price-list", operation_id = "priceList", tag = "directory",
    responses((status = 200, body = [PriceListEntry])))]
pub async fn price_list(
    State(state): State<Arc<AppState>>,
) -> Result<Json<Vec<PriceListEntry>>, ApiError> {
    Ok(Json(state.clinic.price_list().await?))
}

#[utoipa::path(get, path = "/v1/doctors", operation_id = "listDoctors", tag = "directory",
    responses((status = 200, body = [Doctor])), security(("bearer" = [])))]
pub async fn doctors(
    State(state): State<Arc<AppState>>,
    _caller: Caller,
) -> Result<Json<Vec<Doctor>>, ApiError> {
    Ok(Json(state.clinic.doctors().await?))
}

#[utoipa::path(post, path = "/v1/schedule-templates", operation_id = "addScheduleTemplate", tag = "directory",
    request_body = NewTemplate,
    responses((status = 201, body = Created), (status = 409, body = vault_wire::ApiError), (status = 422, body = vault_wire::ApiError)),
    security(("bearer" = [])))]
pub async fn add_template(
    State(state): State<Arc<AppState>>,
    StaffCaller(who): StaffCaller,
    ApiJson(t): ApiJson<NewTemplate>,
) -> Result<(StatusCode, Json<Created>), ApiError> {
    let id = state.clinic.add_template(&who, t).await?;
    Ok((StatusCode::CREATED, Json(Created { id })))
}

#[utoipa::path(post, path = "/v1/schedule-exceptions", operation_id = "addScheduleException", tag = "directory",
    request_body = NewException,
    responses((status = 201, body = ExceptionAdded), (status = 422, body = vault_wire::ApiError)),
    security(("bearer" = [])))]
pub async fn add_exception(
    State(state): State<Arc<AppState>>,
    StaffCaller(who): StaffCaller,
    ApiJson(e): ApiJson<NewException>,
) -> Result<(StatusCode, Json<ExceptionAdded>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(state.clinic.add_exception(&who, e).await?),
    ))
}
