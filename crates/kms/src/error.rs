//! KMS errors as the AWS JSON protocol carries them: an `__type` code, a message, an HTTP status.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// An error code of the AWS KMS API (or of the AWS request layer, for authentication).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// The key, alias or resource does not exist.
    NotFound,
    /// A parameter is missing or out of range.
    Validation,
    /// The ciphertext blob is malformed, modified, or its context does not match.
    InvalidCiphertext,
    /// The ciphertext was made with a different key than the one named.
    IncorrectKey,
    /// The key is disabled.
    Disabled,
    /// The key's state does not allow the operation (e.g. pending deletion).
    InvalidState,
    /// The caller may not use this resource.
    AccessDenied,
    /// The alias exists already.
    AlreadyExists,
    /// A list's `Marker` is not one this service handed out.
    InvalidMarker,
    /// The key's `KeyUsage` (or its key spec) does not allow the operation or algorithm.
    InvalidKeyUsage,
    /// The operation or a parameter value is valid in AWS KMS but not for this key or service.
    UnsupportedOperation,
    /// Verify: the signature does not check out for the message, key and algorithm.
    KmsInvalidSignature,
    /// The `X-Amz-Target` names no operation of this service.
    UnknownOperation,
    /// The request has no SigV4 authentication.
    MissingAuthenticationToken,
    /// The request's signature does not match, is too old, does not sign the headers it must, or
    /// its credential scope names another region or service.
    InvalidSignature,
    /// The access key is not known.
    UnrecognizedClient,
    /// The request body is not JSON of the expected shape.
    Serialization,
    /// ImportKeyMaterial: the import token's 24 hours have passed.
    ExpiredImportToken,
    /// ImportKeyMaterial: the import token is not one this service issued for the key.
    InvalidImportToken,
    /// ImportKeyMaterial: the key material is not the material the key had before.
    IncorrectKeyMaterial,
    /// Something failed inside the service (the detail is logged, not returned).
    Internal,
}

impl ErrorCode {
    /// The `__type` value clients match on.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::NotFound => "NotFoundException",
            ErrorCode::Validation => "ValidationException",
            ErrorCode::InvalidCiphertext => "InvalidCiphertextException",
            ErrorCode::IncorrectKey => "IncorrectKeyException",
            ErrorCode::Disabled => "DisabledException",
            ErrorCode::InvalidState => "KMSInvalidStateException",
            ErrorCode::AccessDenied => "AccessDeniedException",
            ErrorCode::AlreadyExists => "AlreadyExistsException",
            ErrorCode::InvalidMarker => "InvalidMarkerException",
            ErrorCode::InvalidKeyUsage => "InvalidKeyUsageException",
            ErrorCode::UnsupportedOperation => "UnsupportedOperationException",
            ErrorCode::KmsInvalidSignature => "KMSInvalidSignatureException",
            ErrorCode::UnknownOperation => "UnknownOperationException",
            ErrorCode::MissingAuthenticationToken => "MissingAuthenticationTokenException",
            ErrorCode::InvalidSignature => "InvalidSignatureException",
            ErrorCode::UnrecognizedClient => "UnrecognizedClientException",
            ErrorCode::Serialization => "SerializationException",
            ErrorCode::ExpiredImportToken => "ExpiredImportTokenException",
            ErrorCode::InvalidImportToken => "InvalidImportTokenException",
            ErrorCode::IncorrectKeyMaterial => "IncorrectKeyMaterialException",
            ErrorCode::Internal => "KMSInternalException",
        }
    }

    /// The HTTP status AWS KMS answers with.
    pub fn status(self) -> StatusCode {
        match self {
            ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::MissingAuthenticationToken | ErrorCode::AccessDenied => {
                StatusCode::BAD_REQUEST
            }
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

/// An error answered to the client.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{}: {message}", code.as_str())]
pub struct KmsError {
    /// The AWS error code.
    pub code: ErrorCode,
    /// A message for the caller (never secrets).
    pub message: String,
}

impl KmsError {
    /// An error with a message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    /// An internal failure: `detail` is logged, the client gets a generic message.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(%detail, "internal KMS error");
        Self::new(ErrorCode::Internal, "internal error")
    }
}

impl IntoResponse for KmsError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "__type": self.code.as_str(), "message": self.message });
        (
            self.code.status(),
            [
                ("content-type", "application/x-amz-json-1.1"),
                ("x-amzn-errortype", self.code.as_str()),
            ],
            body.to_string(),
        )
            .into_response()
    }
}

/// Shorthand.
pub type KmsResult<T> = Result<T, KmsError>;
