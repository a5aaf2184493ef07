//! API tokens for scripts: the row, the rules of a new token, and the queries.
//!
//! A token's secret is `cdt_` and 256 random bits (URL-safe base64); only its SHA-256 is stored,
//! and the secret is shown once. A token carries scopes (`read`, `write`, `share`), an expiry and
//! a last-used time; it authenticates only the API routes whose scope it has (see
//! `extract::Auth`), never the page's session routes, and it never gets a session cookie. Each
//! use is audited as `token.used`. Live tokens per account are capped; creating one checks the
//! cap in the same statement as the insert.

use crate::db::Db;
use axum::http::StatusCode;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use cipherdrop_api::ErrorCode;
use cipherdrop_api::{
    CreateTokenRequest, TOKEN_DEFAULT_DAYS, TOKEN_MAX_DAYS, TOKEN_MAX_NAME, TOKEN_MAX_PER_ACCOUNT,
    TOKEN_SCOPES, TokenSummary,
};
use sqlx::FromRow;
use zeroize::Zeroizing;

use crate::accounts::token_hash;
use crate::db::now;
use crate::error::{ApiError, ApiResult};

/// The prefix of every token secret (so scanners and people can tell what it is).
pub const PREFIX: &str = "cdt_";

/// What a route lets an API token do; routes without one take page sessions only.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// List, look at and download files (key release).
    Read,
    /// Upload and delete files.
    Write,
    /// Make and manage share links.
    Share,
    /// Any token (who am I).
    Any,
}

impl Scope {
    /// As tokens name it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Write => "write",
            Self::Share => "share",
            Self::Any => "any",
        }
    }
}

/// One row of `api_tokens`, with its account's name.
#[derive(FromRow, Clone)]
pub struct TokenRow {
    pub id: String,
    pub user_id: String,
    pub name: String,
    pub scopes: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

impl TokenRow {
    /// Its scopes.
    pub fn scope_list(&self) -> Vec<String> {
        self.scopes
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    }

    /// Whether it may do what `scope` names.
    pub fn allows(&self, scope: Scope) -> bool {
        scope == Scope::Any || self.scopes.split(',').any(|s| s == scope.as_str())
    }

    /// As its owner sees it.
    pub fn summary(&self) -> TokenSummary {
        TokenSummary {
            id: self.id.clone(),
            name: self.name.clone(),
            scopes: self.scope_list(),
            created_at: self.created_at,
            expires_at: self.expires_at,
            last_used_at: self.last_used_at,
            revoked_at: self.revoked_at,
        }
    }

    /// Why it authenticates nothing now, if it does not.
    pub fn refusal(&self) -> Option<ApiError> {
        if self.revoked_at.is_some() {
            Some(ApiError::new(
                StatusCode::UNAUTHORIZED,
                ErrorCode::TokenRevoked,
                "this API token was revoked; make a new one in the page's settings",
            ))
        } else if self.expires_at <= now() {
            Some(ApiError::new(
                StatusCode::UNAUTHORIZED,
                ErrorCode::TokenExpired,
                "this API token has expired; make a new one in the page's settings",
            ))
        } else {
            None
        }
    }
}

/// A new token's checked settings: name, scopes (sorted, comma-separated), lifetime in seconds.
pub fn settings(req: &CreateTokenRequest) -> ApiResult<(String, String, i64)> {
    let name = req.name.trim();
    if name.is_empty()
        || name.chars().count() > TOKEN_MAX_NAME
        || name.chars().any(char::is_control)
    {
        return Err(ApiError::bad_request(format!(
            "a token's name is 1 to {TOKEN_MAX_NAME} printable characters"
        )));
    }
    if req.scopes.is_empty()
        || req.scopes.len() > TOKEN_SCOPES.len()
        || req
            .scopes
            .iter()
            .any(|s| !TOKEN_SCOPES.contains(&s.as_str()))
    {
        return Err(ApiError::bad_request(
            "a token's scopes are some of read, write and share",
        ));
    }
    let scopes: Vec<&str> = TOKEN_SCOPES
        .iter()
        .copied()
        .filter(|s| req.scopes.iter().any(|r| r == s))
        .collect();
    let days = req.expires_in_days.unwrap_or(TOKEN_DEFAULT_DAYS);
    if !(1..=TOKEN_MAX_DAYS).contains(&days) {
        return Err(ApiError::bad_request(format!(
            "a token lasts 1 to {TOKEN_MAX_DAYS} days"
        )));
    }
    Ok((
        name.to_owned(),
        scopes.join(","),
        i64::from(days) * 24 * 3600,
    ))
}

/// A fresh secret.
pub fn new_secret() -> Zeroizing<String> {
    let mut bytes = Zeroizing::new([0u8; 32]);
    rand::Rng::fill_bytes(&mut rand::rng(), &mut bytes[..]);
    Zeroizing::new(format!("{PREFIX}{}", B64URL.encode(&bytes[..])))
}

/// Stores a new token for `user_id` unless the account already has the most live tokens
/// (the check and the insert are one step: one statement under the account's lock).
pub async fn insert(
    db: &Db,
    user_id: &str,
    secret: &str,
    (name, scopes, lifetime): (String, String, i64),
) -> ApiResult<TokenRow> {
    let id = uuid::Uuid::new_v4().to_string();
    let created = now();
    let mut tx = db.begin().await?;
    db.lock_account(&mut tx, user_id).await?;
    let done = sqlx::query(
        "INSERT INTO api_tokens (id, user_id, token_hash, name, scopes, created_at, expires_at)
         SELECT $1, $2, $3, $4, $5, $6, $7
         WHERE (SELECT COUNT(*) FROM api_tokens
                WHERE user_id = $8 AND revoked_at IS NULL AND expires_at > $9) < $10",
    )
    .bind(&id)
    .bind(user_id)
    .bind(token_hash(secret))
    .bind(&name)
    .bind(&scopes)
    .bind(created)
    .bind(created + lifetime)
    .bind(user_id)
    .bind(created)
    .bind(i64::from(TOKEN_MAX_PER_ACCOUNT))
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    if done.rows_affected() == 0 {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            ErrorCode::TooManyTokens,
            format!(
                "an account has at most {TOKEN_MAX_PER_ACCOUNT} live API tokens: revoke one first"
            ),
        ));
    }
    owned(db, user_id, &id).await
}

