//! `cipherdrop-api`: the JSON types of the cipherdrop HTTP API, shared by the server, the web app
//! and the CLI. Binary values (data keys, EDKs, encrypted metadata) travel as standard base64.
//!
//! The server also serves an OpenAPI document of these at `/api/openapi.json`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

mod error_code;
mod states;
pub mod transfer;

pub use error_code::ErrorCode;
pub use states::ObjectState;

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
    /// The plaintext data key, base64 (zeroized on drop, redacted in `Debug`).
    pub data_key: SecretB64,
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
    /// When the server aborts the upload if it is still pending (Unix seconds).
    #[serde(default)]
    pub abandon_at: i64,
}

/// `GET /api/uploads/{id}` and `GET /api/uploads/{id}/parts?first=&count=`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct UploadStatus {
    /// Upload id.
    pub upload_id: String,
    /// The object id it will become.
    pub object_id: String,
    /// Where the upload is.
    pub state: ObjectState,
    /// Bytes per part.
    pub part_size: u64,
    /// Number of parts.
    pub part_count: u32,
    /// Presigned URLs asked for (empty unless the upload is pending and some were asked for).
    pub parts: Vec<PartUrl>,
    /// When the presigned URLs expire (Unix seconds).
    pub urls_expire_at: i64,
    /// The algorithm suite the upload was created with.
    #[serde(default)]
    pub suite: u16,
    /// Plaintext bytes per frame.
    #[serde(default)]
    pub frame_length: u32,
    /// The plaintext size declared at creation.
    #[serde(default)]
    pub plaintext_size: u64,
    /// The ciphertext size declared at creation (the longest possible, for 0x0578).
    #[serde(default)]
    pub ciphertext_size: u64,
    /// The parts S3 holds (`ListParts`), in order: only in `GET /api/uploads/{id}` of a pending
    /// upload. This is what counts when resuming, not the client's own record.
    #[serde(default)]
    pub stored: Vec<StoredPart>,
    /// When the server aborts the upload if it is still pending (Unix seconds).
    #[serde(default)]
    pub abandon_at: i64,
}

/// A part S3 holds for a pending upload.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct StoredPart {
    /// 1-based part number.
    pub part_number: u32,
    /// Its length in bytes.
    pub size: u64,
    /// Its ETag, when the store reports one (the embedded S3's `ListParts` does not).
    #[serde(default)]
    pub etag: Option<String>,
}

/// `POST /api/uploads/{id}/key`: a pending upload's data key again, for its owner to resume
/// it (served with `Cache-Control: no-store`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PendingKeyResponse {
    /// The plaintext data key, base64 (zeroized on drop, redacted in `Debug`).
    pub data_key: SecretB64,
    /// The KMS key ARN: the EDK's provider info.
    pub key_arn: String,
    /// The encrypted data key, base64.
    pub edk: String,
    /// The message's encryption context, as issued.
    pub encryption_context: BTreeMap<String, String>,
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

/// The scopes an API token may have.
pub const TOKEN_SCOPES: [&str; 3] = ["read", "write", "share"];
/// Longest API token lifetime, in days.
pub const TOKEN_MAX_DAYS: u32 = 365;
/// Default API token lifetime, in days.
pub const TOKEN_DEFAULT_DAYS: u32 = 30;
/// Most live API tokens per account.
pub const TOKEN_MAX_PER_ACCOUNT: u32 = 50;
/// Longest API token name, in characters.
pub const TOKEN_MAX_NAME: usize = 64;

/// `POST /api/tokens` (page session only): a token for scripts.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct CreateTokenRequest {
    /// What it is for (1 to 64 characters).
    pub name: String,
    /// Some of `read` (list, download), `write` (upload, delete), `share` (links).
    pub scopes: Vec<String>,
    /// Lifetime in days (1 ..= 365; default 30).
    #[serde(default)]
    pub expires_in_days: Option<u32>,
}

