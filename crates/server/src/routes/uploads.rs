//! Uploads: a KMS data key and a presigned multipart upload for each new file, more part URLs,
//! completion (S3 assembles the parts; the stored header and size are checked before the object
//! is recorded) and abort.

use std::collections::{BTreeMap, HashMap};

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use cipherdrop_api::{
    CONTEXT_OBJECT, CONTEXT_OWNER, CONTEXT_REQUEST, CompleteUploadRequest, CreateUploadRequest,
    CreateUploadResponse, MAX_METADATA_BYTES, ObjectSummary, PartUrl, PendingKeyResponse,
    SUITE_COMMIT_KEY, SUITE_COMMIT_KEY_ECDSA_P384, SecretB64, StoredPart, UploadStatus, Usage,
};
use cipherdrop_core::{
    AlgorithmSuiteId, ContentType, EncryptedDataKey, EncryptionContext, Header, MessageLen,
    PUBLIC_KEY_FIELD, Suite,
};
use serde::Deserialize;
use zeroize::Zeroizing;

use super::{Actor, audit_account, audit_actor, no_store, record_actor};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Auth, ClientIp, St};
use crate::objects::{self, NewUpload, ObjectRow, ObjectState, to_u64};
use crate::quotas;
use crate::state::AppState;

/// S3 keeps at most this many parts per upload.
pub const MAX_PARTS: u64 = 10_000;
/// S3's smallest part (all but the last).
pub const MIN_PART_SIZE: u64 = 5 * 1024 * 1024;
/// S3's largest part.
pub const MAX_PART_SIZE: u64 = 5 * 1024 * 1024 * 1024;
/// Part URLs handed out with a new upload.
pub const FIRST_URLS: u32 = 64;
/// Most part URLs handed out per request.
pub const MAX_URLS_PER_REQUEST: u32 = 1000;
/// Frame lengths accepted (plaintext bytes per frame).
pub const FRAME_LENGTHS: std::ops::RangeInclusive<u32> = 1024..=(16 * 1024 * 1024);
/// The most header bytes read back from S3.
const MAX_HEADER_READ: u64 = 64 * 1024;

/// Part size: at least S3's minimum, large enough for at most [`MAX_PARTS`] parts, a whole
/// number of MiB.
pub fn part_layout(ciphertext_size: u64) -> (u64, u64) {
    const MIB: u64 = 1024 * 1024;
    let needed = ciphertext_size.div_ceil(MAX_PARTS).div_ceil(MIB) * MIB;
    let part_size = needed.max(MIN_PART_SIZE);
    (part_size, ciphertext_size.div_ceil(part_size).max(1))
}

/// The size the upload declares: the longest message core's encoder writes for this header and
/// plaintext (exact for 0x0478).
fn declared_size(
    suite: Suite,
    context: &EncryptionContext,
    edk: &EncryptedDataKey,
    frame: u32,
    plaintext_size: u64,
) -> ApiResult<u64> {
    let header = Header {
        suite,
        message_id: [0; cipherdrop_core::MESSAGE_ID_LEN],
        encryption_context: context.clone(),
        encrypted_data_keys: vec![edk.clone()],
        content_type: ContentType::Framed,
        frame_length: frame,
        commitment: [0; cipherdrop_core::COMMITMENT_LEN],
    };
    let lengths = MessageLen::for_header(&header, plaintext_size)
        .map_err(|e| ApiError::bad_request(format!("header: {e}")))?
        .ok_or_else(|| ApiError::bad_request("too many frames for this frame length"))?;
    Ok(lengths.max())
}

/// Where a message can end: its shortest and longest possible length. Exact for 0x0478; for
/// 0x0578 a signature of 8 to 104 bytes leaves a range.
fn message_ends(row: &ObjectRow) -> (u64, u64) {
    let size = to_u64(row.ciphertext_size);
    let shortest = if row.suite == i64::from(SUITE_COMMIT_KEY_ECDSA_P384) {
        size.saturating_sub(cipherdrop_core::SIGNATURE_LEN_SLACK)
    } else {
        size
    };
    (shortest, size)
}

