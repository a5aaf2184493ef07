//! Share links: an owner lets whoever holds a link's token have one object's data key released,
//! within an expiry, a download limit and an optional passphrase, until revoked.
//!
//! Only SHA-256 of a token is stored, and tokens travel in request bodies, never in URLs. Every
//! release is one conditional `UPDATE … downloads = downloads + 1 … RETURNING` (SQLite runs one
//! writer at a time, so concurrent requests can never pass the limit), then the audited KMS
//! `Decrypt`; a failed `Decrypt` gives the download back.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use cipherdrop_api::{
    AuditPage, CreateShareRequest, MAX_METADATA_BYTES, SHARE_DEFAULT_SECS, SHARE_MAX_DOWNLOADS,
    SHARE_MAX_SECS, SHARE_MIN_PASSPHRASE, SHARE_MIN_SECS, ShareCreated, ShareInfo,
    ShareKeyResponse, ShareList, ShareSummary, ShareTokenRequest, UpdateShareRequest,
};
use sqlx::FromRow;
use zeroize::Zeroizing;

use crate::AppState;
use crate::accounts::{self, new_token, token_hash};
use crate::audit::{self, Event};
use crate::db::now;
use crate::error::{ApiError, ApiResult};
use crate::http::{Auth, ClientIp, St};
use crate::uploads::{ObjectRow, no_store};

/// Longest note, in characters.
const MAX_NOTE: usize = 1000;

#[derive(FromRow)]
struct ShareRow {
    id: String,
    object_id: String,
    owner_id: String,
    created_at: i64,
    expires_at: i64,
    max_downloads: Option<i64>,
    downloads: i64,
    passphrase_hash: Option<String>,
    note: Option<String>,
    delete_after_last: bool,
    metadata: Option<Vec<u8>>,
    revoked_at: Option<i64>,
}

fn to_u32(v: i64) -> u32 {
    u32::try_from(v.max(0)).unwrap_or(u32::MAX)
}

impl ShareRow {
    fn summary(&self) -> ShareSummary {
        ShareSummary {
            id: self.id.clone(),
            object_id: self.object_id.clone(),
            created_at: self.created_at,
            expires_at: self.expires_at,
            max_downloads: self.max_downloads.map(to_u32),
            downloads: to_u32(self.downloads),
            has_passphrase: self.passphrase_hash.is_some(),
            note: self.note.clone(),
            delete_after_last: self.delete_after_last,
            revoked_at: self.revoked_at,
        }
    }

    fn remaining(&self) -> Option<u32> {
        self.max_downloads
            .map(|m| to_u32(m.saturating_sub(self.downloads)))
    }

    /// Why the link can give no key now, if it cannot.
    fn refusal(&self) -> Option<ApiError> {
        if self.revoked_at.is_some() {
            Some(ApiError::new(
                StatusCode::GONE,
                "share_revoked",
                "this link was revoked by the person who shared it",
            ))
        } else if self.expires_at <= now() {
            Some(ApiError::new(
                StatusCode::GONE,
                "share_expired",
                "this link has expired",
            ))
        } else if self.remaining() == Some(0) {
            Some(ApiError::new(
                StatusCode::GONE,
                "share_exhausted",
                "this link has been used as many times as allowed",
            ))
        } else {
            None
        }
    }
}

fn lifetime(secs: Option<i64>) -> ApiResult<i64> {
    let secs = secs.unwrap_or(SHARE_DEFAULT_SECS);
    if !(SHARE_MIN_SECS..=SHARE_MAX_SECS).contains(&secs) {
        return Err(ApiError::bad_request(format!(
            "a link lasts from {SHARE_MIN_SECS} seconds (1 hour) to {SHARE_MAX_SECS} seconds (30 days)"
        )));
    }
    Ok(secs)
}

fn limit(max: Option<u32>) -> ApiResult<Option<i64>> {
    match max {
        None => Ok(None),
        Some(n) if (1..=SHARE_MAX_DOWNLOADS).contains(&n) => Ok(Some(i64::from(n))),
        Some(_) => Err(ApiError::bad_request(format!(
            "a download limit is 1 to {SHARE_MAX_DOWNLOADS}"
        ))),
    }
}