/// One API token as its owner sees it (never the secret).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct TokenSummary {
    /// Token id (not the secret).
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its scopes.
    pub scopes: Vec<String>,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub expires_at: i64,
    /// Unix seconds of the last request it authenticated.
    pub last_used_at: Option<i64>,
    /// Unix seconds, if revoked.
    pub revoked_at: Option<i64>,
}

/// The answer to creating a token: the only time its secret is shown.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TokenCreated {
    /// The token's settings.
    pub token: TokenSummary,
    /// The secret (`cdt_…`), sent as `Authorization: Bearer …`.
    pub secret: SecretB64,
}

/// `GET /api/tokens`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TokenList {
    /// Newest first.
    pub tokens: Vec<TokenSummary>,
}

/// `GET /api/usage`: the account's quotas and what it uses of them (ciphertext bytes).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Usage {
    /// Uploads begun and not yet completed or aborted.
    pub pending_uploads: u64,
    /// The most pending uploads at once.
    pub pending_uploads_limit: u64,
    /// Bytes the pending uploads declared.
    pub pending_bytes: u64,
    /// The most bytes pending uploads may declare.
    pub pending_bytes_limit: u64,
    /// Bytes stored, pending uploads included (so completing one never passes the limit).
    pub stored_bytes: u64,
    /// The most bytes the account may store.
    pub stored_bytes_limit: u64,
}

impl Usage {
    /// Bytes the account may still begin uploading: the smaller of what is left of both limits.
    pub fn room(&self) -> u64 {
        self.stored_bytes_limit
            .saturating_sub(self.stored_bytes)
            .min(self.pending_bytes_limit.saturating_sub(self.pending_bytes))
    }
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

/// Shortest share-link lifetime, in seconds (1 hour).
pub const SHARE_MIN_SECS: i64 = 3600;
/// Longest share-link lifetime, in seconds (30 days).
pub const SHARE_MAX_SECS: i64 = 30 * 24 * 3600;
/// Default share-link lifetime, in seconds (7 days).
pub const SHARE_DEFAULT_SECS: i64 = 7 * 24 * 3600;
/// Largest download limit of a share link.
pub const SHARE_MAX_DOWNLOADS: u32 = 1000;
/// Shortest share passphrase, in characters.
pub const SHARE_MIN_PASSPHRASE: usize = 8;
/// Most files behind one link (each is one KMS call per counted release).
pub const SHARE_MAX_FILES: usize = 100;

/// `POST /api/objects/{id}/shares`.
///
/// The owner's page makes the link's id and key, and seals the data key for the link
/// (`cipherdrop_core::seal_for_link`); the server keeps the sealed key encrypted by KMS and never
/// sees the link key, so neither the server nor the token alone can decrypt the file.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct CreateShareRequest {
    /// The link's id, made by the page: a lowercase hyphenated UUID (the sealed key's AAD).
    pub id: String,
    /// The data key sealed under the link key, bound to `id` (base64, 61 bytes); for a link to
    /// several files (`POST /api/shares`) each item carries its own and this stays empty.
    #[serde(default)]
    pub sealed_key: String,
    /// The files of a link to several files, in the order the recipient sees them (1 ..=
    /// [`SHARE_MAX_FILES`]); empty for a link to one file.
    #[serde(default)]
    pub items: Vec<ShareItemRequest>,
    /// Lifetime in seconds (1 hour ..= 30 days; default 7 days).
    #[serde(default)]
    pub expires_in_secs: Option<i64>,
    /// Download limit (1 ..= 1000); none for no limit.
    #[serde(default)]
    pub max_downloads: Option<u32>,
    /// Optional passphrase the recipient must give (hashed with argon2id on the server).
    #[serde(default)]
    pub passphrase: Option<String>,
    /// Optional note shown to the recipient (plain text, up to 1000 characters).
    #[serde(default)]
    pub note: Option<String>,
    /// Delete the file once the last allowed download has had its key.
    #[serde(default)]
    pub delete_after_last: bool,
    /// The file's name and type sealed for the link (base64, opaque to the server).
    #[serde(default)]
    pub metadata: String,
}

