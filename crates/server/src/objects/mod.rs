//! Objects: the row an upload becomes, its typed state, the queries that find an object only for
//! whoever may see it, and the check of what S3 holds against what was issued.
//!
//! An upload row becomes the object (same id) once S3 holds a message whose header matches what
//! was issued: suite, the one EDK and key ARN, the context, the frame length, and a size the
//! declared plaintext size admits.

mod row;

pub use row::{ObjectRow, ObjectState, to_i64, to_u64};

use crate::db::Db;
use cipherdrop_api::{REQUEST_MAX_PENDING, REQUEST_MAX_PENDING_PER_SENDER};
use sqlx::FromRow;

use crate::accounts::token_hash;
use crate::db::now;
use crate::error::{ApiError, ApiResult};
use crate::quotas::{self, Quota};
use crate::state::AppState;

/// What a new upload row holds.
pub struct NewUpload<'a> {
    pub id: &'a str,
    pub owner_id: &'a str,
    pub s3_key: &'a str,
    pub s3_upload_id: &'a str,
    pub suite: u16,
    pub frame_length: u32,
    pub plaintext_size: u64,
    pub ciphertext_size: u64,
    pub part_size: u64,
    pub part_count: u32,
    pub key_arn: &'a str,
    pub edk: &'a [u8],
    /// The context as a JSON object.
    pub context_json: &'a str,
    /// A sender's upload: the request it comes by and its limits.
    pub request: Option<ForRequest<'a>>,
}

/// The request a sender's upload comes by.
pub struct ForRequest<'a> {
    pub id: &'a str,
    pub max_files: i64,
    pub max_bytes: i64,
    /// SHA-256 of the sender's secret for this upload.
    pub sender_hash: &'a [u8],
    /// The sender's network ([`crate::limiter::network_key`]).
    pub sender_net: &'a str,
}

/// Records a pending upload if the owner's usage with it stays within `quota`; whether it did.
/// The check and the insert are one statement under the owner's lock (see [`Db::lock_account`]),
/// so concurrent uploads on any replicas cannot pass a quota together.
///
/// The owner's own uploads count against the owner's pending limits; a sender's upload through
/// a file request counts against the request's instead (at most [`REQUEST_MAX_PENDING`] pending
/// per request, [`REQUEST_MAX_PENDING_PER_SENDER`] per sender network), so nobody holding a
/// request's link can fill the owner's pending places. Every upload, a sender's too, counts
/// against the owner's stored bytes.
pub async fn insert_pending(db: &Db, up: &NewUpload<'_>, quota: Quota) -> ApiResult<bool> {
    let size = to_i64(up.ciphertext_size)?;
    let mut tx = db.begin().await?;
    db.lock_account(&mut tx, up.owner_id).await?;
    let done = sqlx::query(
        "INSERT INTO objects (id, owner_id, state, s3_key, s3_upload_id, suite, frame_length,
            plaintext_size, ciphertext_size, part_size, part_count, key_arn, edk, context, created_at,
            request_id, sender_hash, sender_net)
         SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $24, $25, $28
         WHERE ($24 IS NOT NULL OR (
                (SELECT COUNT(*) FROM objects WHERE owner_id = $16 AND state = 'pending'
                    AND request_id IS NULL) < $17
                AND (SELECT COALESCE(SUM(ciphertext_size), 0) FROM objects
                     WHERE owner_id = $18 AND state = 'pending' AND request_id IS NULL) + $19 <= $20))
           AND (SELECT COALESCE(SUM(COALESCE(stored_size, ciphertext_size)), 0) FROM objects
                WHERE owner_id = $21 AND state IN ('pending', 'complete')) + $22 <= $23
           AND ($24 IS NULL OR (
                EXISTS (SELECT 1 FROM requests WHERE id = $24 AND closed_at IS NULL
                        AND expires_at > $15)
                AND (SELECT COUNT(*) FROM objects WHERE request_id = $24
                     AND state IN ('pending', 'complete')) < $26
                AND (SELECT COALESCE(SUM(COALESCE(stored_size, ciphertext_size)), 0) FROM objects
                     WHERE request_id = $24 AND state IN ('pending', 'complete')) + $19 <= $27
                AND (SELECT COUNT(*) FROM objects WHERE request_id = $24
                     AND state = 'pending') < $29
                AND (SELECT COUNT(*) FROM objects WHERE request_id = $24
                     AND state = 'pending' AND sender_net = $28) < $30))",
    )
    .bind(up.id)
    .bind(up.owner_id)
    .bind(ObjectState::Pending.as_str())
    .bind(up.s3_key)
    .bind(up.s3_upload_id)
    .bind(i64::from(up.suite))
    .bind(i64::from(up.frame_length))
    .bind(to_i64(up.plaintext_size)?)
    .bind(size)
    .bind(to_i64(up.part_size)?)
    .bind(i64::from(up.part_count))
    .bind(up.key_arn)
    .bind(up.edk)
    .bind(up.context_json)
    .bind(now())
    .bind(up.owner_id)
    .bind(quotas::sql(quota.pending_uploads))
    .bind(up.owner_id)
    .bind(size)
    .bind(quotas::sql(quota.pending_bytes))
    .bind(up.owner_id)
    .bind(size)
    .bind(quotas::sql(quota.stored_bytes))
    .bind(up.request.as_ref().map(|r| r.id))
    .bind(up.request.as_ref().map(|r| r.sender_hash))
    .bind(up.request.as_ref().map_or(0, |r| r.max_files))
    .bind(up.request.as_ref().map_or(0, |r| r.max_bytes))
    .bind(up.request.as_ref().map(|r| r.sender_net))
    .bind(i64::from(REQUEST_MAX_PENDING))
    .bind(i64::from(REQUEST_MAX_PENDING_PER_SENDER))
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(done.rows_affected() == 1)
}