/// The exact length of part `n` when it is certain: every part of a 0x0478 message, whose size
/// is exact; for 0x0578 only the parts that end before the shortest possible message does.
fn certain_part_len(row: &ObjectRow, n: u32) -> Option<u64> {
    let ((shortest, size), part) = (message_ends(row), to_u64(row.part_size));
    let start = u64::from(n).checked_sub(1)?.checked_mul(part)?;
    let end = start.checked_add(part)?.min(size);
    (end <= shortest && end > start).then_some(end - start)
}

/// Whether part `n` may have `len` bytes: its certain length if it has one; otherwise a full
/// part that does not pass the longest message, or a shorter one that ends the message within
/// its possible range.
fn possible_part_len(row: &ObjectRow, n: u32, len: u64) -> bool {
    if let Some(certain) = certain_part_len(row, n) {
        return len == certain;
    }
    let ((shortest, size), part) = (message_ends(row), to_u64(row.part_size));
    let Some(start) = u64::from(n)
        .checked_sub(1)
        .and_then(|i| i.checked_mul(part))
    else {
        return false;
    };
    let end = start.saturating_add(len);
    len > 0 && len <= part && end <= size && (len == part || end >= shortest)
}

/// Presigned URLs for parts `first .. first + count`. Every URL signs its part's length, so S3
/// refuses any other body: a part whose length is certain gets it; a part whose length is not
/// (the last one or two of a 0x0578 message) is left out unless the page names the length it
/// has (`length`, for one part), which must be possible for the declared message.
async fn presign_parts(
    state: &AppState,
    row: &ObjectRow,
    first: u32,
    count: u32,
    length: Option<u64>,
) -> ApiResult<Vec<PartUrl>> {
    let last = u32::try_from(row.part_count).unwrap_or(0);
    if let Some(len) = length
        && (count != 1 || !(1..=last).contains(&first) || !possible_part_len(row, first, len))
    {
        return Err(ApiError::bad_request(format!(
            "part {first} of this upload cannot have {len} bytes (name a length for one part at \
             a time, as the message gives it)"
        )));
    }
    let mut parts = Vec::new();
    let end = first.saturating_add(count).min(last.saturating_add(1));
    for n in first.max(1)..end {
        let Some(len) = certain_part_len(row, n).or(length) else {
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

/// The suite a request names, if it is one of the two accepted.
fn accepted_suite(id: u16) -> ApiResult<Suite> {
    match id {
        SUITE_COMMIT_KEY | SUITE_COMMIT_KEY_ECDSA_P384 => {
            Suite::from_id(AlgorithmSuiteId(id)).map_err(|e| ApiError::bad_request(e.to_string()))
        }
        other => Err(ApiError::bad_request(format!(
            "suite 0x{other:04X} is not accepted; use 0x0478 or 0x0578"
        ))),
    }
}

/// The encryption context of a new object: opaque ids only, plus the signing key's public half.
fn upload_context(
    suite: Suite,
    object_id: &str,
    owner_id: &str,
    public_key: Option<&String>,
) -> ApiResult<EncryptionContext> {
    let mut context = EncryptionContext::new();
    context.insert(CONTEXT_OBJECT, object_id.to_owned());
    context.insert(CONTEXT_OWNER, owner_id.to_owned());
    match (suite.is_signed(), public_key) {
        (true, Some(key)) => {
            let ok = B64
                .decode(key)
                .is_ok_and(|b| b.len() == 49 && matches!(b.first(), Some(2 | 3)));
            if !ok {
                return Err(ApiError::bad_request(
                    "public_key must be a base64 compressed P-384 point (49 bytes)",
                ));
            }
            context.insert(PUBLIC_KEY_FIELD, key.clone());
        }
        (true, None) => return Err(ApiError::bad_request("suite 0x0578 needs public_key")),
        (false, Some(_)) => return Err(ApiError::bad_request("suite 0x0478 takes no public_key")),
        (false, None) => {}
    }
    Ok(context)
}

/// Audits a failed step of an upload's creation with the error's words; passes `result` on.
async fn audit_failure<T>(
    state: &AppState,
    actor: Actor<'_>,
    ip: ClientIp,
    action: &str,
    object_id: &str,
    result: ApiResult<T>,
) -> ApiResult<T> {
    if let Err(e) = &result {
        record_actor(state, actor, ip, action, object_id, "error", &e.message).await;
    }
    result
}

/// Whose a new upload is, and through which request, if a sender's.
pub(crate) struct Issue<'a> {
    /// Who asked (for the audit log).
    pub actor: Actor<'a>,
    /// The account the object will belong to.
    pub owner_id: &'a str,
    /// A sender's upload: the request, its limits, and the hash of the sender's secret.
    pub request: Option<(&'a crate::requests::RequestRow, &'a [u8])>,
}

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
    Ok(no_store(&issue_upload(&state, ip, &issue, &req).await?))
}

/// The limits of the owner's usage that hold for this upload: all of them for the owner's own;
/// for a sender's, only the stored bytes (senders' uploads under way count against their
/// request, never against the owner's own pending places).
fn for_issue(mut usage: Usage, issue: &Issue<'_>) -> Usage {
    if issue.request.is_some() {
        usage.pending_uploads = 0;
        usage.pending_bytes = 0;
    }
    usage
}

/// An account's quota refusal as its issuer may see it: the owner reads their own usage; a file
/// request's sender learns only that the owner has no room, never how much the account holds.
fn for_issuer(refusal: ApiError, issue: &Issue<'_>) -> ApiError {
    if issue.request.is_none() {
        return refusal;
    }
    ApiError::new(
        refusal.status,
        "owner_full",
        "the person who asked for these files has no room for this one right now: nothing was \
         sent; tell them, or send a smaller file",
    )
}

/// A new upload for `issue.owner_id`: the data key (KMS `GenerateDataKey` under the object's
/// context; a sender's upload also names its request), the multipart upload, and the row,
/// recorded only if the owner's quotas (and the request's limits) hold with it, in one statement.
pub(crate) async fn issue_upload(
    state: &AppState,
    ip: ClientIp,
    issue: &Issue<'_>,
    req: &CreateUploadRequest,
) -> ApiResult<CreateUploadResponse> {
    let owner_id = issue.owner_id;
    let actor = issue.actor;
    let suite = accepted_suite(req.suite)?;
    if !FRAME_LENGTHS.contains(&req.frame_length) {
        return Err(ApiError::bad_request(format!(
            "frame length must be {} to {} bytes",
            FRAME_LENGTHS.start(),
            FRAME_LENGTHS.end()
        )));
    }
    if req.plaintext_size > state.config.max_object_size {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!(
                "files up to {} bytes are accepted here; this one has {}",
                state.config.max_object_size, req.plaintext_size
            ),
        ));
    }
    // Spares KMS and S3 the requests that cannot fit (the ciphertext is at least the plaintext);
    // the insert below is the check that counts.
    let quota = quotas::of(&state.db, state.config.quota, owner_id).await?;
    let before = for_issue(quotas::usage(&state.db, quota, owner_id).await?, issue);
    // (Refusals are not audited: nothing was issued, and an account could grow the log with them.)
    if let Some(refusal) = quotas::refusal(&before, req.plaintext_size) {
        return Err(for_issuer(refusal, issue));
    }
    let object_id = uuid::Uuid::new_v4().to_string();
    let mut context = upload_context(suite, &object_id, owner_id, req.public_key.as_ref())?;
    if let Some((request, _)) = issue.request {
        context.insert(CONTEXT_REQUEST, request.id.clone());
    }
    let kms_context: HashMap<String, String> = context
        .iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let issued = audit_failure(
        state,
        actor,
        ip,
        "key.issued",
        &object_id,
        state
            .aws
            .generate_data_key(&state.config.kms_key_id, &kms_context)
            .await,
    )
    .await?;
    let edk = EncryptedDataKey::aws_kms(&issued.key_arn, issued.edk.clone())
        .map_err(|e| ApiError::new(StatusCode::BAD_GATEWAY, "kms_error", e.to_string()))?;
    let ciphertext_size =
        declared_size(suite, &context, &edk, req.frame_length, req.plaintext_size)?;
    let (part_size, part_count) = part_layout(ciphertext_size);
    if part_count > MAX_PARTS || part_size > MAX_PART_SIZE {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            "too large for S3 multipart",
        ));
    }
    let s3_key = format!("objects/{object_id}");
    let s3_upload_id = audit_failure(
        state,
        actor,
        ip,
        "upload.created",
        &object_id,
        state
            .aws
            .create_multipart(&state.config.bucket, &s3_key)
            .await,
    )
    .await?;
    let context_json = serde_json::to_string(&context.iter().collect::<BTreeMap<_, _>>())
        .map_err(|e| ApiError::internal("encoding the encryption context", &e))?;
    let sender_net = crate::limiter::network_key(ip.or_unspecified());
    let inserted = objects::insert_pending(
        &state.db,
        &NewUpload {
            id: &object_id,
            owner_id,
            s3_key: &s3_key,
            s3_upload_id: &s3_upload_id,
            suite: req.suite,
            frame_length: req.frame_length,
            plaintext_size: req.plaintext_size,
            ciphertext_size,
            part_size,
            part_count,
            key_arn: &issued.key_arn,
            edk: &issued.edk,
            context_json: &context_json,
            request: issue.request.map(|(r, sender)| objects::ForRequest {
                id: &r.id,
                max_files: r.max_files,
                max_bytes: r.max_bytes,
                sender_hash: sender,
                sender_net: &sender_net,
            }),
        },
        quota,
    )
    .await;
    if !matches!(inserted, Ok(true)) {
        let _ = state
            .aws
            .abort_multipart(&state.config.bucket, &s3_key, &s3_upload_id)
            .await;
        inserted?;
        // Concurrent uploads of the account (or of the request's senders) took the room meanwhile.
        if let Some((request, _)) = issue.request {
            let now_row = crate::requests::by_id(&state.db, &request.id).await?;
            if let Some(refusal) = now_row.refusal() {
                return Err(refusal);
            }
            let (all, from) =
                objects::pending_for_request(&state.db, &request.id, &sender_net).await?;
            if all >= cipherdrop_api::REQUEST_MAX_PENDING
                || from >= cipherdrop_api::REQUEST_MAX_PENDING_PER_SENDER
            {
                return Err(ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "request_busy",
                    "too many uploads are under way through this request right now; wait for \
                     them to finish and try again",
                ));
            }
            if now_row.bytes_left() < ciphertext_size {
                return Err(ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "request_too_small",
                    format!(
                        "this request has room for {} more bytes; this file needs {ciphertext_size}",
                        now_row.bytes_left()
                    ),
                ));
            }
        }
        let now_used = for_issue(quotas::usage(&state.db, quota, owner_id).await?, issue);
        let refusal = quotas::refusal(&now_used, ciphertext_size).unwrap_or_else(|| {
            ApiError::new(
                StatusCode::CONFLICT,
                "quota_changed",
                "your account's other uploads changed meanwhile; try again",
            )
        });
        return Err(for_issuer(refusal, issue));
    }
    let row = objects::owned(&state.db, owner_id, &object_id).await?;
    let parts = presign_parts(state, &row, 1, FIRST_URLS, None).await?;
    // No data key leaves without its audit row: if the row cannot be written, the upload ends.
    let logged = audit_actor(
        state,
        actor,
        ip,
        "key.issued",
        &object_id,
        "ok",
        &format!("key {}", issued.key_arn),
    )
    .await;
    if let Err(e) = logged {
        let _ = objects::abort_pending(state, &row.s3_ref()).await;
        return Err(e.into());
    }
    record_actor(
        state,
        actor,
        ip,
        "upload.created",
        &object_id,
        "ok",
        &format!(
            "{} plaintext bytes, suite 0x{:04X}, {part_count} parts",
            req.plaintext_size, req.suite
        ),
    )
    .await;
    let data_key = SecretB64::new(Zeroizing::new(B64.encode(&issued.plaintext[..])));
    Ok(CreateUploadResponse {
        upload_id: object_id.clone(),
        object_id,
        data_key,
        key_arn: issued.key_arn.clone(),
        edk: B64.encode(&issued.edk),
        encryption_context: context
            .iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
        part_size,
        part_count: u32::try_from(part_count).unwrap_or(0),
        ciphertext_size,
        parts,
        urls_expire_at: state.urls_expire_at(),
        abandon_at: abandon_at(state, &row),
    })
}

