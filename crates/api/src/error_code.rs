//! The error codes the server answers with, as one enum both sides match on: serialized as
//! the snake_case strings the API has always sent.

use serde::{Deserialize, Serialize};

/// The stable machine code of an error answer ([`crate::ErrorBody::error`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorCode {
    /// `bad_credentials`
    BadCredentials,
    /// `bad_link`
    BadLink,
    /// `bad_request`
    BadRequest,
    /// `busy`
    Busy,
    /// `conflict`
    Conflict,
    /// `cross_origin`
    CrossOrigin,
    /// `database_error`
    DatabaseError,
    /// `database_unavailable`
    DatabaseUnavailable,
    /// `duplicate_session_cookie`
    DuplicateSessionCookie,
    /// `forbidden`
    Forbidden,
    /// `header_mismatch`
    HeaderMismatch,
    /// `insufficient_scope`
    InsufficientScope,
    /// `internal`
    Internal,
    /// `key_unusable`: the KMS key is disabled, scheduled for deletion, deleted, or its imported
    /// material is deleted or expired.
    KeyUnusable,
    /// `kms_error`
    KmsError,
    /// `kms_unavailable`
    KmsUnavailable,
    /// `not_found`
    NotFound,
    /// `owner_full`
    OwnerFull,
    /// `parts_rejected`
    PartsRejected,
    /// `quota_changed`
    QuotaChanged,
    /// `quota_exceeded`
    QuotaExceeded,
    /// `rate_limited`
    RateLimited,
    /// `request_busy`
    RequestBusy,
    /// `request_closed`
    RequestClosed,
    /// `request_expired`
    RequestExpired,
    /// `request_full`
    RequestFull,
    /// `request_not_found`
    RequestNotFound,
    /// `request_too_small`
    RequestTooSmall,
    /// `s3_error`
    S3Error,
    /// `s3_unavailable`
    S3Unavailable,
    /// `session_required`
    SessionRequired,
    /// `share_changed`
    ShareChanged,
    /// `share_damaged`
    ShareDamaged,
    /// `share_exhausted`
    ShareExhausted,
    /// `share_expired`
    ShareExpired,
    /// `share_file_gone`
    ShareFileGone,
    /// `share_not_found`
    ShareNotFound,
    /// `share_retired`
    ShareRetired,
    /// `share_revoked`
    ShareRevoked,
    /// `token_expired`
    TokenExpired,
    /// `token_revoked`
    TokenRevoked,
    /// `too_large`
    TooLarge,
    /// `too_many_pending`
    TooManyPending,
    /// `too_many_tokens`
    TooManyTokens,
    /// `unauthenticated`
    Unauthenticated,
    /// `upload_gone`
    UploadGone,
    /// `upload_not_found`
    UploadNotFound,
    /// `wrong_passphrase`
    WrongPassphrase,
    /// A code this build does not know (a newer server's): the message still says what happened.
    #[serde(other)]
    Unknown,
}

impl ErrorCode {
    /// Every code a server of this build sends.
    pub const ALL: [Self; 48] = [
        Self::BadCredentials,
        Self::BadLink,
        Self::BadRequest,
        Self::Busy,
        Self::Conflict,
        Self::CrossOrigin,
        Self::DatabaseError,
        Self::DatabaseUnavailable,
        Self::DuplicateSessionCookie,
        Self::Forbidden,
        Self::HeaderMismatch,
        Self::InsufficientScope,
        Self::Internal,
        Self::KeyUnusable,
        Self::KmsError,
        Self::KmsUnavailable,
        Self::NotFound,
        Self::OwnerFull,
        Self::PartsRejected,
        Self::QuotaChanged,
        Self::QuotaExceeded,
        Self::RateLimited,
        Self::RequestBusy,
        Self::RequestClosed,
        Self::RequestExpired,
        Self::RequestFull,
        Self::RequestNotFound,
        Self::RequestTooSmall,
        Self::S3Error,
        Self::S3Unavailable,
        Self::SessionRequired,
        Self::ShareChanged,
        Self::ShareDamaged,
        Self::ShareExhausted,
        Self::ShareExpired,
        Self::ShareFileGone,
        Self::ShareNotFound,
        Self::ShareRetired,
        Self::ShareRevoked,
        Self::TokenExpired,
        Self::TokenRevoked,
        Self::TooLarge,
        Self::TooManyPending,
        Self::TooManyTokens,
        Self::Unauthenticated,
        Self::UploadGone,
        Self::UploadNotFound,
        Self::WrongPassphrase,
    ];

    /// As sent on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BadCredentials => "bad_credentials",
            Self::BadLink => "bad_link",
            Self::BadRequest => "bad_request",
            Self::Busy => "busy",
            Self::Conflict => "conflict",
            Self::CrossOrigin => "cross_origin",
            Self::DatabaseError => "database_error",
            Self::DatabaseUnavailable => "database_unavailable",
            Self::DuplicateSessionCookie => "duplicate_session_cookie",
            Self::Forbidden => "forbidden",
            Self::HeaderMismatch => "header_mismatch",
            Self::InsufficientScope => "insufficient_scope",
            Self::Internal => "internal",
            Self::KeyUnusable => "key_unusable",
            Self::KmsError => "kms_error",
            Self::KmsUnavailable => "kms_unavailable",
            Self::NotFound => "not_found",
            Self::OwnerFull => "owner_full",
            Self::PartsRejected => "parts_rejected",
            Self::QuotaChanged => "quota_changed",
            Self::QuotaExceeded => "quota_exceeded",
            Self::RateLimited => "rate_limited",
            Self::RequestBusy => "request_busy",
            Self::RequestClosed => "request_closed",
            Self::RequestExpired => "request_expired",
            Self::RequestFull => "request_full",
            Self::RequestNotFound => "request_not_found",
            Self::RequestTooSmall => "request_too_small",
            Self::S3Error => "s3_error",
            Self::S3Unavailable => "s3_unavailable",
            Self::SessionRequired => "session_required",
            Self::ShareChanged => "share_changed",
            Self::ShareDamaged => "share_damaged",
            Self::ShareExhausted => "share_exhausted",
            Self::ShareExpired => "share_expired",
            Self::ShareFileGone => "share_file_gone",
            Self::ShareNotFound => "share_not_found",
            Self::ShareRetired => "share_retired",
            Self::ShareRevoked => "share_revoked",
            Self::TokenExpired => "token_expired",
            Self::TokenRevoked => "token_revoked",
            Self::TooLarge => "too_large",
            Self::TooManyPending => "too_many_pending",
            Self::TooManyTokens => "too_many_tokens",
            Self::Unauthenticated => "unauthenticated",
            Self::UploadGone => "upload_gone",
            Self::UploadNotFound => "upload_not_found",
            Self::WrongPassphrase => "wrong_passphrase",
            Self::Unknown => "unknown",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::ErrorCode;

    #[test]
    fn codes_travel_as_the_strings_they_always_were() {
        for code in ErrorCode::ALL {
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
            assert_eq!(serde_json::from_str::<ErrorCode>(&json).unwrap(), code);
        }
        assert_eq!(
            serde_json::from_str::<ErrorCode>("\"kms_unavailable\"").unwrap(),
            ErrorCode::KmsUnavailable
        );
        assert_eq!(
            serde_json::from_str::<ErrorCode>("\"a_code_from_the_future\"").unwrap(),
            ErrorCode::Unknown
        );
    }
}
