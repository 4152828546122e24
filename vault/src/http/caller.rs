//! The caller of a request: its principal (401 without one) and its audit facts.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use super::error::ApiError;
use crate::domain::auth::AuthError;
use crate::domain::principal::{Principal, RequestMeta};
use crate::startup::AppState;

/// An authenticated request.
pub struct Caller {
    pub principal: Principal,
    pub meta: RequestMeta,
    /// The bearer value, for logout only.
    pub bearer: String,
}

/// The request's id (set by [`service_kit::http::request_id::assign`]) and client address.
pub fn request_meta(parts: &Parts) -> RequestMeta {
    let request_id = parts
        .extensions
        .get::<service_kit::http::request_id::RequestId>()
        .map_or_else(|| uuid::Uuid::new_v4().to_string(), |r| r.0.clone());
    let client_addr = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string());
    RequestMeta {
        request_id,
        client_addr,
    }
}

impl FromRequestParts<Arc<AppState>> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let meta = request_meta(parts);
        let bearer = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .ok_or(ApiError::from(AuthError::Unauthenticated))?
            .to_owned();
        let principal = state.auth.authenticate(&bearer).await?;
        Ok(Caller {
            principal,
            meta,
            bearer,
        })
    }
}

/// Audit facts for unauthenticated endpoints (sign-in).
pub struct Meta(pub RequestMeta);

impl<S: Send + Sync> FromRequestParts<S> for Meta {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Meta(request_meta(parts)))
    }
}