/// The account's token (404 for anyone else's).
pub async fn owned(db: &Db, user_id: &str, id: &str) -> ApiResult<TokenRow> {
    sqlx::query_as::<_, TokenRow>("SELECT * FROM api_tokens WHERE id = $1 AND user_id = $2")
        .bind(id)
        .bind(user_id)
        .fetch_optional(db)
        .await?
        .ok_or_else(|| ApiError::not_found("token"))
}

/// The account's tokens, newest first.
pub async fn of_user(db: &Db, user_id: &str) -> ApiResult<Vec<TokenRow>> {
    Ok(sqlx::query_as::<_, TokenRow>(
        "SELECT * FROM api_tokens WHERE user_id = $1 ORDER BY created_at DESC, id DESC",
    )
    .bind(user_id)
    .fetch_all(db)
    .await?)
}

/// The token whose secret this is, if any.
pub async fn by_secret(db: &Db, secret: &str) -> ApiResult<Option<TokenRow>> {
    Ok(
        sqlx::query_as::<_, TokenRow>("SELECT * FROM api_tokens WHERE token_hash = $1")
            .bind(token_hash(secret))
            .fetch_optional(db)
            .await?,
    )
}

/// Records a use.
pub async fn touch(db: &Db, id: &str) -> ApiResult<()> {
    sqlx::query("UPDATE api_tokens SET last_used_at = $1 WHERE id = $2")
        .bind(now())
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}

/// Revokes a token (a no-op if it already is).
pub async fn revoke(db: &Db, id: &str) -> ApiResult<()> {
    sqlx::query("UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
        .bind(now())
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn req(name: &str, scopes: &[&str], days: Option<u32>) -> CreateTokenRequest {
        CreateTokenRequest {
            name: name.into(),
            scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
            expires_in_days: days,
        }
    }

    #[test]
    fn settings_are_checked_and_scopes_normalised() {
        let (name, scopes, life) = settings(&req(" backups ", &["share", "read"], None)).unwrap();
        assert_eq!((name.as_str(), scopes.as_str()), ("backups", "read,share"));
        assert_eq!(life, 30 * 24 * 3600);
        for bad in [
            req("", &["read"], None),
            req(&"x".repeat(65), &["read"], None),
            req("a\nb", &["read"], None),
            req("x", &[], None),
            req("x", &["admin"], None),
            req("x", &["read", "read", "read", "read"], None),
            req("x", &["read"], Some(0)),
            req("x", &["read"], Some(366)),
        ] {
            assert!(settings(&bad).is_err(), "{bad:?}");
        }
        let s = new_secret();
        assert!(s.starts_with(PREFIX) && s.len() == PREFIX.len() + 43);
    }
}
