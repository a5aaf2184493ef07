//! Share links: the row, the rules a link's settings follow, why a link can give no key now,
//! and the queries, including the one atomic check-and-count of a release.
//!
//! Only SHA-256 of a token is stored, and tokens travel in request bodies, never in URLs (a link
//! carries its token in the fragment). The data key is stored only sealed under the link's key,
//! which the server never sees, and that sealed key only encrypted by KMS under
//! [`ShareRow::kms_context`]; links made before sealed keys existed are retired. Every
//! release is one conditional `UPDATE … downloads = downloads + 1 … RETURNING` (SQLite runs one
//! writer at a time, so concurrent requests can never pass the limit); a release that then fails
//! gives the download back.

use axum::http::StatusCode;
use cipherdrop_api::ErrorCode;
use std::collections::HashMap;

use crate::db::Db;
use cipherdrop_api::{
    CONTEXT_OBJECT, CONTEXT_OWNER, CONTEXT_SHARE, SHARE_DEFAULT_SECS, SHARE_MAX_DOWNLOADS,
    SHARE_MAX_SECS, SHARE_MIN_SECS, ShareSummary,
};
use sqlx::FromRow;

use crate::accounts::token_hash;
use crate::db::now;
use crate::error::{ApiError, ApiResult};

/// The context key naming the files of a link to several files (the digest of their ids).
pub const CONTEXT_FILES: &str = "cipherdrop:files";

/// The digest a set key's context names: SHA-256 (hex) over the file ids in order, each ended
/// by a newline.
pub fn set_digest<'a>(object_ids: impl IntoIterator<Item = &'a str>) -> String {
    use sha2::Digest as _;
    let mut h = sha2::Sha256::new();
    for id in object_ids {
        h.update(id.as_bytes());
        h.update(b"\n");
    }
    hex::encode(h.finalize())
}

/// Longest note, in characters.
pub const MAX_NOTE: usize = 1000;

/// One row of `shares`.
#[derive(FromRow)]
pub struct ShareRow {
    pub id: String,
    pub object_id: String,
    pub owner_id: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub max_downloads: Option<i64>,
    pub downloads: i64,
    pub passphrase_hash: Option<String>,
    pub note: Option<String>,
    /// 1: the file is deleted after the link's last download (0/1, as both back ends store it).
    pub delete_after_last: i64,
    pub metadata: Option<Vec<u8>>,
    pub revoked_at: Option<i64>,
    /// The link-sealed data key, encrypted by KMS; `None` for a retired old-form link.
    pub sealed_key: Option<Vec<u8>>,
    /// When it last released a key.
    pub last_used_at: Option<i64>,
    /// Downloads the owner has seen (the rest are new to them).
    pub seen_downloads: i64,
    /// Files of a link to several files (0 for a link to one; counted by the queries that list
    /// links for their owner).
    #[sqlx(default)]
    pub files: i64,
    /// A link to several files: the KMS ciphertext of its set key (see
    /// [`cipherdrop_core::share_set`]); `None` for a link to one file, or a set made before set
    /// keys (each item then KMS-encrypted on its own).
    #[sqlx(default)]
    pub set_key: Option<Vec<u8>>,
    /// The key ARN that issued `set_key`.
    #[sqlx(default)]
    pub set_key_arn: Option<String>,
    /// SHA-256 (hex) of the set's file ids, in order, as `set_key`'s context names them.
    #[sqlx(default)]
    pub set_digest: Option<String>,
    /// 1: the recipient's page offers to open the file and no save button.
    #[sqlx(default)]
    pub view_only: i64,
}

/// One file of a link to several files.
#[derive(FromRow)]
pub struct ItemRow {
    /// The file.
    pub object_id: String,
    /// Its link-sealed data key, encrypted by KMS under the link's context for this file.
    pub sealed_key: Vec<u8>,
    /// Its name and type sealed under the link key.
    pub metadata: Vec<u8>,
}

/// The count of a link's files, as a column of `shares s`.
pub(crate) const FILES: &str =
    "(SELECT COUNT(*) FROM share_items i WHERE i.share_id = s.id) AS files";

