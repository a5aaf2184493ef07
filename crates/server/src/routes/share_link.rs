//! Share links, the holder's side (no account): what the link shows before any key is released,
//! and the counted, audited key release itself.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use cipherdrop_api::ErrorCode;
use cipherdrop_api::{ShareInfo, ShareItemInfo, ShareItemKey, ShareKeyResponse, ShareTokenRequest};
use cipherdrop_core::{SEALED_LINK_KEY_LEN, share_set};
use zeroize::Zeroizing;

use super::no_store;
use crate::accounts;
use crate::audit::{AuditError, Event};
use crate::db::now;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ClientIp, St};
use crate::objects::{self, ObjectRow};
use crate::shares::{self, ShareRow, Taken, to_u32};
use crate::state::AppState;

/// The object a link shares, if it still exists.
async fn shared_object(state: &AppState, row: &ShareRow) -> ApiResult<ObjectRow> {
    objects::complete_by_id(&state.db, &row.object_id)
        .await?
        .ok_or_else(file_gone)
}

/// 410 `share_file_gone`.
fn file_gone() -> ApiError {
    ApiError::new(
        StatusCode::GONE,
        ErrorCode::ShareFileGone,
        "the shared file was deleted",
    )
}

/// Audits what a link's holder did with link `share_id`.
async fn holder_event(
    state: &AppState,
    ip: ClientIp,
    action: &str,
    share_id: &str,
    outcome: &str,
    detail: &str,
) -> Result<(), AuditError> {
    state
        .audit
        .append(&Event {
            actor: "anonymous",
            action,
            object: Some(share_id),
            ip: ip.text().as_deref(),
            outcome,
            detail,
        })
        .await
}

/// `POST /api/share`: what the link's holder may see before any key is released. Each look is
/// in the link's history.
pub async fn info(
    State(state): St,
    ip: ClientIp,
    Json(req): Json<ShareTokenRequest>,
) -> ApiResult<Json<ShareInfo>> {
    let row = shares::by_token(&state.db, &req.token).await?;
    let refusal = row.refusal();
    holder_event(
        &state,
        ip,
        "share.viewed",
        &row.id,
        if refusal.is_some() { "denied" } else { "ok" },
        refusal.as_ref().map_or("", |r| r.message.as_str()),
    )
    .await?;
    if let Some(refusal) = refusal {
        return Err(refusal);
    }
    let object = shared_object(&state, &row).await?;
    let mut items = Vec::new();
    for item in shares::items(&state.db, &row.id).await? {
        if let Some(o) = objects::complete_by_id(&state.db, &item.object_id).await? {
            items.push(ShareItemInfo {
                object_id: o.id.clone(),
                size: o.size(),
                plaintext_size: o.plaintext_size,
                suite: o.suite_id(),
                metadata: B64.encode(&item.metadata),
            });
        }
    }
    Ok(Json(ShareInfo {
        id: row.id.clone(),
        size: object.size(),
        plaintext_size: object.plaintext_size,
        suite: object.suite_id(),
        expires_at: row.expires_at,
        remaining: row.remaining(),
        needs_passphrase: row.passphrase_hash.is_some(),
        note: row.note.clone(),
        metadata: B64.encode(row.metadata.as_deref().unwrap_or_default()),
        items,
        view_only: row.view_only != 0,
    }))
}

/// Checks a passphrase against `hash` within the per-`key` and per-address guess limits: the
/// attempt is counted before the check, in one step with the limits' check, and the check waits
/// for a place among the argon2 checks running at once. `Ok(false)`: wrong (and counted).
pub(crate) async fn verify_guess(
    state: &AppState,
    ip: ClientIp,
    key: &str,
    hash: &str,
    passphrase: &str,
) -> ApiResult<bool> {
    // Refusals while limited are counted and summarised in the history by the sweeper.
    let attempt = state
        .share_limiter
        .begin(key, ip.or_unspecified())
        .await
        .map_err(|r| {
            r.into_error("too many wrong passphrases; wait a few minutes and try again")
        })?;
    let Some(permit) = state.hashing.enter().await else {
        attempt.cancel().await;
        return Err(ApiError::busy());
    };
    let (passphrase, hash) = (
        zeroize::Zeroizing::new(passphrase.to_owned()),
        hash.to_owned(),
    );
    let verified = permit
        .run(move || accounts::verify_now(&passphrase, Some(&hash)))
        .await
        .unwrap_or(false);
    drop(permit);
    if verified {
        attempt.succeeded().await;
    }
    Ok(verified)
}

