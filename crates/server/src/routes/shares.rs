//! Share links, the owner's side: make a link (the answer is the only time its token is shown),
//! list an object's links, change expiry and limit, revoke, and read a link's history.

use axum::Json;
use axum::extract::{Path, State};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use cipherdrop_api::{
    AuditPage, CreateShareRequest, MAX_METADATA_BYTES, SHARE_MIN_PASSPHRASE, ShareCreated,
    ShareList, ShareSummary, UpdateShareRequest,
};
use cipherdrop_core::SEALED_LINK_KEY_LEN;
use zeroize::Zeroizing;

use super::audit_account;
use crate::accounts::{self, new_token};
use crate::audit;
use crate::db::now;
use crate::error::{ApiError, ApiResult};
use crate::extract::{Auth, ClientIp, St};
use crate::objects;
use crate::shares::{self, MAX_NOTE, ShareRow, limit_text};
use axum::http::StatusCode;

/// The page's id for a new link: a lowercase hyphenated UUID, exactly as the sealed key's AAD.
fn link_id(id: &str) -> ApiResult<String> {
    match uuid::Uuid::try_parse(id) {
        Ok(u) if u.hyphenated().to_string() == id => Ok(id.to_owned()),
        _ => Err(ApiError::bad_request(
            "a link id is a lowercase hyphenated UUID",
        )),
    }
}

/// The data key sealed for the link: base64 of exactly the sealed form's length.
fn sealed_key(b64: &str) -> ApiResult<Vec<u8>> {
    match B64.decode(b64) {
        Ok(k) if k.len() == SEALED_LINK_KEY_LEN && k.first() == Some(&1) => Ok(k),
        _ => Err(ApiError::bad_request(format!(
            "sealed_key must be base64 of the {SEALED_LINK_KEY_LEN}-byte sealed data key"
        ))),
    }
}

/// `POST /api/objects/{id}/shares`: makes a link; the answer is the only time the token is shown.
/// The page sends the data key sealed under the link's key; the server encrypts that with KMS
/// under the link's context and keeps only the result.
pub async fn create(
    State(state): St,
    auth: Auth,
    ip: ClientIp,
    Path(object_id): Path<String>,
    Json(req): Json<CreateShareRequest>,
) -> ApiResult<Json<ShareCreated>> {
    let object = objects::owned_complete(&state.db, &auth.user.id, &object_id).await?;
    let id = link_id(&req.id)?;
    let sealed = sealed_key(&req.sealed_key)?;
    let secs = shares::lifetime(req.expires_in_secs)?;
    let max = shares::limit(req.max_downloads)?;
    let note = req.note.filter(|n| !n.trim().is_empty());
    if note.as_ref().is_some_and(|n| n.chars().count() > MAX_NOTE) {
        return Err(ApiError::bad_request(format!(
            "a note has at most {MAX_NOTE} characters"
        )));
    }
    let metadata = B64
        .decode(&req.metadata)
        .map_err(|_| ApiError::bad_request("metadata must be base64"))?;
    if metadata.len() > MAX_METADATA_BYTES {
        return Err(ApiError::bad_request(format!(
            "metadata is at most {MAX_METADATA_BYTES} bytes"
        )));
    }
    let passphrase_hash = match req.passphrase.map(Zeroizing::new) {
        None => None,
        Some(p) if p.is_empty() => None,
        Some(p) if p.chars().count() < SHARE_MIN_PASSPHRASE => {
            return Err(ApiError::bad_request(format!(
                "a passphrase needs at least {SHARE_MIN_PASSPHRASE} characters"
            )));
        }
        Some(p) => {
            let permit = state.hashing.enter().await.ok_or_else(ApiError::busy)?;
            let hash = permit
                .run(move || accounts::hash_secret_now(&p))
                .await
                .ok_or_else(ApiError::busy)??;
            Some(hash)
        }
    };
    let token = new_token();
    let mut row = ShareRow {
        id,
        object_id: object.id.clone(),
        owner_id: auth.user.id.clone(),
        created_at: now(),
        expires_at: now() + secs,
        max_downloads: max,
        downloads: 0,
        passphrase_hash,
        note,
        delete_after_last: i64::from(req.delete_after_last),
        metadata: Some(metadata),
        revoked_at: None,
        sealed_key: None,
        last_used_at: None,
        seen_downloads: 0,
    };
    row.sealed_key = Some(
        state
            .aws
            .encrypt_blob(&object.key_arn, &sealed, &row.kms_context())
            .await?,
    );
    shares::insert(&state.db, &row, &token).await?;
    let detail = format!(
        "link for {}: expires in {secs} s, limit {}, passphrase {}",
        row.object_id,
        limit_text(row.max_downloads),
        if row.passphrase_hash.is_some() {
            "yes"
        } else {
            "no"
        }
    );
    audit_account(&state, &auth, ip, "share.created", &row.id, "ok", &detail).await?;
    Ok(Json(ShareCreated {
        share: row.summary(),
        token: token.to_string(),
    }))
}

