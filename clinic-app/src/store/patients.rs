//! The patient app's own rows: sign-in challenges and data requests, and the statements that
//! drop a patient's account when their deletion request is carried out.
//!
//! A challenge holds a keyed digest of the phone (for the rate limit), a keyed hash of the
//! code, the token it signs in to (none when the phone is unknown) and its counters; never the
//! phone or the code. A data request holds a token, a kind, who filed it and the vault's id of
//! the request (the vault keeps its deadlines and its answer).

use sea_query::{Expr, ExprTrait, Iden, Order, Query};

use super::{Database, StoreError, Transaction};

#[derive(Iden)]
enum LoginChallenges {
    Table,
    ChallengeId,
    PatientToken,
    PhoneDigest,
    CodeHash,
    CreatedAt,
    ExpiresAt,
    Attempts,
    UsedAt,
}

#[derive(Iden)]
enum DataRequests {
    Table,
    RequestId,
    PatientToken,
    Kind,
    FiledBy,
    FiledAt,
    State,
    VaultRequestId,
    Channel,
}

/// One sign-in challenge as stored.
#[derive(Clone, sqlx::FromRow)]
pub struct ChallengeRow {
    pub challenge_id: String,
    pub patient_token: Option<String>,
    pub phone_digest: Vec<u8>,
    pub code_hash: Vec<u8>,
    pub created_at: i64,
    pub expires_at: i64,
    pub attempts: i64,
    pub used_at: Option<i64>,
}

/// The digests are keyed, but they stay out of `Debug` all the same.
impl std::fmt::Debug for ChallengeRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChallengeRow")
            .field("challenge_id", &self.challenge_id)
            .field("created_at", &self.created_at)
            .field("expires_at", &self.expires_at)
            .field("attempts", &self.attempts)
            .field("used_at", &self.used_at)
            .finish_non_exhaustive()
    }
}

