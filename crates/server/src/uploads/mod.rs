//! The upload domain, whoever uploads (an account, or a file request's sender): issue a data key
//! and a multipart upload ([`issue`]), hand out more part URLs, complete (S3 assembles, the
//! stored header and size are checked, then the row is recorded: [`complete`]), abort
//! ([`abort`]), and release a stored data key back out of KMS ([`release`]). The routes for
//! accounts and for senders both call these; nothing here knows about HTTP beyond the errors
//! it answers.

pub(crate) mod abort;
pub(crate) mod complete;
pub(crate) mod issue;
pub(crate) mod release;

use axum::http::StatusCode;
use cipherdrop_api::ErrorCode;
use cipherdrop_api::{PartUrl, UploadStatus};
use serde::Deserialize;

use crate::actor::Actor;
use crate::error::{ApiError, ApiResult};
use crate::objects::ObjectRow;
use crate::state::AppState;

pub(crate) use abort::abort_row;
pub(crate) use complete::complete_row;
pub(crate) use issue::issue_upload;
pub(crate) use release::kms_release;

/// Part URLs handed out with a new upload.
pub const FIRST_URLS: u32 = 64;
/// Most part URLs handed out per request.
pub const MAX_URLS_PER_REQUEST: u32 = 1000;
/// Frame lengths accepted (plaintext bytes per frame).
pub const FRAME_LENGTHS: std::ops::RangeInclusive<u32> = 1024..=(16 * 1024 * 1024);
/// The most header bytes read back from S3.
pub(crate) const MAX_HEADER_READ: u64 = 64 * 1024;

/// Whose a new upload is, and through which request, if a sender's.
pub(crate) struct Issue<'a> {
    /// Who asked (for the audit log).
    pub actor: Actor<'a>,
    /// The account the object will belong to.
    pub owner_id: &'a str,
    /// A sender's upload: the request, its limits, and the hash of the sender's secret.
    pub request: Option<(&'a crate::requests::RequestRow, &'a [u8])>,
}

/// Which part URLs to presign.
#[derive(Deserialize)]
pub struct PartQuery {
    #[serde(default)]
    pub(crate) first: Option<u32>,
    #[serde(default)]
    pub(crate) count: Option<u32>,
    /// The length of part `first`, for a part whose length only the message decides.
    #[serde(default)]
    pub(crate) length: Option<u64>,
}

/// 409 `upload_gone`: S3 no longer holds the upload's parts, so it can never finish.
pub(crate) fn upload_gone() -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        ErrorCode::UploadGone,
        "S3 no longer has this upload (it was aborted, expired or lost); nothing was stored: \
         start the upload again",
    )
}

/// When the sweeper aborts `row` if it is still pending.
pub(crate) fn abandon_at(state: &AppState, row: &ObjectRow) -> i64 {
    let after = i64::try_from(state.config.abandon_after.as_secs()).unwrap_or(i64::MAX);
    row.created_at.saturating_add(after)
}

pub(crate) fn status_of(state: &AppState, row: &ObjectRow, parts: Vec<PartUrl>) -> UploadStatus {
    UploadStatus {
        upload_id: row.id.clone(),
        object_id: row.id.clone(),
        state: row.state,
        part_size: row.part_size,
        part_count: row.part_count,
        parts,
        urls_expire_at: state.urls_expire_at(),
        suite: row.suite_id(),
        frame_length: row.frame_length,
        plaintext_size: row.plaintext_size,
        ciphertext_size: row.ciphertext_size,
        stored: Vec::new(),
        abandon_at: abandon_at(state, row),
    }
}

/// Presigned URLs for parts `first .. first + count`. Every URL signs its part's length, so S3
/// refuses any other body: a part whose length is certain gets it; a part whose length is not
/// (the last one or two of a 0x0578 message) is left out unless the page names the length it
/// has (`length`, for one part), which must be possible for the declared message.
pub(crate) async fn presign_parts(
    state: &AppState,
    row: &ObjectRow,
    first: u32,
    count: u32,
    length: Option<u64>,
) -> ApiResult<Vec<PartUrl>> {
    let layout = row.layout()?;
    let last = layout.count();
    if let Some(len) = length
        && (count != 1 || !(1..=last).contains(&first) || !layout.possible_len(first, len))
    {
        return Err(ApiError::bad_request(format!(
            "part {first} of this upload cannot have {len} bytes (name a length for one part at \
             a time, as the message gives it)"
        )));
    }
    let mut parts = Vec::new();
    let end = first.saturating_add(count).min(last.saturating_add(1));
    for n in first.max(1)..end {
        let Some(len) = layout.certain_len(n).or(length) else {
            continue;
        };
        let url = state
            .aws
            .presign_part(
                &state.config.bucket,
                &row.s3_key,
                &row.s3_upload_id,
                n,
                len,
                state.config.url_ttl,
            )
            .await?;
        parts.push(PartUrl {
            part_number: n,
            url,
        });
    }
    Ok(parts)
}

/// More presigned part URLs for a pending upload.
pub(crate) async fn more_parts(
    state: &AppState,
    row: &ObjectRow,
    q: &PartQuery,
) -> ApiResult<UploadStatus> {
    row.require_pending()?;
    let count = q.count.unwrap_or(FIRST_URLS).min(MAX_URLS_PER_REQUEST);
    let parts = presign_parts(state, row, q.first.unwrap_or(1), count, q.length).await?;
    Ok(status_of(state, row, parts))
}
