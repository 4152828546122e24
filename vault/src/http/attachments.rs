//! Attachments: upload (raw body, streamed), list, download (streamed).

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use vault_wire::{AttachmentMeta, ListAttachmentsResponse};

use super::caller::Caller;
use super::error::ApiError;
use super::patients::token;
use crate::domain::attachments::{AttachmentError, MAX_ATTACHMENT_BYTES};
use crate::ids::RecordId;
use crate::startup::AppState;
use crate::store::attachments::StoredAttachment;

impl From<AttachmentError> for ApiError {
    fn from(e: AttachmentError) -> Self {
        match e {
            AttachmentError::TooLarge => {
                Self::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", e.to_string())
            }
            AttachmentError::Empty => {
                Self::new(StatusCode::UNPROCESSABLE_ENTITY, "empty", e.to_string())
            }
            AttachmentError::ContentType => Self::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "content_type",
                e.to_string(),
            )
            .field("Content-Type"),
            AttachmentError::Interrupted => Self::bad_request(
                "interrupted",
                "the upload was interrupted; nothing was stored",
            ),
            AttachmentError::Patient(p) => p.into(),
        }
    }
}

fn id(raw: &str, field: &str) -> Result<RecordId, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::bad_request("invalid_id", "not an id (a UUID)").field(field))
}

fn meta(a: &StoredAttachment) -> Result<AttachmentMeta, ApiError> {
    let uuid = |r: RecordId| {
        r.to_string()
            .parse()
            .map_err(|_| ApiError::from(crate::store::StoreError::Corrupt("id".into())))
    };
    Ok(AttachmentMeta {
        attachment_id: uuid(a.attachment)?,
        record_id: uuid(a.record)?,
        content_type: a.content_type.clone(),
        size_bytes: a.size_bytes,
        created_at: a.created_at,
    })
}

/// Uploads a scan or PDF (raw body, at most 50 MiB) to a record; sealed in chunks as it arrives.
#[utoipa::path(post, path = "/v1/patients/{token}/records/{record_id}/attachments", operation_id = "createAttachment",
    tag = "records", params(("token" = String, Path), ("record_id" = String, Path)),
    request_body(content = Vec<u8>, content_type = "application/pdf"),
    responses((status = 201, body = AttachmentMeta), (status = 413, body = vault_wire::ApiError),
        (status = 415, body = vault_wire::ApiError)),
    security(("bearer" = [])))]
pub async fn upload(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path((raw, rid)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<AttachmentMeta>), ApiError> {
    let t = token(&raw)?;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_ATTACHMENT_BYTES) {
        return Err(AttachmentError::TooLarge.into());
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let stream = body.into_data_stream();
    let stored = state
        .records
        .add_attachment(
            &caller.principal,
            &caller.meta,
            t.as_str(),
            id(&rid, "record_id")?,
            content_type,
            stream,
        )
        .await?;
    Ok((StatusCode::CREATED, Json(meta(&stored)?)))
}

/// A record's attachments, metadata only.
#[utoipa::path(get, path = "/v1/patients/{token}/records/{record_id}/attachments", operation_id = "listAttachments",
    tag = "records", params(("token" = String, Path), ("record_id" = String, Path)),
    responses((status = 200, body = ListAttachmentsResponse)), security(("bearer" = [])))]
pub async fn list(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path((raw, rid)): Path<(String, String)>,
) -> Result<Json<ListAttachmentsResponse>, ApiError> {
    let t = token(&raw)?;
    let all = state
        .records
        .attachments_of(
            &caller.principal,
            &caller.meta,
            t.as_str(),
            id(&rid, "record_id")?,
        )
        .await?;
    Ok(Json(ListAttachmentsResponse {
        attachments: all.iter().map(meta).collect::<Result<_, _>>()?,
    }))
}

/// Downloads an attachment, opened chunk by chunk as it streams. A chunk that fails to open
/// stops the stream (the client sees a broken transfer, never altered bytes).
#[utoipa::path(get, path = "/v1/patients/{token}/records/{record_id}/attachments/{attachment_id}",
    operation_id = "getAttachment", tag = "records",
    params(("token" = String, Path), ("record_id" = String, Path), ("attachment_id" = String, Path)),
    responses((status = 200, content_type = "application/octet-stream", body = Vec<u8>), (status = 403, body = vault_wire::ApiError)),
    security(("bearer" = [])))]
pub async fn download(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path((raw, rid, aid)): Path<(String, String, String)>,
) -> Result<Response, ApiError> {
    let t = token(&raw)?;
    let download = state
        .records
        .attachment(
            &caller.principal,
            &caller.meta,
            t.as_str(),
            id(&rid, "record_id")?,
            id(&aid, "attachment_id")?,
        )
        .await?;
    let body = Body::from_stream(download.body.map(|chunk| {
        chunk.map_err(|e| {
            tracing::error!(error = %e, "attachment stream stopped");
            std::io::Error::other("attachment could not be opened")
        })
    }));
    Ok((
        [
            (header::CONTENT_TYPE, download.meta.content_type.clone()),
            (header::CONTENT_LENGTH, download.meta.size_bytes.to_string()),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
        body,
    )
        .into_response())
}
