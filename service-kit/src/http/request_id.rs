//! Every request gets an id: the caller's `x-request-id` when it is a short safe token, a new
//! UUID otherwise. It is put on a span (so every log line of the request carries it), into the
//! audit events, and back on the response, so a 5xx can be matched to its log line.

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

/// The id of the request being served, for extractors.
#[derive(Clone, Debug)]
pub struct RequestId(pub String);

pub const HEADER: &str = "x-request-id";

fn acceptable(v: &str) -> bool {
    !v.is_empty() && v.len() <= 64 && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

pub async fn assign(mut req: Request, next: Next) -> Response {
    let id = req
        .headers()
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| acceptable(v))
        .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned);
    req.extensions_mut().insert(RequestId(id.clone()));
    let span = tracing::info_span!("request", request_id = %id);
    let mut response = next.run(req).instrument(span).await;
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(HEADER, value);
    }
    response
}
