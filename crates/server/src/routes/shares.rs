//! Share links, the owner's side: make a link (the answer is the only time its token is shown),
//! list an object's links, change expiry and limit, revoke, and read a link's history.

use axum::Json;
use axum::extract::{Path, State};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use cipherdrop_api::ErrorCode;
use cipherdrop_api::{
    AuditPage, CreateShareRequest, MAX_METADATA_BYTES, SHARE_MAX_FILES, SHARE_MIN_PASSPHRASE,
    ShareCreated, ShareList, ShareSummary, UpdateShareRequest,
};
use cipherdrop_core::SEALED_LINK_KEY_LEN;
use std::collections::HashSet;
use zeroize::Zeroizing;

use crate::accounts::{self, new_token};
use crate::actor::{Actor, Did};
use crate::audit;
use crate::db::now;
use crate::error::{ApiError, ApiResult};
use crate::extract::{Auth, ClientIp, St};
use crate::objects::{self, ObjectRow};
use crate::shares::{self, MAX_NOTE, ShareRow, limit_text};
use crate::state::AppState;
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

/// What a new link's request says, checked: everything but its files.
struct Terms {
    id: String,
    secs: i64,
    max: Option<i64>,
    note: Option<String>,
    metadata: Vec<u8>,
    passphrase_hash: Option<String>,
    view_only: bool,
}

/// Base64 metadata of at most [`MAX_METADATA_BYTES`].
fn metadata(b64: &str) -> ApiResult<Vec<u8>> {
    let metadata = B64
        .decode(b64)
        .map_err(|_| ApiError::bad_request("metadata must be base64"))?;
    if metadata.len() > MAX_METADATA_BYTES {
        return Err(ApiError::bad_request(format!(
            "metadata is at most {MAX_METADATA_BYTES} bytes"
        )));
    }
    Ok(metadata)
}

/// A link's or a request's passphrase (none when empty), at least [`SHARE_MIN_PASSPHRASE`]
/// characters, hashed with argon2id among the checks allowed to run at once.
pub(crate) async fn hash_passphrase(
    state: &AppState,
    passphrase: Option<String>,
) -> ApiResult<Option<String>> {
    match passphrase.map(Zeroizing::new) {
        None => Ok(None),
        Some(p) if p.is_empty() => Ok(None),
        Some(p) if p.chars().count() < SHARE_MIN_PASSPHRASE => Err(ApiError::bad_request(format!(
            "a passphrase needs at least {SHARE_MIN_PASSPHRASE} characters"
        ))),
        Some(p) => {
            let permit = state.hashing.enter().await.ok_or_else(ApiError::busy)?;
            Ok(Some(
                permit
                    .run(move || accounts::hash_secret_now(&p))
                    .await
                    .ok_or_else(ApiError::busy)??,
            ))
        }
    }
}

/// Checks a new link's id, lifetime, limit, note and metadata, and hashes its passphrase.
async fn terms(state: &AppState, req: &CreateShareRequest) -> ApiResult<Terms> {
    let id = link_id(&req.id)?;
    let secs = shares::lifetime(req.expires_in_secs)?;
    let max = shares::limit(req.max_downloads)?;
    let note = req.note.clone().filter(|n| !n.trim().is_empty());
    if note.as_ref().is_some_and(|n| n.chars().count() > MAX_NOTE) {
        return Err(ApiError::bad_request(format!(
            "a note has at most {MAX_NOTE} characters"
        )));
    }
    let metadata = metadata(&req.metadata)?;
    let passphrase_hash = hash_passphrase(state, req.passphrase.clone()).await?;
    Ok(Terms {
        id,
        secs,
        max,
        note,
        metadata,
        passphrase_hash,
        view_only: req.view_only,
    })
}

/// A link's row for `terms`, leading with `object_id`, with its KMS-encrypted sealed key.
async fn new_row(
    state: &AppState,
    auth: &Auth,
    terms: Terms,
    object: &ObjectRow,
    sealed: &[u8],
    delete_after_last: bool,
) -> ApiResult<ShareRow> {
    let mut row = ShareRow {
        id: terms.id,
        object_id: object.id.clone(),
        owner_id: auth.user.id.clone(),
        created_at: now(),
        expires_at: now() + terms.secs,
        max_downloads: terms.max,
        downloads: 0,
        passphrase_hash: terms.passphrase_hash,
        note: terms.note,
        delete_after_last: i64::from(delete_after_last),
        metadata: Some(terms.metadata),
        revoked_at: None,
        sealed_key: None,
        last_used_at: None,
        seen_downloads: 0,
        files: 0,
        set_key: None,
        set_key_arn: None,
        set_digest: None,
        view_only: i64::from(terms.view_only),
    };
    row.sealed_key = Some(
        state
            .aws
            .encrypt_blob(&object.key_arn, sealed, &row.kms_context())
            .await?,
    );
    Ok(row)
}

