//! HTTP surface. Handlers extract, call one domain function and map the error.

pub mod health;

use std::sync::Arc;

use axum::Router;
use axum::routing::get;

use crate::startup::AppState;

pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .with_state(state)
}
