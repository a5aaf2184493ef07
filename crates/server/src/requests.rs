//! File requests: the row, the rules a request's settings follow, why a request takes no file
//! now, what it holds, and the queries. A request's link carries its token in the fragment
//! (`/r/#t=…`); only SHA-256 of the token is stored, and tokens travel in request bodies. What a
//! request holds is counted from its objects (pending and complete), so an aborted or swept
//! upload gives its place back by itself.

use axum::http::StatusCode;
use cipherdrop_api::ErrorCode;
use cipherdrop_api::{
    REQUEST_DEFAULT_SECS, REQUEST_MAX_FILES, REQUEST_MAX_MESSAGE, REQUEST_MAX_SECS,
    REQUEST_MAX_TITLE, REQUEST_MIN_SECS, RequestSummary,
};
use sqlx::FromRow;

use crate::accounts::token_hash;
use crate::db::{Db, now};
use crate::error::{ApiError, ApiResult};
use crate::objects::to_u64;
use crate::shares::to_u32;

/// One row of `requests`, with what it holds.
#[derive(FromRow)]
pub struct RequestRow {
    pub id: String,
    pub owner_id: String,
    pub title: String,
    pub message: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
    pub closed_at: Option<i64>,
    pub max_files: i64,
    pub max_bytes: i64,
    pub passphrase_hash: Option<String>,
    /// 0/1, as both back ends store flags.
    pub ask_sender: i64,
    /// Files received or arriving.
    #[sqlx(default)]
    pub files: i64,
    /// Bytes they hold.
    #[sqlx(default)]
    pub bytes: i64,
    /// Files completed since `seen_at`.
    #[sqlx(default)]
    pub new_files: i64,
    /// Uploads under way.
    #[sqlx(default)]
    pub pending: i64,
}

/// The columns of `requests r` with what each holds.
const HOLDS: &str = "r.*,
    (SELECT COUNT(*) FROM objects o WHERE o.request_id = r.id
        AND o.state IN ('pending', 'complete')) AS files,
    (SELECT CAST(COALESCE(SUM(COALESCE(o.stored_size, o.ciphertext_size)), 0) AS BIGINT)
        FROM objects o WHERE o.request_id = r.id AND o.state IN ('pending', 'complete')) AS bytes,
    (SELECT COUNT(*) FROM objects o WHERE o.request_id = r.id AND o.state = 'complete'
        AND o.completed_at > r.seen_at) AS new_files,
    (SELECT COUNT(*) FROM objects o WHERE o.request_id = r.id AND o.state = 'pending') AS pending";

impl RequestRow {
    /// As the owner sees it.
    pub fn summary(&self) -> RequestSummary {
        RequestSummary {
            id: self.id.clone(),
            title: self.title.clone(),
            message: self.message.clone(),
            created_at: self.created_at,
            expires_at: self.expires_at,
            closed_at: self.closed_at,
            max_files: to_u32(self.max_files),
            max_bytes: to_u64(self.max_bytes),
            files: to_u32(self.files),
            bytes: to_u64(self.bytes),
            has_passphrase: self.passphrase_hash.is_some(),
            ask_sender: self.ask_sender != 0,
            new_files: to_u32(self.new_files),
            pending: to_u32(self.pending),
        }
    }

    /// Files it still takes.
    pub fn files_left(&self) -> u32 {
        to_u32(self.max_files - self.files)
    }

    /// Bytes it still takes.
    pub fn bytes_left(&self) -> u64 {
        to_u64(self.max_bytes - self.bytes)
    }

    /// Why the request takes no file now because it is closed or expired, if it is.
    pub fn ended(&self) -> Option<ApiError> {
        self.refusal().filter(|e| e.code != ErrorCode::RequestFull)
    }

    /// Why the request takes no file now, if it takes none.
    pub fn refusal(&self) -> Option<ApiError> {
        if self.closed_at.is_some() {
            Some(ApiError::new(
                StatusCode::GONE,
                ErrorCode::RequestClosed,
                "this request was closed by the person who made it",
            ))
        } else if self.expires_at <= now() {
            Some(ApiError::new(
                StatusCode::GONE,
                ErrorCode::RequestExpired,
                "this request has expired",
            ))
        } else if self.files_left() == 0 || self.bytes_left() == 0 {
            Some(ApiError::new(
                StatusCode::GONE,
                ErrorCode::RequestFull,
                "this request has received all the files it takes",
            ))
        } else {
            None
        }
    }
}

/// A request's lifetime in seconds (the default when `None`), within the allowed range.
pub fn lifetime(secs: Option<i64>) -> ApiResult<i64> {
    crate::shares::lifetime_within(
        secs,
        (REQUEST_DEFAULT_SECS, REQUEST_MIN_SECS, REQUEST_MAX_SECS),
        "a request",
        "90 days",
    )
}

/// A title, trimmed, within its length.
pub fn title(t: &str) -> ApiResult<String> {
    let t = t.trim();
    if t.is_empty() || t.chars().count() > REQUEST_MAX_TITLE {
        return Err(ApiError::bad_request(format!(
            "a title has 1 to {REQUEST_MAX_TITLE} characters"
        )));
    }
    Ok(t.to_owned())
}

/// A message (none when blank), within its length.
pub fn message(m: Option<&str>) -> ApiResult<Option<String>> {
    let m = m.map(str::trim).filter(|m| !m.is_empty());
    if m.is_some_and(|m| m.chars().count() > REQUEST_MAX_MESSAGE) {
        return Err(ApiError::bad_request(format!(
            "a message has at most {REQUEST_MAX_MESSAGE} characters"
        )));
    }
    Ok(m.map(str::to_owned))
}

