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
