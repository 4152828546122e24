//! The security officer's endpoints: audit search and counts, the break-glass review queue,
//! incidents, and a patient's access report. Each handler extracts, calls one domain function
//! and maps its error.

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use vault_wire::{
    AccessReportQuery, AccessReportResponse, AuditCountsResponse, AuditQuery, AuditSearchResponse,
    Incident, IncidentMilestoneRequest, IncidentsQuery, ListIncidentsResponse, ListReviewsResponse,
    ReviewRequest, ReviewResponse, ReviewsQuery,
};

use super::caller::Caller;
use super::error::ApiError;
use super::patients::token;
use crate::domain::oversight::{Milestone, OversightError};
use crate::startup::AppState;
use service_kit::http::json::ApiJson;

impl From<OversightError> for ApiError {
    fn from(e: OversightError) -> Self {
        match e {
            OversightError::Forbidden { reasons } => Self::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!(
                    "the access policy does not allow this ({})",
                    reasons.join(", ")
                ),
            ),
            OversightError::OwnGrant => Self::new(
                StatusCode::FORBIDDEN,
                "own_grant",
                "a break-glass grant is reviewed by someone other than the doctor who held it",
            ),
            OversightError::UnknownToken => Self::new(
                StatusCode::NOT_FOUND,
                "unknown_token",
                "no patient has this token in your domain",
            ),
            OversightError::UnknownGrant => Self::new(
                StatusCode::NOT_FOUND,
                "unknown_grant",
                "no break-glass grant has this id",
            ),
            OversightError::UnknownIncident => Self::new(
                StatusCode::NOT_FOUND,
                "unknown_incident",
                "no incident has this id",
            ),
            OversightError::AlreadyReviewed => Self::new(
                StatusCode::CONFLICT,
                "already_reviewed",
                "this grant already has a final review (justified or unjustified)",
            ),
            OversightError::AlreadyRecorded => Self::new(
                StatusCode::CONFLICT,
                "already_recorded",
                "this step of the incident is already recorded",
            ),
            OversightError::NotNotified => Self::new(
                StatusCode::CONFLICT,
                "not_notified",
                "record the Roskomnadzor notification before the results",
            ),
            OversightError::InvalidTime => Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_time",
                "at may not be in the future or before the incident was detected",
            )
            .field("at"),
            OversightError::PagingNotAllowed => Self::bad_request(
                "invalid_query",
                "the counts take filters only: leave out after_seq, limit and order",
            ),
            OversightError::Vault(v) => v.into(),
            OversightError::Store(s) => s.into(),
        }
    }
}

/// Cuts the values out of a query-string parser message, keeping parameter names: serde quotes
/// an unknown enum value in backticks (``unknown variant `x` ``), the same way it quotes names.
fn without_values(message: &str) -> String {
    const MARK: &str = "variant `";
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(at) = rest.find(MARK) {
        out.push_str(&rest[..at + MARK.len()]);
        let value = &rest[at + MARK.len()..];
        match value.find('`') {
            Some(end) => {
                out.push_str("…`");
                rest = &value[end + 1..];
            }
            None => {
                out.push('…');
                return out;
            }
        }
    }
    out.push_str(rest);
    out
}

/// A query string parsed into `T`, refused as a 400 `invalid_query` that names the parameter
/// and the rule, never the value.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(v)) => Ok(ApiQuery(v)),
            Err(QueryRejection::FailedToDeserializeQueryString(e)) => Err(ApiError::bad_request(
                "invalid_query",
                without_values(&e.body_text()),
            )),
            Err(_) => Err(ApiError::bad_request(
                "invalid_query",
                "the query string could not be read",
            )),
        }
    }
}

fn uuid_path(raw: &str, what: &str) -> Result<uuid::Uuid, ApiError> {
    raw.parse().map_err(|_| {
        ApiError::bad_request("invalid_id", format!("{what} is not a UUID")).field(what)
    })
}

/// Searches the audit chain (security officer). The search is audited with the names of the
/// filters used.
#[utoipa::path(get, path = "/v1/audit/events", operation_id = "searchAudit", tag = "audit",
    params(AuditQuery),
    responses((status = 200, body = AuditSearchResponse), (status = 400, body = vault_wire::ApiError),
        (status = 403, body = vault_wire::ApiError), (status = 503, body = vault_wire::ApiError)),
    security(("bearer" = [])))]
pub async fn search_audit(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> Result<Json<AuditSearchResponse>, ApiError> {
    Ok(Json(
        state
            .oversight
            .search(&caller.principal, &caller.meta, &q)
            .await?,
    ))
}

/// Counts matching audit events per UTC day and per principal (security officer). Takes the
/// filters of `searchAudit`, without paging.
#[utoipa::path(get, path = "/v1/audit/counts", operation_id = "auditCounts", tag = "audit",
    params(AuditQuery),
    responses((status = 200, body = AuditCountsResponse), (status = 400, body = vault_wire::ApiError),
        (status = 403, body = vault_wire::ApiError)),
    security(("bearer" = [])))]
pub async fn audit_counts(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> Result<Json<AuditCountsResponse>, ApiError> {
    Ok(Json(
        state
            .oversight
            .counts(&caller.principal, &caller.meta, &q)
            .await?,
    ))
}

/// Who accessed one patient's data: role, branch, action, purpose, decision and time (staff
/// ids for the security officer only). Security officer only, for now.
#[utoipa::path(get, path = "/v1/patients/{token}/access-report", operation_id = "accessReport", tag = "audit",
    params(("token" = String, Path, description = "patient token in the caller's domain"), AccessReportQuery),
    responses((status = 200, body = AccessReportResponse), (status = 403, body = vault_wire::ApiError),
        (status = 404, body = vault_wire::ApiError)),
    security(("bearer" = [])))]