/// A database count as `u32` (saturating).
pub fn to_u32(v: i64) -> u32 {
    u32::try_from(v.max(0)).unwrap_or(u32::MAX)
}

impl ShareRow {
    /// As the owner sees it.
    pub fn summary(&self) -> ShareSummary {
        ShareSummary {
            id: self.id.clone(),
            object_id: self.object_id.clone(),
            created_at: self.created_at,
            expires_at: self.expires_at,
            max_downloads: self.max_downloads.map(to_u32),
            downloads: to_u32(self.downloads),
            has_passphrase: self.passphrase_hash.is_some(),
            note: self.note.clone(),
            delete_after_last: self.delete_after_last != 0,
            revoked_at: self.revoked_at,
            retired: self.sealed_key.is_none(),
            last_used_at: self.last_used_at,
            new_downloads: to_u32(self.downloads - self.seen_downloads),
            files: to_u32(self.files.max(1)),
            view_only: self.view_only != 0,
        }
    }

    /// The KMS encryption context of the link's sealed key: the object, its owner, the link.
    pub fn kms_context(&self) -> HashMap<String, String> {
        self.context_for(&self.object_id)
    }

    /// The KMS encryption context of the link's sealed key for `object_id` (one of its files).
    pub fn context_for(&self, object_id: &str) -> HashMap<String, String> {
        link_context(object_id, &self.owner_id, &self.id)
    }

    /// The KMS encryption context of a set key: the link, its owner, and the digest of its files.
    pub fn set_context(&self, digest: &str) -> HashMap<String, String> {
        HashMap::from([
            (CONTEXT_OWNER.to_owned(), self.owner_id.clone()),
            (CONTEXT_SHARE.to_owned(), self.id.clone()),
            (CONTEXT_FILES.to_owned(), digest.to_owned()),
        ])
    }

    /// Downloads left, if the link has a limit.
    pub fn remaining(&self) -> Option<u32> {
        self.max_downloads
            .map(|m| to_u32(m.saturating_sub(self.downloads)))
    }

    /// Why the link can give no key now, if it cannot.
    pub fn refusal(&self) -> Option<ApiError> {
        if self.revoked_at.is_some() {
            Some(ApiError::new(
                StatusCode::GONE,
                ErrorCode::ShareRevoked,
                "this link was revoked by the person who shared it",
            ))
        } else if self.sealed_key.is_none() {
            Some(ApiError::new(
                StatusCode::GONE,
                ErrorCode::ShareRetired,
                "this link is in an old form that let the server alone decrypt the file, so it was \
                 retired: ask the person who shared it for a new link",
            ))
        } else if self.expires_at <= now() {
            Some(ApiError::new(
                StatusCode::GONE,
                ErrorCode::ShareExpired,
                "this link has expired",
            ))
        } else if self.remaining() == Some(0) {
            Some(ApiError::new(
                StatusCode::GONE,
                ErrorCode::ShareExhausted,
                "this link has been used as many times as allowed",
            ))
        } else {
            None
        }
    }
}

/// A lifetime in seconds (`default` when `None`) within `min..=max`; `what` ("a link") and
/// `longest` ("30 days") word the refusal.
pub fn lifetime_within(
    secs: Option<i64>,
    (default, min, max): (i64, i64, i64),
    what: &str,
    longest: &str,
) -> ApiResult<i64> {
    let secs = secs.unwrap_or(default);
    if !(min..=max).contains(&secs) {
        return Err(ApiError::bad_request(format!(
            "{what} lasts from {min} seconds (1 hour) to {max} seconds ({longest})"
        )));
    }
    Ok(secs)
}

/// A link's lifetime in seconds (the default when `None`), within the allowed range.
pub fn lifetime(secs: Option<i64>) -> ApiResult<i64> {
    lifetime_within(
        secs,
        (SHARE_DEFAULT_SECS, SHARE_MIN_SECS, SHARE_MAX_SECS),
        "a link",
        "30 days",
    )
}

/// A download limit, within the allowed range.
pub fn limit(max: Option<u32>) -> ApiResult<Option<i64>> {
    match max {
        None => Ok(None),
        Some(n) if (1..=SHARE_MAX_DOWNLOADS).contains(&n) => Ok(Some(i64::from(n))),
        Some(_) => Err(ApiError::bad_request(format!(
            "a download limit is 1 to {SHARE_MAX_DOWNLOADS}"
        ))),
    }
}

