//! Uploads: starting one (the data key and part URLs), its status, resuming and completing
//! it, and the account's usage of its quotas.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{ObjectState, SecretB64};

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
