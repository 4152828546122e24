//! Liveness, readiness and metrics.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde_json::json;

use crate::startup::AppState;

pub async fn healthz() -> &'static str {
    "ok"
}

/// Ready when the database answers. The vault's reachability is reported, not required: the
/// schedule and billing keep working without it (names withheld).
pub async fn readyz(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    let database = state.clinic.db.ping().await.is_ok();
    let vault = state.clinic.vault.reachable().await;
    let status = if database {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(json!({ "database": database, "vault": vault })),
    )
}

pub async fn metrics(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    let mut body = String::new();
    if prometheus_client::encoding::text::encode(&mut body, &state.registry).is_err() {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            "metrics could not be encoded",
        )
            .into_response();
    }
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        body,
    )
        .into_response()
}