/// Audits a new link and answers with its token (the only time it is shown).
async fn created(
    state: &AppState,
    auth: &Auth,
    ip: ClientIp,
    row: &ShareRow,
    token: &str,
    what: &str,
) -> ApiResult<Json<ShareCreated>> {
    let detail = format!(
        "link for {what}: expires in {} s, limit {}, passphrase {}",
        row.expires_at - row.created_at,
        limit_text(row.max_downloads),
        if row.passphrase_hash.is_some() {
            "yes"
        } else {
            "no"
        }
    );
    Actor::Account(auth)
        .audit(
            state,
            ip,
            Did {
                action: "share.created",
                object: &row.id,
                outcome: "ok",
                detail: &detail,
            },
        )
        .await?;
    Ok(Json(ShareCreated {
        share: row.summary(),
        token: token.to_owned(),
    }))
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
    if !req.items.is_empty() {
        return Err(ApiError::bad_request(
            "a link to several files is made with POST /api/shares",
        ));
    }
    let sealed = sealed_key(&req.sealed_key)?;
    let terms = terms(&state, &req).await?;
    let mut row = new_row(
        &state,
        &auth,
        terms,
        &object,
        &sealed,
        req.delete_after_last,
    )
    .await?;
    let token = new_token();
    let mut under = object.key_arn;
    // A key rotation that moves the file meanwhile: wrap the sealed key again, under its key now.
    for _ in 0..3 {
        if shares::insert(&state.db, &row, &token, &[], Some(&under)).await? {
            return created(&state, &auth, ip, &row, &token, &row.object_id).await;
        }
        let now = objects::owned_complete(&state.db, &auth.user.id, &object_id).await?;
        row.sealed_key = Some(
            state
                .aws
                .encrypt_blob(&now.key_arn, &sealed, &row.kms_context())
                .await?,
        );
        under = now.key_arn;
    }
    Err(ApiError::conflict(
        "the file kept moving to another KMS key while the link was made; make the link again",
    ))
}

/// `POST /api/shares`: one link to several of the owner's files (1 ..= [`SHARE_MAX_FILES`], in
/// order), each with its data key sealed under the link key and its name sealed for the link.
/// Such a link cannot delete its files after the last download.
pub async fn create_set(
    State(state): St,
    auth: Auth,
    ip: ClientIp,
    Json(req): Json<CreateShareRequest>,
) -> ApiResult<Json<ShareCreated>> {
    if req.items.is_empty() || req.items.len() > SHARE_MAX_FILES {
        return Err(ApiError::bad_request(format!(
            "a link gives 1 to {SHARE_MAX_FILES} files"
        )));
    }
    if req.delete_after_last {
        return Err(ApiError::bad_request(
            "a link to several files cannot delete them after its last download",
        ));
    }
    if !req.sealed_key.is_empty() {
        return Err(ApiError::bad_request(
            "each file of the link carries its own sealed key",
        ));
    }
    let mut seen = HashSet::new();
    let mut checked = Vec::with_capacity(req.items.len());
    for item in &req.items {
        if !seen.insert(item.object_id.as_str()) {
            return Err(ApiError::bad_request("a file appears twice in the link"));
        }
        let object = objects::owned_complete(&state.db, &auth.user.id, &item.object_id).await?;
        checked.push((
            object,
            sealed_key(&item.sealed_key)?,
            metadata(&item.metadata)?,
        ));
    }
    if req.view_only {
        return Err(ApiError::bad_request(
            "a view-only link is for one file: the page opens one file at a time",
        ));
    }
    let terms = terms(&state, &req).await?;
    let Some((first, first_sealed, _)) = checked.first() else {
        return Err(ApiError::bad_request("a link needs a file"));
    };
    let mut row = new_row(&state, &auth, terms, first, first_sealed, false).await?;
    // One set key for the whole link (one KMS call to release every file), bound by its context
    // to the link and the files' ids, and by each item's seal to its own file.
    let digest = shares::set_digest(checked.iter().map(|(o, ..)| o.id.as_str()));
    let issued = state
        .aws
        .generate_data_key(&first.key_arn, &row.set_context(&digest))
        .await?;
    let mut items = Vec::with_capacity(checked.len());
    for (object, sealed, meta) in checked {
        let stored = cipherdrop_core::share_set::seal_item(
            &issued.plaintext,
            &row.id,
            &object.id,
            &sealed,
            &mut rand::rng(),
        )
        .map_err(|e| ApiError::internal("sealing a link's file", &e))?;
        items.push((object.id, stored, meta));
    }
    row.set_key = Some(issued.edk.clone());
    row.set_key_arn = Some(issued.key_arn.clone());
    row.set_digest = Some(digest);
    drop(issued);
    let token = new_token();
    shares::insert(&state.db, &row, &token, &items, None).await?;
    row.files = i64::try_from(items.len()).unwrap_or(i64::MAX);
    let what = format!("{} files", items.len());
    created(&state, &auth, ip, &row, &token, &what).await
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
            ErrorCode::ShareRevoked,
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
            ErrorCode::ShareChanged,
            "the link changed meanwhile; try again",
        ));
    }
    let detail = format!(
        "expires at {}, limit {}",
        row.expires_at,
        limit_text(row.max_downloads)
    );
    Actor::Account(&auth)
        .audit(
            &state,
            ip,
            Did {
                action: "share.updated",
                object: &row.id,
                outcome: "ok",
                detail: &detail,
            },
        )
        .await?;
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
    Actor::Account(&auth)
        .audit(
            &state,
            ip,
            Did {
                action: "share.revoked",
                object: &row.id,
                outcome: "ok",
                detail: "",
            },
        )
        .await?;
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
