//! Attachments of records (scans, PDFs up to 50 MiB): streamed in, sealed in 64 KiB chunks,
//! streamed out. Nothing is buffered whole; a failed upload leaves nothing behind.
//!
//! Each chunk's AAD binds the patient, the attachment id, the chunk index and whether it is the
//! last chunk, so a stored attachment cannot be truncated, reordered or spliced with another
//! without failing to open.

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use policy::Action;

use crate::crypto::SealContext;
use crate::domain::patients::PatientError;
use crate::domain::principal::{Principal, RequestMeta};
use crate::domain::records::Records;
use crate::domain::sealing::VaultError;
use crate::ids::{PatientId, RecordId};
use crate::keys::PatientKeys;
use crate::keys::dek::SubkeyPurpose;
use crate::store::attachments::StoredAttachment;
use crate::store::{self, StoreError};

pub const CHUNK_SIZE: usize = 64 * 1024;
pub const MAX_ATTACHMENT_BYTES: u64 = 50 * 1024 * 1024;
/// Chunks fetched per database round trip while streaming out.
const CHUNKS_PER_FETCH: u32 = 16;
/// What the clinic stores: scans and documents.
pub const CONTENT_TYPES: [&str; 5] = [
    "application/pdf",
    "image/jpeg",
    "image/png",
    "image/tiff",
    "image/heic",
];

#[derive(Debug, thiserror::Error)]
pub enum AttachmentError {
    #[error("attachments are limited to 50 MiB")]
    TooLarge,
    #[error("the attachment is empty")]
    Empty,
    #[error(
        "content type must be one of application/pdf, image/jpeg, image/png, image/tiff, image/heic"
    )]
    ContentType,
    #[error("the upload was interrupted")]
    Interrupted,
    #[error(transparent)]
    Patient(#[from] PatientError),
}

impl From<VaultError> for AttachmentError {
    fn from(e: VaultError) -> Self {
        AttachmentError::Patient(e.into())
    }
}

impl From<StoreError> for AttachmentError {
    fn from(e: StoreError) -> Self {
        AttachmentError::Patient(e.into())
    }
}

fn chunk_ctx<'a>(
    patient: &'a PatientId,
    attachment: &'a RecordId,
    idx: u32,
    last: bool,
) -> SealContext<'a> {
    SealContext {
        patient,
        record: attachment,
        record_version: idx,
        field: if last { "chunk-last" } else { "chunk" },
    }
}

/// A readable attachment: its metadata and the stream of its opened chunks.
pub struct AttachmentDownload {
    pub meta: StoredAttachment,
    pub body: std::pin::Pin<Box<dyn Stream<Item = Result<Bytes, VaultError>> + Send>>,
}

