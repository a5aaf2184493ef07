//! Share links, the owner's side and the holder's: making one (to one file or several),
//! listing, changing and revoking them, and the counted release of a link's sealed key.

use serde::{Deserialize, Serialize};

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
    /// The recipient's page offers to open the file in the tab and no save button (a promise
    /// of the page only: whoever can see a file can capture it).
    #[serde(default)]
    pub view_only: bool,
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
    /// Offered to open in the tab, with no save button.
    #[serde(default)]
    pub view_only: bool,
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
    /// Offered to open in the tab, with no save button.
    #[serde(default)]
    pub view_only: bool,
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
