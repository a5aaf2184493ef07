//! File requests: the owner's side (make, list, extend, close) and a sender's (look, upload,
//! complete, abort) for people without an account.

use serde::{Deserialize, Serialize};

use crate::{CompletedPart, CreateUploadRequest, CreateUploadResponse};

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
