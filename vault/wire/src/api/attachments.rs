//! Attachments of a record: the upload is the raw file body (`Content-Type` one of the accepted
//! types, at most 50 MiB); these are the JSON answers around it.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// What is known about an attachment without opening it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AttachmentMeta {
    pub attachment_id: Uuid,
    pub record_id: Uuid,
    /// `application/pdf`, `image/jpeg`, `image/png`, `image/tiff` or `image/heic`.
    pub content_type: String,
    pub size_bytes: u64,
    /// Unix seconds (UTC).
    pub created_at: i64,
}

/// A record's attachments.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ListAttachmentsResponse {
    pub attachments: Vec<AttachmentMeta>,
}
