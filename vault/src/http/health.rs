//! Liveness, readiness and metrics.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::text::encode;

use crate::keys::custody::blocking;
use crate::startup::AppState;

/// The process is up.
pub async fn healthz() -> &'static str {
    "ok"
}

/// The vault can serve: the database answers and the key store still holds the current KEK.
/// An empty list counts as not ready: a token that was pulled and put back shows no private
/// objects to a session that is no longer logged in.
pub async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    if let Err(e) = state.db.ping().await {
        tracing::warn!(error = %e, "readiness: database unavailable");
        return unavailable("database_unavailable");
    }
    let custody = state.sealed.custody();
    let current = custody.current_kek();
    let provider = custody.provider().clone();
    match blocking(move || provider.kek_versions()).await {
        Ok(versions) if versions.contains(&current) => {}
        Ok(_) => {
            tracing::warn!(kek = %current, "readiness: the current KEK is not visible in the key store");
            return unavailable("key_store_unavailable");
        }
        Err(e) => {
            tracing::warn!(error = %e, "readiness: key store unavailable");
            return unavailable("key_store_unavailable");
        }
    }
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        r#"{"status":"ready"}"#,
    )
        .into_response()
}

fn unavailable(code: &'static str) -> Response {
    let body = format!(r#"{{"status":"unavailable","code":"{code}"}}"#);
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

/// Prometheus text exposition. Labels never carry personal data or tokens.
pub async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    state
        .metrics
        .dek_cache_entries
        .set(i64::try_from(state.sealed.custody().cache().len()).unwrap_or(i64::MAX));
    let mut body = String::new();
    if encode(&mut body, &state.metrics.registry).is_err() {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        body,
    )
        .into_response()
}