/// Longest title of a file request, in characters.
pub const REQUEST_MAX_TITLE: usize = 200;
/// Longest message of a file request, in characters.
pub const REQUEST_MAX_MESSAGE: usize = 2000;
/// Shortest lifetime of a file request: 1 hour.
pub const REQUEST_MIN_SECS: i64 = 3600;
/// Longest lifetime of a file request: 90 days.
pub const REQUEST_MAX_SECS: i64 = 90 * 24 * 3600;
/// Default lifetime of a file request: 7 days.
pub const REQUEST_DEFAULT_SECS: i64 = 7 * 24 * 3600;
/// Most files one request takes.
pub const REQUEST_MAX_FILES: u32 = 1000;
/// Most requests an account keeps open at once (neither closed nor expired).
pub const REQUEST_MAX_OPEN: usize = 100;
/// Longest name or e-mail address a sender gives, in characters (sealed with the file's name,
/// so the page keeps to it; the sealed metadata's own cap holds on the server).
pub const REQUEST_MAX_SENDER: usize = 200;
/// Most uploads under way at once through one request (senders' pending uploads count against
/// the request, never against the owner's own pending limit).
pub const REQUEST_MAX_PENDING: u32 = 10;
/// Most uploads under way at once through one request from one sender's network.
pub const REQUEST_MAX_PENDING_PER_SENDER: u32 = 4;

/// `POST /api/requests`: a file request (an upload page for people without an account).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct CreateRequestRequest {
    /// Shown to senders (1 ..= [`REQUEST_MAX_TITLE`] characters).
    pub title: String,
    /// Shown to senders (at most [`REQUEST_MAX_MESSAGE`] characters).
    #[serde(default)]
    pub message: Option<String>,
    /// Lifetime in seconds ([`REQUEST_MIN_SECS`] ..= [`REQUEST_MAX_SECS`]; default 7 days).
    #[serde(default)]
    pub expires_in_secs: Option<i64>,
    /// Most files it takes (1 ..= [`REQUEST_MAX_FILES`]).
    pub max_files: u32,
    /// Most bytes it takes, as stored (ciphertext), at least 1.
    pub max_bytes: u64,
    /// A passphrase senders must give (hashed with argon2id).
    #[serde(default)]
    pub passphrase: Option<String>,
    /// Ask each sender for a name or e-mail address (sealed with their files' names).
    #[serde(default)]
    pub ask_sender: bool,
}

/// A file request as its owner sees it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct RequestSummary {
    /// Request id (not the token).
    pub id: String,
    /// Its title.
    pub title: String,
    /// Its message.
    pub message: Option<String>,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub expires_at: i64,
    /// Unix seconds, if closed.
    pub closed_at: Option<i64>,
    /// Most files.
    pub max_files: u32,
    /// Most bytes (stored).
    pub max_bytes: u64,
    /// Files received or arriving (uploads in progress hold their place).
    pub files: u32,
    /// Bytes those hold.
    pub bytes: u64,
    /// Whether senders need a passphrase.
    pub has_passphrase: bool,
    /// Whether senders are asked for a name or address.
    pub ask_sender: bool,
    /// Files that arrived since the owner last looked at the request's files.
    pub new_files: u32,
    /// Uploads under way through it (senders' pending uploads; the owner may stop them).
    #[serde(default)]
    pub pending: u32,
}

/// The answer to creating a request: the only time its token is shown.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RequestCreated {
    /// The request.
    pub request: RequestSummary,
    /// The token (256 bits, URL-safe base64); the link is `/r/#t={token}`.
    pub token: String,
}

/// `GET /api/requests`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RequestList {
    /// Newest first.
    pub requests: Vec<RequestSummary>,
}