impl Records {
    /// Streams an upload into sealed chunks, all in one transaction with its audit row.
    pub async fn add_attachment<S, E>(
        &self,
        principal: &Principal,
        meta: &RequestMeta,
        token: &str,
        record: RecordId,
        content_type: &str,
        mut body: S,
    ) -> Result<StoredAttachment, AttachmentError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
    {
        if !CONTENT_TYPES.contains(&content_type) {
            return Err(AttachmentError::ContentType);
        }
        let (patient, row) = self
            .authorise_with_audit(principal, meta, token, Action::CreateAttachment)
            .await?;
        let author = Self::author(principal)?.to_owned();
        let owner = self.record_of(patient, record).await?;
        let keys = self.keys_of(patient).await?;
        let suite = self.suite();
        let attachment = RecordId::random();
        let mut stored = StoredAttachment {
            attachment,
            record: owner,
            patient,
            content_type: content_type.to_owned(),
            size_bytes: 0,
            chunk_count: 0,
            author: Some(author),
            created_at: self.now(),
        };
        let mut tx = self.db().begin().await?;
        store::attachments::begin(&mut tx, &stored).await?;
        let mut buffer: Vec<u8> = Vec::with_capacity(2 * CHUNK_SIZE);
        let mut idx = 0u32;
        let seal = |keys: &PatientKeys, idx: u32, last: bool, bytes: &[u8]| {
            keys.seal(
                suite,
                SubkeyPurpose::AttachmentSealing,
                &chunk_ctx(&patient, &attachment, idx, last),
                bytes,
            )
            .map_err(|_| VaultError::Seal)
        };
        while let Some(piece) = body.next().await {
            let piece = piece.map_err(|_| AttachmentError::Interrupted)?;
            stored.size_bytes += piece.len() as u64;
            if stored.size_bytes > MAX_ATTACHMENT_BYTES {
                return Err(AttachmentError::TooLarge);
            }
            buffer.extend_from_slice(&piece);
            // Keep at least one byte back: only the end of the stream says which chunk is last.
            while buffer.len() > CHUNK_SIZE {
                let rest = buffer.split_off(CHUNK_SIZE);
                let envelope = seal(&keys, idx, false, &buffer)?;
                store::attachments::insert_chunk(&mut tx, attachment, idx, envelope).await?;
                buffer = rest;
                idx += 1;
            }
        }
        if stored.size_bytes == 0 {
            return Err(AttachmentError::Empty);
        }
        let envelope = seal(&keys, idx, true, &buffer)?;
        store::attachments::insert_chunk(&mut tx, attachment, idx, envelope).await?;
        stored.chunk_count = idx + 1;
        store::attachments::finish(&mut tx, attachment, stored.size_bytes, stored.chunk_count)
            .await?;
        self.audit.append_in(&mut tx, &[row]).await?;
        tx.commit().await?;
        Ok(stored)
    }

    /// Audits the read, then returns a stream that opens the chunks in order as it is polled.
    pub async fn attachment(
        &self,
        principal: &Principal,
        meta: &RequestMeta,
        token: &str,
        record: RecordId,
        attachment: RecordId,
    ) -> Result<AttachmentDownload, AttachmentError> {
        let patient = self
            .authorise_read(principal, meta, token, Action::ReadAttachment)
            .await?;
        let stored = match store::attachments::get(self.db(), attachment).await? {
            Some(a) if a.patient == patient && a.record == record => a,
            _ => return Err(PatientError::Vault(VaultError::UnknownRecord).into()),
        };
        let keys = self.keys_of(patient).await?;
        let db = self.db().clone();
        let total = stored.chunk_count;
        let stream = futures_util::stream::unfold(
            (0u32, Vec::<(u32, Vec<u8>)>::new()),
            move |(next, mut pending)| {
                let db = db.clone();
                let keys = keys.clone();
                async move {
                    if next >= total {
                        return None;
                    }
                    if pending.is_empty() {
                        match store::attachments::chunks(&db, attachment, next, CHUNKS_PER_FETCH)
                            .await
                        {
                            Ok(mut rows) => {
                                rows.reverse();
                                pending = rows;
                            }
                            Err(e) => return Some((Err(VaultError::Store(e)), (total, pending))),
                        }
                    }
                    let opened = match pending.pop() {
                        Some((idx, envelope)) if idx == next => keys
                            .open(
                                SubkeyPurpose::AttachmentSealing,
                                &chunk_ctx(&patient, &attachment, idx, idx + 1 == total),
                                &envelope,
                            )
                            .map(|plain| Bytes::from(plain.to_vec()))
                            .map_err(VaultError::from),
                        // A missing or out-of-order chunk is tampering: stop, never skip.
                        _ => Err(VaultError::Open(crate::crypto::OpenError)),
                    };
                    let after = if opened.is_ok() { next + 1 } else { total };
                    Some((opened, (after, pending)))
                }
            },
        );
        Ok(AttachmentDownload {
            meta: stored,
            body: Box::pin(stream),
        })
    }

    /// The attachments of a record (metadata only); needs the right to list records.
    pub async fn attachments_of(
        &self,
        principal: &Principal,
        meta: &RequestMeta,
        token: &str,
        record: RecordId,
    ) -> Result<Vec<StoredAttachment>, AttachmentError> {
        let patient = self
            .authorise_read(principal, meta, token, Action::ListRecords)
            .await?;
        let record = self.record_of(patient, record).await?;
        Ok(store::attachments::for_record(self.db(), record).await?)
    }
}