/// 401 `wrong_passphrase`.
pub(crate) fn wrong_passphrase() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        ErrorCode::WrongPassphrase,
        "wrong passphrase",
    )
}

/// Checks the link's passphrase, if it has one (see [`verify_guess`]).
async fn check_passphrase(
    state: &AppState,
    ip: ClientIp,
    row: &ShareRow,
    passphrase: &str,
) -> ApiResult<()> {
    let Some(hash) = &row.passphrase_hash else {
        return Ok(());
    };
    if !verify_guess(state, ip, &row.id, hash, passphrase).await? {
        holder_event(
            state,
            ip,
            "share.key",
            &row.id,
            "denied",
            "wrong passphrase",
        )
        .await?;
        return Err(wrong_passphrase());
    }
    Ok(())
}

/// What one release hands out: the lead file's sealed key, its URL and row, and for a link to
/// several files every file's sealed key and URL.
type Released = (Zeroizing<Vec<u8>>, String, ObjectRow, Vec<ShareItemKey>);

/// Unwraps what a counted release gives: O(1) KMS calls whatever the number of files (a link to
/// one file: its KMS-encrypted sealed key; a link to several: one set key, which opens each
/// file's item locally, each bound to the link and its file; a set made before set keys: one
/// call per file, as it was made).
async fn release(state: &AppState, row: &ShareRow) -> ApiResult<Released> {
    let object = shared_object(state, row).await?;
    let set_key = match (&row.set_key, &row.set_key_arn, &row.set_digest) {
        (Some(key), Some(arn), Some(digest)) => Some(
            state
                .aws
                .decrypt_pinned(arn, key, &row.set_context(digest), share_set::SET_KEY_LEN)
                .await?,
        ),
        _ => None,
    };
    // A link to one file, or a set made before set keys: the lead's own KMS-encrypted key.
    let (key_arn, context) = (&object.key_arn, row.kms_context());
    let open_lead = |sealed: Option<Vec<u8>>| {
        let context = &context;
        async move {
            state
                .aws
                .decrypt_pinned(
                    key_arn,
                    sealed.as_deref().unwrap_or_default(),
                    context,
                    SEALED_LINK_KEY_LEN,
                )
                .await
        }
    };
    let mut lead = match set_key {
        Some(_) => None,
        None => Some(match open_lead(row.sealed_key.clone()).await {
            Ok(key) => key,
            // A key rotation may have moved the file (and this key with it) since the link's
            // row was read: read it again once.
            Err(e) => {
                let now = shares::owned(&state.db, &row.owner_id, &row.id).await?;
                if now.sealed_key == row.sealed_key {
                    return Err(e);
                }
                open_lead(now.sealed_key).await?
            }
        }),
    };
    let url_of = |o: &ObjectRow| {
        let key = o.s3_key.clone();
        async move {
            state
                .aws
                .presign_get(&state.config.bucket, &key, state.config.url_ttl)
                .await
        }
    };
    let mut items = Vec::new();
    for item in shares::items(&state.db, &row.id).await? {
        let Some(o) = objects::complete_by_id(&state.db, &item.object_id).await? else {
            continue;
        };
        let sealed = match &set_key {
            Some(key) => {
                share_set::open_item(key, &row.id, &o.id, &item.sealed_key).map_err(|_| {
                    ApiError::new(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        ErrorCode::ShareDamaged,
                        "a file of this link failed its integrity check; ask for a new link",
                    )
                })?
            }
            None => {
                state
                    .aws
                    .decrypt_pinned(
                        &o.key_arn,
                        &item.sealed_key,
                        &row.context_for(&o.id),
                        SEALED_LINK_KEY_LEN,
                    )
                    .await?
            }
        };
        if lead.is_none() && o.id == object.id {
            lead = Some(sealed.clone());
        }
        items.push(ShareItemKey {
            object_id: o.id.clone(),
            sealed_key: B64.encode(&sealed[..]),
            key_arn: o.key_arn.clone(),
            download_url: url_of(&o).await?,
        });
    }
    let lead = lead.ok_or_else(file_gone)?;
    Ok((lead, url_of(&object).await?, object, items))
}