/// Pending uploads of request `request_id`: all of them, and those from network `net`.
pub async fn pending_for_request(db: &Db, request_id: &str, net: &str) -> ApiResult<(u32, u32)> {
    let (all, from): (i64, i64) = sqlx::query_as(
        "SELECT COUNT(*), COALESCE(SUM(CASE WHEN sender_net = $1 THEN 1 ELSE 0 END), 0)
         FROM objects WHERE request_id = $2 AND state = 'pending'",
    )
    .bind(net)
    .bind(request_id)
    .fetch_one(db)
    .await?;
    Ok((crate::shares::to_u32(all), crate::shares::to_u32(from)))
}

/// The pending uploads of the owner's request `request_id`, oldest first.
pub async fn list_arriving(db: &Db, owner_id: &str, request_id: &str) -> ApiResult<Vec<ObjectRow>> {
    Ok(sqlx::query_as(
        "SELECT * FROM objects WHERE owner_id = $1 AND request_id = $2 AND state = $3
         ORDER BY created_at, id",
    )
    .bind(owner_id)
    .bind(request_id)
    .bind(ObjectState::Pending.as_str())
    .fetch_all(db)
    .await?)
}

/// The owner's row in any state (404 for anyone else's, so ids do not leak).
pub async fn owned(db: &Db, owner_id: &str, id: &str) -> ApiResult<ObjectRow> {
    let row: Option<ObjectRow> = sqlx::query_as("SELECT * FROM objects WHERE id = $1")
        .bind(id)
        .fetch_optional(db)
        .await?;
    match row {
        Some(r) if r.owner_id == owner_id => Ok(r),
        _ => Err(ApiError::not_found("object or upload")),
    }
}

/// A sender's pending or ended upload, found by its id and the sender's secret (404 for any
/// other pair, so neither ids nor secrets can be probed).
pub async fn for_sender(db: &Db, id: &str, secret: &str) -> ApiResult<ObjectRow> {
    sqlx::query_as(
        "SELECT * FROM objects WHERE id = $1 AND sender_hash = $2 AND request_id IS NOT NULL",
    )
    .bind(id)
    .bind(crate::accounts::token_hash(secret))
    .fetch_optional(db)
    .await?
    .ok_or_else(|| {
        ApiError::new(
            axum::http::StatusCode::NOT_FOUND,
            cipherdrop_api::ErrorCode::UploadNotFound,
            "no such upload for this sender's secret",
        )
    })
}