/// `PATCH /api/requests/{id}`: a new lifetime from now, and/or closed or reopened.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct UpdateRequestRequest {
    /// Lasts this many seconds from now.
    #[serde(default)]
    pub expires_in_secs: Option<i64>,
    /// Close (true) or reopen (false).
    #[serde(default)]
    pub closed: Option<bool>,
}

/// `POST /api/request` (token in the body): what a sender sees.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct RequestInfo {
    /// The request's title.
    pub title: String,
    /// Its message.
    pub message: Option<String>,
    /// Unix seconds.
    pub expires_at: i64,
    /// Files it still takes.
    pub files_left: u32,
    /// Bytes it still takes (stored, so a little more than the files' own sizes).
    pub bytes_left: u64,
    /// Whether a passphrase is needed to send.
    pub needs_passphrase: bool,
    /// Whether the sender is asked for a name or address.
    pub ask_sender: bool,
}

/// `POST /api/request/uploads`: a sender starts one file's upload.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SenderUploadRequest {
    /// The request's token (from the link's fragment).
    pub token: String,
    /// The request's passphrase, if it has one.
    #[serde(default)]
    pub passphrase: Option<String>,
    /// The file, as an owner's upload describes it.
    pub upload: CreateUploadRequest,
}

/// The answer to a sender's new upload: the upload, and the secret that alone lets the sender
/// send its parts, complete or abort it (shown only now).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SenderUploadResponse {
    /// The upload (its data key is for this file only).
    pub upload: CreateUploadResponse,
    /// The sender's secret for this upload (URL-safe base64, 256 bits).
    pub sender_secret: String,
}

/// `POST /api/request/uploads/{id}/parts`: more part URLs for a sender's upload.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SenderPartsRequest {
    /// The upload's sender secret.
    pub sender_secret: String,
    /// The first part number (default 1).
    #[serde(default)]
    pub first: Option<u32>,
    /// How many (default 64, at most 1000).
    #[serde(default)]
    pub count: Option<u32>,
    /// The length of part `first`, for a part whose length only the message decides.
    #[serde(default)]
    pub length: Option<u64>,
}

/// `POST /api/request/uploads/{id}/complete`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SenderCompleteRequest {
    /// The upload's sender secret.
    pub sender_secret: String,
    /// The parts, as for an owner's upload.
    pub parts: Vec<CompletedPart>,
    /// The file's name and type, sealed by the sender's page (base64).
    pub metadata: String,
}

/// `POST /api/request/uploads/{id}/abort`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SenderAbortRequest {
    /// The upload's sender secret.
    pub sender_secret: String,
}

/// What a sender gets for a file that arrived: a receipt, and nothing that reads it back.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct SenderReceipt {
    /// The file's reference (its object id).
    pub reference: String,
    /// Bytes stored (ciphertext).
    pub size: u64,
    /// The file's own size.
    pub plaintext_size: u64,
}

/// One file of a link to several files.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ShareItemRequest {
    /// The owner's complete file.
    pub object_id: String,
    /// Its data key sealed under the link key, bound to the link's id (base64, 61 bytes).
    pub sealed_key: String,
    /// Its name (a relative path, for a folder) and type sealed under the link key, bound to the
    /// object id (base64).
    pub metadata: String,
}

/// One file of a link to several files, as its holder sees it before any key is released.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ShareItemInfo {
    /// The file's id (binds its sealed name).
    pub object_id: String,
    /// Ciphertext size in bytes.
    pub size: u64,
    /// Plaintext size in bytes.
    pub plaintext_size: u64,
    /// Algorithm suite.
    pub suite: u16,
    /// Name and type sealed for the link (base64).
    pub metadata: String,
}

/// One file's part of a counted release of a link to several files.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ShareItemKey {
    /// The file's id.
    pub object_id: String,
    /// Its data key sealed under the link key (base64, 61 bytes).
    pub sealed_key: String,
    /// The KMS key that decrypted it.
    pub key_arn: String,
    /// Presigned GET of its ciphertext.
    pub download_url: String,
}