/// A download limit for the audit log.
pub fn limit_text(max: Option<i64>) -> String {
    max.map_or("none".to_owned(), |m| m.to_string())
}

/// The owner's link (404 for anyone else's).
pub async fn owned(db: &Db, owner_id: &str, id: &str) -> ApiResult<ShareRow> {
    sqlx::query_as::<_, ShareRow>(&format!(
        "SELECT s.*, {FILES} FROM shares s WHERE s.id = $1 AND s.owner_id = $2"
    ))
    .bind(id)
    .bind(owner_id)
    .fetch_optional(db)
    .await?
    .ok_or_else(|| ApiError::not_found("share"))
}

/// The link whose token this is (404 otherwise).
pub async fn by_token(db: &Db, token: &str) -> ApiResult<ShareRow> {
    sqlx::query_as::<_, ShareRow>("SELECT * FROM shares WHERE token_hash = $1")
        .bind(token_hash(token))
        .fetch_optional(db)
        .await?
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                ErrorCode::ShareNotFound,
                "no such link: check that it was copied whole",
            )
        })
}

/// The KMS encryption context of link `share_id`'s sealed key for `object_id`, owned by
/// `owner_id`.
pub fn link_context(object_id: &str, owner_id: &str, share_id: &str) -> HashMap<String, String> {
    HashMap::from([
        (CONTEXT_OBJECT.to_owned(), object_id.to_owned()),
        (CONTEXT_OWNER.to_owned(), owner_id.to_owned()),
        (CONTEXT_SHARE.to_owned(), share_id.to_owned()),
    ])
}

/// An object's links (its own, and links to several files that include it), newest first.
pub async fn for_object(db: &Db, object_id: &str) -> ApiResult<Vec<ShareRow>> {
    Ok(sqlx::query_as::<_, ShareRow>(&format!(
        "SELECT s.*, {FILES} FROM shares s
         WHERE s.object_id = $1
            OR EXISTS (SELECT 1 FROM share_items i WHERE i.share_id = s.id AND i.object_id = $1)
         ORDER BY s.created_at DESC, s.id DESC"
    ))
    .bind(object_id)
    .fetch_all(db)
    .await?)
}

/// The files of link `share_id` that still exist, in order (empty for a link to one file).
pub async fn items(db: &Db, share_id: &str) -> ApiResult<Vec<ItemRow>> {
    Ok(sqlx::query_as::<_, ItemRow>(
        "SELECT i.object_id, i.sealed_key, i.metadata FROM share_items i
         JOIN objects o ON o.id = i.object_id AND o.state = 'complete'
         WHERE i.share_id = $1 ORDER BY i.position",
    )
    .bind(share_id)
    .fetch_all(db)
    .await?)
}

