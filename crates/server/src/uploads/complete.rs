//! Completing an upload: S3 assembles the parts, the stored header and size are checked, and only
//! then is the object recorded (with its sealed metadata); a sender's file arrives only while its
//! request is open.

use axum::http::StatusCode;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use cipherdrop_api::ErrorCode;
use cipherdrop_api::{CompleteUploadRequest, MAX_METADATA_BYTES};

use super::{MAX_HEADER_READ, upload_gone};
use crate::actor::{Actor, Did};
use crate::error::{ApiError, ApiResult};
use crate::extract::ClientIp;
use crate::objects::{self, ObjectRow, ObjectState};
use crate::state::AppState;

/// The audit row of a completion of `row`.
fn completion<'a>(row: &'a ObjectRow, outcome: &'a str, detail: &'a str) -> Did<'a> {
    Did {
        action: "upload.completed",
        object: &row.id,
        outcome,
        detail,
    }
}

/// Completes a pending upload: S3 assembles the parts, the stored header and size are checked,
/// and only then is the object recorded (with its sealed metadata). Returns the complete row.
pub(crate) async fn complete_row(
    state: &AppState,
    ip: ClientIp,
    actor: Actor<'_>,
    row: ObjectRow,
    req: &CompleteUploadRequest,
) -> ApiResult<ObjectRow> {
    row.require_pending()?;
    if let Some(request_id) = &row.request_id {
        // A sender's file arrives only while its request is open: one closed or expired while
        // the file was on its way takes nothing, and the upload gives its place back.
        let request = crate::requests::by_id(&state.db, request_id).await?;
        if let Some(refusal) = request.ended() {
            objects::abort_pending(state, &row.s3_ref()).await?;
            actor
                .record(
                    state,
                    ip,
                    completion(
                        &row,
                        "denied",
                        "the request ended while the file was on its way; the upload was aborted",
                    ),
                )
                .await;
            return Err(refusal);
        }
    }
    let metadata = B64
        .decode(&req.metadata)
        .map_err(|_| ApiError::bad_request("metadata must be base64"))?;
    if metadata.len() > MAX_METADATA_BYTES {
        return Err(ApiError::bad_request(format!(
            "encrypted metadata is limited to {MAX_METADATA_BYTES} bytes"
        )));
    }
    let expected = row.part_count as usize;
    let n = req.parts.len();
    // A signed message may end up shorter than declared (the signature's length varies), so
    // its last declared part may be empty and left out.
    let count_ok = n == expected || (row.suite.is_signed() && n + 1 == expected && n > 0);
    let numbered = req
        .parts
        .iter()
        .enumerate()
        .all(|(i, p)| p.part_number as usize == i + 1);
    if !count_ok || !numbered {
        return Err(ApiError::bad_request(format!(
            "list parts 1 to {expected} in order, each with the ETag S3 answered"
        )));
    }
    let parts: Vec<(u32, String)> = req
        .parts
        .iter()
        .map(|p| (p.part_number, p.etag.clone()))
        .collect();
    let bucket = &state.config.bucket;
    let completed = state
        .aws
        .complete_multipart(bucket, &row.s3_key, &row.s3_upload_id, &parts)
        .await?;
    let size = state.aws.object_size(bucket, &row.s3_key).await?;
    let Some(size) = size else {
        if completed {
            return Err(ApiError::new(
                StatusCode::BAD_GATEWAY,
                ErrorCode::S3Error,
                "S3 completed the upload but has no object",
            ));
        }
        // Nothing can finish it now: the row ends too, so the account's pending places and
        // bytes (and a request's) are given back at once rather than by the sweeper.
        objects::transition(
            &state.db,
            &row.id,
            ObjectState::Pending,
            ObjectState::Aborted,
        )
        .await?;
        actor
            .record(
                state,
                ip,
                completion(&row, "error", "S3 no longer has the upload; it was ended"),
            )
            .await;
        return Err(upload_gone());
    };
    let prefix = state
        .aws
        .read_prefix(bucket, &row.s3_key, size.min(MAX_HEADER_READ))
        .await?;
    if let Err(reason) = row.check_stored(&prefix, size) {
        state.aws.delete_object(bucket, &row.s3_key).await?;
        objects::transition(
            &state.db,
            &row.id,
            ObjectState::Pending,
            ObjectState::Rejected,
        )
        .await?;
        actor
            .record(state, ip, completion(&row, "denied", &reason))
            .await;
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::HeaderMismatch,
            format!("the uploaded object was deleted: {reason}"),
        ));
    }
    if !objects::mark_complete(&state.db, &row.id, &metadata, size).await? {
        let now = objects::owned(&state.db, &row.owner_id, &row.id).await?;
        if now.state == ObjectState::Complete {
            // A completion of the same upload that ran at the same time (a retry after a lost
            // answer) recorded it first: the file is whole, and this completion agrees.
            return Ok(now);
        }
        // An abort or the sweeper ended the upload while S3 assembled it: nothing would ever list
        // or delete this object, so it goes now (the sweeper catches it if this fails too).
        if let Err(e) = state.aws.delete_object(bucket, &row.s3_key).await {
            tracing::warn!(object = %row.id, error = %e, "could not delete an object completed after its abort");
        }
        actor
            .record(
                state,
                ip,
                completion(
                    &row,
                    "denied",
                    "aborted meanwhile; the assembled object was deleted",
                ),
            )
            .await;
        return Err(ApiError::conflict(
            "the upload was aborted while it completed, and what S3 assembled was deleted; start a new upload",
        ));
    }
    actor
        .record(
            state,
            ip,
            completion(&row, "ok", &format!("{size} bytes, header verified")),
        )
        .await;
    crate::notify::quota_after_upload(state, &row.owner_id).await;
    objects::owned(&state.db, &row.owner_id, &row.id).await
}