/// Whose challenges a rate limit counts.
pub enum Subject<'a> {
    Phone(&'a [u8]),
    Token(&'a str),
}

/// How many challenges a subject started since a time, and when the oldest of them was.
#[derive(Debug, Default, sqlx::FromRow)]
pub struct Window {
    pub count: i64,
    pub oldest: Option<i64>,
}

pub async fn insert_challenge(tx: &mut Transaction, c: &ChallengeRow) -> Result<(), StoreError> {
    tx.execute(
        &Query::insert()
            .into_table(LoginChallenges::Table)
            .columns([
                LoginChallenges::ChallengeId,
                LoginChallenges::PatientToken,
                LoginChallenges::PhoneDigest,
                LoginChallenges::CodeHash,
                LoginChallenges::CreatedAt,
                LoginChallenges::ExpiresAt,
                LoginChallenges::Attempts,
            ])
            .values_panic([
                c.challenge_id.clone().into(),
                c.patient_token.clone().into(),
                c.phone_digest.clone().into(),
                c.code_hash.clone().into(),
                c.created_at.into(),
                c.expires_at.into(),
                c.attempts.into(),
            ])
            .to_owned(),
    )
    .await?;
    Ok(())
}

/// Challenges the subject started after `since` (exclusive).
pub async fn started_since(
    tx: &mut Transaction,
    subject: &Subject<'_>,
    since: i64,
) -> Result<Window, StoreError> {
    let mut q = Query::select();
    q.expr_as(Expr::col(LoginChallenges::ChallengeId).count(), "count")
        .expr_as(Expr::col(LoginChallenges::CreatedAt).min(), "oldest")
        .from(LoginChallenges::Table)
        .and_where(Expr::col(LoginChallenges::CreatedAt).gt(since));
    match subject {
        Subject::Phone(digest) => {
            q.and_where(Expr::col(LoginChallenges::PhoneDigest).eq(digest.to_vec()));
        }
        Subject::Token(token) => {
            q.and_where(Expr::col(LoginChallenges::PatientToken).eq(*token));
        }
    }
    Ok(tx.fetch_optional(&q).await?.unwrap_or_default())
}

/// Forgets challenges created before `before`: their digests serve no limit any more.
pub async fn purge_challenges(tx: &mut Transaction, before: i64) -> Result<u64, StoreError> {
    tx.execute(
        &Query::delete()
            .from_table(LoginChallenges::Table)
            .and_where(Expr::col(LoginChallenges::CreatedAt).lt(before))
            .to_owned(),
    )
    .await
}

pub async fn challenge(
    db: &Database,
    challenge_id: &str,
) -> Result<Option<ChallengeRow>, StoreError> {
    db.fetch_optional(
        &Query::select()
            .columns([
                LoginChallenges::ChallengeId,
                LoginChallenges::PatientToken,
                LoginChallenges::PhoneDigest,
                LoginChallenges::CodeHash,
                LoginChallenges::CreatedAt,
                LoginChallenges::ExpiresAt,
                LoginChallenges::Attempts,
                LoginChallenges::UsedAt,
            ])
            .from(LoginChallenges::Table)
            .and_where(Expr::col(LoginChallenges::ChallengeId).eq(challenge_id))
            .to_owned(),
    )
    .await
}

/// Counts one wrong code against a challenge that is still open (unused, unexpired, under
/// `max_attempts`). Returns the attempts made so far, or `None` when the challenge was no
/// longer open (another request used or killed it meanwhile).
pub async fn count_wrong_attempt(
    db: &Database,
    challenge_id: &str,
    now: i64,
    max_attempts: i64,
) -> Result<Option<i64>, StoreError> {
    #[derive(sqlx::FromRow)]
    struct Attempts {
        attempts: i64,
    }
    let row: Option<Attempts> = db
        .fetch_optional(
            &Query::update()
                .table(LoginChallenges::Table)
                .value(
                    LoginChallenges::Attempts,
                    Expr::col(LoginChallenges::Attempts).add(1),
                )
                .and_where(Expr::col(LoginChallenges::ChallengeId).eq(challenge_id))
                .and_where(Expr::col(LoginChallenges::UsedAt).is_null())
                .and_where(Expr::col(LoginChallenges::ExpiresAt).gt(now))
                .and_where(Expr::col(LoginChallenges::Attempts).lt(max_attempts))
                .returning_col(LoginChallenges::Attempts)
                .to_owned(),
        )
        .await?;
    Ok(row.map(|r| r.attempts))
}

/// Marks an open challenge used. Returns whether this call did it: of two requests with the
/// right code, exactly one signs in.
pub async fn mark_used(
    db: &Database,
    challenge_id: &str,
    now: i64,
    max_attempts: i64,
) -> Result<bool, StoreError> {
    let n = db
        .execute(
            &Query::update()
                .table(LoginChallenges::Table)
                .value(LoginChallenges::UsedAt, now)
                .and_where(Expr::col(LoginChallenges::ChallengeId).eq(challenge_id))
                .and_where(Expr::col(LoginChallenges::UsedAt).is_null())
                .and_where(Expr::col(LoginChallenges::ExpiresAt).gt(now))
                .and_where(Expr::col(LoginChallenges::Attempts).lt(max_attempts))
                .to_owned(),
        )
        .await?;
    Ok(n == 1)
}

/// One data request as stored; `filed_by` is `patient` or a staff id. `vault_request_id` is
/// the vault's id of the forwarded request (none for rows filed before requests were
/// forwarded); `state` is the vault's state when it was filed (`filed` for those old rows,
/// `superseded` once the same kind was filed again and forwarded).
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct DataRequestRow {
    pub request_id: String,
    pub patient_token: String,
    pub kind: String,
    pub filed_by: String,
    pub filed_at: i64,
    pub state: String,
    pub vault_request_id: Option<String>,
    pub channel: String,
}

const DATA_REQUEST_COLUMNS: [DataRequests; 8] = [
    DataRequests::RequestId,
    DataRequests::PatientToken,
    DataRequests::Kind,
    DataRequests::FiledBy,
    DataRequests::FiledAt,
    DataRequests::State,
    DataRequests::VaultRequestId,
    DataRequests::Channel,
];

/// Records a request the vault accepted. A second deletion of one token hits a unique index
/// and comes back as [`StoreError::Conflict`].
pub async fn insert_data_request(
    tx: &mut Transaction,
    r: &DataRequestRow,
) -> Result<(), StoreError> {
    tx.execute(
        &Query::insert()
            .into_table(DataRequests::Table)
            .columns(DATA_REQUEST_COLUMNS)
            .values_panic([
                r.request_id.clone().into(),
                r.patient_token.clone().into(),
                r.kind.clone().into(),
                r.filed_by.clone().into(),
                r.filed_at.into(),
                r.state.clone().into(),
                r.vault_request_id.clone().into(),
                r.channel.clone().into(),
            ])
            .to_owned(),
    )
    .await?;
    Ok(())
}

/// Marks requests of a kind that were filed before forwarding existed (never reached the
/// vault) as superseded by the one just forwarded, so the app does not list them as waiting.
pub async fn supersede_unforwarded(
    tx: &mut Transaction,
    patient_token: &str,
    kind: &str,
) -> Result<u64, StoreError> {
    tx.execute(
        &Query::update()
            .table(DataRequests::Table)
            .value(DataRequests::State, "superseded")
            .and_where(Expr::col(DataRequests::PatientToken).eq(patient_token))
            .and_where(Expr::col(DataRequests::Kind).eq(kind))
            .and_where(Expr::col(DataRequests::VaultRequestId).is_null())
            .and_where(Expr::col(DataRequests::State).eq("filed"))
            .to_owned(),
    )
    .await
}

/// A token's data requests, newest first.
pub async fn data_requests_of(
    db: &Database,
    patient_token: &str,
) -> Result<Vec<DataRequestRow>, StoreError> {
    db.fetch_all(
        &Query::select()
            .columns(DATA_REQUEST_COLUMNS)
            .from(DataRequests::Table)
            .and_where(Expr::col(DataRequests::PatientToken).eq(patient_token))
            .order_by(DataRequests::FiledAt, Order::Desc)
            .order_by(DataRequests::RequestId, Order::Asc)
            .to_owned(),
    )
    .await
}

/// The deletion carried out for this token, if any.
pub async fn deletion_of(
    db: &Database,
    patient_token: &str,
) -> Result<Option<DataRequestRow>, StoreError> {
    db.fetch_optional(
        &Query::select()
            .columns(DATA_REQUEST_COLUMNS)
            .from(DataRequests::Table)
            .and_where(Expr::col(DataRequests::PatientToken).eq(patient_token))
            .and_where(Expr::col(DataRequests::Kind).eq("deletion"))
            .and_where(Expr::col(DataRequests::State).eq("completed"))
            .to_owned(),
    )
    .await
}

/// Deletes the sign-in challenges of a token and every challenge of the phones it signed in
/// with (matched by their keyed digests): the digests are derived from the phone, which the
/// patient asked to have deleted. Returns the rows deleted.
pub async fn delete_challenges_of(
    tx: &mut Transaction,
    patient_token: &str,
) -> Result<u64, StoreError> {
    #[derive(sqlx::FromRow)]
    struct Digest {
        phone_digest: Vec<u8>,
    }
    let digests: Vec<Digest> = tx
        .fetch_all(
            &Query::select()
                .distinct()
                .column(LoginChallenges::PhoneDigest)
                .from(LoginChallenges::Table)
                .and_where(Expr::col(LoginChallenges::PatientToken).eq(patient_token))
                .to_owned(),
        )
        .await?;
    let mut q = Query::delete();
    q.from_table(LoginChallenges::Table)
        .and_where(Expr::col(LoginChallenges::PatientToken).eq(patient_token));
    let mut deleted = tx.execute(&q).await?;
    for d in digests {
        deleted += tx
            .execute(
                &Query::delete()
                    .from_table(LoginChallenges::Table)
                    .and_where(Expr::col(LoginChallenges::PhoneDigest).eq(d.phone_digest))
                    .to_owned(),
            )
            .await?;
    }
    Ok(deleted)
}