/// `POST /api/share/key`: one counted, audited release of the link's sealed key (KMS decrypts
/// what the server stored; the result is still sealed under the link's key), with a presigned
/// GET. The server never hands a link holder a plaintext data key.
pub async fn release_key(
    State(state): St,
    ip: ClientIp,
    Json(req): Json<ShareTokenRequest>,
) -> ApiResult<Response> {
    let passphrase = Zeroizing::new(req.passphrase.clone().unwrap_or_default());
    let row = shares::by_token(&state.db, &req.token).await?;
    let denied = |refusal: ApiError| {
        let (state, id) = (&state, &row.id);
        async move {
            holder_event(state, ip, "share.key", id, "denied", &refusal.message).await?;
            Err::<Response, ApiError>(refusal)
        }
    };
    if let Some(refusal) = row.refusal() {
        return denied(refusal).await;
    }
    // Every release counts, per link and per client network, before anything else is checked
    // or spent (argon2, KMS): a link with no download limit cannot be released without bound.
    // Refusals while limited are summarised by the sweeper, one row per link or address.
    let _counted = state
        .release_limiter
        .begin(&row.id, ip.or_unspecified())
        .await
        .map_err(|r| {
            r.into_error(
                "this link was opened too often just now; wait a few minutes and try again",
            )
        })?;
    check_passphrase(&state, ip, &row, &passphrase).await?;
    let Some(Taken { downloads, max }) = shares::take_download(&state.db, &row.id).await? else {
        // Another request took the last download, or the link changed meanwhile.
        let now_row = shares::by_token(&state.db, &req.token).await?;
        let refusal = now_row.refusal().unwrap_or_else(|| {
            ApiError::new(
                StatusCode::CONFLICT,
                ErrorCode::ShareChanged,
                "the link changed; try again",
            )
        });
        return denied(refusal).await;
    };
    let released = release(&state, &row).await;
    let (sealed, download_url, object, items) = match released {
        Ok(r) => r,
        Err(e) => {
            // Nothing was released: give the download back.
            shares::give_back(&state.db, &row.id).await?;
            holder_event(&state, ip, "share.key", &row.id, "error", &e.message).await?;
            return Err(e);
        }
    };
    let remaining = max.map(|m| to_u32(m - downloads));
    let last = remaining == Some(0) && row.delete_after_last != 0;
    if last {
        // Deleted by the sweeper once this download's URL has expired.
        let ttl = i64::try_from(state.config.url_ttl.as_secs()).unwrap_or(0);
        objects::delete_at(&state.db, &object.id, now() + ttl + 1).await?;
    }
    let what = if items.is_empty() {
        format!("key of {}", object.id)
    } else {
        format!(
            "keys of {} files ({})",
            items.len(),
            items
                .iter()
                .map(|i| i.object_id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    let detail = format!(
        "{what} released ({} of {}){}",
        downloads,
        max.map_or("unlimited".to_owned(), |m| m.to_string()),
        if last {
            "; the file will be deleted"
        } else {
            ""
        }
    );
    holder_event(&state, ip, "share.key", &row.id, "ok", &detail).await?;
    crate::notify::enqueue(
        &state,
        &row.owner_id,
        cipherdrop_api::EVENT_LINK_USED,
        serde_json::json!({
            "link": row.id, "file": object.id, "downloads": downloads, "max_downloads": max,
        }),
    )
    .await;
    Ok(no_store(&ShareKeyResponse {
        id: row.id.clone(),
        sealed_key: B64.encode(&sealed[..]),
        key_arn: object.key_arn.clone(),
        download_url,
        url_expires_at: state.urls_expire_at(),
        remaining,
        items,
    }))
}
