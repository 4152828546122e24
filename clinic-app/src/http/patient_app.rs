//! Work in progress: routes of this area are added here.

use std::sync::Arc;

use axum::Router;
use utoipa::OpenApi;

use crate::startup::AppState;

/// The routes of this area, merged into the main router.
pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
}

/// The OpenAPI paths of this area, merged into the main document.
#[derive(OpenApi)]
#[openapi(paths())]
pub struct AreaApi;
