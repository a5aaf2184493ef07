//! Per-account quotas: how many uploads may be pending at once, how many bytes they may declare,
//! and how many bytes an account may store (pending uploads included, so completing one never
//! passes the limit). Server-wide defaults come from [`Quota`] in the config (`serve` flags);
//! per-account overrides are columns of `users` (`cipherdrop user quota`).
//!
//! The check that counts is one statement with the reservation: a pending upload's row is inserted
//! only if the account's usage with it stays within every limit (`objects::insert_pending`), and
//! SQLite runs one writer at a time, so concurrent uploads can never pass a quota together. The
//! check here, before any KMS or S3 call, only spares those calls for requests that would fail.
//! Bytes are ciphertext bytes as the upload declared them; S3 holds a part URL to its signed length.

use crate::db::Db;
use axum::http::StatusCode;
use cipherdrop_api::ErrorCode;
use cipherdrop_api::Usage;

use crate::accounts::AccountError;
use crate::error::{ApiError, ApiResult};

const GIB: u64 = 1024 * 1024 * 1024;

/// An account's limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quota {
    /// The most uploads pending at once.
    pub pending_uploads: u64,
    /// The most bytes pending uploads may declare together.
    pub pending_bytes: u64,
    /// The most bytes stored, pending uploads included.
    pub stored_bytes: u64,
}

impl Default for Quota {
    fn default() -> Self {
        Self {
            pending_uploads: 20,
            pending_bytes: 128 * GIB,
            stored_bytes: 512 * GIB,
        }
    }
}

/// Per-account overrides; `None` keeps the server's default.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct Overrides {
    /// See [`Quota::pending_uploads`].
    pub quota_pending_uploads: Option<i64>,
    /// See [`Quota::pending_bytes`].
    pub quota_pending_bytes: Option<i64>,
    /// See [`Quota::stored_bytes`].
    pub quota_stored_bytes: Option<i64>,
}

