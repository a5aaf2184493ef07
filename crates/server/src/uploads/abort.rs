//! Aborting a pending upload: S3's multipart upload and the row, by its owner or its sender.

use crate::actor::{Actor, Did};
use crate::error::{ApiError, ApiResult};
use crate::extract::ClientIp;
use crate::objects::{self, ObjectRow};
use crate::state::AppState;

/// Aborts a pending upload (S3's multipart upload and the row).
pub(crate) async fn abort_row(
    state: &AppState,
    ip: ClientIp,
    actor: Actor<'_>,
    row: &ObjectRow,
) -> ApiResult<()> {
    row.require_pending()?;
    if !objects::abort_pending(state, &row.s3_ref()).await? {
        return Err(ApiError::conflict(
            "the upload completed meanwhile; delete the file instead",
        ));
    }
    let by = match actor {
        Actor::Account(_) => "by owner",
        Actor::Sender(_) => "by its sender",
    };
    actor
        .record(
            state,
            ip,
            Did {
                action: "upload.aborted",
                object: &row.id,
                outcome: "ok",
                detail: by,
            },
        )
        .await;
    Ok(())
}