/// The owner's complete object (404 otherwise).
pub async fn owned_complete(db: &Db, owner_id: &str, id: &str) -> ApiResult<ObjectRow> {
    sqlx::query_as("SELECT * FROM objects WHERE id = $1 AND owner_id = $2 AND state = $3")
        .bind(id)
        .bind(owner_id)
        .bind(ObjectState::Complete.as_str())
        .fetch_optional(db)
        .await?
        .ok_or_else(|| ApiError::not_found("object"))
}

/// A complete object by id, whoever owns it: only for callers that already hold another right
/// to it (a share link).
pub async fn complete_by_id(db: &Db, id: &str) -> ApiResult<Option<ObjectRow>> {
    Ok(
        sqlx::query_as("SELECT * FROM objects WHERE id = $1 AND state = $2")
            .bind(id)
            .bind(ObjectState::Complete.as_str())
            .fetch_optional(db)
            .await?,
    )
}

/// The owner's complete objects, newest first.
pub async fn list_complete(db: &Db, owner_id: &str) -> ApiResult<Vec<ObjectRow>> {
    Ok(sqlx::query_as(
        "SELECT * FROM objects WHERE owner_id = $1 AND state = $2 ORDER BY completed_at DESC, id",
    )
    .bind(owner_id)
    .bind(ObjectState::Complete.as_str())
    .fetch_all(db)
    .await?)
}

/// The owner's complete objects that arrived through request `request_id`, newest first.
pub async fn list_arrived(db: &Db, owner_id: &str, request_id: &str) -> ApiResult<Vec<ObjectRow>> {
    Ok(sqlx::query_as(
        "SELECT * FROM objects WHERE owner_id = $1 AND request_id = $2 AND state = $3
         ORDER BY completed_at DESC, id",
    )
    .bind(owner_id)
    .bind(request_id)
    .bind(ObjectState::Complete.as_str())
    .fetch_all(db)
    .await?)
}

/// An object row with its owner's name, as key release reads it.
#[derive(FromRow)]
pub struct SessionOwned {
    #[sqlx(flatten)]
    pub row: ObjectRow,
    pub username: String,
}

/// The complete object `id` if the live session `token` belongs to its owner: session and
/// ownership in one query (the hot path of key release).
pub async fn complete_for_session(
    db: &Db,
    token: &str,
    id: &str,
) -> ApiResult<Option<SessionOwned>> {
    Ok(sqlx::query_as(
        "SELECT o.*, u.username FROM sessions s
         JOIN users u ON u.id = s.user_id
         JOIN objects o ON o.owner_id = u.id
         WHERE s.token_hash = $1 AND s.expires_at > $2 AND o.id = $3 AND o.state = $4",
    )
    .bind(token_hash(token))
    .bind(now())
    .bind(id)
    .bind(ObjectState::Complete.as_str())
    .fetch_optional(db)
    .await?)
}

/// Moves `id` from `from` to `to`; whether this call made the change.
pub async fn transition(db: &Db, id: &str, from: ObjectState, to: ObjectState) -> ApiResult<bool> {
    let done = sqlx::query("UPDATE objects SET state = $1 WHERE id = $2 AND state = $3")
        .bind(to.as_str())
        .bind(id)
        .bind(from.as_str())
        .execute(db)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Replaces a complete object's encrypted metadata (its owner's page re-sealed it); whether it
