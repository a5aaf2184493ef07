//! File requests, the owner's side (make one; the answer is the only time its token is shown;
//! list them with what each holds; extend, close and reopen; the files that arrived) and the
//! sender's (no account): what the request says (`POST /api/request`, token in the body), and
//! uploads that become the owner's files. A sender's upload is issued under the owner's context
//! plus the request's id, within the request's limits (counted in the same statement that records
//! it); the sender gets a secret for that one upload, which alone lets it send parts, complete or
//! abort it, and a receipt at the end: nothing a sender holds lists, reads or deletes a file.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use cipherdrop_api::{
    CompleteUploadRequest, CreateRequestRequest, ObjectList, REQUEST_MAX_OPEN, RequestCreated,
    RequestInfo, RequestList, RequestSummary, SenderAbortRequest, SenderCompleteRequest,
    SenderPartsRequest, SenderReceipt, SenderUploadRequest, SenderUploadResponse,
    ShareTokenRequest, UpdateRequestRequest, UploadStatus,
};
use zeroize::Zeroizing;

use super::no_store;
use super::share_link::{verify_guess, wrong_passphrase};
use crate::accounts::{self, new_token};
use crate::actor::{Actor, Did};
use crate::db::now;
use crate::error::{ApiError, ApiResult};
use crate::extract::{Auth, ClientIp, St};
use crate::objects::{self, ObjectRow};
use crate::requests::{self, NewRequest};
use crate::uploads::{self, Issue, PartQuery};

fn max_open() -> i64 {
    i64::try_from(REQUEST_MAX_OPEN).unwrap_or(i64::MAX)
}

fn too_many() -> ApiError {
    ApiError::conflict(format!(
        "an account keeps at most {REQUEST_MAX_OPEN} requests open: close one first"
    ))
}

/// `POST /api/requests`: makes a file request; the answer is the only time its token is shown.
pub async fn create(
    State(state): St,
    auth: Auth,
    ip: ClientIp,
    Json(req): Json<CreateRequestRequest>,
) -> ApiResult<Json<RequestCreated>> {
    let title = requests::title(&req.title)?;
    let message = requests::message(req.message.as_deref())?;
    let secs = requests::lifetime(req.expires_in_secs)?;
    let (max_files, max_bytes) = requests::limits(req.max_files, req.max_bytes)?;
    let passphrase_hash = super::shares::hash_passphrase(&state, req.passphrase).await?;
    let id = uuid::Uuid::new_v4().to_string();
    let token = new_token();
    let stored = requests::insert(
        &state.db,
        &NewRequest {
            id: &id,
            owner_id: &auth.user.id,
            title: &title,
            message: message.as_deref(),
            expires_at: now() + secs,
            max_files,
            max_bytes,
            passphrase_hash: passphrase_hash.as_deref(),
            ask_sender: req.ask_sender,
        },
        &token,
        max_open(),
    )
    .await?;
    if !stored {
        return Err(too_many());
    }
    let row = requests::owned(&state.db, &auth.user.id, &id).await?;
    let detail = format!(
        "request: expires in {secs} s, {max_files} files, {max_bytes} bytes, passphrase {}",
        if row.passphrase_hash.is_some() {
            "yes"
        } else {
            "no"
        }
    );
    Actor::Account(&auth)
        .audit(
            &state,
            ip,
            Did {
                action: "request.created",
                object: &id,
                outcome: "ok",
                detail: &detail,
            },
        )
        .await?;
    Ok(Json(RequestCreated {
        request: row.summary(),
        token: token.to_string(),
    }))
}

/// `GET /api/requests`: the account's requests, newest first, with what each holds.
pub async fn list(State(state): St, auth: Auth) -> ApiResult<Json<RequestList>> {
    let rows = requests::list(&state.db, &auth.user.id).await?;
    // The "new files" badge, unless the account turned it off.
    let badge = crate::notify::prefs::badge(
        &state.db,
        &auth.user.id,
        cipherdrop_api::EVENT_REQUEST_RECEIVED,
    )
    .await?;
    Ok(Json(RequestList {
        requests: rows
            .iter()
            .map(|r| RequestSummary {
                new_files: if badge { r.summary().new_files } else { 0 },
                ..r.summary()
            })
            .collect(),
    }))
}

