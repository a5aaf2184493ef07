//! `cipherdrop-api`: the JSON types of the cipherdrop HTTP API, shared by the server, the web app
//! and the CLI. Binary values (data keys, EDKs, encrypted metadata) travel as standard base64.
//!
//! The server also serves an OpenAPI document of these at `/api/openapi.json`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Encryption-context key naming the object (an opaque id, never a file name).
pub const CONTEXT_OBJECT: &str = "cipherdrop:object";
/// Encryption-context key naming the owning account (an opaque id).
pub const CONTEXT_OWNER: &str = "cipherdrop:owner";
/// Suite id of AES-256-GCM, HKDF-SHA512, key commitment (unsigned).
pub const SUITE_COMMIT_KEY: u16 = 0x0478;
/// Suite id of the same with an ECDSA P-384 signature.
pub const SUITE_COMMIT_KEY_ECDSA_P384: u16 = 0x0578;
/// Largest encrypted-metadata blob the server stores, in bytes after base64 decoding.
pub const MAX_METADATA_BYTES: usize = 4096;

/// Every error response: a stable machine code and a sentence for people.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ErrorBody {
    /// Stable code, for example `kms_unavailable` or `header_mismatch`.
    pub error: String,
    /// What happened, for a person.
    pub message: String,
}

/// `POST /api/login`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LoginRequest {
    /// Account name.
    pub username: String,
    /// Password.
    pub password: String,
}

/// `POST /api/login/link`: redeem a one-time login link's token (sent in the body, never a URL).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LinkLoginRequest {
    /// The token from the link's fragment.
    pub token: String,
}

/// `POST /api/password`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SetPasswordRequest {
    /// The current password; may be omitted right after a one-time link login.
    #[serde(default)]
    pub current_password: Option<String>,
    /// The new password (at least 12 characters).
    pub new_password: String,
}

/// `GET /api/me` and the answer to a login.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Me {
    /// Account id (opaque).
    pub id: String,
    /// Account name.
    pub username: String,
    /// Whether the account may read the audit log.
    pub is_admin: bool,
    /// Whether the account must choose a password (logged in by one-time link).
    pub must_set_password: bool,
    /// The algorithm suite the page preselects for uploads (the server's default).
    #[serde(default = "default_suite")]
    pub default_suite: u16,
}

fn default_suite() -> u16 {
    SUITE_COMMIT_KEY
}

/// `POST /api/uploads`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CreateUploadRequest {
    /// Plaintext size in bytes.
    pub plaintext_size: u64,
    /// Algorithm suite: [`SUITE_COMMIT_KEY`] or [`SUITE_COMMIT_KEY_ECDSA_P384`].
    pub suite: u16,
    /// Plaintext bytes per frame.
    pub frame_length: u32,
    /// For 0x0578: the base64 compressed P-384 verification key (`aws-crypto-public-key`).
    #[serde(default)]
    pub public_key: Option<String>,
}

/// One presigned `UploadPart` URL.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct PartUrl {
    /// 1-based part number.
    pub part_number: u32,
    /// `PUT` this URL with the part's bytes.
    pub url: String,
}

/// The answer to `POST /api/uploads` (served with `Cache-Control: no-store`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CreateUploadResponse {
    /// Upload id (use it to complete, abort, or ask for more part URLs).
    pub upload_id: String,
    /// The object id it will become.
    pub object_id: String,
    /// The plaintext data key, base64. Zeroize it after use.
    pub data_key: String,
    /// The KMS key ARN: the EDK's provider info.
    pub key_arn: String,
    /// The encrypted data key (KMS ciphertext blob), base64.
    pub edk: String,
    /// The full message encryption context to write in the header.
    pub encryption_context: BTreeMap<String, String>,
    /// Bytes per part (every part but the last is exactly this long).
    pub part_size: u64,
    /// Number of parts the ciphertext takes.
    pub part_count: u32,
    /// The exact ciphertext size the server expects, in bytes.
    pub ciphertext_size: u64,
    /// Presigned URLs for the first parts; ask `GET /api/uploads/{id}/parts` for more.
    pub parts: Vec<PartUrl>,
    /// When the presigned URLs expire (Unix seconds).
    pub urls_expire_at: i64,
}

/// `GET /api/uploads/{id}` and `GET /api/uploads/{id}/parts?first=&count=`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct UploadStatus {
    /// Upload id.
    pub upload_id: String,
    /// The object id it will become.
    pub object_id: String,
    /// `pending`, `complete`, `aborted` or `rejected`.
    pub state: String,
    /// Bytes per part.
    pub part_size: u64,
    /// Number of parts.
    pub part_count: u32,
    /// Presigned URLs asked for (empty unless the upload is pending and some were asked for).
    pub parts: Vec<PartUrl>,
    /// When the presigned URLs expire (Unix seconds).
    pub urls_expire_at: i64,
}

/// One uploaded part, as S3 answered its `PUT`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CompletedPart {
    /// 1-based part number.
    pub part_number: u32,
    /// The `ETag` response header of the part's `PUT`.
    pub etag: String,
}

/// `POST /api/uploads/{id}/complete`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CompleteUploadRequest {
    /// Every part, in order.
    pub parts: Vec<CompletedPart>,
    /// File name and type, encrypted by the browser; base64, at most [`MAX_METADATA_BYTES`].
    pub metadata: String,
}

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
    /// The plaintext data key, base64. Zeroize it after use.
    pub data_key: String,
    /// The KMS key ARN that released it.
    pub key_arn: String,
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
