//! Stored files: listing them, their details, their data key and the account's metadata key,
//! and the audit log.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::SecretB64;

/// An object in a listing.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ObjectSummary {
    /// Object id.
    pub id: String,
    /// Ciphertext size in bytes (what S3 stores).
    pub size: u64,
    /// Plaintext size in bytes.
    pub plaintext_size: u64,
    /// Algorithm suite id.
    pub suite: u16,
    /// Completion time (Unix seconds).
    pub created_at: i64,
    /// Encrypted metadata as uploaded, base64.
    pub metadata: String,
    /// Downloads through the file's links since its owner last looked at them.
    #[serde(default)]
    pub new_downloads: u32,
    /// The file request it arrived by, if a sender sent it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

/// `GET /api/objects`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ObjectList {
    /// The caller's objects, newest first.
    pub objects: Vec<ObjectSummary>,
}

/// `GET /api/objects/{id}`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ObjectDetails {
    /// The object.
    #[serde(flatten)]
    pub object: ObjectSummary,
    /// The encryption context the object was issued with.
    pub encryption_context: BTreeMap<String, String>,
    /// The KMS key ARN.
    pub key_arn: String,
    /// Presigned `GET` of the ciphertext.
    pub download_url: String,
    /// When `download_url` expires (Unix seconds).
    pub url_expires_at: i64,
}

/// `POST /api/objects/{id}/key` (served with `Cache-Control: no-store`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct KeyResponse {
    /// The plaintext data key, base64 (zeroized on drop, redacted in `Debug`).
    pub data_key: SecretB64,
    /// The KMS key ARN that released it.
    pub key_arn: String,
}

/// `POST /api/metadata-key`: which version of the account's metadata key (default: the newest,
/// made on first use).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct MetadataKeyRequest {
    /// A version an older name was sealed under.
    #[serde(default)]
    pub version: Option<u32>,
}

/// The account's metadata key (served with `Cache-Control: no-store`): the page seals file names
/// and types under it (`cipherdrop_core::metadata::seal_for_account`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MetadataKeyResponse {
    /// This key's version.
    pub version: u32,
    /// The newest version: what names are sealed under now.
    pub current: u32,
    /// The key, base64 (zeroized on drop, redacted in `Debug`).
    pub key: SecretB64,
}

/// `PUT /api/objects/{id}/metadata`: the file's name and type sealed again (under the account's
/// newest metadata key), base64.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SetMetadataRequest {
    /// Encrypted metadata, base64 (at most [`MAX_METADATA_BYTES`] decoded).
    pub metadata: String,
}

/// One audit-log row.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct AuditEntry {
    /// Sequence number (1, 2, ...).
    pub id: i64,
    /// Unix time in milliseconds.
    pub time_ms: i64,
    /// Who: an account name, `system`, or `anonymous`.
    pub actor: String,
    /// What: `login`, `upload.created`, `key.issued`, ...
    pub action: String,
    /// Which object, if any.
    pub object: Option<String>,
    /// Client IP address, if any.
    pub ip: Option<String>,
    /// `ok`, `denied` or `error`.
    pub outcome: String,
    /// Extra detail (never a secret).
    pub detail: String,
    /// SHA-256 of the previous row (hex).
    pub prev_hash: String,
    /// SHA-256 of this row (hex).
    pub hash: String,
}

/// `GET /api/admin/audit?after=&limit=`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AuditPage {
    /// Rows in sequence order.
    pub entries: Vec<AuditEntry>,
    /// Pass as `after` to read on; absent at the end.
    pub next_after: Option<i64>,
}
