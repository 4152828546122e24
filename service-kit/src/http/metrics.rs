//! Request counts and latencies per route template and status. Labels are the route's template
//! (`/v1/patients/{token}`), never the path, so no token or id reaches a metric.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub method: String,
    pub route: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteOnly {
    pub method: String,
    pub route: String,
}

pub struct HttpMetrics {
    pub requests: Family<RouteLabels, Counter>,
    pub seconds: Family<RouteOnly, Histogram>,
}

impl HttpMetrics {
    pub fn register(registry: &mut Registry) -> Self {
        let requests = Family::<RouteLabels, Counter>::default();
        let seconds = Family::<RouteOnly, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.0005, 2.0, 16))
        });
        registry.register(
            "http_requests",
            "HTTP requests by route template and status",
            requests.clone(),
        );
        registry.register(
            "http_request_seconds",
            "HTTP request latency by route template",
            seconds.clone(),
        );
        Self { requests, seconds }
    }
}

/// Counts and times every request.
pub async fn track(State(http): State<Arc<HttpMetrics>>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = req.method().as_str().to_owned();
    let started = Instant::now();
    let response = next.run(req).await;
    http.seconds
        .get_or_create(&RouteOnly {
            method: method.clone(),
            route: route.clone(),
        })
        .observe(started.elapsed().as_secs_f64());
    http.requests
        .get_or_create(&RouteLabels {
            method,
            route,
            status: response.status().as_u16(),
        })
        .inc();
    response
}