pub async fn access_report(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(raw): Path<String>,
    ApiQuery(q): ApiQuery<AccessReportQuery>,
) -> Result<Json<AccessReportResponse>, ApiError> {
    let t = token(&raw)?;
    Ok(Json(
        state
            .oversight
            .access_report(&caller.principal, &caller.meta, t.as_str(), &q)
            .await?,
    ))
}

/// The break-glass review queue (security officer): each grant with its deadline, the reads
/// done under it, its reviews and the doctor's justification. Opening a justification is
/// audited as `read_justification`.
#[utoipa::path(get, path = "/v1/break-glass/reviews", operation_id = "listBreakGlassReviews", tag = "oversight",
    params(ReviewsQuery),
    responses((status = 200, body = ListReviewsResponse), (status = 403, body = vault_wire::ApiError)),
    security(("bearer" = [])))]
pub async fn list_reviews(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiQuery(q): ApiQuery<ReviewsQuery>,
) -> Result<Json<ListReviewsResponse>, ApiError> {
    Ok(Json(
        state
            .oversight
            .list_reviews(&caller.principal, &caller.meta, &q)
            .await?,
    ))
}

/// Reviews a break-glass grant. The reviewer is a security officer who did not hold the grant;
/// `unjustified` opens an incident (152-FZ art. 21 part 3.1).
#[utoipa::path(post, path = "/v1/break-glass/reviews/{grant_id}", operation_id = "reviewBreakGlass", tag = "oversight",
    params(("grant_id" = String, Path)), request_body = ReviewRequest,
    responses((status = 201, body = ReviewResponse), (status = 403, body = vault_wire::ApiError),
        (status = 404, body = vault_wire::ApiError), (status = 409, body = vault_wire::ApiError)),
    security(("bearer" = [])))]
pub async fn review(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(raw): Path<String>,
    ApiJson(req): ApiJson<ReviewRequest>,
) -> Result<(StatusCode, Json<ReviewResponse>), ApiError> {
    let grant = uuid_path(&raw, "grant_id")?;
    let r = state
        .oversight
        .review(&caller.principal, &caller.meta, grant, &req)
        .await?;
    Ok((StatusCode::CREATED, Json(r)))
}

/// Incidents opened by unjustified reviews, with their 24 h / 72 h deadlines and evidence.
#[utoipa::path(get, path = "/v1/incidents", operation_id = "listIncidents", tag = "oversight",
    params(IncidentsQuery),
    responses((status = 200, body = ListIncidentsResponse), (status = 403, body = vault_wire::ApiError)),
    security(("bearer" = [])))]
pub async fn list_incidents(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiQuery(q): ApiQuery<IncidentsQuery>,
) -> Result<Json<ListIncidentsResponse>, ApiError> {
    Ok(Json(
        state
            .oversight
            .list_incidents(&caller.principal, &caller.meta, &q)
            .await?,
    ))
}

async fn milestone(
    state: &AppState,
    caller: &Caller,
    raw: &str,
    m: Milestone,
    req: &IncidentMilestoneRequest,
) -> Result<Json<Incident>, ApiError> {
    let id = uuid_path(raw, "incident_id")?;
    Ok(Json(
        state
            .oversight
            .record_milestone(&caller.principal, &caller.meta, id, m, req.at)
            .await?,
    ))
}

/// Records when Roskomnadzor was notified of the incident (`at`, default now).
#[utoipa::path(post, path = "/v1/incidents/{incident_id}/notified", operation_id = "incidentNotified", tag = "oversight",
    params(("incident_id" = String, Path)), request_body = IncidentMilestoneRequest,
    responses((status = 200, body = Incident), (status = 404, body = vault_wire::ApiError),
        (status = 409, body = vault_wire::ApiError), (status = 422, body = vault_wire::ApiError)),
    security(("bearer" = [])))]
pub async fn incident_notified(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(raw): Path<String>,
    ApiJson(req): ApiJson<IncidentMilestoneRequest>,
) -> Result<Json<Incident>, ApiError> {
    milestone(&state, &caller, &raw, Milestone::Notified, &req).await
}

/// Records when the investigation's results were sent to Roskomnadzor (`at`, default now).
#[utoipa::path(post, path = "/v1/incidents/{incident_id}/results", operation_id = "incidentResultsSent", tag = "oversight",
    params(("incident_id" = String, Path)), request_body = IncidentMilestoneRequest,
    responses((status = 200, body = Incident), (status = 404, body = vault_wire::ApiError),
        (status = 409, body = vault_wire::ApiError), (status = 422, body = vault_wire::ApiError)),
    security(("bearer" = [])))]
pub async fn incident_results(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(raw): Path<String>,
    ApiJson(req): ApiJson<IncidentMilestoneRequest>,
) -> Result<Json<Incident>, ApiError> {
    milestone(&state, &caller, &raw, Milestone::Results, &req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enum_values_are_cut_from_query_messages() {
        let m = "Failed to deserialize query string: state: unknown variant `Иванова`, expected one of `pending`, `justified`";
        let cleaned = without_values(m);
        assert!(!cleaned.contains("Иванова"), "{cleaned}");
        assert!(cleaned.contains("expected one of `pending`"), "{cleaned}");
        let m = "Failed to deserialize query string: unknown field `colour`";
        assert_eq!(without_values(m), m);
    }
}