/// A limit for SQL (saturating at `i64::MAX`).
pub fn sql(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn unsigned(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

impl Quota {
    /// This quota with an account's overrides applied.
    pub fn with(self, o: Overrides) -> Self {
        Self {
            pending_uploads: o
                .quota_pending_uploads
                .map_or(self.pending_uploads, unsigned),
            pending_bytes: o.quota_pending_bytes.map_or(self.pending_bytes, unsigned),
            stored_bytes: o.quota_stored_bytes.map_or(self.stored_bytes, unsigned),
        }
    }
}

/// The account's limits: the server's defaults with its overrides.
pub async fn of(db: &Db, default: Quota, user_id: &str) -> ApiResult<Quota> {
    let o: Option<Overrides> = sqlx::query_as(
        "SELECT quota_pending_uploads, quota_pending_bytes, quota_stored_bytes
         FROM users WHERE id = $1",
    )
    .bind(user_id)
    .fetch_optional(db)
    .await?;
    Ok(default.with(o.unwrap_or_default()))
}

/// What the account uses, against its limits.
pub async fn usage(db: &Db, quota: Quota, user_id: &str) -> ApiResult<Usage> {
    let (pending_uploads, pending_bytes, stored_bytes): (i64, i64, i64) = sqlx::query_as(
        "SELECT
            CAST(COALESCE(SUM(CASE WHEN state = 'pending' AND request_id IS NULL
                                   THEN 1 ELSE 0 END), 0) AS BIGINT),
            CAST(COALESCE(SUM(CASE WHEN state = 'pending' AND request_id IS NULL
                                   THEN ciphertext_size END), 0) AS BIGINT),
            CAST(COALESCE(SUM(COALESCE(stored_size, ciphertext_size)), 0) AS BIGINT)
         FROM objects WHERE owner_id = $1 AND state IN ('pending', 'complete')",
    )
    .bind(user_id)
    .fetch_one(db)
    .await?;
    Ok(Usage {
        pending_uploads: unsigned(pending_uploads),
        pending_uploads_limit: quota.pending_uploads,
        pending_bytes: unsigned(pending_bytes),
        pending_bytes_limit: quota.pending_bytes,
        stored_bytes: unsigned(stored_bytes),
        stored_bytes_limit: quota.stored_bytes,
    })
}

/// A byte count in words (binary units).
pub fn size_text(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["bytes", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    let name = UNITS.get(unit).copied().unwrap_or("bytes");
    if unit == 0 {
        format!("{bytes} bytes")
    } else {
        format!("{value:.1} {name}")
    }
}

/// Why an upload of `bytes` more would break the account's limits, in words, if it would.
pub fn refusal(usage: &Usage, bytes: u64) -> Option<ApiError> {
    if usage.pending_uploads >= usage.pending_uploads_limit {
        return Some(ApiError::new(
            StatusCode::CONFLICT,
            ErrorCode::TooManyPending,
            format!(
                "your account already has {} unfinished uploads, the most it may have at once: \
                 let one finish, or cancel one, then try again",
                usage.pending_uploads
            ),
        ));
    }
    let stored_left = usage.stored_bytes_limit.saturating_sub(usage.stored_bytes);
    if bytes > stored_left {
        return Some(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::QuotaExceeded,
            format!(
                "this file needs {} of storage, and your account has {} of its {} left: delete \
                 files, or ask an administrator for more room",
                size_text(bytes),
                size_text(stored_left),
                size_text(usage.stored_bytes_limit)
            ),
        ));
    }
    let pending_left = usage
        .pending_bytes_limit
        .saturating_sub(usage.pending_bytes);
    if bytes > pending_left {
        return Some(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::QuotaExceeded,
            format!(
                "this file needs {}, and your unfinished uploads leave {} of the {} that may be \
                 in progress at once: let them finish, or cancel one, then try again",
                size_text(bytes),
                size_text(pending_left),
                size_text(usage.pending_bytes_limit)
            ),
        ));
    }
    None
}

/// Sets (or, with `None`, returns to the server's default) an account's overrides.
pub async fn set_overrides(db: &Db, username: &str, o: Overrides) -> Result<(), AccountError> {
    let done = sqlx::query(
        "UPDATE users SET quota_pending_uploads = $1, quota_pending_bytes = $2,
            quota_stored_bytes = $3
         WHERE username = $4",
    )
    .bind(o.quota_pending_uploads)
    .bind(o.quota_pending_bytes)
    .bind(o.quota_stored_bytes)
    .bind(username)
    .execute(db)
    .await?;
    if done.rows_affected() == 0 {
        return Err(AccountError::NoSuchUser(username.to_owned()));
    }
    Ok(())
}

/// An account's overrides.
pub async fn overrides(db: &Db, username: &str) -> Result<Overrides, AccountError> {
    sqlx::query_as(
        "SELECT quota_pending_uploads, quota_pending_bytes, quota_stored_bytes
         FROM users WHERE username = $1",
    )
    .bind(username)
    .fetch_optional(db)
    .await?
    .ok_or_else(|| AccountError::NoSuchUser(username.to_owned()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn refusals_say_what_is_left() {
        let usage = Usage {
            pending_uploads: 1,
            pending_uploads_limit: 2,
            pending_bytes: 10,
            pending_bytes_limit: 3 * GIB,
            stored_bytes: GIB,
            stored_bytes_limit: 2 * GIB,
        };
        assert!(refusal(&usage, GIB).is_none());
        let e = refusal(&usage, GIB + 1).unwrap();
        assert_eq!(
            (e.status, e.code),
            (StatusCode::PAYLOAD_TOO_LARGE, ErrorCode::QuotaExceeded)
        );
        assert!(
            e.message.contains("1.0 GiB of its 2.0 GiB left"),
            "{}",
            e.message
        );
        let full = Usage {
            pending_uploads: 2,
            ..usage.clone()
        };
        assert_eq!(refusal(&full, 1).unwrap().code, ErrorCode::TooManyPending);
        let busy = Usage {
            pending_bytes: 3 * GIB - 5,
            ..usage
        };
        assert!(
            refusal(&busy, 6)
                .unwrap()
                .message
                .contains("unfinished uploads leave 5 bytes")
        );
        assert_eq!(size_text(0), "0 bytes");
        assert_eq!(size_text(1536), "1.5 KiB");
    }

    #[test]
    fn overrides_replace_only_what_they_name() {
        let q = Quota::default().with(Overrides {
            quota_stored_bytes: Some(7),
            ..Overrides::default()
        });
        assert_eq!(q.stored_bytes, 7);
        assert_eq!(q.pending_uploads, Quota::default().pending_uploads);
    }
}