async fn owned_object(state: &AppState, auth: &Auth, id: &str) -> ApiResult<ObjectRow> {
    sqlx::query_as::<_, ObjectRow>(
        "SELECT * FROM objects WHERE id = ? AND owner_id = ? AND state = 'complete'",
    )
    .bind(id)
    .bind(&auth.user.id)
    .fetch_optional(&state.db)
    .await?
    .ok_or_else(|| ApiError::not_found("object"))
}

async fn owned_share(state: &AppState, auth: &Auth, id: &str) -> ApiResult<ShareRow> {
    sqlx::query_as::<_, ShareRow>("SELECT * FROM shares WHERE id = ? AND owner_id = ?")
        .bind(id)
        .bind(&auth.user.id)
        .fetch_optional(&state.db)
        .await?
        .ok_or_else(|| ApiError::not_found("share"))
}

async fn share_by_token(state: &AppState, token: &str) -> ApiResult<ShareRow> {
    sqlx::query_as::<_, ShareRow>("SELECT * FROM shares WHERE token_hash = ?")
        .bind(token_hash(token))
        .fetch_optional(&state.db)
        .await?
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "share_not_found",
                "no such link: check that it was copied whole",
            )
        })
}

/// Audits something the owner did to a link (the link's id is the audit object, so it shows in
/// the link's history).
async fn owner_event(
    state: &AppState,
    auth: &Auth,
    ip: &ClientIp,
    action: &str,
    share_id: &str,
    detail: &str,
) -> ApiResult<()> {
    state
        .audit
        .append(&Event {
            actor: &auth.user.username,
            action,
            object: Some(share_id),
            ip: ip.text().as_deref(),
            outcome: "ok",
            detail,
        })
        .await?;
    Ok(())
}

/// A download limit for the audit log.
fn limit_text(max: Option<i64>) -> String {
    max.map_or("none".to_owned(), |m| m.to_string())
}

/// The object a link shares, if it still exists.
async fn shared_object(state: &AppState, row: &ShareRow) -> ApiResult<ObjectRow> {
    sqlx::query_as("SELECT * FROM objects WHERE id = ? AND state = 'complete'")
        .bind(&row.object_id)
        .fetch_optional(&state.db)
        .await?
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::GONE,
                "share_file_gone",
                "the shared file was deleted",
            )
        })
}

/// `POST /api/objects/{id}/shares`: makes a link; the answer is the only time the token is shown.
pub async fn create(
    State(state): St,
    auth: Auth,
    ip: ClientIp,
    Path(object_id): Path<String>,
    Json(req): Json<CreateShareRequest>,
) -> ApiResult<Json<ShareCreated>> {
    let object = owned_object(&state, &auth, &object_id).await?;
    let secs = lifetime(req.expires_in_secs)?;
    let max = limit(req.max_downloads)?;
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
        Some(p) => Some(accounts::hash_secret(&p).await.map_err(|_| {
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "hash", "hashing failed")
        })?),
    };
    let token = new_token();
    let row = ShareRow {
        id: uuid::Uuid::new_v4().to_string(),
        object_id: object.id.clone(),
        owner_id: auth.user.id.clone(),
        created_at: now(),
        expires_at: now() + secs,
        max_downloads: max,
        downloads: 0,
        passphrase_hash,
        note,
        delete_after_last: req.delete_after_last,
        metadata: Some(metadata),
        revoked_at: None,
    };
    sqlx::query(
        "INSERT INTO shares (id, token_hash, object_id, owner_id, created_at, expires_at,
            max_downloads, passphrase_hash, note, delete_after_last, metadata)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&row.id)
    .bind(token_hash(&token))
    .bind(&row.object_id)
    .bind(&row.owner_id)
    .bind(row.created_at)
    .bind(row.expires_at)
    .bind(row.max_downloads)
    .bind(&row.passphrase_hash)
    .bind(&row.note)
    .bind(row.delete_after_last)
    .bind(&row.metadata)
    .execute(&state.db)
    .await?;
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
    owner_event(&state, &auth, &ip, "share.created", &row.id, &detail).await?;
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
    owned_object(&state, &auth, &object_id).await?;
    let rows = sqlx::query_as::<_, ShareRow>(
        "SELECT * FROM shares WHERE object_id = ? ORDER BY created_at DESC, rowid DESC",
    )
    .bind(&object_id)
    .fetch_all(&state.db)
    .await?;
    Ok(Json(ShareList {
        shares: rows.iter().map(ShareRow::summary).collect(),
    }))
}

