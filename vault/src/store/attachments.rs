//! Attachments and their sealed chunks.

use sea_query::{Expr, ExprTrait, Iden, Order, Query};

use super::{Database, StoreError, Transaction, parse_id, to_u32};
use crate::ids::{PatientId, RecordId};

#[derive(Iden)]
enum Attachments {
    Table,
    AttachmentId,
    RecordId,
    PatientId,
    ContentType,
    SizeBytes,
    ChunkCount,
    Author,
    CreatedAt,
}

#[derive(Iden)]
enum AttachmentChunks {
    Table,
    AttachmentId,
    Idx,
    Envelope,
}

pub struct StoredAttachment {
    pub attachment: RecordId,
    pub record: RecordId,
    pub patient: PatientId,
    pub content_type: String,
    pub size_bytes: u64,
    pub chunk_count: u32,
    pub author: Option<String>,
    pub created_at: i64,
}

#[derive(sqlx::FromRow)]
struct AttachmentRow {
    attachment_id: String,
    record_id: String,
    patient_id: String,
    content_type: String,
    size_bytes: i64,
    chunk_count: i64,
    author: Option<String>,
    created_at: i64,
}

impl TryFrom<AttachmentRow> for StoredAttachment {
    type Error = StoreError;
    fn try_from(r: AttachmentRow) -> Result<Self, StoreError> {
        Ok(StoredAttachment {
            attachment: parse_id(&r.attachment_id, "attachment_id")?,
            record: parse_id(&r.record_id, "record_id")?,
            patient: parse_id(&r.patient_id, "patient_id")?,
            content_type: r.content_type,
            size_bytes: u64::try_from(r.size_bytes)
                .map_err(|_| StoreError::Corrupt("size_bytes".into()))?,
            chunk_count: to_u32(r.chunk_count, "chunk_count")?,
            author: r.author,
            created_at: r.created_at,
        })
    }
}

/// Inserts the attachment row first (chunks refer to it); sizes are set by [`finish`].
pub async fn begin(tx: &mut Transaction, a: &StoredAttachment) -> Result<(), StoreError> {
    tx.execute(
        &Query::insert()
            .into_table(Attachments::Table)
            .columns([
                Attachments::AttachmentId,
                Attachments::RecordId,
                Attachments::PatientId,
                Attachments::ContentType,
                Attachments::SizeBytes,
                Attachments::ChunkCount,
                Attachments::Author,
                Attachments::CreatedAt,
            ])
            .values_panic([
                a.attachment.to_string().into(),
                a.record.to_string().into(),
                a.patient.to_string().into(),
                a.content_type.clone().into(),
                0i64.into(),
                0i64.into(),
                a.author.clone().into(),
                a.created_at.into(),
            ])
            .to_owned(),
    )
    .await?;
    Ok(())
}

pub async fn insert_chunk(
    tx: &mut Transaction,
    attachment: RecordId,
    idx: u32,
    envelope: Vec<u8>,
) -> Result<(), StoreError> {
    tx.execute(
        &Query::insert()
            .into_table(AttachmentChunks::Table)
            .columns([
                AttachmentChunks::AttachmentId,
                AttachmentChunks::Idx,
                AttachmentChunks::Envelope,
            ])
            .values_panic([
                attachment.to_string().into(),
                i64::from(idx).into(),
                envelope.into(),
            ])
            .to_owned(),
    )
    .await?;
    Ok(())
}

pub async fn finish(
    tx: &mut Transaction,
    attachment: RecordId,
    size: u64,
    chunks: u32,
) -> Result<(), StoreError> {
    tx.execute(
        &Query::update()
            .table(Attachments::Table)
            .values([
                (
                    Attachments::SizeBytes,
                    i64::try_from(size).unwrap_or(i64::MAX).into(),
                ),
                (Attachments::ChunkCount, i64::from(chunks).into()),
            ])
            .and_where(Expr::col(Attachments::AttachmentId).eq(attachment.to_string()))
            .to_owned(),
    )
    .await?;
    Ok(())
}

fn columns() -> sea_query::SelectStatement {
    Query::select()
        .columns([
            Attachments::AttachmentId,
            Attachments::RecordId,
            Attachments::PatientId,
            Attachments::ContentType,
            Attachments::SizeBytes,
            Attachments::ChunkCount,
            Attachments::Author,
            Attachments::CreatedAt,
        ])
        .from(Attachments::Table)
        .to_owned()
}

pub async fn get(
    db: &Database,
    attachment: RecordId,
) -> Result<Option<StoredAttachment>, StoreError> {
    db.fetch_optional::<AttachmentRow, _>(
        &columns()
            .and_where(Expr::col(Attachments::AttachmentId).eq(attachment.to_string()))
            .to_owned(),
    )
    .await?
    .map(StoredAttachment::try_from)
    .transpose()
}

pub async fn for_record(
    db: &Database,
    record: RecordId,
) -> Result<Vec<StoredAttachment>, StoreError> {
    db.fetch_all::<AttachmentRow, _>(
        &columns()
            .and_where(Expr::col(Attachments::RecordId).eq(record.to_string()))
            .order_by(Attachments::CreatedAt, Order::Asc)
            .to_owned(),
    )
    .await?
    .into_iter()
    .map(StoredAttachment::try_from)
    .collect()
}

/// Chunks `from..from+limit` of an attachment, in order.
pub async fn chunks(
    db: &Database,
    attachment: RecordId,
    from: u32,
    limit: u32,
) -> Result<Vec<(u32, Vec<u8>)>, StoreError> {
    #[derive(sqlx::FromRow)]
    struct Row {
        idx: i64,
        envelope: Vec<u8>,
    }
    db.fetch_all::<Row, _>(
        &Query::select()
            .columns([AttachmentChunks::Idx, AttachmentChunks::Envelope])
            .from(AttachmentChunks::Table)
            .and_where(Expr::col(AttachmentChunks::AttachmentId).eq(attachment.to_string()))
            .and_where(Expr::col(AttachmentChunks::Idx).gte(i64::from(from)))
            .order_by(AttachmentChunks::Idx, Order::Asc)
            .limit(u64::from(limit))
            .to_owned(),
    )
    .await?
    .into_iter()
    .map(|r| Ok((to_u32(r.idx, "idx")?, r.envelope)))
    .collect()
}
