//! HTTP surface. Handlers extract, call one domain function and map the error.

pub mod alerts;
pub mod attachments;
pub mod auth;
pub mod caller;
pub mod care;
pub mod error;
pub mod health;
pub mod openapi;
pub mod oversight;
pub mod patients;
pub mod records;
pub mod rights;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::header;
use axum::routing::{delete, get, patch, post, put};

use service_kit::http::{metrics, request_id};

use crate::startup::AppState;

/// JSON bodies are small; attachments get their own streamed route and limit.
const JSON_BODY_LIMIT: usize = 1024 * 1024;

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
        .route("/v1/login", post(auth::login))
        .route("/v1/logout", post(auth::logout))
        .route("/v1/patients", post(patients::register))
        .route("/v1/patients/search", post(patients::search))
        .route("/v1/patients/{token}", patch(patients::update))
        .route("/v1/resolve", post(patients::resolve))
        .route("/v1/me/patients", get(patients::my_patients))
        .route(
            "/v1/patients/{token}/records",
            post(records::create).get(records::list),
        )
        .route(
            "/v1/patients/{token}/records/{record_id}",
            get(records::get),
        )
        .route(
            "/v1/patients/{token}/records/{record_id}/versions",
            post(records::correct),
        )
        .route(
            "/v1/patients/{token}/records/{record_id}/attachments",
            post(attachments::upload).get(attachments::list),
        )
        .route(
            "/v1/patients/{token}/records/{record_id}/attachments/{attachment_id}",
            get(attachments::download),
        )
        .route("/v1/alerts", get(alerts::list))
        .route("/v1/audit/export", get(alerts::export))
        .route("/v1/care-relationships", put(care::put_relationship))
        .route(
            "/v1/care-relationships/{doctor}/{token}",
            delete(care::end_relationship),
        )
        .route("/v1/break-glass", post(care::start_break_glass))
        .route("/v1/audit/events", get(oversight::search_audit))
        .route("/v1/audit/counts", get(oversight::audit_counts))
        .route(
            "/v1/patients/{token}/access-report",
            get(oversight::access_report),
        )
        .route("/v1/break-glass/reviews", get(oversight::list_reviews))
        .route(
            "/v1/break-glass/reviews/{grant_id}",
            post(oversight::review),
        )
        .route("/v1/incidents", get(oversight::list_incidents))
        .route(
            "/v1/incidents/{incident_id}/notified",
            post(oversight::incident_notified),
        )
        .route(
            "/v1/incidents/{incident_id}/results",
            post(oversight::incident_results),
        )
        .route(
            "/v1/break-glass/{grant_id}/end",
            post(care::end_break_glass),
        )
        .route("/v1/data-requests", post(rights::file).get(rights::list))
        .route("/v1/data-requests/{request_id}", get(rights::get))
        .route(
            "/v1/data-requests/{request_id}/extend",
            post(rights::extend),
        )
        .route(
            "/v1/data-requests/{request_id}/answer",
            post(rights::answer),
        )
        .route("/v1/data-requests/{request_id}/export", get(rights::export))
        .route(
            "/v1/data-requests/{request_id}/legal-holds",
            post(rights::place_hold),
        )
        .route(
            "/v1/legal-holds/{hold_id}/release",
            post(rights::release_hold),
        )
        .route("/v1/patients/{token}/consents", get(rights::list_consents))
        .route(
            "/v1/patients/{token}/consents/{purpose}",
            put(rights::set_consent),
        )
        .route("/v1/destruction-acts", get(rights::list_acts))
        .route("/v1/destruction-acts/{act_id}", get(rights::get_act))
        .route_layer(axum::middleware::from_fn_with_state(
            state.metrics.http.clone(),
            metrics::track,
        ))
        .layer(DefaultBodyLimit::max(JSON_BODY_LIMIT))
        .layer(axum::middleware::from_fn(request_id::assign))
        .with_state(state)
}