/// `GET /api/usage`: the account's quotas and what it uses of them.
pub async fn usage(State(state): St, auth: Auth) -> ApiResult<Json<Usage>> {
    let quota = quotas::of(&state.db, state.config.quota, &auth.user.id).await?;
    Ok(Json(quotas::usage(&state.db, quota, &auth.user.id).await?))
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
fn upload_gone() -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "upload_gone",
        "S3 no longer has this upload (it was aborted, expired or lost); nothing was stored: \
         start the upload again",
    )
}

/// When the sweeper aborts `row` if it is still pending.
fn abandon_at(state: &AppState, row: &ObjectRow) -> i64 {
    let after = i64::try_from(state.config.abandon_after.as_secs()).unwrap_or(i64::MAX);
    row.created_at.saturating_add(after)
}

fn status_of(state: &AppState, row: &ObjectRow, parts: Vec<PartUrl>) -> UploadStatus {
    UploadStatus {
        upload_id: row.id.clone(),
        object_id: row.id.clone(),
        state: row.state.as_str().to_owned(),
        part_size: to_u64(row.part_size),
        part_count: u32::try_from(row.part_count).unwrap_or(0),
        parts,
        urls_expire_at: state.urls_expire_at(),
        suite: row.suite_id(),
        frame_length: u32::try_from(row.frame_length).unwrap_or(0),
        plaintext_size: to_u64(row.plaintext_size),
        ciphertext_size: to_u64(row.ciphertext_size),
        stored: Vec::new(),
        abandon_at: abandon_at(state, row),
    }
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
                audit_account(
                    &state,
                    &auth,
                    ip,
                    "key.released",
                    &id,
                    "denied",
                    "resume: not the owner, or no such upload",
                )
                .await?;
            }
            return Err(e);
        }
    };
    row.require_pending()?;
    let (result, outcome, detail) =
        super::objects::kms_release(&state, &row, "to owner, to resume a pending upload").await?;
    // No key leaves without its audit row.
    audit_account(&state, &auth, ip, "key.released", &row.id, outcome, &detail).await?;
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
    Ok(Json(more_parts(&state, &row, &q).await?))
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

