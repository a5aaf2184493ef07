//! The server's one error type: a status, a stable code and a sentence, rendered as
//! [`cipherdrop_api::ErrorBody`] with `Cache-Control: no-store`.
//!
//! # Policy
//! - 4xx: the client can act on it; the sentence says what was wrong and what to do.
//! - 5xx from our own side (database, hashing, a broken invariant): the cause goes to the log,
//!   never to the body, which says only which part failed and that nothing was changed
//!   ([`ApiError::internal`], [`ApiError::database`]).
//! - 502/503 from KMS or S3 (the `aws` module): which service failed and whether trying again may
//!   help.
//! - Lower layers have their own typed errors (`AccountError`, [`crate::audit::AuditError`],
//!   `sqlx::Error`); each converts here exactly once, by `From`.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use cipherdrop_api::ErrorBody;
use cipherdrop_api::ErrorCode;

use crate::accounts::AccountError;
use crate::audit::AuditError;

/// An error answered to a client.
#[derive(Debug, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable machine code.
    pub code: ErrorCode,
    /// For people.
    pub message: String,
}

/// Result of a handler.
pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    /// Any error.
    pub fn new(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }
    /// 400.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, ErrorCode::BadRequest, message)
    }
    /// 401.
    pub fn unauthenticated() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            ErrorCode::Unauthenticated,
            "log in first (no valid session cookie)",
        )
    }
    /// 403.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, ErrorCode::Forbidden, message)
    }
    /// 404: also what another user gets for an object they do not own, so ids do not leak.
    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            ErrorCode::NotFound,
            format!("no such {what}"),
        )
    }
    /// 429 for a guess limit: `message` says which.
    pub fn rate_limited(message: &str) -> Self {
        Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::RateLimited,
            message,
        )
    }
    /// 429 when too many password checks are running and waiting already.
    pub fn busy() -> Self {
        Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::Busy,
            "the server is checking too many passwords right now; try again in a moment",
        )
    }
    /// 409.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, ErrorCode::Conflict, message)
    }
    /// 500 for a database failure, 503 when the database cannot be reached (down, restarting,
    /// refusing the server's credentials); details go to the log, not the client.
    pub fn database(e: &sqlx::Error) -> Self {
        if crate::db::unavailable(e) || crate::db::credentials_refused(e) {
            tracing::warn!(error = %e, "database unavailable");
            return Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorCode::DatabaseUnavailable,
                "the server cannot reach its database just now; nothing was changed: try again in a moment",
            );
        }
        tracing::error!(error = %e, "database error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::DatabaseError,
            "the server's database failed; nothing was changed",
        )
    }
    /// 500 for any other failure of our own: `what` failed; the cause goes to the log only.
    pub fn internal(what: &str, cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %cause, what, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::Internal,
            format!("{what} failed on the server; nothing was changed"),
        )
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        Self::database(&e)
    }
}

impl From<AuditError> for ApiError {
    fn from(e: AuditError) -> Self {
        match e {
            AuditError::Database(e) => Self::database(&e),
            AuditError::Batch(e) => Self::database(&e),
            AuditError::Lost => Self::internal("writing the audit log", &AuditError::Lost),
        }
    }
}

impl From<AccountError> for ApiError {
    fn from(e: AccountError) -> Self {
        match e {
            AccountError::Database(e) => Self::database(&e),
            AccountError::WeakPassword | AccountError::BadName | AccountError::Invalid(_) => {
                Self::bad_request(e.to_string())
            }
            AccountError::Exists(_) => Self::conflict(e.to_string()),
            AccountError::NoSuchUser(_) => Self::not_found("account"),
            AccountError::Hash => Self::internal("password hashing", &e),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            [("cache-control", "no-store")],
            Json(ErrorBody {
                error: self.code,
                message: self.message,
            }),
        )
            .into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_causes_never_reach_the_body() {
        let e = ApiError::internal("password hashing", &"argon2: secret detail");
        assert_eq!(e.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!e.message.contains("secret detail"));
        let e = ApiError::from(sqlx::Error::Protocol("row 7 of table users".into()));
        assert!(!e.message.contains("users"));
        let e = ApiError::from(AuditError::Lost);
        assert!(!e.message.contains("lost"), "{}", e.message);
    }
}
