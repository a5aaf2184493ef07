//! `cipherdrop-api`: the JSON types of the cipherdrop HTTP API, shared by the server, the web app
//! and the CLI. Binary values (data keys, EDKs, encrypted metadata) travel as standard base64.
//!
//! The server also serves an OpenAPI document of these at `/api/openapi.json`.

use serde::{Deserialize, Serialize};

mod error_code;
mod keys;
mod notifications;
mod objects;
mod requests;
mod session;
mod shares;
mod states;
pub mod transfer;
mod uploads;
mod webhooks;

pub use error_code::ErrorCode;
pub use keys::*;
pub use notifications::*;
pub use objects::*;
pub use requests::*;
pub use session::*;
pub use shares::*;
pub use states::ObjectState;
pub use uploads::*;
pub use webhooks::*;

/// Encryption-context key naming the object (an opaque id, never a file name).
pub const CONTEXT_OBJECT: &str = "cipherdrop:object";
/// Encryption-context key naming the owning account (an opaque id).
pub const CONTEXT_OWNER: &str = "cipherdrop:owner";
/// Encryption-context key naming the share link whose sealed key KMS encrypts.
pub const CONTEXT_SHARE: &str = "cipherdrop:share";
/// Encryption-context key of the file request a sender's upload came by.
pub const CONTEXT_REQUEST: &str = "cipherdrop:request";
/// Suite id of AES-256-GCM, HKDF-SHA512, key commitment (unsigned).
pub const SUITE_COMMIT_KEY: u16 = 0x0478;
/// Suite id of the same with an ECDSA P-384 signature.
pub const SUITE_COMMIT_KEY_ECDSA_P384: u16 = 0x0578;
/// Largest encrypted-metadata blob the server stores, in bytes after base64 decoding.
pub const MAX_METADATA_BYTES: usize = 4096;

/// A secret as base64 text (a plaintext data key): zeroized when dropped, through serialization
/// and deserialization alike, and never printed (`Debug` is redacted).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SecretB64(zeroize::Zeroizing<String>);

impl SecretB64 {
    /// Wraps base64 text that is already in a zeroizing buffer.
    pub fn new(b64: zeroize::Zeroizing<String>) -> Self {
        Self(b64)
    }
    /// The base64 text.
    pub fn expose(&self) -> &str {
        &self.0
    }
    /// Moves the text out, leaving this empty.
    pub fn take(&mut self) -> zeroize::Zeroizing<String> {
        std::mem::take(&mut self.0)
    }
}

impl AsRef<[u8]> for SecretB64 {
    fn as_ref(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl std::fmt::Debug for SecretB64 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretB64(<redacted>)")
    }
}

impl Serialize for SecretB64 {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for SecretB64 {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(|s| Self(zeroize::Zeroizing::new(s)))
    }
}

/// Every error response: a stable machine code and a sentence for people.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ErrorBody {
    /// Stable code, for example `kms_unavailable` or `header_mismatch`.
    pub error: ErrorCode,
    /// What happened, for a person.
    pub message: String,
}

#[cfg(test)]
mod secret_tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_secret_round_trips_as_a_json_string_and_is_never_printed() {
        let answer = KeyResponse {
            data_key: SecretB64::new(zeroize::Zeroizing::new("c2VjcmV0".to_owned())),
            key_arn: "arn".into(),
        };
        let json = serde_json::to_string(&answer).unwrap();
        assert_eq!(json, r#"{"data_key":"c2VjcmV0","key_arn":"arn"}"#);
        let mut back: KeyResponse = serde_json::from_str(&json).unwrap();
        assert_eq!(back.data_key.expose(), "c2VjcmV0");
        assert!(!format!("{back:?}").contains("c2VjcmV0"));
        assert_eq!(back.data_key.take().as_str(), "c2VjcmV0");
        assert_eq!(back.data_key.expose(), "");
    }
}