/// `POST /api/uploads/{id}/complete`.
pub async fn complete(
    State(state): St,
    ip: ClientIp,
    auth: Auth,
    Path(id): Path<String>,
    Json(req): Json<CompleteUploadRequest>,
) -> ApiResult<Json<ObjectSummary>> {
    let row = objects::owned(&state.db, &auth.user.id, &id).await?;
    let row = complete_row(&state, ip, Actor::Account(&auth), row, &req).await?;
    Ok(Json(row.summary()))
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
            record_actor(
                state,
                actor,
                ip,
                "upload.completed",
                &row.id,
                "denied",
                "the request ended while the file was on its way; the upload was aborted",
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
    let expected = to_u64(row.part_count);
    let n = req.parts.len() as u64;
    // A signed message may end up shorter than declared (the signature's length varies), so
    // its last declared part may be empty and left out.
    let count_ok = n == expected
        || (row.suite == i64::from(SUITE_COMMIT_KEY_ECDSA_P384) && n + 1 == expected && n > 0);
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
                "s3_error",
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
        record_actor(
            state,
            actor,
            ip,
            "upload.completed",
            &row.id,
            "error",
            "S3 no longer has the upload; it was ended",
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
        record_actor(
            state,
            actor,
            ip,
            "upload.completed",
            &row.id,
            "denied",
            &reason,
        )
        .await;
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "header_mismatch",
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
        record_actor(
            state,
            actor,
            ip,
            "upload.completed",
            &row.id,
            "denied",
            "aborted meanwhile; the assembled object was deleted",
        )
        .await;
        return Err(ApiError::conflict(
            "the upload was aborted while it completed, and what S3 assembled was deleted; start a new upload",
        ));
    }
    record_actor(
        state,
        actor,
        ip,
        "upload.completed",
        &row.id,
        "ok",
        &format!("{size} bytes, header verified"),
    )
    .await;
    objects::owned(&state.db, &row.owner_id, &row.id).await
}

/// `POST /api/uploads/{id}/abort`.
pub async fn abort(
    State(state): St,
    ip: ClientIp,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let row = objects::owned(&state.db, &auth.user.id, &id).await?;
    abort_row(&state, ip, Actor::Account(&auth), &row).await?;
    Ok(StatusCode::NO_CONTENT)
}

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
    record_actor(state, actor, ip, "upload.aborted", &row.id, "ok", by).await;
    Ok(())
}
