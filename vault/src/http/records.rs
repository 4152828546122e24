//! Medical records of a patient: create, list (metadata), open one version, correct.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use vault_wire::{
    CorrectRecordRequest, CreateRecordRequest, CreateRecordResponse, ListRecordsResponse,
    RecordBody, RecordKind, RecordMeta, RecordView,
};

use super::caller::Caller;
use super::error::ApiError;
use super::patients::token;
use crate::domain::RecordRef;
use crate::domain::records::RecordInfo;
use crate::ids::RecordId;
use crate::startup::AppState;
use service_kit::http::json::ApiJson;

fn kind_str(kind: RecordKind) -> &'static str {
    match kind {
        RecordKind::VisitNote => "visit_note",
        RecordKind::Diagnosis => "diagnosis",
        RecordKind::Prescription => "prescription",
        RecordKind::LabResult => "lab_result",
    }
}

fn kind_of(s: &str) -> Result<RecordKind, ApiError> {
    serde_json::from_value(serde_json::Value::String(s.to_owned()))
        .map_err(|_| ApiError::from(crate::store::StoreError::Corrupt("record kind".into())))
}

fn uuid_of(id: RecordId) -> Result<uuid::Uuid, ApiError> {
    id.to_string()
        .parse()
        .map_err(|_| ApiError::from(crate::store::StoreError::Corrupt("record id".into())))
}

fn meta(info: &RecordInfo) -> Result<RecordMeta, ApiError> {
    Ok(RecordMeta {
        record_id: uuid_of(info.record)?,
        version: info.version,
        kind: kind_of(&info.kind)?,
        created_at: info.created_at,
        author_staff_id: info.author.clone(),
    })
}

fn created(r: RecordRef) -> Result<(StatusCode, Json<CreateRecordResponse>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(CreateRecordResponse {
            record_id: uuid_of(r.record)?,
            version: r.version,
        }),
    ))
}

fn record_id(raw: &str) -> Result<RecordId, ApiError> {
    raw.parse().map_err(|_| {
        ApiError::bad_request("invalid_record_id", "not a record id (a UUID)").field("record_id")
    })
}

fn body_bytes(body: &RecordBody) -> Result<zeroize::Zeroizing<Vec<u8>>, ApiError> {
    serde_json::to_vec(body)
        .map(zeroize::Zeroizing::new)
        .map_err(|_| ApiError::bad_request("invalid_body", "the record body could not be encoded"))
}

/// Creates a record; a doctor needs a live care relationship with the patient.
#[utoipa::path(post, path = "/v1/patients/{token}/records", operation_id = "createRecord", tag = "records",
    params(("token" = String, Path)), request_body = CreateRecordRequest,
    responses((status = 201, body = CreateRecordResponse), (status = 403, body = vault_wire::ApiError)),
    security(("bearer" = [])))]
pub async fn create(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(raw): Path<String>,
    ApiJson(req): ApiJson<CreateRecordRequest>,
) -> Result<(StatusCode, Json<CreateRecordResponse>), ApiError> {
    let t = token(&raw)?;
    let bytes = body_bytes(req.body())?;
    let r = state
        .records
        .create(
            &caller.principal,
            &caller.meta,
            t.as_str(),
            kind_str(req.kind()),
            &bytes,
        )
        .await?;
    created(r)
}

/// Lists every version of the patient's records, metadata only.
#[utoipa::path(get, path = "/v1/patients/{token}/records", operation_id = "listRecords", tag = "records",
    params(("token" = String, Path)),
    responses((status = 200, body = ListRecordsResponse), (status = 403, body = vault_wire::ApiError)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(raw): Path<String>,
) -> Result<Json<ListRecordsResponse>, ApiError> {
    let t = token(&raw)?;
    let infos = state
        .records
        .list(&caller.principal, &caller.meta, t.as_str())
        .await?;
    Ok(Json(ListRecordsResponse {
        records: infos.iter().map(meta).collect::<Result<_, _>>()?,
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VersionQuery {
    version: Option<u32>,
}

/// Opens one record version (the latest without `version`).
#[utoipa::path(get, path = "/v1/patients/{token}/records/{record_id}", operation_id = "getRecord", tag = "records",
    params(("token" = String, Path), ("record_id" = String, Path), ("version" = Option<u32>, Query)),
    responses((status = 200, body = RecordView), (status = 403, body = vault_wire::ApiError),
        (status = 404, body = vault_wire::ApiError), (status = 410, body = vault_wire::ApiError)),
    security(("bearer" = [])))]
pub async fn get(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path((raw, rid)): Path<(String, String)>,
    Query(q): Query<VersionQuery>,
) -> Result<Json<OpenedRecord>, ApiError> {
    let t = token(&raw)?;
    let (info, bytes) = state
        .records
        .get(
            &caller.principal,
            &caller.meta,
            t.as_str(),
            record_id(&rid)?,
            q.version,
        )
        .await?;
    let body = serde_json::from_slice(&bytes)
        .map_err(|_| ApiError::from(crate::store::StoreError::Corrupt("record body".into())))?;
    Ok(Json(OpenedRecord {
        meta: meta(&info)?,
        body,
    }))
}

/// What `getRecord` answers: [`RecordView`]'s shape, with the body passed through as it was
/// sealed. The body was checked as a [`RecordBody`] and encoded by `body_bytes` when it was
/// written, and its seal authenticates it, so opening it checks only that it is JSON instead
/// of parsing and normalising its text again on every read (ADR 0028).
#[derive(Serialize)]
pub struct OpenedRecord {
    meta: RecordMeta,
    body: Box<RawValue>,
}

/// Stores a correction as the next version; earlier versions stay readable.
#[utoipa::path(post, path = "/v1/patients/{token}/records/{record_id}/versions", operation_id = "correctRecord", tag = "records",
    params(("token" = String, Path), ("record_id" = String, Path)), request_body = CorrectRecordRequest,
    responses((status = 201, body = CreateRecordResponse), (status = 409, body = vault_wire::ApiError)),
    security(("bearer" = [])))]
pub async fn correct(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path((raw, rid)): Path<(String, String)>,
    ApiJson(req): ApiJson<CorrectRecordRequest>,
) -> Result<(StatusCode, Json<CreateRecordResponse>), ApiError> {
    let t = token(&raw)?;
    let bytes = body_bytes(&req.body)?;
    let r = state
        .records
        .correct(
            &caller.principal,
            &caller.meta,
            t.as_str(),
            record_id(&rid)?,
            kind_str(req.body.kind()),
            &bytes,
        )
        .await?;
    created(r)
}