/// `PATCH /api/shares/{id}`: new expiry and/or limit.
pub async fn update(
    State(state): St,
    auth: Auth,
    ip: ClientIp,
    Path(id): Path<String>,
    Json(req): Json<UpdateShareRequest>,
) -> ApiResult<Json<ShareSummary>> {
    let mut row = owned_share(&state, &auth, &id).await?;
    if row.revoked_at.is_some() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "share_revoked",
            "a revoked link stays revoked",
        ));
    }
    if let Some(secs) = req.expires_in_secs {
        row.expires_at = now() + lifetime(Some(secs))?;
    }
    if req.unlimited {
        row.max_downloads = None;
    } else if let Some(max) = limit(req.max_downloads)? {
        if max < row.downloads {
            return Err(ApiError::bad_request(format!(
                "the link was already used {} times",
                row.downloads
            )));
        }
        row.max_downloads = Some(max);
    }
    // The limit may not drop below what concurrent releases have taken meanwhile.
    let done = sqlx::query(
        "UPDATE shares SET expires_at = ?, max_downloads = ?
         WHERE id = ? AND revoked_at IS NULL AND (? IS NULL OR downloads <= ?)",
    )
    .bind(row.expires_at)
    .bind(row.max_downloads)
    .bind(&row.id)
    .bind(row.max_downloads)
    .bind(row.max_downloads)
    .execute(&state.db)
    .await?;
    if done.rows_affected() != 1 {
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
    owner_event(&state, &auth, &ip, "share.updated", &row.id, &detail).await?;
    let row = owned_share(&state, &auth, &id).await?;
    Ok(Json(row.summary()))
}

/// `POST /api/shares/{id}/revoke`: from now on the link releases no key.
pub async fn revoke(
    State(state): St,
    auth: Auth,
    ip: ClientIp,
    Path(id): Path<String>,
) -> ApiResult<Json<ShareSummary>> {
    let row = owned_share(&state, &auth, &id).await?;
    sqlx::query("UPDATE shares SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL")
        .bind(now())
        .bind(&row.id)
        .execute(&state.db)
        .await?;
    owner_event(&state, &auth, &ip, "share.revoked", &row.id, "").await?;
    Ok(Json(owned_share(&state, &auth, &id).await?.summary()))
}