/// `PATCH /api/requests/{id}`: a new lifetime from now, and/or closed or reopened.
pub async fn update(
    State(state): St,
    auth: Auth,
    ip: ClientIp,
    Path(id): Path<String>,
    Json(req): Json<UpdateRequestRequest>,
) -> ApiResult<Json<RequestSummary>> {
    let row = requests::owned(&state.db, &auth.user.id, &id).await?;
    let expires_at = match req.expires_in_secs {
        Some(secs) => now() + requests::lifetime(Some(secs))?,
        None => row.expires_at,
    };
    let closed_at = match req.closed {
        Some(true) => row.closed_at.or(Some(now())),
        Some(false) => None,
        None => row.closed_at,
    };
    if !requests::update(&state.db, &row, expires_at, closed_at, max_open()).await? {
        return Err(too_many());
    }
    if closed_at.is_some() {
        // Closing ends what is on its way too: those uploads give their places back now, and
        // their completion would be refused anyway.
        abort_arriving(&state, &auth, ip, &row).await?;
    }
    let detail = format!(
        "expires at {expires_at}, {}",
        if closed_at.is_some() {
            "closed"
        } else {
            "open"
        }
    );
    Actor::Account(&auth)
        .audit(
            &state,
            ip,
            Did {
                action: "request.updated",
                object: &id,
                outcome: "ok",
                detail: &detail,
            },
        )
        .await?;
    Ok(Json(
        requests::owned(&state.db, &auth.user.id, &id)
            .await?
            .summary(),
    ))
}

