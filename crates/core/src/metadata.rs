//! Private file metadata: the name and type, encrypted by the client (the page, the CLI) under
//! the file's data key (or, for a share link, under the link's key).
//!
//! The server and S3 only ever see the result, an opaque base64 string:
//! `0x01 ‖ nonce (12) ‖ AES-256-GCM(name and type as JSON) ‖ tag (16)`. The key is
//! HKDF-SHA256(data key, info = `cipherdrop/metadata/v1` ‖ object id), a different key from the
//! ESDK's frame key; the object id is also the AAD, so metadata cannot be moved to another file.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::sealed;

/// The media type of a secret text (shown as text to a recipient, not saved as a file).
pub const SECRET_TEXT_TYPE: &str = "text/plain; cipherdrop=secret";
const LABEL: &[u8] = b"cipherdrop/metadata/v1";

/// What the owner's browser knows about a file and nobody else does.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileMeta {
    /// The file's name.
    #[serde(rename = "n")]
    pub name: String,
    /// Its media type, as the browser reported it (may be empty).
    #[serde(rename = "t", default)]
    pub media_type: String,
}

/// Why metadata could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetaError {
    /// Not base64, too short, or an unknown version.
    Malformed,
    /// The tag did not verify: wrong key, wrong object, or altered.
    Authentication,
}

impl std::fmt::Display for MetaError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Malformed => "the file's stored name is not in a format this page reads",
            Self::Authentication => "the file's stored name failed its integrity check",
        })
    }
}

/// Encrypts `meta` for object `object_id` under `data_key`; returns the stored string.
pub fn seal<R: rand_core::CryptoRng + ?Sized>(
    meta: &FileMeta,
    data_key: &[u8; 32],
    object_id: &str,
    rng: &mut R,
) -> String {
    let plain = Zeroizing::new(serde_json::to_vec(meta).unwrap_or_default());
    B64.encode(sealed::seal(LABEL, data_key, object_id, &plain, rng))
}

/// Decrypts what [`seal`] made.
pub fn open(stored: &str, data_key: &[u8; 32], object_id: &str) -> Result<FileMeta, MetaError> {
    let bytes = B64.decode(stored).map_err(|_| MetaError::Malformed)?;
    let plain = sealed::open(LABEL, data_key, object_id, &bytes).map_err(|e| match e {
        sealed::OpenError::Malformed => MetaError::Malformed,
        sealed::OpenError::Authentication => MetaError::Authentication,
    })?;
    serde_json::from_slice(&plain).map_err(|_| MetaError::Malformed)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn names_open_only_with_their_key_and_object() {
        let meta = FileMeta {
            name: "contract \"final\" (é).pdf".into(),
            media_type: "application/pdf".into(),
        };
        let key = [4u8; 32];
        let sealed = seal(&meta, &key, "obj-1", &mut rand::rng());
        assert_eq!(open(&sealed, &key, "obj-1").unwrap(), meta);
        assert_eq!(
            open(&sealed, &key, "obj-2").unwrap_err(),
            MetaError::Authentication
        );
        assert_eq!(
            open(&sealed, &[5u8; 32], "obj-1").unwrap_err(),
            MetaError::Authentication
        );
        assert_eq!(
            open("%%%", &key, "obj-1").unwrap_err(),
            MetaError::Malformed
        );
        assert_eq!(open("", &key, "obj-1").unwrap_err(), MetaError::Malformed);
        assert!(!sealed.contains("contract"));
    }
}
