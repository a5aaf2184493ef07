//! Issuing an upload: the data key (KMS `GenerateDataKey` under the object's context), the
//! multipart upload, and the row, recorded only if the owner's quotas (and a request's limits)
//! hold with it.

use cipherdrop_api::ErrorCode;
use std::collections::{BTreeMap, HashMap};

use axum::http::StatusCode;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use cipherdrop_api::{
    CONTEXT_OBJECT, CONTEXT_OWNER, CONTEXT_REQUEST, CreateUploadRequest, CreateUploadResponse,
    SUITE_COMMIT_KEY, SUITE_COMMIT_KEY_ECDSA_P384, SecretB64, Usage,
};
use cipherdrop_core::{
    AlgorithmSuiteId, ContentType, EncryptedDataKey, EncryptionContext, Header, MessageLen,
    PUBLIC_KEY_FIELD, PartLayout, Suite,
};
use zeroize::Zeroizing;

use super::{FIRST_URLS, FRAME_LENGTHS, Issue, abandon_at, presign_parts};
use crate::actor::{Actor, Did};
use crate::error::{ApiError, ApiResult};
use crate::extract::ClientIp;
use crate::objects::{self, NewUpload};
use crate::quotas;
use crate::state::AppState;

/// The lengths the message may have: the upload declares the longest core's encoder writes for
/// this header and plaintext (exact for 0x0478).
pub(crate) fn message_len(
    suite: Suite,
    context: &EncryptionContext,
    edk: &EncryptedDataKey,
    frame: u32,
    plaintext_size: u64,
) -> ApiResult<MessageLen> {
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
    Ok(lengths)
}

/// The suite a request names, if it is one of the two accepted.
pub(crate) fn accepted_suite(id: u16) -> ApiResult<Suite> {
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
pub(crate) fn upload_context(
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
pub(crate) async fn audit_failure<T>(
    state: &AppState,
    actor: Actor<'_>,
    ip: ClientIp,
    action: &str,
    object_id: &str,
    result: ApiResult<T>,
) -> ApiResult<T> {
    if let Err(e) = &result {
        actor
            .record(
                state,
                ip,
                Did {
                    action,
                    object: object_id,
                    outcome: "error",
                    detail: &e.message,
                },
            )
            .await;
    }
    result
}

/// The limits of the owner's usage that hold for this upload: all of them for the owner's own;
/// for a sender's, only the stored bytes (senders' uploads under way count against their
/// request, never against the owner's own pending places).
pub(crate) fn for_issue(mut usage: Usage, issue: &Issue<'_>) -> Usage {
    if issue.request.is_some() {
        usage.pending_uploads = 0;
        usage.pending_bytes = 0;
    }
    usage
}

/// An account's quota refusal as its issuer may see it: the owner reads their own usage; a file
/// request's sender learns only that the owner has no room, never how much the account holds.
pub(crate) fn for_issuer(refusal: ApiError, issue: &Issue<'_>) -> ApiError {
    if issue.request.is_none() {
        return refusal;
    }
    ApiError::new(
        refusal.status,
        ErrorCode::OwnerFull,
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
            ErrorCode::TooLarge,
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
    let key_id = state.issuing_key(owner_id).await?;
    let issued = audit_failure(
        state,
        actor,
        ip,
        "key.issued",
        &object_id,
        state.aws.generate_data_key(&key_id, &kms_context).await,
    )
    .await?;
    let edk = EncryptedDataKey::aws_kms(&issued.key_arn, issued.edk.clone())
        .map_err(|e| ApiError::new(StatusCode::BAD_GATEWAY, ErrorCode::KmsError, e.to_string()))?;
    let lengths = message_len(suite, &context, &edk, req.frame_length, req.plaintext_size)?;
    let ciphertext_size = lengths.max();
    let Some(layout) = PartLayout::choose(&lengths) else {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::TooLarge,
            "too large for S3 multipart",
        ));
    };
    let (part_size, part_count) = (layout.part_size(), layout.count());
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
                    ErrorCode::RequestBusy,
                    "too many uploads are under way through this request right now; wait for \
                     them to finish and try again",
                ));
            }
            if now_row.bytes_left() < ciphertext_size {
                return Err(ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    ErrorCode::RequestTooSmall,
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
                ErrorCode::QuotaChanged,
                "your account's other uploads changed meanwhile; try again",
            )
        });
        return Err(for_issuer(refusal, issue));
    }
    let row = objects::owned(&state.db, owner_id, &object_id).await?;
    let parts = presign_parts(state, &row, 1, FIRST_URLS, None).await?;
    // No data key leaves without its audit row: if the row cannot be written, the upload ends.
    let logged = actor
        .audit(
            state,
            ip,
            Did {
                action: "key.issued",
                object: &object_id,
                outcome: "ok",
                detail: &format!("key {}", issued.key_arn),
            },
        )
        .await;
    if let Err(e) = logged {
        let _ = objects::abort_pending(state, &row.s3_ref()).await;
        return Err(e.into());
    }
    actor
        .record(
            state,
            ip,
            Did {
                action: "upload.created",
                object: &object_id,
                outcome: "ok",
                detail: &format!(
                    "{} plaintext bytes, suite 0x{:04X}, {part_count} parts",
                    req.plaintext_size, req.suite
                ),
            },
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
        part_count,
        ciphertext_size,
        parts,
        urls_expire_at: state.urls_expire_at(),
        abandon_at: abandon_at(state, &row),
    })
}
