//! HTTP surface. Each handler extracts, calls one domain method and maps the error.

pub mod appointments;
pub mod auth;
pub mod billing;
pub mod caller;
pub mod directory;
pub mod error;
pub mod health;
pub mod openapi;
pub mod patient_app;
pub mod patients;
pub mod rights;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::header;
use axum::routing::{delete, get, post};
use service_kit::http::{metrics, request_id};

use crate::startup::AppState;

const JSON_BODY_LIMIT: usize = 256 * 1024;

pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .route(
            "/openapi.json",
            get(|| async {
                (
                    [(header::CONTENT_TYPE, "application/json")],
                    openapi::json(),
                )
            }),
        )
        .route("/v1/staff/login", post(auth::login))
        .route("/v1/logout", post(auth::logout))
        .route(
            "/v1/branches",
            post(directory::add_branch).get(directory::branches),
        )
        .route("/v1/rooms", post(directory::add_room))
        .route(
            "/v1/services",
            post(directory::add_service).get(directory::services),
        )
        .route("/v1/services/{code}", delete(directory::delete_service))
        .route("/v1/services/{code}/prices", post(directory::set_price))
        .route("/v1/doctors", get(directory::doctors))
        .route("/v1/price-list", get(directory::price_list))
        .route("/v1/schedule-templates", post(directory::add_template))
        .route("/v1/schedule-exceptions", post(directory::add_exception))
        .route("/v1/schedule/day", get(appointments::day_schedule))
        .route("/v1/slots", get(appointments::free_slots))
        .route("/v1/appointments", post(appointments::book))
        .route(
            "/v1/appointments/{appointment_id}/cancel",
            post(appointments::cancel),
        )
        .route(
            "/v1/appointments/{appointment_id}/reschedule",
            post(appointments::reschedule),
        )
        .route(
            "/v1/appointments/{appointment_id}/status",
            post(appointments::set_status),
        )
        .route("/v1/waitlist", post(appointments::join_waitlist))
        .route("/v1/patients", post(patients::register))
        .route("/v1/patients/search", post(patients::search))
        .merge(billing::routes())
        .merge(patient_app::routes())
        .merge(rights::routes())
        .route_layer(axum::middleware::from_fn_with_state(
            state.http_metrics.clone(),
            metrics::track,
        ))
        .layer(DefaultBodyLimit::max(JSON_BODY_LIMIT))
        .layer(axum::middleware::from_fn(request_id::assign))
        .with_state(state)
}