/// was there to change.
pub async fn set_metadata(db: &Db, owner_id: &str, id: &str, metadata: &[u8]) -> ApiResult<bool> {
    let done = sqlx::query(
        "UPDATE objects SET metadata = $1 WHERE id = $2 AND owner_id = $3 AND state = $4",
    )
    .bind(metadata)
    .bind(id)
    .bind(owner_id)
    .bind(ObjectState::Complete.as_str())
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Records a verified completion of a pending upload; `false` when the row was no longer pending
/// (an abort or the sweeper got there first).
pub async fn mark_complete(
    db: &Db,
    id: &str,
    metadata: &[u8],
    stored_size: u64,
) -> ApiResult<bool> {
    let done = sqlx::query(
        "UPDATE objects SET state = $1, metadata = $2, stored_size = $3, completed_at = $4
         WHERE id = $5 AND state = $6",
    )
    .bind(ObjectState::Complete.as_str())
    .bind(metadata)
    .bind(to_i64(stored_size)?)
    .bind(now())
    .bind(id)
    .bind(ObjectState::Pending.as_str())
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Whether a stored object is in use: a complete file names it, or a key rotation keeps it (the
/// object a file moved away from, or the one it is moving to).
pub async fn key_in_use(db: &Db, s3_key: &str) -> ApiResult<bool> {
    let n: i64 = sqlx::query_scalar(
        "SELECT (SELECT COUNT(*) FROM objects WHERE s3_key = $1 AND state = $2)
              + (SELECT COUNT(*) FROM retired_objects WHERE s3_key = $1)
              + (SELECT COUNT(*) FROM rekey_moves WHERE new_s3_key = $1)",
    )
    .bind(s3_key)
    .bind(ObjectState::Complete.as_str())
    .fetch_one(db)
    .await?;
    Ok(n > 0)
}

/// Forgets an object (after S3 deleted it). A link to several files that led with it moves on
/// to its next file first (the object's other links go with it).
pub async fn delete_row(db: &Db, id: &str) -> ApiResult<()> {
    const NEXT: &str = "FROM share_items i WHERE i.share_id = shares.id AND i.object_id <> $1
                        ORDER BY i.position LIMIT 1";
    sqlx::query(&format!(
        "UPDATE shares SET object_id = (SELECT i.object_id {NEXT}),
                           sealed_key = (SELECT i.sealed_key {NEXT})
         WHERE object_id = $1 AND EXISTS (SELECT 1 {NEXT})"
    ))
    .bind(id)
    .execute(db)
    .await?;
    sqlx::query("DELETE FROM objects WHERE id = $1")
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}

/// Marks a complete object for deletion by the sweeper at `at` (Unix seconds).
pub async fn delete_at(db: &Db, id: &str, at: i64) -> ApiResult<()> {
    sqlx::query("UPDATE objects SET delete_at = $1 WHERE id = $2")
        .bind(at)
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}

/// The key of an object in S3, with its id.
#[derive(FromRow)]
pub struct S3Ref {
    pub id: String,
    pub s3_key: String,
    pub s3_upload_id: String,
}

/// Pending uploads created at or before `cutoff`, at most `limit`.
pub async fn abandoned(db: &Db, cutoff: i64, limit: i64) -> ApiResult<Vec<S3Ref>> {
    Ok(sqlx::query_as(
        "SELECT id, s3_key, s3_upload_id FROM objects WHERE state = $1 AND created_at <= $2 LIMIT $3",
    )
    .bind(ObjectState::Pending.as_str())
    .bind(cutoff)
    .bind(limit)
    .fetch_all(db)
    .await?)
}

/// Complete objects whose deletion time has come, at most `limit`.
pub async fn due_for_deletion(db: &Db, limit: i64) -> ApiResult<Vec<S3Ref>> {
    Ok(sqlx::query_as(
        "SELECT id, s3_key, s3_upload_id FROM objects
         WHERE state = $1 AND delete_at IS NOT NULL AND delete_at <= $2 LIMIT $3",
    )
    .bind(ObjectState::Complete.as_str())
    .bind(now())
    .bind(limit)
    .fetch_all(db)
    .await?)
}

/// Aborts a pending upload in S3 and marks it aborted; `false` when the row was no longer
/// pending (a completion got there first, and the object stands).
pub async fn abort_pending(state: &AppState, up: &S3Ref) -> ApiResult<bool> {
    state
        .aws
        .abort_multipart(&state.config.bucket, &up.s3_key, &up.s3_upload_id)
        .await?;
    transition(
        &state.db,
        &up.id,
        ObjectState::Pending,
        ObjectState::Aborted,
    )
    .await
}
