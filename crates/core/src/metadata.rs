//! Private file metadata: the name and type, encrypted by the client (the page, the CLI) under
//! the account's metadata key (or, for a share link, under the link's key; before metadata keys,
//! under the file's data key).
//!
//! The server and S3 only ever see the result, an opaque base64 string, in one of two forms:
//! - **Account key** (what is written now): `0x02 ‖ key version (u32, big-endian) ‖ sealed`,
//!   where `sealed` is `0x01 ‖ nonce (12) ‖ AES-256-GCM(name and type as JSON) ‖ tag (16)` under
//!   HKDF-SHA256(metadata key, info = `cipherdrop/metadata/v2` ‖ object id ‖ `#` ‖ version). One
//!   key per account (a KMS data key, released once per session) opens every file's name, so
//!   listing files costs one KMS call, not one per file.
//! - **File key** (older files): `sealed` alone, under HKDF-SHA256(data key, info =
//!   `cipherdrop/metadata/v1` ‖ object id). The page re-seals these under the account key the
//!   first time it reads them.
//!
//! Either way the key differs from the ESDK's frame key, and the object id (and key version) are
//! bound in, so metadata cannot be moved to another file.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::sealed;

/// The media type of a secret text (shown as text to a recipient, not saved as a file).
pub const SECRET_TEXT_TYPE: &str = "text/plain; cipherdrop=secret";
const LABEL: &[u8] = b"cipherdrop/metadata/v1";
const ACCOUNT_LABEL: &[u8] = b"cipherdrop/metadata/v2";
const ACCOUNT_FORM: u8 = 2;

/// Which key opens a stored value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SealedUnder {
    /// The file's own data key (written before metadata keys).
    FileKey,
    /// This version of the account's metadata key.
    AccountKey(u32),
}

/// Which key `stored` needs, without opening it.
pub fn sealed_under(stored: &str) -> Result<SealedUnder, MetaError> {
    let bytes = B64.decode(stored).map_err(|_| MetaError::Malformed)?;
    match bytes.first() {
        Some(&ACCOUNT_FORM) => {
            let version = bytes
                .get(1..5)
                .and_then(|v| <[u8; 4]>::try_from(v).ok())
                .ok_or(MetaError::Malformed)?;
            Ok(SealedUnder::AccountKey(u32::from_be_bytes(version)))
        }
        Some(1) => Ok(SealedUnder::FileKey),
        _ => Err(MetaError::Malformed),
    }
}

fn account_id(object_id: &str, version: u32) -> String {
    format!("{object_id}#{version}")
}

/// Encrypts `meta` for object `object_id` under version `version` of the account's metadata
/// key; returns the stored string.
pub fn seal_for_account<R: rand_core::CryptoRng + ?Sized>(
    meta: &FileMeta,
    account_key: &[u8; 32],
    version: u32,
    object_id: &str,
    rng: &mut R,
) -> String {
    let plain = Zeroizing::new(serde_json::to_vec(meta).unwrap_or_default());
    let mut out = vec![ACCOUNT_FORM];
    out.extend_from_slice(&version.to_be_bytes());
    out.extend(sealed::seal(
        ACCOUNT_LABEL,
        account_key,
        &account_id(object_id, version),
        &plain,
        rng,
    ));
    B64.encode(out)
}

/// Decrypts what [`seal_for_account`] made, with version `version` of the metadata key (the
/// one [`sealed_under`] names).
pub fn open_for_account(
    stored: &str,
    account_key: &[u8; 32],
    version: u32,
    object_id: &str,
) -> Result<FileMeta, MetaError> {
    if sealed_under(stored)? != SealedUnder::AccountKey(version) {
        return Err(MetaError::Malformed);
    }
    let bytes = B64.decode(stored).map_err(|_| MetaError::Malformed)?;
    let sealed_part = bytes.get(5..).ok_or(MetaError::Malformed)?;
    let plain = sealed::open(
        ACCOUNT_LABEL,
        account_key,
        &account_id(object_id, version),
        sealed_part,
    )
    .map_err(|e| match e {
        sealed::OpenError::Malformed => MetaError::Malformed,
        sealed::OpenError::Authentication => MetaError::Authentication,
    })?;
    serde_json::from_slice(&plain).map_err(|_| MetaError::Malformed)
}

/// What the owner's browser knows about a file and nobody else does.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileMeta {
    /// The file's name.
    #[serde(rename = "n")]
    pub name: String,
    /// Its media type, as the browser reported it (may be empty).
    #[serde(rename = "t", default)]
    pub media_type: String,
    /// Who sent it, as a sender of a file request gave it (name or e-mail address), sealed with
    /// the name.
    #[serde(rename = "s", default, skip_serializing_if = "Option::is_none")]
    pub sender: Option<String>,
}

impl FileMeta {
    /// A name and type, with no sender.
    pub fn new(name: impl Into<String>, media_type: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            media_type: media_type.into(),
            sender: None,
        }
    }
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
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn names_open_only_with_their_key_and_object() {
        let meta = FileMeta {
            name: "contract \"final\" (é).pdf".into(),
            media_type: "application/pdf".into(),
            sender: None,
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
        assert_eq!(sealed_under(&sealed).unwrap(), SealedUnder::FileKey);
    }

    #[test]
    fn account_sealed_names_open_only_with_their_key_version_and_object() {
        let meta = FileMeta {
            name: "tax return 2026.pdf".into(),
            media_type: "application/pdf".into(),
            sender: None,
        };
        let key = [9u8; 32];
        let sealed = seal_for_account(&meta, &key, 3, "obj-1", &mut rand::rng());
        assert_eq!(sealed_under(&sealed).unwrap(), SealedUnder::AccountKey(3));
        assert_eq!(open_for_account(&sealed, &key, 3, "obj-1").unwrap(), meta);
        assert_eq!(
            open_for_account(&sealed, &key, 3, "obj-2").unwrap_err(),
            MetaError::Authentication
        );
        assert_eq!(
            open_for_account(&sealed, &[8u8; 32], 3, "obj-1").unwrap_err(),
            MetaError::Authentication
        );
        assert_eq!(
            open_for_account(&sealed, &key, 4, "obj-1").unwrap_err(),
            MetaError::Malformed
        );
        // The version is bound in: relabelled as version 4, it no longer opens under 4.
        let mut bytes = B64.decode(&sealed).unwrap();
        bytes[4] = 4;
        let relabelled = B64.encode(&bytes);
        assert_eq!(
            open_for_account(&relabelled, &key, 4, "obj-1").unwrap_err(),
            MetaError::Authentication
        );
        // A file-key form is not an account form, and the other way round.
        let old = seal(&meta, &key, "obj-1", &mut rand::rng());
        assert_eq!(
            open_for_account(&old, &key, 3, "obj-1").unwrap_err(),
            MetaError::Malformed
        );
        assert_eq!(
            open(&sealed, &key, "obj-1").unwrap_err(),
            MetaError::Malformed
        );
        for bad in ["", "AA==", "AgAA", "%%"] {
            assert!(sealed_under(bad).is_err(), "{bad}");
        }
        assert!(!sealed.contains("tax"));
    }
}