/// Stores a new link under the hash of `token`, with its files (a link to several files), in
/// one transaction: a request cut off half-way leaves no link, never one that gives its first
/// file alone.
///
/// `wrapped_under`: the key ARN KMS encrypted the link's own sealed key under (the file's key
/// when it was read). If a key rotation has moved the file since, nothing is stored and the
/// answer is `false`: encrypt again under the file's key now. The check and the insert are one
/// step under the owner's lock, which a rotation's switch takes too.
pub async fn insert(
    db: &Db,
    row: &ShareRow,
    token: &str,
    items: &[(String, Vec<u8>, Vec<u8>)],
    wrapped_under: Option<&str>,
) -> ApiResult<bool> {
    let mut tx = db.begin().await?;
    db.lock_account(&mut tx, &row.owner_id).await?;
    let stored = sqlx::query(
        "INSERT INTO shares (id, token_hash, object_id, owner_id, created_at, expires_at,
            max_downloads, passphrase_hash, note, delete_after_last, metadata, sealed_key,
            set_key, set_key_arn, set_digest, view_only)
         SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $17
         WHERE $16 IS NULL OR EXISTS (SELECT 1 FROM objects WHERE id = $3 AND key_arn = $16)",
    )
    .bind(&row.id)
    .bind(token_hash(token))
    .bind(&row.object_id)
    .bind(&row.owner_id)
    .bind(row.created_at)
    .bind(row.expires_at)
    .bind(row.max_downloads)
    .bind(&row.passphrase_hash)
    .bind(&row.note)
    .bind(row.delete_after_last)
    .bind(&row.metadata)
    .bind(&row.sealed_key)
    .bind(&row.set_key)
    .bind(&row.set_key_arn)
    .bind(&row.set_digest)
    .bind(wrapped_under)
    .bind(row.view_only)
    .execute(&mut *tx)
    .await
    .map_err(|e| match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => {
            ApiError::conflict("a link with this id exists; make the link again")
        }
        _ => e.into(),
    })?;
    if stored.rows_affected() == 0 {
        return Ok(false);
    }
    for (position, (object_id, sealed_key, metadata)) in items.iter().enumerate() {
        sqlx::query(
            "INSERT INTO share_items (share_id, position, object_id, sealed_key, metadata)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&row.id)
        .bind(i64::try_from(position).unwrap_or(i64::MAX))
        .bind(object_id)
        .bind(sealed_key)
        .bind(metadata)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(true)
}

/// Sets a live link's expiry and limit, unless the limit would drop below what concurrent
/// releases have taken meanwhile; whether it changed.
pub async fn update_terms(db: &Db, row: &ShareRow) -> ApiResult<bool> {
    let done = sqlx::query(
        "UPDATE shares SET expires_at = $1, max_downloads = $2
         WHERE id = $3 AND revoked_at IS NULL AND ($4 IS NULL OR downloads <= $5)",
    )
    .bind(row.expires_at)
    .bind(row.max_downloads)
    .bind(&row.id)
    .bind(row.max_downloads)
    .bind(row.max_downloads)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Revokes a link (a no-op if it already is).
pub async fn revoke(db: &Db, id: &str) -> ApiResult<()> {
    sqlx::query("UPDATE shares SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
        .bind(now())
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}

/// The count after a release: downloads so far and the limit.
pub struct Taken {
    /// Downloads including this one.
    pub downloads: i64,
    /// The limit, if any.
    pub max: Option<i64>,
}

/// The one atomic check-and-count: takes a download if the link is live and under its limit.
pub async fn take_download(db: &Db, id: &str) -> ApiResult<Option<Taken>> {
    let taken: Option<(i64, Option<i64>)> = sqlx::query_as(
        "UPDATE shares SET downloads = downloads + 1, last_used_at = $2
         WHERE id = $1 AND revoked_at IS NULL AND expires_at > $2 AND sealed_key IS NOT NULL
           AND (max_downloads IS NULL OR downloads < max_downloads)
         RETURNING downloads, max_downloads",
    )
    .bind(id)
    .bind(now())
    .fetch_optional(db)
    .await?;
    Ok(taken.map(|(downloads, max)| Taken { downloads, max }))
}

/// Downloads through `owner_id`'s links that they have not seen yet, by object (only objects
/// with some).
pub async fn unseen_by_object(db: &Db, owner_id: &str) -> ApiResult<HashMap<String, u32>> {
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT object_id, CAST(SUM(downloads - seen_downloads) AS BIGINT) FROM shares
         WHERE owner_id = $1 AND downloads > seen_downloads GROUP BY object_id",
    )
    .bind(owner_id)
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(|(o, n)| (o, to_u32(n))).collect())
}

/// Marks every download through the links of `owner_id`'s object `object_id` as seen.
pub async fn mark_seen(db: &Db, owner_id: &str, object_id: &str) -> ApiResult<()> {
    sqlx::query(
        "UPDATE shares SET seen_downloads = downloads
         WHERE object_id = $1 AND owner_id = $2 AND seen_downloads <> downloads",
    )
    .bind(object_id)
    .bind(owner_id)
    .execute(db)
    .await?;
    Ok(())
}

/// Gives back a download whose release failed.
pub async fn give_back(db: &Db, id: &str) -> ApiResult<()> {
    sqlx::query("UPDATE shares SET downloads = downloads - 1 WHERE id = $1 AND downloads > 0")
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}