/// The file and byte limits, within range.
pub fn limits(max_files: u32, max_bytes: u64) -> ApiResult<(i64, i64)> {
    if !(1..=REQUEST_MAX_FILES).contains(&max_files) {
        return Err(ApiError::bad_request(format!(
            "a request takes 1 to {REQUEST_MAX_FILES} files"
        )));
    }
    let bytes = i64::try_from(max_bytes)
        .ok()
        .filter(|b| *b >= 1)
        .ok_or_else(|| ApiError::bad_request("a request takes at least 1 byte"))?;
    Ok((i64::from(max_files), bytes))
}

/// What a new request holds before it is stored.
pub struct NewRequest<'a> {
    pub id: &'a str,
    pub owner_id: &'a str,
    pub title: &'a str,
    pub message: Option<&'a str>,
    pub expires_at: i64,
    pub max_files: i64,
    pub max_bytes: i64,
    pub passphrase_hash: Option<&'a str>,
    pub ask_sender: bool,
}

/// Stores a new request under the hash of `token`, unless the owner already has `max_open`
/// open ones: the count and the insert are one statement under the owner's lock. Whether it
/// was stored.
pub async fn insert(db: &Db, r: &NewRequest<'_>, token: &str, max_open: i64) -> ApiResult<bool> {
    let mut tx = db.begin().await?;
    db.lock_account(&mut tx, r.owner_id).await?;
    let t = now();
    let done = sqlx::query(
        "INSERT INTO requests (id, token_hash, owner_id, title, message, created_at, expires_at,
            max_files, max_bytes, passphrase_hash, ask_sender)
         SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11
         WHERE (SELECT COUNT(*) FROM requests WHERE owner_id = $3 AND closed_at IS NULL
                AND expires_at > $6) < $12",
    )
    .bind(r.id)
    .bind(token_hash(token))
    .bind(r.owner_id)
    .bind(r.title)
    .bind(r.message)
    .bind(t)
    .bind(r.expires_at)
    .bind(r.max_files)
    .bind(r.max_bytes)
    .bind(r.passphrase_hash)
    .bind(i64::from(r.ask_sender))
    .bind(max_open)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(done.rows_affected() == 1)
}

/// The owner's request (404 for anyone else's).
pub async fn owned(db: &Db, owner_id: &str, id: &str) -> ApiResult<RequestRow> {
    sqlx::query_as::<_, RequestRow>(&format!(
        "SELECT {HOLDS} FROM requests r WHERE r.id = $1 AND r.owner_id = $2"
    ))
    .bind(id)
    .bind(owner_id)
    .fetch_optional(db)
    .await?
    .ok_or_else(|| ApiError::not_found("request"))
}

/// The owner's requests, newest first.
pub async fn list(db: &Db, owner_id: &str) -> ApiResult<Vec<RequestRow>> {
    Ok(sqlx::query_as::<_, RequestRow>(&format!(
        "SELECT {HOLDS} FROM requests r WHERE r.owner_id = $1 ORDER BY r.created_at DESC, r.id DESC"
    ))
    .bind(owner_id)
    .fetch_all(db)
    .await?)
}

/// A request by id, with what it holds.
pub async fn by_id(db: &Db, id: &str) -> ApiResult<RequestRow> {
    sqlx::query_as::<_, RequestRow>(&format!("SELECT {HOLDS} FROM requests r WHERE r.id = $1"))
        .bind(id)
        .fetch_optional(db)
        .await?
        .ok_or_else(|| ApiError::not_found("request"))
}

/// The request whose token this is (404 otherwise).
pub async fn by_token(db: &Db, token: &str) -> ApiResult<RequestRow> {
    sqlx::query_as::<_, RequestRow>(&format!(
        "SELECT {HOLDS} FROM requests r WHERE r.token_hash = $1"
    ))
    .bind(token_hash(token))
    .fetch_optional(db)
    .await?
    .ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            ErrorCode::RequestNotFound,
            "no such request: check that the link was copied whole",
        )
    })
}

/// Sets a request's expiry and whether it is closed; one that would be open afterwards only if
/// the owner's other open requests stay under `max_open` (the count and the change are one
/// statement under the owner's lock). Whether it changed.
pub async fn update(
    db: &Db,
    row: &RequestRow,
    expires_at: i64,
    closed_at: Option<i64>,
    max_open: i64,
) -> ApiResult<bool> {
    let mut tx = db.begin().await?;
    db.lock_account(&mut tx, &row.owner_id).await?;
    let t = now();
    let done = sqlx::query(
        "UPDATE requests SET expires_at = $1, closed_at = $2 WHERE id = $3
         AND ($4 IS NOT NULL OR $5 <= $6
              OR (SELECT COUNT(*) FROM requests WHERE owner_id = $7 AND id <> $8
                  AND closed_at IS NULL AND expires_at > $9) < $10)",
    )
    .bind(expires_at)
    .bind(closed_at)
    .bind(&row.id)
    .bind(closed_at)
    .bind(expires_at)
    .bind(t)
    .bind(&row.owner_id)
    .bind(&row.id)
    .bind(t)
    .bind(max_open)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(done.rows_affected() == 1)
}

/// The owner looked at the request's files now.
pub async fn mark_seen(db: &Db, id: &str) -> ApiResult<()> {
    sqlx::query("UPDATE requests SET seen_at = $1 WHERE id = $2")
        .bind(now())
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}