/// `GET /api/objects/{id}/shares`: the object's links, newest first.
pub async fn list(
    State(state): St,
    auth: Auth,
    Path(object_id): Path<String>,
) -> ApiResult<Json<ShareList>> {
    objects::owned_complete(&state.db, &auth.user.id, &object_id).await?;
    let rows = shares::for_object(&state.db, &object_id).await?;
    Ok(Json(ShareList {
        shares: rows.iter().map(ShareRow::summary).collect(),
    }))
}

/// `POST /api/objects/{id}/shares/seen`: the owner has seen every download through the file's
/// links so far (the page's "new downloads" badge goes).
pub async fn seen(
    State(state): St,
    auth: Auth,
    Path(object_id): Path<String>,
) -> ApiResult<StatusCode> {
    objects::owned_complete(&state.db, &auth.user.id, &object_id).await?;
    shares::mark_seen(&state.db, &auth.user.id, &object_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `PATCH /api/shares/{id}`: new expiry and/or limit.
pub async fn update(
    State(state): St,
    auth: Auth,
    ip: ClientIp,
    Path(id): Path<String>,
    Json(req): Json<UpdateShareRequest>,
) -> ApiResult<Json<ShareSummary>> {
    let mut row = shares::owned(&state.db, &auth.user.id, &id).await?;
    if row.revoked_at.is_some() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "share_revoked",
            "a revoked link stays revoked",
        ));
    }
    if let Some(secs) = req.expires_in_secs {
        row.expires_at = now() + shares::lifetime(Some(secs))?;
    }
    if req.unlimited {
        row.max_downloads = None;
    } else if let Some(max) = shares::limit(req.max_downloads)? {
        if max < row.downloads {
            return Err(ApiError::bad_request(format!(
                "the link was already used {} times",
                row.downloads
            )));
        }
        row.max_downloads = Some(max);
    }
    if !shares::update_terms(&state.db, &row).await? {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "share_changed",
            "the link changed meanwhile; try again",
        ));
    }
    let detail = format!(
        "expires at {}, limit {}",
        row.expires_at,
        limit_text(row.max_downloads)
    );
    audit_account(&state, &auth, ip, "share.updated", &row.id, "ok", &detail).await?;
    let row = shares::owned(&state.db, &auth.user.id, &id).await?;
    Ok(Json(row.summary()))
}

/// `POST /api/shares/{id}/revoke`: from now on the link releases no key.
pub async fn revoke(
    State(state): St,
    auth: Auth,
    ip: ClientIp,
    Path(id): Path<String>,
) -> ApiResult<Json<ShareSummary>> {
    let row = shares::owned(&state.db, &auth.user.id, &id).await?;
    shares::revoke(&state.db, &row.id).await?;
    audit_account(&state, &auth, ip, "share.revoked", &row.id, "ok", "").await?;
    Ok(Json(
        shares::owned(&state.db, &auth.user.id, &id)
            .await?
            .summary(),
    ))
}

/// `GET /api/shares/{id}/history`: every event of the link, from the audit log.
pub async fn history(
    State(state): St,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<AuditPage>> {
    let row = shares::owned(&state.db, &auth.user.id, &id).await?;
    let entries = audit::for_object(&state.db, &row.id, 10_000).await?;
    Ok(Json(AuditPage {
        entries,
        next_after: None,
    }))
}
