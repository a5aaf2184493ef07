//! Uploads over HTTP for accounts: `POST /api/uploads`, its status, more part URLs, the pending
//! data key for a resume, completion and abort. The work is the upload domain's
//! ([`crate::uploads`]), which file requests' senders use too.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use cipherdrop_api::{
    CompleteUploadRequest, CreateUploadRequest, ObjectSummary, PendingKeyResponse, StoredPart,
    UploadStatus, Usage,
};

use super::no_store;
use crate::actor::{Actor, Did};
use crate::error::ApiResult;
use crate::extract::{Auth, ClientIp, St};
use crate::objects::{self, ObjectState};
use crate::quotas;
use crate::uploads::{self, Issue, PartQuery, kms_release, status_of, upload_gone};

/// `POST /api/uploads`.
pub async fn create(
    State(state): St,
    ip: ClientIp,
    auth: Auth,
    Json(req): Json<CreateUploadRequest>,
) -> ApiResult<Response> {
    let issue = Issue {
        actor: Actor::Account(&auth),
        owner_id: &auth.user.id,
        request: None,
    };
    Ok(no_store(
        &uploads::issue_upload(&state, ip, &issue, &req).await?,
    ))
}

/// `GET /api/usage`: the account's quotas and what it uses of them.
pub async fn usage(State(state): St, auth: Auth) -> ApiResult<Json<Usage>> {
    let quota = quotas::of(&state.db, state.config.quota, &auth.user.id).await?;
    Ok(Json(quotas::usage(&state.db, quota, &auth.user.id).await?))
}

/// `GET /api/uploads/{id}`: the upload's layout and, while it is pending, the parts S3 holds
/// (`ListParts`), which is what a resumed upload goes by.
pub async fn status(
    State(state): St,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<UploadStatus>> {
    let row = objects::owned(&state.db, &auth.user.id, &id).await?;
    let mut status = status_of(&state, &row, Vec::new());
    if row.state == ObjectState::Pending {
        let listed = state
            .aws
            .list_parts(&state.config.bucket, &row.s3_key, &row.s3_upload_id)
            .await?;
        let Some(listed) = listed else {
            return Err(upload_gone());
        };
        status.stored = listed
            .into_iter()
            .filter(|(n, ..)| (1..=status.part_count).contains(n))
            .map(|(part_number, size, etag)| StoredPart {
                part_number,
                size,
                etag,
            })
            .collect();
    }
    Ok(Json(status))
}

/// `POST /api/uploads/{id}/key`: the data key of a *pending* upload again, for its owner to
/// resume it (one KMS `Decrypt` of the stored EDK under the stored context, audited like any
/// release; no key leaves without its audit row). Refused once the upload is complete or ended.
pub async fn release_pending_key(
    State(state): St,
    ip: ClientIp,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let row = match objects::owned(&state.db, &auth.user.id, &id).await {
        Ok(row) => row,
        Err(e) => {
            if e.status == StatusCode::NOT_FOUND {
                Actor::Account(&auth)
                    .audit(
                        &state,
                        ip,
                        Did {
                            action: "key.released",
                            object: &id,
                            outcome: "denied",
                            detail: "resume: not the owner, or no such upload",
                        },
                    )
                    .await?;
            }
            return Err(e);
        }
    };
    row.require_pending()?;
    let (result, outcome, detail) =
        kms_release(&state, &row, "to owner, to resume a pending upload").await?;
    // No key leaves without its audit row.
    Actor::Account(&auth)
        .audit(
            &state,
            ip,
            Did {
                action: "key.released",
                object: &row.id,
                outcome,
                detail: &detail,
            },
        )
        .await?;
    Ok(no_store(&PendingKeyResponse {
        data_key: result?,
        key_arn: row.key_arn.clone(),
        edk: B64.encode(&row.edk),
        encryption_context: row.context()?,
    }))
}

/// `GET /api/uploads/{id}/parts?first=&count=[&length=]`: more presigned part URLs.
pub async fn part_urls(
    State(state): St,
    auth: Auth,
    Path(id): Path<String>,
    Query(q): Query<PartQuery>,
) -> ApiResult<Json<UploadStatus>> {
    let row = objects::owned(&state.db, &auth.user.id, &id).await?;
    Ok(Json(uploads::more_parts(&state, &row, &q).await?))
}

/// `POST /api/uploads/{id}/complete`.
pub async fn complete(
    State(state): St,
    ip: ClientIp,
    auth: Auth,
    Path(id): Path<String>,
    Json(req): Json<CompleteUploadRequest>,
) -> ApiResult<Json<ObjectSummary>> {
    let row = objects::owned(&state.db, &auth.user.id, &id).await?;
    let row = uploads::complete_row(&state, ip, Actor::Account(&auth), row, &req).await?;
    Ok(Json(row.summary()))
}

/// `POST /api/uploads/{id}/abort`.
pub async fn abort(
    State(state): St,
    ip: ClientIp,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let row = objects::owned(&state.db, &auth.user.id, &id).await?;
    uploads::abort_row(&state, ip, Actor::Account(&auth), &row).await?;
    Ok(StatusCode::NO_CONTENT)
}