/// One share link as its owner sees it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ShareSummary {
    /// Share id (not the token).
    pub id: String,
    /// The shared object.
    pub object_id: String,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub expires_at: i64,
    /// Download limit, if any.
    pub max_downloads: Option<u32>,
    /// Keys released so far.
    pub downloads: u32,
    /// Whether a passphrase is needed.
    pub has_passphrase: bool,
    /// The note.
    pub note: Option<String>,
    /// Whether the file is deleted after the last allowed download.
    pub delete_after_last: bool,
    /// Unix seconds, if revoked.
    pub revoked_at: Option<i64>,
    /// Made in the old form (token in the path, server-released key) and retired.
    #[serde(default)]
    pub retired: bool,
    /// How many files the link gives (1, or the size of a set).
    #[serde(default)]
    pub files: u32,
    /// When the link last released a key (Unix seconds), if ever.
    #[serde(default)]
    pub last_used_at: Option<i64>,
    /// Downloads since the owner last looked at the file's links.
    #[serde(default)]
    pub new_downloads: u32,
}

/// The answer to creating a share: the only time the token is shown.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ShareCreated {
    /// The link's settings.
    pub share: ShareSummary,
    /// The link's secret token (256 bits, URL-safe base64); the link is
    /// `/s/#t={token}&k={link key}` (see `cipherdrop_core::LinkSecret`).
    pub token: String,
}

/// `GET /api/objects/{id}/shares`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ShareList {
    /// Newest first.
    pub shares: Vec<ShareSummary>,
}

/// `PATCH /api/shares/{id}`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct UpdateShareRequest {
    /// New lifetime from now, in seconds (1 hour ..= 30 days).
    #[serde(default)]
    pub expires_in_secs: Option<i64>,
    /// New download limit (≥ downloads so far, ≤ 1000).
    #[serde(default)]
    pub max_downloads: Option<u32>,
    /// Remove the download limit.
    #[serde(default)]
    pub unlimited: bool,
}

/// `POST /api/share` and `POST /api/share/key`: the token travels in the body, never in a URL.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ShareTokenRequest {
    /// The link's token.
    pub token: String,
    /// The passphrase, if the link has one (key release only).
    #[serde(default)]
    pub passphrase: Option<String>,
}

/// `POST /api/share`: what a recipient may know before any key is released.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ShareInfo {
    /// The link's id (the sealed key's AAD; not secret).
    pub id: String,
    /// Ciphertext size in bytes.
    pub size: u64,
    /// Plaintext size in bytes.
    pub plaintext_size: u64,
    /// Algorithm suite.
    pub suite: u16,
    /// Unix seconds.
    pub expires_at: i64,
    /// Downloads left, if limited.
    pub remaining: Option<u32>,
    /// Whether a passphrase is needed.
    pub needs_passphrase: bool,
    /// The owner's note.
    pub note: Option<String>,
    /// Name and type sealed for the link (base64); for several files, the set's label, if any.
    pub metadata: String,
    /// The files of a link to several files, in order; empty for a link to one file.
    #[serde(default)]
    pub items: Vec<ShareItemInfo>,
}

/// `POST /api/share/key`: one counted key release. The server decrypts the link's sealed key
/// with KMS and returns it still sealed: only the link key in the fragment opens it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ShareKeyResponse {
    /// The link's id.
    pub id: String,
    /// The data key sealed under the link key (base64, 61 bytes).
    pub sealed_key: String,
    /// The KMS key that decrypted the sealed key.
    pub key_arn: String,
    /// Presigned GET of the ciphertext.
    pub download_url: String,
    /// Unix seconds.
    pub url_expires_at: i64,
    /// Downloads left after this one, if limited.
    pub remaining: Option<u32>,
    /// For a link to several files: every file's key and URL (one release counts once for the
    /// whole set); the fields above are the first file's.
    #[serde(default)]
    pub items: Vec<ShareItemKey>,
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