/// `GET /api/shares/{id}/history`: every event of the link, from the audit log.
pub async fn history(
    State(state): St,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<AuditPage>> {
    let row = owned_share(&state, &auth, &id).await?;
    let entries = audit::for_object(&state.db, &row.id, 10_000).await?;
    Ok(Json(AuditPage {
        entries,
        next_after: None,
    }))
}

/// `POST /api/share`: what the link's holder may see before any key is released. Each look is
/// in the link's history.
pub async fn info(
    State(state): St,
    ip: ClientIp,
    Json(req): Json<ShareTokenRequest>,
) -> ApiResult<Json<ShareInfo>> {
    let row = share_by_token(&state, &req.token).await?;
    let refusal = row.refusal();
    state
        .audit
        .append(&Event {
            actor: "anonymous",
            action: "share.viewed",
            object: Some(&row.id),
            ip: ip.text().as_deref(),
            outcome: if refusal.is_some() { "denied" } else { "ok" },
            detail: refusal.as_ref().map_or("", |r| r.message.as_str()),
        })
        .await?;
    if let Some(refusal) = refusal {
        return Err(refusal);
    }
    let object = shared_object(&state, &row).await?;
    Ok(Json(ShareInfo {
        size: u64::try_from(object.stored_size.unwrap_or(object.ciphertext_size)).unwrap_or(0),
        plaintext_size: u64::try_from(object.plaintext_size).unwrap_or(0),
        suite: u16::try_from(object.suite).unwrap_or(0),
        expires_at: row.expires_at,
        remaining: row.remaining(),
        needs_passphrase: row.passphrase_hash.is_some(),
        note: row.note.clone(),
        metadata: B64.encode(row.metadata.as_deref().unwrap_or_default()),
    }))
}

/// `POST /api/share/key`: one counted, audited key release, with a presigned GET.
pub async fn release_key(
    State(state): St,
    ip: ClientIp,
    Json(req): Json<ShareTokenRequest>,
) -> ApiResult<Response> {
    let passphrase = Zeroizing::new(req.passphrase.clone().unwrap_or_default());
    let row = share_by_token(&state, &req.token).await?;
    let ip_text = ip.text();
    let audit = |outcome: &'static str, detail: String| {
        let state = state.clone();
        let (id, ip) = (row.id.clone(), ip_text.clone());
        async move {
            state
                .audit
                .append(&Event {
                    actor: "anonymous",
                    action: "share.key",
                    object: Some(&id),
                    ip: ip.as_deref(),
                    outcome,
                    detail: &detail,
                })
                .await
        }
    };
    if let Some(refusal) = row.refusal() {
        audit("denied", refusal.message.clone()).await?;
        return Err(refusal);
    }
    if let Some(hash) = &row.passphrase_hash {
        let addr = ip.0.unwrap_or(std::net::IpAddr::from([0, 0, 0, 0]));
        let key = format!("share:{}", row.id);
        if !state.share_limiter.allowed(&key, addr) {
            audit("denied", "passphrase attempts rate-limited".into()).await?;
            return Err(ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "too many wrong passphrases; wait a few minutes and try again",
            ));
        }
        if !accounts::verify_password(&passphrase, Some(hash.clone())).await {
            state.share_limiter.failed(&key, addr);
            audit("denied", "wrong passphrase".into()).await?;
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "wrong_passphrase",
                "wrong passphrase",
            ));
        }
        state.share_limiter.succeeded(&key);
    }
    // The one atomic check-and-count: never more releases than the limit.
    let taken: Option<(i64, Option<i64>)> = sqlx::query_as(
        "UPDATE shares SET downloads = downloads + 1
         WHERE id = ? AND revoked_at IS NULL AND expires_at > ?
           AND (max_downloads IS NULL OR downloads < max_downloads)
         RETURNING downloads, max_downloads",
    )
    .bind(&row.id)
    .bind(now())
    .fetch_optional(&state.db)
    .await?;
    let Some((downloads, max)) = taken else {
        // Another request took the last download, or the link changed meanwhile.
        let now_row = share_by_token(&state, &req.token).await?;
        let refusal = now_row.refusal().unwrap_or_else(|| {
            ApiError::new(
                StatusCode::CONFLICT,
                "share_changed",
                "the link changed; try again",
            )
        });
        audit("denied", refusal.message.clone()).await?;
        return Err(refusal);
    };
    let released = async {
        let object = shared_object(&state, &row).await?;
        let key = state
            .aws
            .decrypt_data_key(&object.key_arn, &object.edk, &object.kms_context()?)
            .await?;
        let url = state
            .aws
            .presign_get(&state.config.bucket, &object.s3_key, state.config.url_ttl)
            .await?;
        Ok::<_, ApiError>((key, url, object))
    }
    .await;
    let (key, download_url, object) = match released {
        Ok(r) => r,
        Err(e) => {
            // Nothing was released: give the download back.
            sqlx::query(
                "UPDATE shares SET downloads = downloads - 1 WHERE id = ? AND downloads > 0",
            )
            .bind(&row.id)
            .execute(&state.db)
            .await?;
            audit("error", e.message.clone()).await?;
            return Err(e);
        }
    };
    let remaining = max.map(|m| to_u32(m - downloads));
    let last = remaining == Some(0) && row.delete_after_last;
    if last {
        // Deleted by the sweeper once this download's URL has expired.
        let ttl = i64::try_from(state.config.url_ttl.as_secs()).unwrap_or(0);
        sqlx::query("UPDATE objects SET delete_at = ? WHERE id = ?")
            .bind(now() + ttl + 1)
            .bind(&object.id)
            .execute(&state.db)
            .await?;
    }
    audit(
        "ok",
        format!(
            "key of {} released ({} of {}){}",
            object.id,
            downloads,
            max.map_or("unlimited".to_owned(), |m| m.to_string()),
            if last {
                "; the file will be deleted"
            } else {
                ""
            }
        ),
    )
    .await?;
    let data_key = Zeroizing::new(B64.encode(&key[..]));
    Ok(no_store(&ShareKeyResponse {
        data_key: data_key.to_string(),
        key_arn: object.key_arn.clone(),
        download_url,
        url_expires_at: now() + i64::try_from(state.config.url_ttl.as_secs()).unwrap_or(0),
        remaining,
    }))
}