/// `GET /api/requests/{id}/files`: what arrived, newest first; the owner has now seen them (the
/// request's "new" count goes).
pub async fn files(
    State(state): St,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<ObjectList>> {
    let row = requests::owned(&state.db, &auth.user.id, &id).await?;
    let arrived = objects::list_arrived(&state.db, &auth.user.id, &row.id).await?;
    requests::mark_seen(&state.db, &row.id).await?;
    Ok(Json(ObjectList {
        objects: arrived.iter().map(ObjectRow::summary).collect(),
    }))
}

/// Aborts every upload under way through the owner's request `row`; how many it ended.
async fn abort_arriving(
    state: &crate::state::AppState,
    auth: &Auth,
    ip: ClientIp,
    row: &requests::RequestRow,
) -> ApiResult<u32> {
    let mut ended = 0;
    for up in objects::list_arriving(&state.db, &auth.user.id, &row.id).await? {
        // One that completed or ended meanwhile is simply not counted.
        if uploads::abort_row(state, ip, Actor::Account(auth), &up)
            .await
            .is_ok()
        {
            ended += 1;
        }
    }
    Ok(ended)
}

/// `GET /api/requests/{id}/arriving`: the uploads under way through the owner's request (sizes
/// and start times; names are sealed and only arrive with the file).
pub async fn arriving(
    State(state): St,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<ObjectList>> {
    let row = requests::owned(&state.db, &auth.user.id, &id).await?;
    let pending = objects::list_arriving(&state.db, &auth.user.id, &row.id).await?;
    Ok(Json(ObjectList {
        objects: pending.iter().map(ObjectRow::summary).collect(),
    }))
}

/// `POST /api/requests/{id}/arriving/abort`: the owner stops every upload under way through the
/// request; their places go back to the request.
pub async fn stop_arriving(
    State(state): St,
    auth: Auth,
    ip: ClientIp,
    Path(id): Path<String>,
) -> ApiResult<Json<RequestSummary>> {
    let row = requests::owned(&state.db, &auth.user.id, &id).await?;
    let ended = abort_arriving(&state, &auth, ip, &row).await?;
    Actor::Account(&auth)
        .audit(
            &state,
            ip,
            Did {
                action: "request.updated",
                object: &id,
                outcome: "ok",
                detail: &format!("{ended} uploads under way stopped by the owner"),
            },
        )
        .await?;
    Ok(Json(
        requests::owned(&state.db, &auth.user.id, &id)
            .await?
            .summary(),
    ))
}

/// `POST /api/request`: what a sender sees before sending (title, message, expiry, room left,
/// whether a passphrase is needed). A closed, expired or full request says so.
pub async fn info(
    State(state): St,
    Json(req): Json<ShareTokenRequest>,
) -> ApiResult<Json<RequestInfo>> {
    let row = requests::by_token(&state.db, &req.token).await?;
    if let Some(refusal) = row.refusal() {
        return Err(refusal);
    }
    Ok(Json(RequestInfo {
        title: row.title.clone(),
        message: row.message.clone(),
        expires_at: row.expires_at,
        files_left: row.files_left(),
        bytes_left: row.bytes_left(),
        needs_passphrase: row.passphrase_hash.is_some(),
        ask_sender: row.ask_sender != 0,
    }))
}

/// `POST /api/request/uploads`: a sender starts one file's upload (after the passphrase, if the
/// request has one, within the shared guess limits). The answer holds the file's data key and
/// the sender's secret for this upload, both shown only now.
pub async fn sender_create(
    State(state): St,
    ip: ClientIp,
    Json(req): Json<SenderUploadRequest>,
) -> ApiResult<Response> {
    let row = requests::by_token(&state.db, &req.token).await?;
    if let Some(refusal) = row.refusal() {
        return Err(refusal);
    }
    // Every start counts against the sender's address (the attempt is kept, not given back).
    let _started = state
        .sender_limiter
        .begin(&row.id, ip.or_unspecified())
        .await
        .map_err(|r| {
            r.into_error("too many uploads from your address; wait a few minutes and try again")
        })?;
    if let Some(hash) = &row.passphrase_hash {
        let given = Zeroizing::new(req.passphrase.clone().unwrap_or_default());
        if !verify_guess(&state, ip, &row.id, hash, &given).await? {
            Actor::Sender(&row.id)
                .audit(
                    &state,
                    ip,
                    Did {
                        action: "request.upload",
                        object: &row.id,
                        outcome: "denied",
                        detail: "wrong passphrase",
                    },
                )
                .await?;
            return Err(wrong_passphrase());
        }
    }
    let secret = new_token();
    let hash = accounts::token_hash(&secret);
    let issue = Issue {
        actor: Actor::Sender(&row.id),
        owner_id: &row.owner_id,
        request: Some((&row, &hash)),
    };
    let upload = uploads::issue_upload(&state, ip, &issue, &req.upload).await?;
    Ok(no_store(&SenderUploadResponse {
        upload,
        sender_secret: secret.to_string(),
    }))
}

/// `POST /api/request/uploads/{id}/parts`: more part URLs for the sender's own upload.
pub async fn sender_parts(
    State(state): St,
    Path(id): Path<String>,
    Json(req): Json<SenderPartsRequest>,
) -> ApiResult<Json<UploadStatus>> {
    let row = objects::for_sender(&state.db, &id, &req.sender_secret).await?;
    let q = PartQuery {
        first: req.first,
        count: req.count,
        length: req.length,
    };
    Ok(Json(uploads::more_parts(&state, &row, &q).await?))
}

/// `POST /api/request/uploads/{id}/complete`: the sender's upload becomes the owner's file; the
/// sender gets a receipt.
pub async fn sender_complete(
    State(state): St,
    ip: ClientIp,
    Path(id): Path<String>,
    Json(req): Json<SenderCompleteRequest>,
) -> ApiResult<Json<SenderReceipt>> {
    let row = objects::for_sender(&state.db, &id, &req.sender_secret).await?;
    let request = row.request_id.clone().unwrap_or_default();
    let complete = CompleteUploadRequest {
        parts: req.parts,
        metadata: req.metadata,
    };
    let owner = row.owner_id.clone();
    let done = uploads::complete_row(&state, ip, Actor::Sender(&request), row, &complete).await?;
    crate::notify::enqueue(
        &state,
        &owner,
        cipherdrop_api::EVENT_REQUEST_RECEIVED,
        serde_json::json!({ "request": request, "file": done.id }),
    )
    .await;
    Ok(Json(SenderReceipt {
        reference: done.id.clone(),
        size: done.size(),
        plaintext_size: done.plaintext_size,
    }))
}

/// `POST /api/request/uploads/{id}/abort`: the sender gives up its own pending upload.
pub async fn sender_abort(
    State(state): St,
    ip: ClientIp,
    Path(id): Path<String>,
    Json(req): Json<SenderAbortRequest>,
) -> ApiResult<StatusCode> {
    let row = objects::for_sender(&state.db, &id, &req.sender_secret).await?;
    let request = row.request_id.clone().unwrap_or_default();
    uploads::abort_row(&state, ip, Actor::Sender(&request), &row).await?;
    Ok(StatusCode::NO_CONTENT)
}
