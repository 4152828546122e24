//! Alerts for the security officer.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, State};
use serde::Deserialize;
use vault_wire::{AlertView, ListAlertsResponse};

use super::caller::Caller;
use super::error::ApiError;
use crate::startup::AppState;

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AlertsQuery {
    /// Unix seconds; default: the last 7 days.
    since: Option<i64>,
    /// At most this many (1..500, default 100).
    limit: Option<u64>,
}

/// Alerts raised by the rules over the audit stream (security officer only; audited).
#[utoipa::path(get, path = "/v1/alerts", operation_id = "listAlerts", tag = "audit",
    params(AlertsQuery),
    responses((status = 200, body = ListAlertsResponse), (status = 403, body = vault_wire::ApiError)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Query(q): Query<AlertsQuery>,
) -> Result<Json<ListAlertsResponse>, ApiError> {
    let since = q
        .since
        .unwrap_or_else(|| crate::clock::Clock::unix_seconds(&*state.clock) - 7 * 86_400);
    let rows = state
        .alerts
        .list(
            &caller.principal,
            &caller.meta,
            since,
            q.limit.unwrap_or(100),
        )
        .await?;
    Ok(Json(ListAlertsResponse {
        alerts: rows
            .into_iter()
            .map(|a| AlertView {
                alert_id: a.alert_id,
                raised_at: a.raised_at,
                rule: a.rule,
                principal: a.principal,
                seq_first: a.seq_first,
                seq_last: a.seq_last,
                details: a.details,
            })
            .collect(),
    }))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ExportQuery {
    /// Export the events after this sequence number (0: from the start).
    after_seq: Option<i64>,
    /// At most this many (1..10000, default 1000).
    limit: Option<u64>,
}

/// The audit as JSON lines for a SIEM, resumable from a sequence number; each line carries its
/// chain hash and its predecessor's (security officer only; audited).
#[utoipa::path(get, path = "/v1/audit/export", operation_id = "exportAudit", tag = "audit",
    params(ExportQuery),
    responses((status = 200, content_type = "application/x-ndjson", body = String), (status = 403, body = vault_wire::ApiError)),
    security(("bearer" = [])))]
pub async fn export(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Query(q): Query<ExportQuery>,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    let lines = state
        .alerts
        .export(
            &caller.principal,
            &caller.meta,
            q.after_seq.unwrap_or(0).max(0),
            q.limit.unwrap_or(1000),
        )
        .await?;
    let mut body = String::new();
    for line in &lines {
        body.push_str(&serde_json::to_string(line).unwrap_or_default());
        body.push('\n');
    }
    Ok((
        [(axum::http::header::CONTENT_TYPE, "application/x-ndjson")],
        body,
    )
        .into_response())
}
